"""``target.topology`` pinned in the policy and a different deployment found: a critical ``topology`` finding.

The judge (plan/topology.py) is pure and tested for every pin against every kind of node;
the live tests run drift on real servers on 127.0.0.1: a standalone server (the matrix),
a primary with and without a replica, the session's 3 + 3 cluster, and a fleet.
"""

from __future__ import annotations

import datetime
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from redis_servers import HOST, RedisCluster, RedisServer, RedisServerFactory

from redispolicy.diagnostics import Location
from redispolicy.live.model import Identity
from redispolicy.main import run
from redispolicy.plan.drift import apply_ignores
from redispolicy.plan.topology import fits, topology_finding
from redispolicy.policy.model import IgnoreRule

# -- the pure judge ----------------------------------------------------------------------------


def node(mode: str = "standalone", role: str = "master", replicas: int = 0) -> Identity:
    return Identity("redis", "7.0.15", "r" * 40, role, mode, "10.0.0.5:6379", replicas)  # type: ignore[arg-type]


PRIMARY_ALONE = node()
PRIMARY_2 = node(replicas=2)
REPLICA = node(role="slave")
CLUSTER_MASTER = node("cluster", replicas=1)
CLUSTER_REPLICA = node("cluster", "slave")
SENTINEL_PROCESS = node("sentinel")
NODES = {
    "primary alone": PRIMARY_ALONE,
    "primary with 2 replicas": PRIMARY_2,
    "replica": REPLICA,
    "cluster master": CLUSTER_MASTER,
    "cluster replica": CLUSTER_REPLICA,
    "sentinel process": SENTINEL_PROCESS,
}
# Which nodes each pin accepts; every other combination is a finding.
ACCEPTS = {
    "cluster": {"cluster master", "cluster replica"},
    "replicas": {"primary with 2 replicas", "replica"},
    # standalone means "check the URL's node alone": a primary with replicas is no finding
    "standalone": {"primary alone", "primary with 2 replicas", "replica"},
    "sentinel": {"primary alone", "primary with 2 replicas", "replica"},
}


@pytest.mark.parametrize("pin", sorted(ACCEPTS))
@pytest.mark.parametrize("found", sorted(NODES))
def test_every_pin_against_every_kind_of_node(pin: str, found: str) -> None:
    expected = found in ACCEPTS[pin]
    assert fits(pin, NODES[found]) is expected
    finding = topology_finding(pin, NODES[found], Location("policies/p.yaml", 7))
    if expected:
        assert finding is None
    else:
        assert finding is not None
        assert (finding.kind, finding.subject, finding.severity) == ("topology", "topology", "critical")
        assert finding.message.startswith(f"pinned {pin} (target.topology), found ")
        assert finding.location == Location("policies/p.yaml", 7)
        assert finding.fails("critical") and finding.fails("warning")


@pytest.mark.parametrize(
    ("found", "words"),
    [
        (PRIMARY_ALONE, "a standalone primary with no replica"),
        (node(replicas=1), "a standalone primary with 1 replica;"),
        (PRIMARY_2, "a standalone primary with 2 replicas"),
        (REPLICA, "a replica of a standalone primary"),
        (CLUSTER_MASTER, "a Redis Cluster node (a master)"),
        (SENTINEL_PROCESS, "a Sentinel process"),
    ],
)
def test_the_message_says_what_was_found(found: Identity, words: str) -> None:
    pin = "replicas" if found.mode == "cluster" else "cluster"
    finding = topology_finding(pin, found)
    assert finding is not None and words in finding.message


@pytest.mark.parametrize("pin", [None, ""])
def test_no_pin_is_no_finding(pin: str | None) -> None:
    for found in NODES.values():
        assert topology_finding(pin, found) is None


def test_a_node_not_reached_is_not_judged() -> None:
    # mode unknown: the target could not be reached; a check that could not run is never a pass or a finding
    assert topology_finding("cluster", node("unknown", "unknown")) is None


def test_no_ignore_rule_hides_a_topology_finding() -> None:
    finding = topology_finding("cluster", PRIMARY_ALONE)
    assert finding is not None
    rules = (
        IgnoreRule("everything", Location("policies/p.yaml", 9), parameter="*"),
        IgnoreRule("every class", Location("policies/p.yaml", 11), key_class="*"),
    )
    kept = apply_ignores([finding], rules, datetime.date.today())
    assert kept == [finding] and not kept[0].ignored


# -- drift on real servers ---------------------------------------------------------------------

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${{URL}}
  topology: {topology}
config:
  maxmemory-policy: noeviction
ignore:
  - parameter: "*"
    reason: a glob meaning everything hides config findings, never the deployment itself
"""
TOPOLOGY_LINE = 6  # of POLICY: where the finding is anchored


def write_policy(root: Path, monkeypatch: pytest.MonkeyPatch, url: str, topology: str) -> None:
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies" / "test.yaml").write_text(POLICY.format(topology=topology))
    monkeypatch.chdir(root)
    monkeypatch.setenv("URL", url)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def drift(capsys: pytest.CaptureFixture[str], fmt: str, *args: str) -> tuple[int, str]:
    code = run(["drift", "--policy-dir", "policies", "-e", "test", "--no-keys", "-o", fmt, *args])
    return code, capsys.readouterr().out


def drift_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out = drift(capsys, "json", *args)
    doc = json.loads(out)
    schema = json.loads(resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    return code, doc


def topology_findings(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(t["address"], f) for t in doc["targets"] for f in t["findings"] if f["kind"] == "topology"]


def test_pinned_cluster_on_a_standalone_server_is_a_finding_in_json_and_sarif(
    matrix_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    matrix_server.client().config_set("maxmemory-policy", "noeviction")
    write_policy(tmp_path, monkeypatch, matrix_server.url, "cluster")
    code, doc = drift_json(capsys)
    assert code == 2, doc
    [(address, f)] = topology_findings(doc)
    assert address == matrix_server.address
    assert f["subject"] == "topology" and f["severity"] == "critical"
    assert "pinned cluster" in f["message"] and "a standalone primary with no replica" in f["message"]
    assert f["source"] == f"policies/test.yaml:{TOPOLOGY_LINE}"
    assert f["ignored"] is False and f["failing"] is True  # ignore: parameter "*" does not hide it
    assert doc["summary"]["failing"] is True and doc["summary"]["in_sync"] is False

    code, out = drift(capsys, "sarif")
    assert code == 2
    run_ = json.loads(out)["runs"][0]
    assert "drift/topology" in [r["id"] for r in run_["tool"]["driver"]["rules"]]
    [result] = [r for r in run_["results"] if r["ruleId"] == "drift/topology"]
    assert result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == TOPOLOGY_LINE

    code, out = drift(capsys, "prometheus")
    assert code == 2
    assert (
        f'redispolicy_drift_findings{{environment="test",instance="{matrix_server.address}",kind="topology"}} 1'
        in out
    )


def test_pinned_replicas_on_a_primary_alone_then_with_a_replica(
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    primary = redis_server_factory.start(
        extra_args=("--maxmemory-policy", "noeviction", "--repl-diskless-sync-delay", "0")
    )
    replica = None
    try:
        write_policy(tmp_path, monkeypatch, primary.url, "replicas")
        code, doc = drift_json(capsys)
        assert code == 2, doc
        [(address, f)] = topology_findings(doc)
        assert address == primary.address and "a standalone primary with no replica" in f["message"]

        replica = redis_server_factory.start(
            extra_args=("--replicaof", HOST, str(primary.port), "--maxmemory-policy", "noeviction")
        )
        link = replica.client()
        deadline = time.monotonic() + 15
        while link.info("replication").get("master_link_status") != "up":  # else a health finding
            assert time.monotonic() < deadline, "the replica never synced"
            time.sleep(0.02)
        code, doc = drift_json(capsys)
        assert topology_findings(doc) == [] and code == 0, [t["findings"] for t in doc["targets"]]
        # the replica was discovered and checked, and carries no finding either
        assert len(doc["targets"]) == 2
        # from the replica's URL too: a replica is a deployment with replicas
        monkeypatch.setenv("URL", replica.url)
        code, doc = drift_json(capsys, "--no-discover")
        assert topology_findings(doc) == [] and code == 0, doc
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


def test_pinned_cluster_on_the_cluster_is_no_finding(
    redis_cluster: RedisCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # maxmemory-policy may differ on the shared cluster: the ignore rule hides that, not the topology
    write_policy(tmp_path, monkeypatch, redis_cluster.masters[0].url, "cluster")
    code, doc = drift_json(capsys)
    assert len(doc["targets"]) == len(redis_cluster.nodes)
    assert topology_findings(doc) == [] and code == 0, doc


def test_pinned_standalone_on_a_cluster_node_is_a_finding(
    redis_cluster: RedisCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    node = redis_cluster.replicas[0]
    write_policy(tmp_path, monkeypatch, node.url, "standalone")
    code, doc = drift_json(capsys)
    assert code == 2, doc
    assert [t["address"] for t in doc["targets"]] == [node.address]  # standalone: the URL's node alone
    [(_, f)] = topology_findings(doc)
    assert "pinned standalone" in f["message"] and "a Redis Cluster node (a replica)" in f["message"]


def test_a_target_that_could_not_be_reached_has_no_topology_finding(
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gone = redis_server_factory.start()
    url = gone.url
    gone.stop()
    write_policy(tmp_path, monkeypatch, url, "cluster")
    code, doc = drift_json(capsys)
    assert code == 1 and doc["targets"][0].get("error"), doc
    assert topology_findings(doc) == []


FLEET = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
config:
  maxmemory-policy: noeviction
targets:
  - name: plain
    url: ${{URL}}
  - name: pinned
    url: ${{URL}}
    topology: cluster
"""


def test_a_fleet_judges_each_entry_by_its_own_pin(
    redis_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    redis_server.client().config_set("maxmemory-policy", "noeviction")
    write_policy(tmp_path, monkeypatch, redis_server.url, "standalone")
    (tmp_path / "policies" / "test.yaml").write_text(FLEET.format())
    code, doc = drift_json(capsys)
    assert code == 2, doc
    by_name = {t["name"]: [f for f in t["findings"] if f["kind"] == "topology"] for t in doc["targets"]}
    assert by_name["plain"] == []
    [f] = by_name["pinned"]
    assert f["source"] == "policies/test.yaml:11"  # the entry's own topology line
