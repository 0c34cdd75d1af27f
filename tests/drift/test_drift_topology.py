"""drift on every node of a deployment: a primary and its replica, a replica's primary, a cluster.

CONFIG SET on a primary reaches no replica, and each cluster node has its own config, so
drift checks each node (config and health) and audits the keys once. Real servers on
127.0.0.1: a primary with one replica (``--replicaof``) per matrix server, and the session's
3 + 3 cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from redis_servers import HOST, RedisCluster, RedisServer, RedisServerFactory, configured_servers

from redispolicy.main import run

SPECS = configured_servers()

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${{URL}}
{topology}config:
  maxmemory-policy: allkeys-lru
keys:
  - name: cache
    pattern: "cache:*"
    ttl: {{max: 1h}}
unclassified: warn
"""


@dataclass
class Pair:
    primary: RedisServer
    replica: RedisServer


def wait_for(what: str, done: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def start_replica(factory: RedisServerFactory, primary: RedisServer, spec: Any = None) -> RedisServer:
    replica = factory.start(
        spec, extra_args=("--replicaof", HOST, str(primary.port), "--repl-diskless-sync-delay", "0")
    )
    client = replica.client()
    wait_for("master_link_status:up", lambda: client.info("replication").get("master_link_status") == "up")
    return replica


@pytest.fixture(scope="module", params=SPECS, ids=[s.name for s in SPECS])
def pair(request: pytest.FixtureRequest, redis_server_factory: RedisServerFactory) -> Iterator[Pair]:
    primary = redis_server_factory.start(request.param, extra_args=("--repl-diskless-sync-delay", "0"))
    try:
        replica = start_replica(redis_server_factory, primary, request.param)
    except BaseException:
        primary.stop()
        raise
    try:
        yield Pair(primary, replica)
    finally:
        replica.stop()
        primary.stop()


@pytest.fixture
def synced(pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pair:
    """Both nodes as the policy says, no keys; the policy in tmp_path/policies, URL = the primary."""
    p, r = pair.primary.client(), pair.replica.client()
    p.flushall()
    for c in (p, r):
        c.config_set("maxmemory-policy", "allkeys-lru")
    wait_for("the replica to be empty", lambda: r.dbsize() == 0)
    write_policy(tmp_path, monkeypatch, pair.primary.url)
    return pair


def write_policy(root: Path, monkeypatch: pytest.MonkeyPatch, url: str, topology: str = "") -> None:
    (root / "policies").mkdir(exist_ok=True)
    line = f"  topology: {topology}\n" if topology else ""
    (root / "policies" / "test.yaml").write_text(POLICY.format(topology=line))
    monkeypatch.chdir(root)
    monkeypatch.setenv("URL", url)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def drift_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = run(["drift", "--policy-dir", "policies", "-e", "test", "-o", "json", *args])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    schema = json.loads(resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    return code, doc


def findings(doc: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    return {
        (t["address"], t["role"]): [(f["kind"], f["subject"]) for f in t["findings"]] for t in doc["targets"]
    }


def test_a_setting_changed_on_the_replica_only_is_drift_there(
    synced: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    primary, replica = synced.primary, synced.replica
    code, doc = drift_json(capsys)
    assert code == 0, doc
    assert findings(doc) == {(primary.address, "master"): [], (replica.address, "slave"): []}
    health = {h["check"]: h["status"] for h in doc["targets"][1]["health"]}
    assert health["replication_link"] == "ok"  # the replica's own link to its primary
    assert "replication_link" not in {h["check"] for h in doc["targets"][0]["health"]}

    replica.client().config_set("maxmemory-policy", "volatile-lru")  # out of band, on the replica alone
    code, doc = drift_json(capsys)
    assert code == 2
    assert findings(doc) == {
        (primary.address, "master"): [],
        (replica.address, "slave"): [("value_drift", "maxmemory-policy")],
    }
    assert doc["summary"]["config_changes"] == 1

    code = run(["drift", "--policy-dir", "policies", "-e", "test", "--color", "never"])
    text = capsys.readouterr().out
    assert code == 2
    assert f"· {replica.address} (" in text and f"· {primary.address} (" in text, text
    assert "maxmemory-policy: live volatile-lru, policy allkeys-lru" in text


def test_key_findings_appear_once_on_the_primary(synced: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    p = synced.primary.client()
    p.set("cache:nottl", "v")
    p.set("stray", "v")
    wait_for("the keys on the replica", lambda: synced.replica.client().dbsize() == 2)
    for url in (synced.primary.url, synced.replica.url):  # whichever node the URL names
        code, doc = drift_json(capsys, "--url", url)
        assert code == 2
        assert findings(doc) == {
            (synced.primary.address, "master"): [
                ("ttl_policy", "cache"),
                ("unclassified_keys", "unclassified"),
            ],
            (synced.replica.address, "slave"): [],
        }, url
        by_role = {t["role"]: t for t in doc["targets"]}
        assert by_role["master"]["keys"]["scanned"] == 2 and "keys" not in by_role["slave"]
        assert doc["summary"]["key_violations"] == 1


def test_the_replica_url_discovers_its_primary(
    synced: Pair, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    synced.primary.client().config_set("maxmemory-policy", "noeviction")
    monkeypatch.setenv("URL", synced.replica.url)
    code, doc = drift_json(capsys)
    assert code == 2
    assert [(t["address"], t["role"]) for t in doc["targets"]] == [
        (synced.primary.address, "master"),
        (synced.replica.address, "slave"),
    ]  # the primary first
    assert findings(doc)[(synced.primary.address, "master")] == [("value_drift", "maxmemory-policy")]
    assert findings(doc)[(synced.replica.address, "slave")] == []


def test_standalone_topology_or_no_discover_checks_the_node_given(
    synced: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    synced.replica.client().config_set("maxmemory-policy", "volatile-lru")
    code, doc = drift_json(capsys, "--no-discover")
    assert code == 0 and [t["address"] for t in doc["targets"]] == [synced.primary.address]
    write_policy(tmp_path, monkeypatch, synced.primary.url, topology="standalone")
    code, doc = drift_json(capsys)
    assert code == 0 and [t["address"] for t in doc["targets"]] == [synced.primary.address]
    write_policy(tmp_path, monkeypatch, synced.primary.url, topology="replicas")
    code, doc = drift_json(capsys)
    assert code == 2 and len(doc["targets"]) == 2


def test_an_unreachable_primary_is_a_failed_target_beside_its_replica(
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orphan = redis_server_factory.start(extra_args=("--replicaof", HOST, "1"))  # nothing listens on port 1
    try:
        orphan.client().config_set("maxmemory-policy", "allkeys-lru")
        write_policy(tmp_path, monkeypatch, orphan.url)
        code, doc = drift_json(capsys)
        assert code == 1
        primary, replica = doc["targets"]
        assert (primary["address"], primary["role"]) == (f"{HOST}:1", "master")
        assert primary["error"].startswith(f"cannot connect to redis://{HOST}:1")
        assert "found by discovery" in primary["error"] and "--no-discover" in primary["error"]  # the way out
        assert (replica["address"], replica["role"]) == (orphan.address, "slave") and "error" not in replica
        link = next(h for h in replica["health"] if h["check"] == "replication_link")
        assert link["status"] == "critical"
        assert doc["summary"]["errors"] == 1
    finally:
        orphan.stop()


def test_every_cluster_node_is_a_target(
    redis_cluster: RedisCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nodes = redis_cluster.nodes
    before = [n.client().config_get("maxmemory-policy")["maxmemory-policy"] for n in nodes]
    odd = redis_cluster.replicas[1]
    try:
        for n in nodes:
            n.client().config_set("maxmemory-policy", "allkeys-lru")
        odd.client().config_set("maxmemory-policy", "volatile-ttl")
        redis_cluster.client().set("cache:nottl", "v")
        write_policy(tmp_path, monkeypatch, redis_cluster.masters[0].url)
        code, doc = drift_json(capsys)
        assert code == 2
        got = findings(doc)
        assert len(doc["targets"]) == 6
        assert sorted(got) == sorted(
            [(m.address, "master") for m in redis_cluster.masters]
            + [(r.address, "slave") for r in redis_cluster.replicas]
        )
        drifted = {k: v for k, v in got.items() if ("value_drift", "maxmemory-policy") in v}
        assert list(drifted) == [(odd.address, "slave")]
        with_keys = [
            t for t in doc["targets"] if "keys" in t
        ]  # one audit of every master, from the node given
        assert [t["address"] for t in with_keys] == [redis_cluster.masters[0].address]
        assert with_keys[0]["keys"]["scanned"] == 1 and len(with_keys[0]["keys"]["nodes"]) == 3
        assert sum(1 for v in got.values() for f in v if f[0] == "ttl_policy") == 1
    finally:
        for n, value in zip(nodes, before, strict=True):
            n.client().config_set("maxmemory-policy", value)


def test_cluster_nodes_refused_fails_the_target_and_names_the_way_out(
    redis_cluster: RedisCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = redis_cluster.masters[0]
    admin = node.client()
    admin.execute_command("ACL", "SETUSER", "auditor", "on", ">pw-not-shown", "~*", "+@all", "-cluster")
    try:
        write_policy(tmp_path, monkeypatch, f"redis://auditor:pw-not-shown@{HOST}:{node.port}/0")
        code, doc = drift_json(capsys)
        assert code == 1
        (target,) = doc["targets"]
        assert target["address"] == node.address
        assert "refused CLUSTER NODES (" in target["error"] and "--no-discover" in target["error"]
        assert "pw-not-shown" not in json.dumps(doc)
        code, doc = drift_json(
            capsys, "--no-discover", "--no-keys"
        )  # this node alone: no CLUSTER NODES needed
        assert code in (0, 2) and [t["address"] for t in doc["targets"]] == [node.address]
        assert "error" not in doc["targets"][0]
    finally:
        admin.execute_command("ACL", "DELUSER", "auditor")


def test_a_server_reached_under_two_addresses_is_reported_once() -> None:
    from redispolicy.commands.drift import _once_per_server
    from redispolicy.live.model import Identity
    from redispolicy.live.topology import Member
    from redispolicy.plan.drift import TargetDrift
    from redispolicy.plan.model import Plan

    def target(run_id: str, where: str, role: str, error: str = "") -> TargetDrift:
        ident = Identity("redis", "7.2.4", run_id, role, "standalone", where)
        return TargetDrift(ident, Plan("test", ident, ()), None, (), (), error=error)

    members = (
        Member("10.0.0.1", 6379, "master"),
        Member("10.0.0.2", 6379, "slave"),
        Member("cache-r.example", 6379, "slave", given=True),
        Member("10.0.0.3", 6379, "slave"),
    )
    results = [
        target("a", "10.0.0.1:6379", "master"),
        target("b", "10.0.0.2:6379", "slave"),
        target("b", "cache-r.example:6379", "slave"),
        target("", "10.0.0.3:6379", "unknown", "down"),
    ]
    kept = _once_per_server(results, members)
    assert [t.identity.address for t in kept] == ["10.0.0.1:6379", "cache-r.example:6379", "10.0.0.3:6379"]


def test_plan_and_apply_say_they_cover_the_primary_only(
    synced: Pair, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan and apply change one node; with replicas they say so (CONFIG SET is not replicated)."""
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "test-key")
    monkeypatch.setenv("XDG_STATE_HOME", str(Path.cwd() / "state"))
    primary, replica = synced.primary, synced.replica
    # topology: standalone: the URL's node alone (with discovery plan and apply cover every node:
    # tests/apply/test_deployment.py)
    write_policy(Path.cwd(), monkeypatch, primary.url, "standalone")
    primary.client().config_set("maxmemory-policy", "noeviction")
    code = run(["plan", "--policy-dir", "policies", "-e", "test", "--color", "never"])
    out = capsys.readouterr().out
    assert code in (0, 2)
    assert "note: this primary has 1 replica(s), which a CONFIG SET here does not reach" in out
    code = run(["plan", "--policy-dir", "policies", "-e", "test", "-o", "json"])
    (target,) = json.loads(capsys.readouterr().out)["targets"]
    assert target["connected_replicas"] == 1
    code = run(["apply", "--policy-dir", "policies", "-e", "test", "--auto-approve", "--color", "never"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "note: this primary has 1 replica(s)" in out and "this apply covers this node only" in out
    assert replica.client().config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"  # untouched
    # on the replica itself: no replicas of its own, no note
    monkeypatch.setenv("URL", replica.url)
    run(["plan", "--policy-dir", "policies", "-e", "test", "--color", "never"])
    assert "note:" not in capsys.readouterr().out
