"""plan and apply over a primary and its two replicas (issue 12): every node planned, checked
before any node changes, replicas first and the primary last, a per-node table at the end.

Real servers on 127.0.0.1 (``--replicaof``); every value is read back from each node directly.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis_servers import HOST, RedisServer, RedisServerFactory, configured_servers

from redispolicy.plan.planfile import sign

from .conftest import BASE, FINGERPRINT_KEY, write_policy
from .rollout_common import POLICY, WANT, addr, enter_work, plan, run_cli, spawn, values

PASSWORD = "pw-Rollout-5521"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return enter_work(tmp_path, monkeypatch)


@dataclass
class Trio:
    primary: RedisServer
    replicas: tuple[RedisServer, RedisServer]

    @property
    def nodes(self) -> tuple[RedisServer, ...]:
        return (self.primary, *self.replicas)


def _wait(what: str, done: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _start(factory: RedisServerFactory, spec: Any) -> Trio:
    primary = factory.start(spec, extra_args=("--repl-diskless-sync-delay", "0"))
    replicas = []
    try:
        for _ in range(2):
            r = factory.start(
                spec, extra_args=("--replicaof", HOST, str(primary.port), "--repl-diskless-sync-delay", "0")
            )
            replicas.append(r)
            with r.client() as c:
                _wait(
                    "master_link_status:up",
                    lambda c=c: c.info("replication").get("master_link_status") == "up",
                )
        with primary.client() as c:
            _wait("both replicas listed", lambda: c.info("replication").get("connected_slaves") == 2)
    except BaseException:
        for s in (primary, *replicas):
            s.stop()
        raise
    return Trio(primary, (replicas[0], replicas[1]))


@pytest.fixture(params=configured_servers(), ids=[s.name for s in configured_servers()])
def trio(request: pytest.FixtureRequest, redis_server_factory: RedisServerFactory) -> Iterator[Trio]:
    t = _start(redis_server_factory, request.param)
    try:
        yield t
    finally:
        for s in t.nodes:
            s.stop()


@pytest.fixture
def trio_one(redis_server_factory: RedisServerFactory) -> Iterator[Trio]:
    """One deployment on the default server, for the refusals (the matrix runs the rollout itself)."""
    t = _start(redis_server_factory, None)
    try:
        yield t
    finally:
        for s in t.nodes:
            s.stop()


def test_plan_and_apply_bring_every_node_to_the_policy(trio: Trio, work: Path, capsys) -> None:
    code, out, err = plan(capsys, trio.primary.url, "--out", "test.plan", "--detailed-exitcode")
    assert code == 2, out + err
    for s in trio.nodes:
        role = "primary" if s is trio.primary else "replica"
        assert f"{addr(s)} ({role})" in out, out
    assert "over 3 nodes" in out
    doc = json.loads(Path("test.plan").read_text())
    assert doc["format_version"] == 3 and doc["deployment"] == {"mode": "standalone", "discovered": True}
    assert doc["target"]["address"] == addr(trio.primary)
    assert sorted(n["target"]["address"] for n in doc["nodes"]) == sorted(addr(r) for r in trio.replicas)
    assert all(n["target"]["run_id"] and n["live"]["maxmemory"] == "0" for n in doc["nodes"])

    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", trio.primary.url, "-o", "json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["result"] == "applied"
    # replicas first (address order), the primary last; each node's values read back from it
    assert [n["address"] for n in report["nodes"]] == [
        *sorted((addr(r) for r in trio.replicas), key=lambda a: int(a.split(":")[1])),
        addr(trio.primary),
    ]
    for s in trio.nodes:
        assert values(s) == WANT
    assert all(n["status"] == "applied" and n["now"] == WANT for n in report["nodes"])
    audit = Path("state/redispolicy/audit.log").read_text().splitlines()
    assert sorted(json.loads(line)["target"] for line in audit) == sorted(addr(s) for s in trio.nodes)

    # every node in line now: each one says so, and --detailed-exitcode sees nothing to do
    code, out, _ = plan(capsys, trio.replicas[0].url, "--detailed-exitcode")
    assert code == 0 and f"{addr(trio.replicas[1])} (replica) — no changes" in out, out


def test_a_replica_url_plans_the_whole_deployment(trio_one: Trio, work: Path, capsys) -> None:
    code, out, err = plan(capsys, trio_one.replicas[1].url, "-o", "json")
    assert code == 0, out + err
    targets = json.loads(out)["targets"]
    assert targets[0]["address"] == addr(trio_one.primary)  # the primary first
    assert sorted(t["address"] for t in targets) == sorted(addr(s) for s in trio_one.nodes)
    assert all(len(t["config"]) == 2 for t in targets)
    # --no-discover: the URL's node alone
    code, out, _ = plan(capsys, trio_one.replicas[1].url, "-o", "json", "--no-discover")
    assert [t["address"] for t in json.loads(out)["targets"]] == [addr(trio_one.replicas[1])]


def test_a_value_changed_on_one_replica_refuses_and_changes_no_node(
    trio_one: Trio, work: Path, capsys
) -> None:
    code, out, err = plan(capsys, trio_one.primary.url, "--out", "test.plan")
    assert code == 0, out + err
    moved = trio_one.replicas[1]
    with moved.client() as c:
        c.config_set("timeout", "17")
    before = {s.port: values(s) for s in trio_one.nodes}
    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", trio_one.primary.url)
    assert code == 1, out + err
    assert f"{addr(moved)}: timeout: planned from 0, now 17" in out, out
    assert "no node was changed" in out
    assert {s.port: values(s) for s in trio_one.nodes} == before


def test_a_restarted_or_missing_node_refuses(trio_one: Trio, work: Path, capsys) -> None:
    code, out, err = plan(capsys, trio_one.primary.url, "--out", "test.plan")
    assert code == 0, out + err
    gone = trio_one.replicas[0]
    gone.stop()
    with trio_one.primary.client() as c:
        _wait("the replica gone", lambda: c.info("replication").get("connected_slaves") == 1)
    before = {s.port: values(s) for s in (trio_one.primary, trio_one.replicas[1])}
    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", trio_one.primary.url)
    assert code == 1, out + err
    assert f"{addr(gone)}: in the plan (replica), not in the deployment now" in err, out + err
    assert "nothing was changed" in err
    assert {s.port: values(s) for s in (trio_one.primary, trio_one.replicas[1])} == before


@pytest.mark.parametrize("resign", [False, True], ids=["edited", "re-signed"])
def test_an_edited_node_entry_is_refused(trio_one: Trio, work: Path, capsys, resign: bool) -> None:
    code, out, err = plan(capsys, trio_one.primary.url, "--out", "test.plan")
    assert code == 0, out + err
    doc = json.loads(Path("test.plan").read_text())
    entry = doc["nodes"][0]["changes"][0]
    entry.update(after="1", send="1")
    if resign:
        doc = sign(doc, FINGERPRINT_KEY.encode())
    Path("test.plan").write_text(json.dumps(doc))
    before = {s.port: values(s) for s in trio_one.nodes}
    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", trio_one.primary.url)
    assert code == 1, out + err
    if resign:  # the signature passes; re-deriving the entry from the policy stops it
        assert "the policy asks for" in out, out
    else:
        assert "the signature does not match" in err, err
    assert {s.port: values(s) for s in trio_one.nodes} == before


def test_a_v2_plan_is_refused_as_older(trio_one: Trio, work: Path, capsys) -> None:
    code, out, err = plan(capsys, trio_one.primary.url, "--out", "test.plan")
    assert code == 0, out + err
    doc = json.loads(Path("test.plan").read_text())
    doc["format_version"] = 2
    Path("test.plan").write_text(json.dumps(sign(doc, FINGERPRINT_KEY.encode())))
    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", trio_one.primary.url)
    assert code == 1 and "made by an older redispolicy: make a new plan" in err, out + err


def test_a_failure_on_the_primary_after_the_replicas_is_partial(trio_one: Trio, work: Path, capsys) -> None:
    # The apply user may not CONFIG SET on the primary only: the replicas change, then the primary refuses.
    for s in trio_one.nodes:
        rules = ["-config|set"] if s is trio_one.primary else []
        with s.client() as c:
            c.execute_command(
                "ACL", "SETUSER", "applier", "reset", "on", f">{PASSWORD}", "~*", "+@all", *rules
            )
    code, out, err = plan(capsys, trio_one.primary.url, "--out", "test.plan")
    assert code == 0, out + err
    url = f"redis://applier:{PASSWORD}@{HOST}:{trio_one.primary.port}/0"
    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", url, "-o", "json")
    assert code == 3, out + err
    assert PASSWORD not in out + err
    report = json.loads(out)
    assert report["result"] == "partial" and report["exit_code"] == 3
    by_addr = {n["address"]: n for n in report["nodes"]}
    for r in trio_one.replicas:
        assert by_addr[addr(r)]["status"] == "applied" and values(r) == WANT
    primary = by_addr[addr(trio_one.primary)]
    assert primary["status"] not in ("applied", "nothing", "not_reached")
    assert values(trio_one.primary) == {"maxmemory": "0", "timeout": "0"}
    for s in trio_one.nodes:  # the table says what each node really runs
        assert by_addr[addr(s)]["now"] == values(s)
    code, text, _ = run_cli(capsys, "apply", "test.plan", "--url", url)
    assert code == 1  # the replicas moved (already applied): stale, and the primary still untouched


def test_apply_e_rolls_a_fresh_plan_out_to_every_node(trio_one: Trio, work: Path, capsys) -> None:
    code, out, err = run_cli(
        capsys, "apply", "-e", "test", "--url", trio_one.replicas[0].url, "--auto-approve"
    )
    assert code == 0, out + err
    assert "Plan: 6 to set over 3 nodes." in out and "Nodes (rollout order" in out, out
    for s in trio_one.nodes:
        assert values(s) == WANT


def test_pause_waits_between_changed_nodes(trio_one: Trio, work: Path, capsys) -> None:
    code, out, err = plan(capsys, trio_one.primary.url, "--out", "test.plan")
    assert code == 0, out + err
    started = time.monotonic()
    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", trio_one.primary.url, "--pause", "0.4")
    assert code == 0, out + err
    # a pause after every changed node but the last; the progress lines go to stderr, the report to stdout
    assert err.count("pausing 0.4 s before the next node") == 2, err
    assert time.monotonic() - started >= 0.8
    assert "pausing" not in out


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_pause_and_health_timeout_refuse_odd_numbers(work: Path, capsys, value: str) -> None:
    for flag in ("--pause", "--health-timeout"):
        code, out, err = run_cli(capsys, "apply", "-e", "test", "--url", "redis://127.0.0.1:1", flag, value)
        assert code == 64 and "Traceback" not in err, (flag, value, err)


def _cut_links_when_applying(trio: Trio, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the first node is about to change, the primary stops letting replicas sync and drops
    their links: that node (and every node after it) cannot come back healthy."""
    from redispolicy.commands import apply as apply_cmd

    def notify(text: str) -> None:
        if "applying" in text:
            with trio.primary.client() as c:
                c.execute_command("ACL", "SETUSER", "default", "-psync", "-sync", "-replconf")
                c.execute_command("CLIENT", "KILL", "TYPE", "slave")

    monkeypatch.setattr(apply_cmd, "progress_line", notify)


@pytest.mark.parametrize("rollback", [False, True], ids=["stop", "rollback"])
def test_a_node_that_does_not_come_back_healthy_stops_the_rollout(
    trio_one: Trio, work: Path, capsys, monkeypatch: pytest.MonkeyPatch, rollback: bool
) -> None:
    code, out, err = plan(capsys, trio_one.primary.url, "--out", "test.plan")
    assert code == 0, out + err
    _cut_links_when_applying(trio_one, monkeypatch)
    extra = ["--rollback-on-failure"] if rollback else []
    code, out, err = run_cli(
        capsys,
        "apply",
        "test.plan",
        "--url",
        trio_one.primary.url,
        "--health-timeout",
        "1",
        "-o",
        "json",
        *extra,
    )
    report = json.loads(out)
    first, *rest = report["nodes"]
    assert [n["status"] for n in rest] == ["not_reached", "not_reached"], report
    changed = next(s for s in trio_one.nodes if addr(s) == first["address"])
    if rollback:
        assert code == 1 and report["result"] == "rolled_back", report
        assert first["status"] == "rolled_back" and values(changed) == {"maxmemory": "0", "timeout": "0"}
    else:
        assert code == 3 and report["result"] == "partial", json.dumps(report, indent=1)
        assert first["status"] == "unhealthy" and "link to the primary is" in first["detail"], first
        assert values(changed) == WANT
    for s in trio_one.nodes:  # the table says what each node really runs
        assert {n["address"]: n["now"] for n in report["nodes"]}[addr(s)] == values(s)
    assert values(trio_one.primary) == {"maxmemory": "0", "timeout": "0"}


PAUSED = ("--pause", "30", "-o", "json")


def test_ctrl_c_during_a_pause_stops_with_a_true_table(trio_one: Trio, work: Path, capsys) -> None:
    code, out, err = plan(capsys, trio_one.primary.url, "--out", "test.plan")
    assert code == 0, out + err
    proc = spawn("apply", "test.plan", "--url", trio_one.primary.url, *PAUSED, cwd=work)
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while not any("pausing" in line for line in seen):  # the first replica changed, now pausing
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen.append(proc.stderr.readline())
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=60)
    assert proc.returncode == 3, out + "".join(seen) + rest
    assert "Traceback" not in rest
    report = json.loads(out)
    assert report["result"] == "partial" and "interrupted (Ctrl-C)" in report["detail"], report
    statuses = [n["status"] for n in report["nodes"]]
    assert statuses == ["applied", "not_reached", "not_reached"], statuses
    for n in report["nodes"]:  # what each node runs, read back: the first changed, the others not
        server = next(s for s in trio_one.nodes if addr(s) == n["address"])
        assert n["now"] == values(server)
    assert [values(s) == WANT for s in trio_one.nodes].count(True) == 1
    # the lock was released: the next run does not wait for it
    with trio_one.primary.client() as c:
        assert not c.exists("redispolicy:apply-lock")


STALLED = ("--pause", "1.5", "-o", "json")


def test_a_node_stalled_mid_rollout_stops_it_and_is_never_left_between(
    trio_one: Trio, work: Path, capsys
) -> None:
    # The primary (last in the rollout, holder of the lock) stops answering (SIGSTOP) while the
    # rollout pauses before it: its change times out, the run stops with exit 3 and a table that
    # does not guess what the stalled node runs; once it answers again it runs either all the old
    # values or all the new ones, never a mix.
    write_policy(
        work,
        BASE + POLICY + "target:\n  url: redis://127.0.0.1:1/0\n  connect_timeout: 1s\n  read_timeout: 1s\n",
        header=False,
    )
    code, out, err = plan(capsys, trio_one.primary.url, "--out", "test.plan")
    assert code == 0, out + err
    proc = spawn("apply", "test.plan", "--url", trio_one.primary.url, *STALLED, cwd=work)
    assert proc.stderr is not None and trio_one.primary.pid is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while sum("pausing" in line for line in seen) < 2:  # both replicas changed
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen.append(proc.stderr.readline())
    os.kill(trio_one.primary.pid, signal.SIGSTOP)
    try:
        out, rest = proc.communicate(timeout=90)  # a hang guard: the policy's 1 s timeouts bound it
    finally:
        os.kill(trio_one.primary.pid, signal.SIGCONT)
    assert proc.returncode == 3, out + "".join(seen) + rest
    assert "Traceback" not in rest
    report = json.loads(out)
    rows = {n["address"]: n for n in report["nodes"]}
    primary = rows[addr(trio_one.primary)]
    assert primary["status"] == "unknown" and primary["now"] == {"maxmemory": None, "timeout": None}, primary
    for r in trio_one.replicas:
        assert rows[addr(r)]["status"] == "applied" and values(r) == WANT
    assert values(trio_one.primary) in (WANT, {"maxmemory": "0", "timeout": "0"})  # all or nothing
