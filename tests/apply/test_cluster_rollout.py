"""plan and apply over a real 3+3 Redis Cluster (issue 12): every node planned, replicas first and
then the masters one at a time, each master's change under its own lock, a fault on the fourth
node stops the rollout with a per-node table that matches what every node runs, and
``--rollback-on-failure`` puts every changed node back.

Each test forms its own cluster (the session's shared cluster must keep its config); every value
is read back from each node directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_servers import HOST, RedisCluster, RedisServer, RedisServerFactory, configured_servers

from redispolicy.apply.cluster import lock_key_for
from redispolicy.apply.lock import ApplyLock

from .conftest import BASE, write_policy
from .rollout_common import DEFAULT, POLICY, WANT, addr, enter_work, plan, run_cli, spawn, values

PASSWORD = "pw-Cluster-7731"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return enter_work(tmp_path, monkeypatch)


def _start(factory: RedisServerFactory, spec: object) -> RedisCluster:
    return factory.start_cluster(spec)  # type: ignore[arg-type]


@pytest.fixture(params=configured_servers(), ids=[s.name for s in configured_servers()])
def cluster(
    request: pytest.FixtureRequest, redis_server_factory: RedisServerFactory
) -> Iterator[RedisCluster]:
    c = _start(redis_server_factory, request.param)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def cluster_one(redis_server_factory: RedisServerFactory) -> Iterator[RedisCluster]:
    """A cluster of the default server, for the hostile cases (the matrix runs the rollout itself)."""
    c = _start(redis_server_factory, None)
    try:
        yield c
    finally:
        c.stop()


def _rollout_order(c: RedisCluster) -> list[RedisServer]:
    """Replicas first, then the masters, each in address (port) order."""
    return sorted(c.replicas, key=lambda s: s.port) + sorted(c.masters, key=lambda s: s.port)


def _table_matches_reality(report: dict[str, object], c: RedisCluster) -> None:
    rows = {n["address"]: n for n in report["nodes"]}  # type: ignore[attr-defined, index]
    assert set(rows) == {addr(s) for s in c.nodes}
    for s in c.nodes:
        assert rows[addr(s)]["now"] == values(s), (s, rows[addr(s)])


def _no_config_set(c: RedisCluster, victim: RedisServer) -> str:
    """The user 'applier' on every node; on ``victim`` it may not CONFIG SET (a refused value).
    Returns the URL of a master as that user."""
    for s in c.nodes:
        rules = ["-config", "+config|get", "+config|rewrite"] if s is victim else []
        with s.client() as cl:
            cl.execute_command(
                "ACL", "SETUSER", "applier", "reset", "on", f">{PASSWORD}", "~*", "+@all", *rules
            )
    return f"redis://applier:{PASSWORD}@{HOST}:{c.masters[0].port}/0"


def test_plan_and_apply_bring_all_six_then_only_the_drifted_node(
    cluster: RedisCluster, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = cluster.replicas[1]  # any node finds the whole cluster
    code, out, err = plan(capsys, entry.url, "--out", "test.plan", "--detailed-exitcode")
    assert code == 2, out + err
    assert "over 6 nodes" in out, out
    doc = json.loads(Path("test.plan").read_text())
    assert doc["deployment"] == {"mode": "cluster", "discovered": True}
    planned = [doc["target"], *(n["target"] for n in doc["nodes"])]
    assert sorted(t["address"] for t in planned) == sorted(addr(s) for s in cluster.nodes)

    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", entry.url, "-o", "json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["result"] == "applied"
    assert [n["address"] for n in report["nodes"]] == [addr(s) for s in _rollout_order(cluster)]
    assert all(n["status"] == "applied" and n["now"] == WANT for n in report["nodes"])
    for s in cluster.nodes:
        assert values(s) == WANT
    audit = [json.loads(line) for line in Path("state/redispolicy/audit.log").read_text().splitlines()]
    assert sorted(a["target"] for a in audit) == sorted(addr(s) for s in cluster.nodes)
    # masters one at a time, after every replica: the progress lines say so, in that order
    applying = [line.split()[1] for line in err.splitlines() if "applying" in line]
    assert applying == [addr(s) for s in _rollout_order(cluster)], err
    with cluster.masters[0].client() as c:  # every lock released
        assert not [k for k in c.keys("redispolicy:apply-lock*")]

    drifted = cluster.masters[2]
    with drifted.client() as c:
        c.config_set("timeout", "17")
    code, out, err = plan(capsys, entry.url, "-o", "json", "--out", "again.plan", "--detailed-exitcode")
    assert code == 2, out + err
    targets = json.loads(out)["targets"]
    changed = [t["address"] for t in targets if any(c["action"] == "set" for c in t["config"])]
    assert changed == [addr(drifted)], targets
    code, out, err = run_cli(capsys, "apply", "again.plan", "--url", entry.url, "-o", "json")
    assert code == 0, out + err
    statuses = {n["address"]: n["status"] for n in json.loads(out)["nodes"]}
    assert statuses.pop(addr(drifted)) == "applied"
    assert set(statuses.values()) == {"nothing"}
    for s in cluster.nodes:
        assert values(s) == WANT


def test_a_fault_on_the_fourth_node_stops_then_rollback_restores_every_node(
    cluster: RedisCluster, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = _rollout_order(cluster)
    fourth = order[3]
    url = _no_config_set(cluster, fourth)
    code, out, err = plan(capsys, url, "--out", "test.plan")
    assert code == 0, out + err

    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", url, "-o", "json")
    assert code == 3, out + err
    assert PASSWORD not in out + err
    report = json.loads(out)
    assert report["result"] == "partial" and report["exit_code"] == 3
    statuses = [n["status"] for n in report["nodes"]]
    assert statuses[:3] == ["applied"] * 3 and statuses[4:] == ["not_reached"] * 2, statuses
    assert statuses[3] == "refused" and "NOPERM" in report["nodes"][3]["detail"], report["nodes"][3]
    _table_matches_reality(report, cluster)
    assert [values(s) for s in order] == [WANT] * 3 + [DEFAULT] * 3

    # A second policy over the same fault: with --rollback-on-failure the three replicas changed
    # before the fault go back to the values the plan was made from (WANT), and say so.
    write_policy(work, BASE + "config:\n  maxmemory: 32mb\n  timeout: 400\n", header=False)
    code, out, err = plan(capsys, url, "--out", "second.plan")
    assert code == 0, out + err
    planned_from = {
        n["target"]["address"]: n["live"] for n in json.loads(Path("second.plan").read_text())["nodes"]
    }
    code, out, err = run_cli(
        capsys, "apply", "second.plan", "--url", url, "-o", "json", "--rollback-on-failure"
    )
    assert code == 1, out + err
    report = json.loads(out)
    assert report["result"] == "rolled_back", report
    assert [n["status"] for n in report["nodes"]] == ["rolled_back"] * 3 + ["refused"] + ["not_reached"] * 2
    _table_matches_reality(report, cluster)
    assert [values(s) for s in order] == [WANT] * 3 + [DEFAULT] * 3
    for s in order[:3]:  # exactly the planned-from values, as the plan file recorded them
        if addr(s) in planned_from:
            assert {k: planned_from[addr(s)][k] for k in WANT} == values(s)
    results = [
        json.loads(line)["result"] for line in Path("state/redispolicy/audit.log").read_text().splitlines()
    ]
    assert results.count("rolled_back") == 3, results


def test_a_held_master_lock_refuses_before_any_node_changes(
    cluster_one: RedisCluster, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = plan(capsys, cluster_one.masters[0].url, "--out", "test.plan")
    assert code == 0, out + err
    # Another rollout holds the lock of the second master (the key a rollout computes for it).
    other = sorted(cluster_one.masters, key=lambda s: s.port)[1]
    with other.client() as c:
        slots = _slots_of(c, other.port)
        lock = ApplyLock(c, key=lock_key_for(slots))
        lock.acquire(1)
        try:
            code, out, err = run_cli(
                capsys, "apply", "test.plan", "--url", cluster_one.masters[0].url, "--lock-timeout", "0.3"
            )
        finally:
            lock.release()
    assert code == 1, out + err
    assert f"{addr(other)} (lock key '{lock_key_for(slots)}')" in err and "no node was changed" in err, err
    for s in cluster_one.nodes:
        assert values(s) == DEFAULT
    with cluster_one.masters[0].client() as c:  # the locks taken before the refusal were released
        for m in cluster_one.masters:
            with m.client() as mc:
                assert not mc.keys("redispolicy:apply-lock*")


def _slots_of(client: object, port: int) -> tuple[tuple[int, int], ...]:
    from redispolicy.live.topology import parse_cluster_nodes

    text = client.execute_command("CLUSTER", "NODES")  # type: ignore[attr-defined]
    text = text.decode() if isinstance(text, bytes) else text
    return next(n.slots for n in parse_cluster_nodes(text) if n.port == port)


def test_two_rollouts_at_once_one_applies_the_other_changes_nothing(
    cluster_one: RedisCluster, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = cluster_one.masters[0].url
    code, out, err = plan(capsys, url, "--out", "test.plan")
    assert code == 0, out + err
    args = ("apply", "test.plan", "--url", url, "--lock-timeout", "20", "--pause", "0.2", "-o", "json")
    runs = [spawn(*args, cwd=work) for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in runs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 1], results
    loser = next(json.loads(out) for code, out, _ in results if code == 1)
    # it waited for the locks, then found the nodes moved (the winner applied the plan): nothing changed
    assert loser["result"] == "stale" and all(n["status"] != "applied" for n in loser["nodes"]), loser
    for s in cluster_one.nodes:
        assert values(s) == WANT
    audit = [json.loads(line) for line in Path("state/redispolicy/audit.log").read_text().splitlines()]
    assert sum(a["result"] == "applied" for a in audit) == 6, audit


def test_a_node_cut_mid_rollout_stops_it_with_a_true_table(
    cluster_one: RedisCluster, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = _rollout_order(cluster_one)
    url = order[4].url  # the URL's node stays up
    code, out, err = plan(capsys, url, "--out", "test.plan")
    assert code == 0, out + err
    proc = spawn("apply", "test.plan", "--url", url, "--pause", "3", "-o", "json", cwd=work)
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while sum("pausing" in line for line in seen) < 3:  # after the third node, during its pause
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen.append(proc.stderr.readline())
    order[3].stop()  # the fourth node goes away before the rollout reaches it
    out, rest = proc.communicate(timeout=120)
    assert proc.returncode == 3, out + "".join(seen) + rest
    report = json.loads(out)
    statuses = [n["status"] for n in report["nodes"]]
    assert statuses[:3] == ["applied"] * 3 and statuses[5] == "not_reached", statuses
    assert statuses[3] in ("unknown", "refused") and statuses[4] == "not_reached", report["nodes"]
    assert report["nodes"][3]["now"] == {"maxmemory": None, "timeout": None}  # unreachable: not made up
    assert [values(s) for s in order[:3]] == [WANT] * 3
    assert [values(s) for s in order[4:]] == [DEFAULT] * 2


def test_an_unhealthy_cluster_is_refused_before_any_change(
    cluster_one: RedisCluster, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = cluster_one.masters[0].url
    code, out, err = plan(capsys, url, "--out", "test.plan")
    assert code == 0, out + err
    owner = next(m for m in cluster_one.masters if 0 in {a for a, _ in _slots_of_server(m)})
    with owner.client() as c:  # slot 0 served by nobody: cluster_state:fail (full coverage required)
        c.execute_command("CLUSTER", "DELSLOTS", "0")
        deadline = time.monotonic() + 10
        while b"cluster_state:fail" not in c.execute_command("CLUSTER", "INFO").encode():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", url)
    assert code == 1, out + err
    assert (
        "not healthy before the rollout" in err and f"{addr(owner)} (primary): cluster_state is fail" in err
    ), err
    for s in cluster_one.nodes:
        assert values(s) == DEFAULT
    # without the health check the locks themselves are refused (CLUSTERDOWN): a clean refusal too
    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", url, "--health-timeout", "0")
    assert code == 1 and "the cluster is down" in err.lower() and "nothing was changed" in err, out + err
    assert "internal error" not in err
    for s in cluster_one.nodes:
        assert values(s) == DEFAULT


def _slots_of_server(server: RedisServer) -> tuple[tuple[int, int], ...]:
    with server.client() as c:
        return _slots_of(c, server.port)


KEYS_POLICY = """keys:
  - name: ocr
    pattern: "ocr:*"
    ttl: {max: 1h}
    remediate: true
  - name: locks
    pattern: "lock:*"
    ttl: {max: 10m}
"""


def _key_ttls(c: RedisCluster) -> dict[str, int]:
    """Every key's PTTL, read on the master holding it (lock keys of the tool left out)."""
    out: dict[str, int] = {}
    for m in c.masters:
        with m.client() as cl:
            keys = [k for k in cl.scan_iter(count=1000) if not k.startswith("redispolicy:")]
            pipe = cl.pipeline(transaction=False)
            for k in keys:
                pipe.pttl(k)
            out.update(zip(keys, pipe.execute(), strict=True))
    return out


@pytest.mark.parametrize("fault", [False, True], ids=["applied", "config-fails"])
def test_remediate_keys_runs_on_every_master_once_the_rollout_is_done(
    cluster_one: RedisCluster, work: Path, capsys: pytest.CaptureFixture[str], fault: bool
) -> None:
    write_policy(work, BASE + POLICY + KEYS_POLICY, header=False)
    c = cluster_one.client()
    for i in range(120):
        c.set(f"ocr:none:{i}", "v")  # no TTL: gets 1h
        c.set(f"ocr:short:{i}", "v", ex=60)  # within max: untouched
        c.set(f"lock:{i}", "v")  # not a remediate class: untouched
    order = _rollout_order(cluster_one)
    url = _no_config_set(cluster_one, order[3]) if fault else cluster_one.masters[0].url
    code, out, err = plan(capsys, url, "--out", "test.plan")
    assert code == 0, out + err
    before = _key_ttls(cluster_one)
    code, out, err = run_cli(capsys, "apply", "test.plan", "--url", url, "--remediate-keys", "-o", "json")
    report = json.loads(out)
    after = _key_ttls(cluster_one)
    assert set(after) == set(before)  # nothing deleted, nothing added
    if fault:  # the config rollout stopped: no key was touched
        assert code == 3 and report["keys"]["result"] == "skipped", report
        assert all((after[k] == -1) == (before[k] == -1) for k in before)  # no key got a TTL
        return
    assert code == 0, out + err
    assert report["result"] == "applied" and report["keys"]["result"] == "done", report
    for s in cluster_one.nodes:
        assert values(s) == WANT
    fixed = [k for k in before if before[k] == -1 and after[k] != -1]
    assert sorted(fixed) == sorted(f"ocr:none:{i}" for i in range(120))  # exactly those, on every master
    assert all(0 < after[k] <= 3_600_000 for k in fixed)
    assert all(after[f"lock:{i}"] == -1 for i in range(120))
    assert all(0 < after[f"ocr:short:{i}"] <= 60_000 for i in range(120))
    counts = {c["name"]: c for c in report["keys"]["classes"]}
    assert counts["ocr"]["no_ttl"] == 120 and counts["ocr"]["over_max"] == 0
    masters_with_keys = {m.address for m in cluster_one.masters}
    assert {n["address"] for n in report["keys"]["nodes"]} == masters_with_keys
    audit = [json.loads(line) for line in Path("state/redispolicy/audit.log").read_text().splitlines()]
    keys_records = [a for a in audit if a.get("keys")]
    assert len(keys_records) == 1 and keys_records[0]["keys"]["result"] == "done"
