"""apply/engine.py driven directly (no CLI, no lock), on every server of the matrix.

The commands reach the engine only under the apply lock and only on the path the server's
version picks, so the unfenced paths and the per-parameter path on servers that also have
the multi-parameter one are exercised here. test_fence.py covers the fenced paths and
test_faults.py what the CLI makes of each outcome; this module checks the engine's own
contract: which CONFIG SETs reach the server (seen by tests/proxy.py), what it reports, and
the invariant after every outcome: each parameter is at its planned value or its value
before, all of them on the same side, unless the result is "partial"/"unknown" and names
every parameter that may have moved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest
import redis
from proxy import Cut, FaultProxy
from redis.backoff import NoBackoff
from redis.retry import Retry

from redispolicy.apply.engine import EngineResult, Item, apply_items, read_back, verify
from redispolicy.catalog.features import supports_multi_config_set
from redispolicy.catalog.params import catalog
from redispolicy.secret import Secret

from .conftest import too_many_clients

# parameter -> (what is sent, what the server reports back once it is set)
PLANNED = {"maxmemory": ("1gb", "1073741824"), "hz": ("20", "20"), "timeout": ("300", "300")}
START = {"maxmemory": "0", "hz": "10", "timeout": "0"}
CONFIG_SET = ("CONFIG", "SET")
SECRET = "pw-Engine-9d2e71"
PATHS = {"multi": True, "per-parameter": False}
TOO_MANY = too_many_clients()


def _param(name: str):
    look = catalog().lookup(name)
    assert look is not None, name
    return look.param


def _items(planned: dict[str, tuple[str, str]], before: dict[str, str]) -> list[Item]:
    return [Item(n, _param(n), send, expect, before[n]) for n, (send, expect) in planned.items()]


def _client(port: int) -> redis.Redis:
    # No library retries, as the tool connects: a retry would hide where the connection broke.
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, retry=Retry(NoBackoff(), 0))


def _live(server, names) -> dict[str, str]:
    with server.client() as c:
        return {n: c.config_get(n)[n] for n in names}


def _sets(proxy: FaultProxy) -> list[list[str]]:
    """The arguments of every CONFIG SET that passed the proxy."""
    return [
        [a.decode() for a in c[2:]]
        for c in proxy.commands
        if [a.upper() for a in c[:2]] == [b"CONFIG", b"SET"]
    ]


def _path(server, name: str) -> bool:
    multi = PATHS[name]
    if multi and not supports_multi_config_set(server.product, server.version):
        pytest.skip(f"{server.name} has no multi-parameter CONFIG SET")
    return multi


def _plain(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def assert_all_or_nothing(result: EngineResult, server, items: list[Item]) -> None:
    """The engine's invariant, read directly from the server (never through the proxy)."""
    now = _live(server, [it.name for it in items])
    planned = {it.name: _plain(it.expect) for it in items}
    before = {it.name: _plain(it.before) for it in items}
    if result.status == "applied":
        assert now == planned, result
    elif result.status in ("refused", "rolled_back"):
        assert now == before, result
    else:  # partial | unknown: whatever moved is named
        assert result.status in ("partial", "unknown"), result
        for name in now:
            if now[name] != before[name]:
                assert name in result.detail, (name, result)


@pytest.fixture
def server(matrix_server) -> Iterator:
    with matrix_server.client() as c:
        for n, v in START.items():
            c.config_set(n, v)
    yield matrix_server


@pytest.fixture
def proxy(matrix_server) -> Iterator[FaultProxy]:
    with FaultProxy(matrix_server.port) as p:
        yield p


def _factory(proxy: FaultProxy) -> Callable[[], redis.Redis]:
    return lambda: _client(proxy.port)


# -- the two paths -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(PATHS))
def test_each_path_sends_what_it_says_and_verifies(server, proxy, path):
    multi = _path(server, path)
    items = _items(PLANNED, START)
    result = apply_items(_factory(proxy), items, multi)
    assert result == EngineResult("applied", "", {n: after for n, (_, after) in PLANNED.items()})
    sent = [[n, send] for n, (send, _) in PLANNED.items()]
    # One CONFIG SET carrying every pair, or one per parameter in the policy's order.
    assert _sets(proxy) == ([[a for pair in sent for a in pair]] if multi else sent)
    assert_all_or_nothing(result, server, items)
    with _client(server.port) as c:
        assert read_back(c, items) == {n: after for n, (_, after) in PLANNED.items()}


def test_multi_parameter_set_on_a_server_without_it_changes_nothing(server, proxy):
    """Why the version decides the path: Redis 6.x takes one pair per CONFIG SET and refuses the
    rest as a syntax error, which the engine reports as a refusal with nothing set."""
    if supports_multi_config_set(server.product, server.version):
        pytest.skip(f"{server.name} takes several parameters in one CONFIG SET")
    items = _items(PLANNED, START)
    result = apply_items(_factory(proxy), items, True)
    assert result.status == "refused" and result.detail.startswith(
        "the server refused the change, nothing was set"
    )
    assert len(_sets(proxy)) == 1
    assert_all_or_nothing(result, server, items)


def test_nothing_to_apply_sends_nothing(server, proxy):
    assert apply_items(_factory(proxy), [], True) == EngineResult("applied")
    assert proxy.commands == []


# -- a value the server refuses, and one it does not keep ------------------------------------------------
@pytest.mark.parametrize("path", list(PATHS))
def test_refused_value_leaves_every_parameter_as_before(server, proxy, path):
    """Every server refuses a maxclients above the kernel's ceiling on open files (see too_many_clients)."""
    multi = _path(server, path)
    before = {**START, "maxclients": _live(server, ["maxclients"])["maxclients"]}
    planned = {
        "maxmemory": PLANNED["maxmemory"],
        "maxclients": (TOO_MANY, TOO_MANY),
        "timeout": PLANNED["timeout"],
    }
    items = _items(planned, before)
    result = apply_items(_factory(proxy), items, multi)
    assert_all_or_nothing(result, server, items)
    if multi:
        assert result.status == "refused", result
        assert result.detail.startswith("the server refused the change, nothing was set: "), result
        assert len(_sets(proxy)) == 1
    else:
        assert result.status == "rolled_back", result
        assert result.detail.startswith("the server refused maxclients: "), result
        assert result.detail.endswith("rolled back and verified: the server is as before"), result
        # Stopped at the refusal (timeout never sent), then put maxmemory back.
        assert _sets(proxy) == [["maxmemory", "1gb"], ["maxclients", TOO_MANY], ["maxmemory", "0"]]
    assert result.mismatches == ()


@pytest.mark.parametrize("path", list(PATHS))
def test_value_not_kept_is_named_and_rolled_back(server, proxy, path):
    """hz 600 is accepted and clamped to 500: the read-back differs, so everything is put back."""
    multi = _path(server, path)
    items = _items({**PLANNED, "hz": ("600", "600")}, START)
    result = apply_items(_factory(proxy), items, multi)
    assert result.status == "rolled_back", result
    assert result.mismatches == ("hz: sent 600, the server reports 500",)
    assert result.detail == (
        "the server did not keep the values sent; rolled back and verified: the server is as before"
    )
    assert result.now_live == {"maxmemory": "0", "hz": "10", "timeout": "0"}
    assert_all_or_nothing(result, server, items)
    # The rollback puts back every parameter, last set first, one pair per CONFIG SET.
    assert _sets(proxy)[-3:] == [["timeout", "0"], ["hz", "10"], ["maxmemory", "0"]]


def test_verify_alone_rolls_back_what_the_server_did_not_keep(server):
    """verify() on values set by someone else: the same read-back and rollback as after a CONFIG SET."""
    items = _items({**PLANNED, "hz": ("600", "600")}, START)
    with _client(server.port) as c:
        for name, (send, _) in PLANNED.items():
            c.config_set(name, "600" if name == "hz" else send)
        assert read_back(c, items) == {"maxmemory": "1073741824", "hz": "500", "timeout": "300"}
        result = verify(c, items)
    assert result.status == "rolled_back", result
    assert result.mismatches == ("hz: sent 600, the server reports 500",)  # only what was not kept
    assert_all_or_nothing(result, server, items)


# -- sensitive values ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(PATHS))
def test_sensitive_value_is_applied_and_never_shown(server, proxy, path):
    multi = _path(server, path)
    items = [
        Item("requirepass", _param("requirepass"), Secret(SECRET), Secret(SECRET), Secret("")),
        *_items({"timeout": PLANNED["timeout"]}, START),
    ]
    assert _param("requirepass").sensitive
    client = _client(proxy.port)
    try:
        result = apply_items(lambda: client, items, multi)  # one connection: it stays authenticated
        assert result.status == "applied", result
        assert result.now_live == {"requirepass": "(sensitive)", "timeout": "300"}
        assert SECRET not in repr(result)
        assert client.config_get("requirepass")["requirepass"] == SECRET  # it did reach the server
    finally:
        client.config_set("requirepass", "")
        client.close()


@pytest.mark.parametrize("path", list(PATHS))
def test_a_refused_sensitive_value_is_redacted_from_the_server_error(server, proxy, path):
    """The server's error may quote the value it refused (Redis 6.x does: "Invalid argument
    '<value>' for CONFIG SET 'maxclients'"). Marked sensitive, that value never appears in what
    the engine returns, whatever the server says."""
    multi = _path(server, path)
    before = _live(server, ["maxclients"])["maxclients"]
    secret_param = dataclasses.replace(_param("maxclients"), sensitive=True)
    items = [
        *_items({"timeout": PLANNED["timeout"]}, START),
        Item("maxclients", secret_param, Secret(TOO_MANY), Secret(TOO_MANY), Secret(before)),
    ]
    result = apply_items(_factory(proxy), items, multi)
    assert result.status in ("refused", "rolled_back"), result
    assert TOO_MANY not in repr(result) and before not in result.detail, result
    assert_all_or_nothing(result, server, items)


# -- the connection lost while applying (unfenced: the CLI always fences) ------------------------------
@dataclasses.dataclass(frozen=True)
class Loss:
    path: str
    cut: Cut
    status: str
    detail: str  # how the detail starts
    unreachable: bool = False


LOSSES = {
    "multi-set-never-sent": Loss(
        "multi",
        Cut(CONFIG_SET, 1, "before"),
        "refused",
        "the connection was lost before the change reached the server; read back: nothing changed",
    ),
    "multi-set-reply-lost": Loss("multi", Cut(CONFIG_SET, 1, "after_send"), "applied", ""),
    # One by one: the first is set, the second never arrives: read back, put the first back.
    "2nd-set-never-sent": Loss(
        "per-parameter",
        Cut(CONFIG_SET, 2, "before"),
        "rolled_back",
        "the connection was lost in the middle of applying; rolled back and verified",
    ),
    "2nd-set-reply-lost": Loss(
        "per-parameter",
        Cut(CONFIG_SET, 2, "after_send"),
        "rolled_back",
        "the connection was lost in the middle of applying; rolled back and verified",
    ),
    # The last one ran before the connection died: read back, all of it is live: verified.
    "last-set-reply-lost": Loss("per-parameter", Cut(CONFIG_SET, 3, "after_send"), "applied", ""),
    # And the server cannot be reached again: the engine does not know, and names what may be live.
    "multi-unreachable": Loss(
        "multi",
        Cut(CONFIG_SET, 1, "after_send"),
        "unknown",
        "the connection was lost while applying (ConnectionError) and the server could "
        "not be reached again to read it back; either all or none of these are now live: "
        "maxmemory, hz, timeout",
        unreachable=True,
    ),
    "2nd-set-unreachable": Loss(
        "per-parameter",
        Cut(CONFIG_SET, 2, "before"),
        "unknown",
        "the connection was lost while applying (ConnectionError) and the server could "
        "not be reached again to read it back; these may now be live: maxmemory, hz",
        unreachable=True,
    ),
}


@pytest.mark.parametrize("loss", list(LOSSES.values()), ids=list(LOSSES))
def test_connection_lost_while_applying(server, proxy, loss):
    multi = _path(server, loss.path)
    items = _items(PLANNED, START)
    proxy.arm(loss.cut, refuse_for=1.0 if loss.unreachable else 0.0)
    result = apply_items(_factory(proxy), items, multi, reconnect_tries=2, reconnect_delay=0.05)
    assert proxy.fired_count == 1, proxy.names()
    assert result.status == loss.status, result
    assert result.detail.startswith(loss.detail), result
    assert_all_or_nothing(result, server, items)
    if loss.status != "unknown":
        assert result.now_live == _live(server, list(PLANNED)), result  # read back on the new connection
