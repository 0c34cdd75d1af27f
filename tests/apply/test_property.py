"""Property: a saved plan is applied exactly, or refused with nothing changed.

Random sets of runtime-settable parameters go into a policy; between `plan --out` and
`apply FILE` random out-of-band changes hit the server (some on parameters the plan
touches, some elsewhere, some to the value already there or an equivalent spelling of
it), and sometimes the server restarts. apply must refuse exactly when a parameter the
plan touches moved or the server restarted, name exactly what moved, and change nothing
when it refuses; otherwise every touched parameter ends at the planned value and the
rest stay as they were.

The oracle reads the server's own rendering (CONFIG GET) before and after, and does not
use redispolicy's normalization: the pool below only holds values the server renders
the same way redispolicy normalizes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import redis_servers
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st

from redispolicy.catalog.params import catalog
from redispolicy.main import run

from .conftest import make_plan, write_policy


@dataclass(frozen=True)
class Pooled:
    name: str
    values: tuple[str, str]  # as CONFIG GET renders them (== redispolicy's normalized form)
    spell: dict[str, str] = field(default_factory=dict)  # value -> how a policy may write it
    alias: dict[str, str] = field(default_factory=dict)  # value -> another CONFIG SET spelling of it


# Safe on a test server (no effect on our connections or the server's footing), runtime-settable
# on every matrix server (Redis 6.0 .. 8.0, Valkey 8.1) under the same name.
POOL = (
    Pooled("maxmemory", ("0", "1073741824"), {"1073741824": "1gb"}, {"1073741824": "1024mb"}),
    Pooled(
        "maxmemory-policy",
        ("noeviction", "allkeys-lru"),
        {"allkeys-lru": "ALLKEYS-LRU"},
        {"allkeys-lru": "ALLKEYS-LRU"},
    ),
    Pooled("hz", ("10", "20")),
    Pooled("timeout", ("0", "300")),
    Pooled("maxmemory-samples", ("5", "10")),
    Pooled("lazyfree-lazy-expire", ("no", "yes"), {"yes": "true", "no": "false"}, {"yes": "YES"}),
    Pooled("slowlog-max-len", ("128", "256")),  # commandlog-slow-execution-max-len on Valkey 8.1
    Pooled("notify-keyspace-events", ("", "xE"), {"xE": "Ex"}, {"xE": "Ex"}),
    Pooled("list-compress-depth", ("0", "1")),
    Pooled("latency-monitor-threshold", ("0", "100")),
    Pooled("lfu-log-factor", ("10", "20")),
    Pooled("activerehashing", ("yes", "no"), {"no": "off"}),
    # Known by another primary name on newer servers: the plan and its messages use the server's.
    Pooled("hash-max-ziplist-entries", ("128", "256")),  # hash-max-listpack-entries on >= 7.0
)
BY_NAME = {p.name: p for p in POOL}
NAMES = tuple(BY_NAME)


@dataclass(frozen=True)
class Scenario:
    start: dict[str, str]  # every pool parameter's value before the plan
    policy: dict[str, str]  # the parameters the policy sets, and to what
    oob: dict[str, str]  # out-of-band CONFIG SET between plan and apply (a spelling, maybe an alias)
    restart: bool = False
    output: str = "json"


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    start = {p.name: draw(st.sampled_from(p.values)) for p in POOL}
    chosen = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    policy = {n: draw(st.sampled_from(BY_NAME[n].values)) for n in chosen}
    # Bias the out-of-band changes towards the parameters the policy names, where they matter.
    oob_from = st.one_of(st.sampled_from(chosen), st.sampled_from(NAMES))
    oob_names = draw(st.lists(oob_from, max_size=5, unique=True))
    oob = {}
    for n in oob_names:
        p = BY_NAME[n]
        oob[n] = draw(st.sampled_from([*p.values, *p.alias.values()]))
    restart = draw(st.integers(0, 9)) == 0
    return Scenario(start, policy, oob, restart, draw(st.sampled_from(["json", "text"])))


def _yaml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML string: keeps "" and "no" as text


def _read(client: redis.Redis) -> dict[str, str]:
    pipe = client.pipeline(transaction=False)
    for n in NAMES:
        pipe.config_get(n)
    return {n: reply[n] for n, reply in zip(NAMES, pipe.execute(), strict=True)}


def _show(value: str) -> str:
    return value if value != "" else '""'


def _server_names(server: redis_servers.RedisServer) -> dict[str, str]:
    """Pool name -> the name this server (and so the plan) uses for it."""
    sc = catalog().for_server(server.product, server.version)
    out = {}
    for n in NAMES:
        look = sc.lookup(n)
        assert look is not None, f"{n} is not on {server.name}"
        out[n] = look.canonical
    return out


def _restart_in_place(server: redis_servers.RedisServer) -> None:
    """Stop the server and start the same binary on the same port: same address, new run_id."""
    port = server.port
    saved = redis_servers.free_port
    server.stop()
    redis_servers.free_port = lambda: port
    try:
        server.start()
    finally:
        redis_servers.free_port = saved


def _check(
    server: redis_servers.RedisServer, work: Path, capsys: pytest.CaptureFixture[str], sc: Scenario
) -> None:
    audit_log = work / "audit.log"

    # Reset: every pool parameter to this example's starting value, whatever earlier examples did.
    client = server.client()
    for name, value in sc.start.items():
        client.config_set(name, value)
    raw_start = _read(client)
    assert raw_start == sc.start
    client.delete("redispolicy:apply-lock")

    body = "config:\n" + "".join(
        f"  {n}: {_yaml(BY_NAME[n].spell.get(v, v))}\n" for n, v in sc.policy.items()
    )
    plan_file = make_plan(write_policy(work, body), server.url, capsys)
    doc = json.loads(plan_file.read_text())
    here = _server_names(server)
    touched = {n for n, v in sc.policy.items() if v != sc.start[n]}
    assert {c["parameter"] for c in doc["changes"]} == {here[n] for n in touched}
    assert {c["parameter"]: (c["action"], c["before"]) for c in doc["changes"]} == {
        here[n]: ("set", sc.start[n]) for n in touched
    }

    if sc.restart:
        _restart_in_place(server)
        client = server.client()
    for name, value in sc.oob.items():
        client.config_set(name, value)
    raw_mid = _read(client)

    expected_moved = {
        f"{here[n]}: planned from {_show(raw_start[n])}, now {_show(raw_mid[n])}"
        for n in touched
        if raw_mid[n] != raw_start[n]
    }
    refuse = sc.restart or bool(expected_moved)
    no_move = {n for n in touched if n in sc.oob and raw_mid[n] == raw_start[n]}
    if currently_in_test_context():  # what the examples covered: --hypothesis-show-statistics
        event("refused" if refuse else "applied" if touched else "nothing to do")
        event(f"{len(expected_moved)} touched parameter(s) moved")
        if no_move:
            event("a touched parameter was rewritten to its own value (no move)")
        if set(sc.oob) - touched and not expected_moved and not sc.restart:
            event("only untouched parameters moved")

    code = run(
        [
            "apply",
            str(plan_file),
            "--url",
            server.url,
            "--audit-log",
            str(audit_log),
            "--lock-timeout",
            "0",
            "-o",
            sc.output,
        ]
    )
    captured = capsys.readouterr()
    raw_end = _read(client)
    assert "Traceback" not in captured.err and "internal error" not in captured.err, captured.err

    if sc.output == "json":
        report = json.loads(captured.out)
        lines = set(report["moved"])
        status = report["result"]
    else:
        lines = {ln[4:] for ln in captured.out.splitlines() if ln.startswith("  - ")}
        status = None
    restart_lines = {
        ln for ln in lines if ln.startswith("the server restarted or is another server: run_id was ")
    }
    assert bool(restart_lines) == sc.restart, captured.out
    assert lines - restart_lines == expected_moved, captured.out

    if refuse:
        assert code == 1, captured.out + captured.err
        assert status in (None, "stale")
        assert "The plan is stale: nothing was changed." in captured.out or status == "stale"
        assert raw_end == raw_mid, "a refused apply changed the server"
    else:
        assert code == 0, captured.out + captured.err
        assert status in (None, "applied" if touched else "nothing")
        want = {**raw_mid, **{n: sc.policy[n] for n in touched}}
        assert raw_end == want
    assert client.exists("redispolicy:apply-lock") == 0  # released either way
    entry = json.loads(audit_log.read_text().splitlines()[-1])
    assert entry["result"] == ("stale" if refuse else "applied" if touched else "nothing")


PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DEFAULTS = {p.name: p.values[0] for p in POOL}


@PROPERTY
@given(sc=scenarios())
# A touched parameter moved to exactly the planned value: still a move (the review saw another start).
@example(sc=Scenario(DEFAULTS, {"hz": "20"}, {"hz": "20"}))
# Out-of-band writes of the current value, and of an equivalent spelling of it: no move.
@example(
    sc=Scenario(
        {**DEFAULTS, "maxmemory": "1073741824", "notify-keyspace-events": "xE"},
        {"maxmemory": "0", "notify-keyspace-events": "", "timeout": "300"},
        {"maxmemory": "1024mb", "notify-keyspace-events": "Ex", "timeout": "0"},
        output="text",
    )
)
# Only parameters the plan does not touch moved (one the policy names but already matched): applies.
@example(sc=Scenario(DEFAULTS, {"hz": "10", "timeout": "300"}, {"hz": "20", "slowlog-max-len": "256"}))
# Several touched parameters moved at once: all of them are named.
@example(
    sc=Scenario(
        DEFAULTS,
        {"hz": "20", "maxmemory": "1gb", "lazyfree-lazy-expire": "yes"},
        {"hz": "20", "maxmemory": "1073741824", "lazyfree-lazy-expire": "YES", "timeout": "300"},
        output="text",
    )
)
# Restarted, nothing else moved.
@example(sc=Scenario(DEFAULTS, {"maxmemory-samples": "10"}, {}, restart=True))
def test_apply_refuses_exactly_when_a_touched_parameter_moved_or_the_server_restarted(
    matrix_server, isolated, capsys, sc
):
    _check(matrix_server, isolated, capsys, sc)


def test_restart_alone_refuses_even_an_empty_plan(matrix_server, isolated, capsys):
    """The run_id check holds without any touched parameter: the review described another process."""
    _check(matrix_server, isolated, capsys, Scenario(DEFAULTS, {"hz": "10"}, {}, restart=True))


def test_another_server_is_refused_naming_both_addresses(
    matrix_server, redis_server_factory, isolated, capsys
):
    """A plan made on one server and applied (via --url) to another at the same values: refused, as the
    plan is bound to its target's address (and run_id: a restart at the same address is stale)."""
    other = redis_server_factory.start(matrix_server.spec)
    try:
        plan_file = make_plan(write_policy(isolated, "config:\n  hz: 20\n"), matrix_server.url, capsys)
        code = run(["apply", str(plan_file), "--url", other.url, "-o", "json"])
        err = capsys.readouterr().err
        assert code == 1
        assert (
            f"the plan was made for 127.0.0.1:{matrix_server.port}, but this run reaches "
            f"127.0.0.1:{other.port}"
        ) in err
        assert other.client().config_get("hz")["hz"] == "10"
        assert matrix_server.client().config_get("hz")["hz"] == "10"
    finally:
        other.stop()
