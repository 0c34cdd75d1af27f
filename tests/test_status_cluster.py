"""status on a Redis Cluster: every node is read (masters and replicas), each with its role, and the key
sample is taken on the masters only (a replica holds its master's keys); on a Sentinel target, the
primary the sentinels name and its replicas, followed after a failover."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from redis_servers import RedisCluster

from redispolicy.main import run

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${STATUS_URL}
keys:
  - name: doc
    pattern: "doc:*"
    ttl: {max: 1h}
"""


def test_status_reads_every_cluster_node(
    redis_cluster: RedisCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    c = redis_cluster.client()
    for i in range(300):
        c.set(f"doc:{i}", "v", ex=600)
    monkeypatch.setenv("STATUS_URL", redis_cluster.replicas[0].url)  # a replica's URL finds them all
    code = run(["status", "-e", "test", "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    nodes = {n["address"]: n for n in json.loads(out)["nodes"]}
    assert set(nodes) == {s.address for s in redis_cluster.nodes}
    for m in redis_cluster.masters:
        node = nodes[m.address]
        assert node["role"] == "master" and node["key_classes"] is not None, node
        assert {cl["name"] for cl in node["key_classes"]["classes"]} == {"doc"}
    for r in redis_cluster.replicas:
        node = nodes[r.address]
        assert node["role"] == "slave" and node["key_classes"] is None, node
        assert node["replication"]["link"] == "up", node


SENTINEL_POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  sentinel:
    addresses: [{addresses}]
    service: mymaster
"""


def test_status_follows_the_sentinels_to_the_new_primary(
    redis_server_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = redis_server_factory.start_sentinels()
    (tmp_path / "policies").mkdir()
    addresses = ", ".join(f'"{a}"' for a in group.addresses)
    (tmp_path / "policies" / "test.yaml").write_text(SENTINEL_POLICY.format(addresses=addresses))
    monkeypatch.chdir(tmp_path)

    def roles() -> dict[str, str]:
        code = run(["status", "-e", "test", "-o", "json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        return {n["address"]: n["role"] for n in json.loads(out)["nodes"]}

    primary, replica = group.data
    assert roles() == {primary.address: "master", replica.address: "slave"}
    new = group.failover()
    assert new is replica
    assert roles()[replica.address] == "master"
