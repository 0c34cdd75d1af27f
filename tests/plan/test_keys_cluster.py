"""The key audit on a real Redis Cluster (3 masters + 3 replicas): every master's keys, whatever node is asked.

One node's SCAN, RANDOMKEY and INFO keyspace see only its own slots; these tests seed the
ground-truth dataset of test_keys_ground_truth across all slots (through a cluster-aware
client) and require the audit to report the whole cluster: exact counts equal the truth,
sample intervals contain it, the report names the masters, the exact audit reads the
masters concurrently with the counts of a sequential read, under one shared rate budget.
"""

from __future__ import annotations

import json
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from keys_dataset import BIG, CLASSES, KINDS, POLICY, RARE, Truth, seed

from redispolicy.live.keyscan import scan_exact
from redispolicy.main import run
from redispolicy.plan.stats import wilson
from tests.redis_servers import HOST, free_cluster_port


def _seeded(cluster: Any) -> Truth:
    client = cluster.client(decode_responses=False)
    truth = seed(
        client, client
    )  # the dataset's "db 1" half goes to the same cluster: a cluster has db 0 only
    per_master = [node.client().dbsize() for node in cluster.masters]
    assert sum(per_master) == truth.total == 15547
    assert min(per_master) > truth.total // 4  # spread over every master's slots
    return truth


def _plan(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str], sampling: str = "", *extra: str
) -> tuple[int, str, str]:
    (tmp_path / "test.yaml").write_text(POLICY.format(sampling=sampling))
    code = run(
        [
            "plan",
            "--policy-dir",
            str(tmp_path),
            "-e",
            "test",
            "--url",
            url,
            "--max-rate",
            "0",
            "--examples",
            *extra,
        ]
    )  # the examples are checked against the truth: ask for key names
    out, err = capsys.readouterr()
    return code, out, err


def _keys(tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str], sampling: str = "") -> dict[str, Any]:
    code, out, err = _plan(tmp_path, url, capsys, sampling, "-o", "json")
    assert code == 0, out + err
    doc = json.loads(out)
    schema = json.loads(resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    keys: dict[str, Any] = doc["targets"][0]["keys"]
    return keys


def test_exact_audit_counts_every_master_from_any_node(matrix_cluster, tmp_path, capsys):
    truth = _seeded(matrix_cluster)
    # a master, and a replica: a replica's view of the cluster leads to the masters all the same
    for node in (matrix_cluster.masters[1], matrix_cluster.replicas[2]):
        keys = _keys(tmp_path, node.url, capsys)
        assert keys["mode"] == "exact"
        assert keys["dbsize"] == keys["scanned"] == truth.total, node
        assert keys["duplicates"] == 0
        assert sorted(keys["nodes"]) == sorted(m.address for m in matrix_cluster.masters), (
            node
        )  # what was audited
        assert [c["name"] for c in keys["classes"]] == list(CLASSES)
        for c in keys["classes"]:
            name = c["name"]
            assert c["exact"] is True, name
            assert c["matched"] == truth.matched[name], name
            assert c["vanished"] == 0, name
            assert c["violations"] == truth.violations[name], name
            assert c["violating_keys"] == truth.violating_keys(name), name
            assert set(c["examples"]) <= truth.violators[name], name
            assert len(c["examples"]) == min(5, truth.violating_keys(name)), name
        assert keys["unclassified"]["matched"] == truth.unclassified == 622
        assert keys["unclassified"]["suggested_patterns"] == [
            {"pattern": "misc:queue:*", "count": 300},
            {"pattern": "tmp:*", "count": 200},
            {"pattern": "user:*:profile", "count": 60},
            {"pattern": "user:*:settings", "count": 60},
            {"pattern": "weird\\*key:*", "count": 2},
        ]
    # the truth itself, so a bug in the dataset cannot hide one in the audit
    assert (
        truth.violations["ocr-cache"]["no_ttl"] == 60 and truth.violations["ocr-cache"]["ttl_over_max"] == 25
    )
    assert truth.violations["rate-limits"]["oversized"] == 7


WIDE_Z = 4.5  # as in test_keys_ground_truth: a miss at this width has probability ~7e-6 per interval


def test_sample_audit_draws_from_every_master(matrix_cluster, tmp_path, capsys, monkeypatch):
    import redispolicy.commands.keyaudit as keyaudit

    truth = _seeded(matrix_cluster)
    draws: list[tuple[dict[int, int], dict[int, int]]] = []  # (sizes, draws) per partition

    def spy(client_for: Any, sizes: dict[int, int], *args: Any, **kwargs: Any) -> Any:
        stats = sample_keys(client_for, sizes, *args, **kwargs)
        draws.append((sizes, stats.per_db))
        return stats

    sample_keys = keyaudit.sample_keys
    monkeypatch.setattr(keyaudit, "sample_keys", spy)
    keys = _keys(tmp_path, matrix_cluster.masters[0].url, capsys, "sampling: {mode: sample, keys: 2000}")
    # one partition per master, sized by its own INFO keyspace; draws in proportion (largest remainder)
    ((sizes, per_master),) = draws
    assert sorted(sizes.values()) == sorted(node.client().dbsize() for node in matrix_cluster.masters)
    assert sum(per_master.values()) == 2000
    for i, size in sizes.items():
        assert abs(per_master[i] - 2000 * size / truth.total) < 1, (i, per_master, sizes)
    assert keys["mode"] == "sample"
    assert keys["dbsize"] == truth.total  # the sum of every master's INFO keyspace
    n = keys["sample"]["draws"]
    assert n == 2000
    by_name = {c["name"]: c for c in keys["classes"]}
    for name in RARE:  # SCAN MATCH on every master: exact
        c = by_name[name]
        assert c["exact"] is True and c["audited_by"] == "scan_match", name
        assert c["matched"] == truth.matched[name], name
        assert c["violations"] == truth.violations[name], name
    intervals = [("unclassified", keys["unclassified"]["matched"], truth.unclassified)]
    for name in BIG:
        c = by_name[name]
        assert c["exact"] is False and c["matched"] >= 300, name
        intervals.append((f"{name} matched", c["matched"], truth.matched[name]))
        intervals += [
            (f"{name} {kind}", c["violations"][kind], truth.violations[name][kind])
            for kind in KINDS
            if truth.violations[name][kind]
        ]
        assert set(c["examples"]) <= truth.violators[name], name
    assert len(intervals) == 11
    for label, k, true_value in intervals:
        wide = wilson(k, n, z=WIDE_Z).scaled(truth.total)
        assert wide.low - 0.1 <= true_value <= wide.high + 0.1, (label, k, n, true_value)


def test_text_report_names_the_cluster_masters(redis_cluster, tmp_path, capsys):
    _seeded(redis_cluster)
    code, out, _ = _plan(tmp_path, redis_cluster.replicas[0].url, capsys, "", "--color", "never", "-v")
    assert code == 0, out
    assert "Keys (exact: 15547 of 15547 keys inspected on 3 cluster masters)" in out
    masters = ", ".join(f"{HOST}:{port}" for port in sorted(m.port for m in redis_cluster.masters))
    assert f"  cluster masters: {masters}" in out
    assert "4000 keys  60 no_ttl, 25 ttl_over_max" in out
    code, out, _ = _plan(
        tmp_path,
        redis_cluster.masters[2].url,
        capsys,
        "sampling: {mode: sample, keys: 2000}",
        "--color",
        "never",
    )
    assert code == 0, out
    assert (
        "Keys (sample: 2000 random draws of 15547 keys on 3 cluster masters, 95 % intervals; 5 rare class(es) "
        "counted exactly by SCAN MATCH)" in out
    )
    assert "cluster masters:" not in out  # the addresses only with -v
    code, out, _ = _plan(tmp_path, redis_cluster.masters[0].url, capsys, "", "-o", "markdown")
    assert "exact: 15547 of 15547 keys inspected on 3 cluster masters)" in out


def test_the_concurrent_audit_reads_every_master_at_once_and_counts_as_the_sequential_one(
    matrix_cluster, tmp_path, capsys, monkeypatch
):
    import redispolicy.commands.keyaudit as keyaudit
    import redispolicy.live.keyscan as keyscan

    truth = _seeded(matrix_cluster)
    readers: set[str] = set()
    real_scan_db = keyscan._scan_db

    def spy(*args: Any, **kwargs: Any) -> Any:
        readers.add(threading.current_thread().name)
        return real_scan_db(*args, **kwargs)

    monkeypatch.setattr(keyscan, "_scan_db", spy)
    concurrent = _keys(tmp_path, matrix_cluster.masters[0].url, capsys)
    assert len(readers) == 3  # one reader thread (and connection) per master
    assert concurrent["scanned"] == truth.total and concurrent["duplicates"] == 0

    real_scan_exact = keyaudit.scan_exact

    def sequential(*args: Any, **kwargs: Any) -> Any:
        return real_scan_exact(*args, **{**kwargs, "concurrent": False})

    monkeypatch.setattr(keyaudit, "scan_exact", sequential)
    readers.clear()
    reference = _keys(tmp_path, matrix_cluster.masters[0].url, capsys)
    assert len(readers) == 1

    def counts(keys: dict[str, Any]) -> Any:
        return (
            keys["dbsize"],
            keys["scanned"],
            [(c["name"], c["matched"], c["violations"], c["violating_keys"]) for c in keys["classes"]],
            keys["unclassified"]["matched"],
            keys["unclassified"]["suggested_patterns"],
        )

    assert counts(concurrent) == counts(reference)


def test_the_masters_share_one_rate_budget(redis_cluster):
    """3 masters read at once at --max-rate R take at least keys / R, not keys / (3 R)."""
    client = redis_cluster.client()
    for i in range(1500):
        client.set(f"k:{i}", "v")
    clients = [m.client(decode_responses=False) for m in redis_cluster.masters]
    sizes = [c.dbsize() for c in clients]
    assert sum(sizes) == 1500 and min(sizes) > 300
    rate = 3000  # a budget per master would finish in ~0.17 s; one shared budget needs >= 0.5 s
    got: list[int] = []
    stats = scan_exact(
        clients.__getitem__, [0, 1, 2], lambda b: got.append(len(b.keys)), rate=rate, concurrent=True
    )
    assert stats.scanned == sum(got) == 1500
    assert stats.seconds >= 1500 / rate * 0.95, stats.seconds
    for c in clients:
        c.close()


def test_cluster_nodes_refused_by_the_acl_is_a_clear_error(redis_cluster, tmp_path, capsys):
    node = redis_cluster.masters[0]
    admin = node.client()
    admin.execute_command("ACL", "SETUSER", "auditor", "on", ">pw-not-shown", "~*", "+@all", "-cluster")
    try:
        # --no-discover: the key audit's own need for CLUSTER NODES (plan's discovery needs it too)
        code, out, err = _plan(
            tmp_path, f"redis://auditor:pw-not-shown@{HOST}:{node.port}/0", capsys, "", "--no-discover"
        )
    finally:
        admin.execute_command("ACL", "DELUSER", "auditor")
    assert code == 1, out
    assert "the server runs in cluster mode and the ACL user may not run CLUSTER NODES" in err
    assert "+cluster|nodes" in err
    assert "pw-not-shown" not in out + err


def test_a_cluster_with_unserved_slots_is_not_audited(redis_server_factory, tmp_path, capsys):
    """A cluster node before any slot is assigned: an audit of it would miss every key."""
    node = redis_server_factory.start(
        port_picker=free_cluster_port,
        extra_args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
    )
    try:
        code, out, err = _plan(tmp_path, node.url, capsys)
        assert code == 1, out
        assert "cluster slots 0-16383 (16384 of 16384) have no reachable master" in err
        code, out, err = _plan(tmp_path, node.url, capsys, "", "--no-keys")  # the config plan still works
        assert code == 0, out + err
    finally:
        node.stop()


def test_plan_on_a_cluster_node_says_it_covers_that_node_only(redis_cluster, tmp_path, capsys):
    # --no-discover: the node alone (with discovery plan shows every node of the cluster)
    code, out, _ = _plan(
        tmp_path, redis_cluster.masters[0].url, capsys, "", "--color", "never", "--no-discover"
    )
    assert code in (0, 2)
    assert "note: a cluster node: this plan covers this node only (CONFIG SET reaches no other node)" in out
