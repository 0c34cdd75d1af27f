"""Every node of a deployment (drift checks each): literal INFO replication and CLUSTER NODES replies.

The live paths (a replica leading to its primary, a real cluster) are in tests/drift/test_drift_topology.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis._parsers.helpers import parse_info  # what client.info() runs on the server's reply

from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions
from redispolicy.live.topology import (
    Deployment,
    Member,
    cluster_members,
    discover,
    parse_cluster_nodes,
    primary_of,
    replicas_of,
)
from redispolicy.secret import Secret

# Redis 7.2 / Valkey 8.1 primary with two replicas, one still syncing; the slave_* fields are not replicas.
PRIMARY = """\
# Replication\r
role:master\r
connected_slaves:2\r
slave0:ip=10.0.0.6,port=6380,state=online,offset=5624,lag=0\r
slave1:ip=2001:db8::7,port=6381,state=wait_bgsave,offset=0,lag=0\r
master_failover_state:no-failover\r
master_replid:8f1c5d0a0c4f1d2f3b0e6a7b8c9d0e1f2a3b4c5d\r
master_repl_offset:5624\r
second_repl_offset:-1\r
repl_backlog_active:1\r
"""

# Redis 6.0 replica: master_host/master_port; its own slave_* fields.
REPLICA = """\
# Replication\r
role:slave\r
master_host:10.0.0.5\r
master_port:6379\r
master_link_status:up\r
master_last_io_seconds_ago:1\r
master_sync_in_progress:0\r
slave_repl_offset:5624\r
slave_priority:100\r
slave_read_only:1\r
connected_slaves:0\r
"""

# as in tests/live/test_topology.py: 3 masters, one replica each; the node asked is the replica 10.0.0.4
PLAIN = """\
6beda1d7c654f3f8738292e28519e763f8c2fe3f 10.0.0.2:6379@16379 master - 0 1795646594515 3 connected 5461-10922
a8f27939acde3d1f485c871d2d316e6e568b460f 10.0.0.3:6379@16379 master - 0 1795646595117 2 connected 10923-16383
a67510dc2c3ca30617e4f05844ddc5f539a23ebb 10.0.0.4:6379@16379 myself,slave bbe17e87dfd12dedc9e0ee78206be93a436ff268 0 1795646592000 1 connected
bbe17e87dfd12dedc9e0ee78206be93a436ff268 10.0.0.1:6379@16379 master - 0 1795646594000 1 connected 0-5460
e555df7ac8be59ad8d342b60b885caba2cffda21 10.0.0.5:6379@16379 slave 6beda1d7c654f3f8738292e28519e763f8c2fe3f 0 1795646593000 3 connected
4e172e2a89d021362d0212c6f82a824e3d74d5d9 10.0.0.6:6379@16379 slave a8f27939acde3d1f485c871d2d316e6e568b460f 0 1795646595117 2 connected
"""


def test_a_primary_lists_every_replica_in_slave_order_whatever_its_state():
    assert replicas_of(parse_info(PRIMARY)) == [("10.0.0.6", 6380), ("2001:db8::7", 6381)]
    assert primary_of(parse_info(PRIMARY)) is None


def test_replica_lines_as_plain_strings_and_in_any_order():
    info = {
        "role": "master",
        "slave10": "ip=10.0.0.9,port=7001,state=online,offset=1,lag=0",
        "slave2": "ip=10.0.0.8,port=7000,state=online,offset=1,lag=0",
        "slave_read_repl_offset": 3,
        "slave3": "ip=,port=0,state=online",
    }  # no address: left out
    assert replicas_of(info) == [("10.0.0.8", 7000), ("10.0.0.9", 7001)]


def test_a_replica_names_its_primary_and_no_replicas():
    info = parse_info(REPLICA)
    assert primary_of(info) == ("10.0.0.5", 6379)
    assert replicas_of(info) == []
    assert (
        primary_of({"role": "slave", "master_host": "", "master_port": 0}) is None
    )  # not yet told whom to follow


def test_every_cluster_node_each_master_followed_by_its_replicas():
    members = cluster_members(parse_cluster_nodes(PLAIN))
    assert [(m.address, m.role, m.given) for m in members] == [
        ("10.0.0.1:6379", "master", False),
        ("10.0.0.4:6379", "slave", True),
        ("10.0.0.2:6379", "master", False),
        ("10.0.0.5:6379", "slave", False),
        ("10.0.0.3:6379", "master", False),
        ("10.0.0.6:6379", "slave", False),
    ]


def test_a_failed_node_stays_handshake_and_noaddr_nodes_go():
    text = PLAIN.replace("10.0.0.5:6379@16379 slave", "10.0.0.5:6379@16379 slave,fail")
    text += (
        "ffff 10.0.0.9:6379@16379 handshake - 0 0 0 connected\neeee :0@0 master,noaddr - 0 0 0 disconnected\n"
    )
    text += "dddd 10.0.0.8:6379@16379 slave 0123456789 0 0 0 connected\n"  # its master is not listed: last
    members = cluster_members(parse_cluster_nodes(text))
    addresses = [m.address for m in members]
    assert "10.0.0.5:6379" in addresses and "10.0.0.9:6379" not in addresses and len(members) == 7
    assert addresses[-1] == "10.0.0.8:6379"


def test_a_cluster_node_that_does_not_know_its_address_is_the_one_asked():
    text = "aaaa :7000@17000 myself,master - 0 0 1 connected 0-16383\n"
    assert cluster_members(parse_cluster_nodes(text), self_host="127.0.0.1") == (
        Member("127.0.0.1", 7000, "master", given=True),
    )
    assert cluster_members(parse_cluster_nodes(text)) == ()


class _Fake:
    """INFO server / replication and CLUSTER NODES, as a real server answers them."""

    def __init__(self, server: dict[str, Any], replication: str = "", nodes: object = "") -> None:
        self.sections = {"server": server, "replication": parse_info(replication) if replication else {}}
        self.nodes = nodes

    def info(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    def execute_command(self, *args: object) -> object:
        assert args == ("CLUSTER", "NODES")
        if isinstance(self.nodes, Exception):
            raise self.nodes
        return self.nodes


OPTS = ConnectOptions(Secret("redis://:pw@10.0.0.5:6379/0"))


def test_discover_a_primary_and_its_replicas():
    dep = discover(_Fake({"redis_mode": "standalone"}, PRIMARY), OPTS)  # type: ignore[arg-type]
    assert dep == Deployment(
        "standalone",
        (
            Member("10.0.0.5", 6379, "master", given=True),
            Member("10.0.0.6", 6380, "slave"),
            Member("2001:db8::7", 6381, "slave"),
        ),
        0,
    )
    assert [m.address for m in dep.members][-1] == "[2001:db8::7]:6381"


def test_discover_a_cluster_from_a_replica_audits_from_it():
    opts = ConnectOptions(Secret("redis://10.0.0.4:6379"))
    dep = discover(_Fake({"server_mode": "cluster"}, nodes=PLAIN.encode()), opts)  # type: ignore[arg-type]
    assert dep.mode == "cluster" and len(dep.members) == 6
    assert dep.members[dep.audited] == Member("10.0.0.4", 6379, "slave", given=True)


def test_discover_leaves_a_sentinel_alone_and_names_a_refused_cluster_nodes():
    dep = discover(_Fake({"redis_mode": "sentinel"}), OPTS)  # type: ignore[arg-type]
    assert dep.members == (Member("10.0.0.5", 6379, "master", given=True),)
    fake = _Fake({"redis_mode": "cluster"}, nodes=redis.ResponseError("NOPERM this user has no permissions"))
    with pytest.raises(RedispolicyError) as err:
        discover(fake, OPTS)  # type: ignore[arg-type]
    assert "refused CLUSTER NODES (NOPERM" in err.value.message and "--no-discover" in err.value.hint
