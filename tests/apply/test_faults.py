"""Fault injection for `redispolicy apply`, against real servers of the matrix.

A proxy (tests/proxy.py) sits between the tool and a real redis-server and cuts the
connection at chosen commands; the server refuses a value in the middle of a batch; the
server goes away or restarts between plan and apply; the ACL user may not run CONFIG.

In every case the server is read back directly (not through the proxy) and must hold,
for every planned parameter, either the complete state before or the complete plan:
never something between. Under the apply lock the change is one fenced transaction
(WATCH lock / GET / MULTI / CONFIG SET... / EXEC) on every server, Redis 6.x included:
a cut before EXEC ran changes nothing, a lost EXEC reply means all of it ran.
Exit codes: 0 applied and verified, 1 nothing changed, 3 partial or unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from proxy import Cut, FaultProxy

from redispolicy.main import run

from .conftest import audit_entries, too_many_clients, write_policy
from .conftest import make_plan as policy_plan  # the plan of whatever policy the test wrote

PARAMS = ("maxmemory", "maxmemory-policy", "timeout", "hz")
AFTER = {"maxmemory": "1073741824", "maxmemory-policy": "allkeys-lru", "timeout": "300", "hz": "20"}
POLICY = """\
config:
  maxmemory: 1gb
  maxmemory-policy: allkeys-lru
  timeout: 300
  hz: 20
"""
LOCK_KEY = "redispolicy:apply-lock"
CONFIG_SET = ("CONFIG", "SET")
CONFIG_GET = ("CONFIG", "GET")
EXEC = ("EXEC",)
REFUSE = 5.0  # longer than the tool's reconnect attempts (5 x 0.3 s)


# -- helpers ---------------------------------------------------------------------------------------
@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def env(tmp_path):
    """The policy dir, holding POLICY (the environment itself is isolated by conftest)."""
    return write_policy(tmp_path, POLICY)


@pytest.fixture
def proxy(matrix_server):
    p = FaultProxy(matrix_server.port)
    try:
        yield p
    finally:
        p.stop()


def is_multi(server) -> bool:
    """One atomic multi-parameter CONFIG SET (Redis >= 7, Valkey), as the engine decides it."""
    return server.product == "valkey" or server.version_tuple[0] >= 7


def live(server) -> dict[str, str]:
    """The planned parameters, read directly from the server (never through the proxy)."""
    with server.client() as c:
        return {p: c.config_get(p)[p] for p in PARAMS}


def state_of(now: dict[str, str], before: dict[str, str]) -> str:
    if now == before:
        return "before"
    if now == AFTER:
        return "after"
    return "mixed"


def make_plan(policy_dir: Path, url: str, capsys) -> Path:
    """The standard policy's plan, checked to plan exactly AFTER (policy_plan takes any policy)."""
    out = policy_plan(policy_dir, url, capsys)
    doc = json.loads(out.read_text())
    planned = {c["parameter"]: (c["action"], c["after"]) for c in doc["changes"]}
    assert planned == {p: ("set", v) for p, v in AFTER.items()}, planned
    return out


def apply(plan: Path, url: str, policy_dir: Path, capsys, *extra: str) -> Outcome:
    code = run(
        ["apply", str(plan), "--url", url, "--policy-dir", str(policy_dir), "--color", "never", *extra]
    )
    shown = capsys.readouterr()
    return Outcome(code, shown.out, shown.err)


def assert_clean(o: Outcome) -> None:
    assert "Traceback" not in o.text, o.text
    assert "internal error" not in o.text, o.text


def assert_nothing_changed(o: Outcome, server, before: dict[str, str]) -> None:
    assert_clean(o)
    assert o.code == 1, o.text
    assert live(server) == before, o.text


def assert_applied(o: Outcome, server) -> None:
    assert_clean(o)
    assert o.code == 0, o.text
    assert "✓ Applied 4 change(s), verified by reading them back" in o.out, o.text
    assert live(server) == AFTER


def assert_lock_released(server) -> None:
    with server.client() as c:
        assert c.get(LOCK_KEY) is None


def assert_audit(env: Path, result: str) -> None:
    entries = audit_entries(env.parent)
    assert entries[-1]["result"] == result, entries[-1]


# -- 1. the connection cut at chosen commands -------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    cuts: tuple[Cut, ...]
    refuse: bool = False


FAULTS = {
    # A CONFIG SET (>= 7: the one; 6.x: the first of four) queued in the MULTI never reaches the
    # server, or is queued and the connection dies: the transaction is discarded, nothing runs.
    "config-set-never-sent": Fault((Cut(CONFIG_SET, 1, "before"),)),
    "config-set-queued-then-cut": Fault((Cut(CONFIG_SET, 1, "after_send"),)),
    # EXEC never arrives: nothing runs. EXEC runs and its reply is lost: all of it ran.
    "exec-never-sent": Fault((Cut(EXEC, 1, "before"),)),
    "exec-reply-lost": Fault((Cut(EXEC, 1, "after_send"),)),
    # As above, and the tool cannot reach the server again: it must say it does not know.
    "config-set-never-sent-unreachable": Fault((Cut(CONFIG_SET, 1, "before"),), refuse=True),
    "exec-never-sent-unreachable": Fault((Cut(EXEC, 1, "before"),), refuse=True),
    "exec-reply-lost-unreachable": Fault((Cut(EXEC, 1, "after_send"),), refuse=True),
    # Everything set; the read-back that verifies it is cut.
    "verify-read-back-cut": Fault((Cut(CONFIG_GET, 1, "before", after=CONFIG_SET),)),
    "verify-read-back-cut-unreachable": Fault((Cut(CONFIG_GET, 1, "before", after=CONFIG_SET),), refuse=True),
    # Before anything is set: the staleness re-read, the lock.
    "stale-check-read-cut": Fault((Cut(CONFIG_GET, 1, "before"),)),
    "lock-cut": Fault((Cut(("SET", LOCK_KEY), 1, "before"),)),
}


def _ran(cut: Cut) -> bool:
    """Did the change run before this cut? (EXEC's reply lost, or the read-back after it cut.)"""
    return (cut.match == EXEC and cut.when == "after_send") or cut.after == CONFIG_SET


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
def test_connection_cut(matrix_server, proxy, env, capsys, fault):
    before = live(matrix_server)
    plan = make_plan(env, proxy.url, capsys)
    proxy.arm(*fault.cuts, refuse_for=REFUSE if fault.refuse else 0.0)
    o = apply(plan, proxy.url, env, capsys)
    assert proxy.fired_count == len(fault.cuts), proxy.names()
    proxy.disarm()
    assert_clean(o)
    now = live(matrix_server)
    state = state_of(now, before)

    # The invariant, whatever the fault and the server: never between.
    assert state != "mixed", f"partial apply on {matrix_server.name}: {now}\n{o.text}"
    # The exit code says which state the server is in.
    if o.code == 0:
        assert state == "after", o.text
        assert "verified by reading them back" in o.out
    elif o.code == 1:
        assert state == "before", o.text
        assert "nothing was changed" in o.text.lower(), o.text
    else:
        assert o.code == 3, o.text
        assert "⚠ The outcome is unknown" in o.out, o.text
        assert "could not be reached again" in o.out, o.text
        # It cannot say what is live, but it names every parameter that may have changed.
        for name in PARAMS:
            if now[name] != before[name]:
                assert name in o.out, o.text

    # And exactly which outcome each fault must give.
    first = fault.cuts[0]
    if fault.refuse:
        assert o.code == 3
        assert state == ("after" if _ran(first) else "before")
    elif _ran(first):
        assert_applied(o, matrix_server)
        assert_audit(env, "applied")
    elif first.match in (CONFIG_SET, EXEC):
        assert o.code == 1 and state == "before"
        assert "nothing changed" in o.out, o.text  # read back, not guessed
        assert_audit(env, "refused")
    else:  # before anything was sent
        assert_nothing_changed(o, matrix_server, before)
        assert o.err.startswith("redispolicy: error: "), o.text
    if not fault.refuse:
        assert_lock_released(matrix_server)


# -- Redis 6.x: one CONFIG SET per parameter, all in one MULTI: a cut among them changes nothing -----
QUEUED = {
    "cut-before-2nd": Cut(CONFIG_SET, 2, "before"),
    "cut-after-2nd": Cut(CONFIG_SET, 2, "after_send"),
    "cut-after-4th": Cut(CONFIG_SET, 4, "after_send"),  # all four queued, EXEC never sent
}


@pytest.mark.parametrize("cut", list(QUEUED.values()), ids=list(QUEUED))
def test_cut_among_queued_sets_changes_nothing(matrix_server, proxy, env, capsys, cut):
    if is_multi(matrix_server):
        pytest.skip("one multi-parameter CONFIG SET on this server: covered by test_connection_cut")
    before = live(matrix_server)
    plan = make_plan(env, proxy.url, capsys)
    proxy.arm(cut)
    o = apply(plan, proxy.url, env, capsys)
    assert proxy.fired_count == 1, proxy.names()
    assert not any(c.upper() == "EXEC" for c in proxy.names()), proxy.names()
    assert_nothing_changed(o, matrix_server, before)
    assert "the connection was lost before the change reached the server; read back: nothing changed" in o.out
    assert_audit(env, "refused")
    assert_lock_released(matrix_server)


def test_cut_during_rollback(matrix_server, proxy, env, capsys):
    """hz 600 is applied and clamped to 500, so everything is rolled back; the rollback's first
    CONFIG SET never arrives: apply reconnects, reads back, rolls back again and proves it —
    or says exit 3 naming what is live; never a silent partial state."""
    write_policy(env.parent, POLICY.replace("hz: 20", "hz: 600"))
    before = live(matrix_server)
    plan = policy_plan(env, proxy.url, capsys)
    proxy.arm(Cut(CONFIG_SET, 1, "before", after=EXEC))  # the first CONFIG SET after the change ran
    o = apply(plan, proxy.url, env, capsys)
    assert proxy.fired_count == 1, proxy.names()
    assert_clean(o)
    now = live(matrix_server)
    assert "hz: sent 600, the server reports 500" in o.out, o.text
    if o.code == 1:
        assert now == before, o.text
        assert "rolled back and verified" in o.out, o.text
    else:
        assert o.code == 3, o.text
        assert "PARTIALLY APPLIED" in o.out, o.text
        assert "Now live on the server:" in o.out, o.text
        for name, value in now.items():
            assert f"{name} = {value}" in o.out, o.text
    assert_lock_released(matrix_server)


# -- 2. a value the server refuses (or does not keep) in the middle of the batch ---------------------
# Both pass validation: the server alone knows that it cannot take that many clients (more than
# any open-files limit), and that it clamps hz to 500.
REFUSED_POLICY = POLICY.replace("  timeout: 300\n", f"  maxclients: {too_many_clients()}\n  timeout: 300\n")
NOT_KEPT_POLICY = POLICY.replace("hz: 20", "hz: 600")


@pytest.mark.parametrize("kind", ["refused", "not-kept"])
def test_value_refused_mid_batch(matrix_server, env, capsys, kind):
    before = live(matrix_server)
    with matrix_server.client() as c:
        clients_before = c.config_get("maxclients")["maxclients"]
    write_policy(env.parent, REFUSED_POLICY if kind == "refused" else NOT_KEPT_POLICY)
    plan = policy_plan(env, matrix_server.url, capsys)
    o = apply(plan, matrix_server.url, env, capsys)
    assert_nothing_changed(o, matrix_server, before)
    with matrix_server.client() as c:
        assert c.config_get("maxclients")["maxclients"] == clients_before
    if kind == "refused":
        assert "maxclients" in o.out, o.text
        if is_multi(matrix_server):
            assert "✗ Nothing was changed." in o.out, o.text
            assert "the server refused the change, nothing was set" in o.out, o.text
            assert_audit(env, "refused")
        else:
            assert "the server refused maxclients" in o.out, o.text
            assert "rolled back and verified: the server is as before" in o.out, o.text
            assert_audit(env, "rolled_back")
    else:
        assert "hz: sent 600, the server reports 500" in o.out, o.text
        assert "rolled back and verified: the server is as before" in o.out, o.text
        assert_audit(env, "rolled_back")
    assert_lock_released(matrix_server)


# -- 3. the server stopped, or restarted, between plan and apply -------------------------------------
def test_server_stopped_between_plan_and_apply(matrix_server, env, capsys):
    url = matrix_server.url
    plan = make_plan(env, url, capsys)
    matrix_server.stop()
    o = apply(plan, url, env, capsys)
    assert_clean(o)
    assert o.code == 1, o.text
    assert o.out == ""
    lines = o.err.splitlines()
    assert lines[0].startswith(f"redispolicy: error: cannot connect to {url}"), o.err
    assert all(line.startswith("  hint: ") for line in lines[1:]), o.err
    assert len(lines) <= 2, o.err


def test_server_restarted_between_plan_and_apply(matrix_server, redis_server_factory, proxy, env, capsys):
    """Same address, another process (new run_id), even with the same values: the plan is stale."""
    plan = make_plan(env, proxy.url, capsys)
    old_run_id = json.loads(plan.read_text())["target"]["run_id"]
    matrix_server.stop()
    restarted = redis_server_factory.start(matrix_server.spec)
    try:
        proxy.target_port = restarted.port  # the tool's URL still works
        before = live(restarted)
        o = apply(plan, proxy.url, env, capsys)
        assert_nothing_changed(o, restarted, before)
        assert "✗ The plan is stale: nothing was changed." in o.out, o.text
        new_run_id = restarted.info_server["run_id"]
        assert (
            f"the server restarted or is another server: run_id was {old_run_id}, now {new_run_id}" in o.out
        )
        assert not any(c.upper().startswith("CONFIG SET") for c in proxy.names()), proxy.names()
        assert_audit(env, "stale")
        assert_lock_released(restarted)
    finally:
        restarted.stop()


# -- 4. an ACL user without +config --------------------------------------------------------------------
PASSWORD = "pw-Applier-7731"


@pytest.mark.parametrize(
    "rules", [["-config"], ["-config", "+config|get"]], ids=["no-config", "config-get-only"]
)
def test_acl_user_without_config_permission(matrix_server, env, capsys, rules):
    with matrix_server.client() as admin:
        admin.execute_command(
            "ACL", "SETUSER", "applier", "reset", "on", f">{PASSWORD}", "~*", "+@all", *rules
        )
    before = live(matrix_server)
    plan = make_plan(env, matrix_server.url, capsys)  # planned by an admin
    url = f"redis://applier:{PASSWORD}@{matrix_server.host}:{matrix_server.port}/0"
    o = apply(plan, url, env, capsys)
    assert_nothing_changed(o, matrix_server, before)
    assert PASSWORD not in o.text
    assert "NOPERM" in o.text or "no permissions" in o.text, o.text
    assert "config" in o.text.lower(), o.text
    if rules == ["-config"]:
        assert "+config|get" in o.text, o.text
    else:
        assert "config|set" in o.text or "+config" in o.text, o.text
    assert_lock_released(matrix_server)
