"""Cluster topology: the masters that serve slots, from CLUSTER NODES (literal replies and real clusters)."""

from __future__ import annotations

import random

import pytest
import redis

from redispolicy.errors import RedispolicyError
from redispolicy.live.topology import (
    ClusterNode,
    cluster_masters,
    node_address,
    parse_cluster_nodes,
    serving_masters,
)
from tests.redis_servers import HOST, free_cluster_port

# Redis 6.0 / 7.0 / Valkey 8.1 as a client sees them (no hostnames announced), one replica per master.
PLAIN = """\
6beda1d7c654f3f8738292e28519e763f8c2fe3f 10.0.0.2:6379@16379 master - 0 1795646594515 3 connected 5461-10922
a8f27939acde3d1f485c871d2d316e6e568b460f 10.0.0.3:6379@16379 master - 0 1795646595117 2 connected 10923-16383
a67510dc2c3ca30617e4f05844ddc5f539a23ebb 10.0.0.4:6379@16379 myself,slave bbe17e87dfd12dedc9e0ee78206be93a436ff268 0 1795646592000 1 connected
bbe17e87dfd12dedc9e0ee78206be93a436ff268 10.0.0.1:6379@16379 master - 0 1795646594000 1 connected 0-5460
e555df7ac8be59ad8d342b60b885caba2cffda21 10.0.0.5:6379@16379 slave 6beda1d7c654f3f8738292e28519e763f8c2fe3f 0 1795646593000 3 connected
4e172e2a89d021362d0212c6f82a824e3d74d5d9 10.0.0.6:6379@16379 slave a8f27939acde3d1f485c871d2d316e6e568b460f 0 1795646595117 2 connected
"""

# Redis >= 7.0 with cluster-announce-hostname; 7.2+ / Valkey nodes.conf-style aux fields; a
# slot being migrated (the [slot->-id] marker is not a served range) and single slots.
HOSTNAMES = """\
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 10.0.1.1:7000@17000,cache-a.example myself,master - 0 0 1 connected 0-5460 [5461->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 10.0.1.2:7000@17000,cache-b.example,shard-id=5f8a master - 0 1426238316232 2 connected 5461 5462-10922 [5461-<-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca]
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 10.0.1.3:7000@17000,,tls-port=0,shard-id=9c1d master - 0 1426238318243 3 connected 10923-16382 16383
07c37dfeb235213a872192d90877d0cd55635b91 10.0.1.4:7000@17000,cache-d.example slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
"""

# IPv6 addresses are printed bare: the port is after the last colon.
IPV6 = """\
1111111111111111111111111111111111111111 ::1:7000@17000 myself,master - 0 0 1 connected 0-8191
2222222222222222222222222222222222222222 2001:db8::5:7001@17001 master - 0 1 2 connected 8192-16383
3333333333333333333333333333333333333333 2001:db8::6:7002@17002 slave 2222222222222222222222222222222222222222 0 1 2 connected
"""


def test_plain_reply_gives_the_masters_with_slots_sorted_and_no_replica():
    nodes = parse_cluster_nodes(PLAIN)
    assert len(nodes) == 6
    assert [(n.endpoint, n.port) for n in serving_masters(nodes)] == [
        ("10.0.0.1", 6379),
        ("10.0.0.2", 6379),
        ("10.0.0.3", 6379),
    ]
    me = next(n for n in nodes if "myself" in n.flags)
    assert not me.is_master and me.master_id == "bbe17e87dfd12dedc9e0ee78206be93a436ff268" and me.slots == ()
    first = next(n for n in nodes if n.host == "10.0.0.1")
    assert first == ClusterNode(
        "bbe17e87dfd12dedc9e0ee78206be93a436ff268",
        "10.0.0.1",
        6379,
        "",
        frozenset({"master"}),
        "-",
        "connected",
        ((0, 5460),),
    )


def test_the_order_of_the_lines_does_not_matter():
    lines = PLAIN.splitlines()
    want = [(n.endpoint, n.port) for n in serving_masters(parse_cluster_nodes(PLAIN))]
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(lines)
        assert [(n.endpoint, n.port) for n in serving_masters(parse_cluster_nodes("\n".join(lines)))] == want


def test_hostnames_aux_fields_and_migration_markers():
    nodes = {n.host: n for n in parse_cluster_nodes(HOSTNAMES)}
    assert nodes["10.0.1.1"].hostname == "cache-a.example"
    assert nodes["10.0.1.2"].hostname == "cache-b.example"  # ",shard-id=..." is an aux field, not a name
    assert nodes["10.0.1.3"].hostname == ""  # ",," = no hostname, then aux fields
    assert nodes["10.0.1.1"].slots == ((0, 5460),)  # [5461->-id] is a migration marker
    assert nodes["10.0.1.2"].slots == ((5461, 5461), (5462, 10922))
    assert nodes["10.0.1.3"].slots == ((10923, 16382), (16383, 16383))
    # the IP is where clients connect; the hostname only stands in when no IP is known
    assert [(n.endpoint, n.port) for n in serving_masters(tuple(nodes.values()))] == [
        ("10.0.1.1", 7000),
        ("10.0.1.2", 7000),
        ("10.0.1.3", 7000),
    ]
    (named,) = parse_cluster_nodes("aaaa :7000@17000,cache-z.example master - 0 0 1 connected 0-16383\n")
    assert (named.endpoint, named.reachable) == ("cache-z.example", True)


def test_ipv6_addresses():
    nodes = parse_cluster_nodes(IPV6)
    assert [(n.endpoint, n.port) for n in serving_masters(nodes)] == [("2001:db8::5", 7001), ("::1", 7000)]
    assert node_address("2001:db8::5", 7001) == "[2001:db8::5]:7001"
    assert node_address("10.0.0.1", 6379) == "10.0.0.1:6379"
    (bracketed,) = parse_cluster_nodes("aaaa [::1]:7000@17000 master - 0 0 1 connected 0-16383")
    assert (bracketed.host, bracketed.port) == ("::1", 7000)


def test_failed_handshake_and_noaddr_nodes_are_skipped():
    # 10.0.0.1 failed and its replica 10.0.0.4 took over its slots: the cluster is whole
    text = (
        PLAIN.replace(
            "10.0.0.1:6379@16379 master - 0 1795646594000 1 connected 0-5460",
            "10.0.0.1:6379@16379 master,fail - 0 1795646594000 1 connected",
        )
        .replace(
            "10.0.0.4:6379@16379 myself,slave bbe17e87dfd12dedc9e0ee78206be93a436ff268",
            "10.0.0.4:6379@16379 myself,master -",
        )
        .replace("1795646592000 1 connected\n", "1795646592000 4 connected 0-5460\n")
    )
    extra = (
        "ffff 10.0.0.9:6379@16379 handshake - 0 0 0 connected\neeee :0@0 master,noaddr - 0 0 0 disconnected\n"
    )
    masters = serving_masters(parse_cluster_nodes(text + extra))
    assert [(n.endpoint, n.port) for n in masters] == [
        ("10.0.0.2", 6379),
        ("10.0.0.3", 6379),
        ("10.0.0.4", 6379),
    ]


def test_slots_of_a_failed_master_are_named():
    text = PLAIN.replace(
        "master - 0 1795646594000 1 connected 0-5460", "master,fail - 0 1795646594000 1 connected 0-5460"
    )
    with pytest.raises(RedispolicyError) as err:
        serving_masters(parse_cluster_nodes(text))
    assert "cluster slots 0-5460 (5461 of 16384) have no reachable master" in err.value.message
    assert "10.0.0.1:6379 (fail)" in err.value.message
    assert "--no-keys" in err.value.hint


def test_unassigned_slots_are_named():
    text = PLAIN.replace("connected 10923-16383", "connected 10923-16380 16382")
    with pytest.raises(
        RedispolicyError, match=r"cluster slots 16381, 16383 \(2 of 16384\) have no reachable master"
    ):
        serving_masters(parse_cluster_nodes(text))
    with pytest.raises(RedispolicyError, match=r"cluster slots 0-16383 \(16384 of 16384\)"):
        serving_masters(parse_cluster_nodes("aaaa 10.0.0.1:6379@16379 myself,master - 0 0 0 connected\n"))


@pytest.mark.parametrize(
    "line",
    [
        "abc 10.0.0.1:6379@16379 master - 0 0",  # too few fields
        "abc 10.0.0.1@16379 master - 0 0 1 connected 0-16383",  # no port
        "abc 10.0.0.1:6379@16379 master - 0 0 1 connected 0-16384",  # no such slot
        "abc 10.0.0.1:6379@16379 master - 0 0 1 connected 9-3",
    ],
)
def test_a_line_it_cannot_read_is_an_error(line):
    with pytest.raises(RedispolicyError, match="unexpected CLUSTER NODES reply, line 2"):
        parse_cluster_nodes("\n" + line + "\n")


class _Fake:
    """CLUSTER NODES only: the reply or the error of a real server."""

    def __init__(self, reply: object) -> None:
        self.reply = reply

    def execute_command(self, *args: object) -> object:
        assert args == ("CLUSTER", "NODES")
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_a_node_that_does_not_know_its_own_address_is_the_one_asked():
    reply = b"aaaa :7000@17000 myself,master - 0 0 1 connected 0-16383\n"
    assert cluster_masters(_Fake(reply), self_host="127.0.0.1") == [("127.0.0.1", 7000)]  # type: ignore[arg-type]


def test_a_refused_cluster_nodes_names_the_permission():
    refused = redis.exceptions.NoPermissionError(
        "this user has no permissions to run the 'cluster|nodes' command"
    )
    with pytest.raises(RedispolicyError) as err:
        cluster_masters(_Fake(refused))  # type: ignore[arg-type]
    assert "may not run CLUSTER NODES" in err.value.message and "+cluster|nodes" in err.value.hint
    with pytest.raises(RedispolicyError, match=r"refused CLUSTER NODES \(unknown command"):
        cluster_masters(_Fake(redis.ResponseError("unknown command 'CLUSTER'")))  # type: ignore[arg-type]


# -- real clusters -------------------------------------------------------------------------------


def test_every_node_of_a_real_cluster_names_the_same_masters(matrix_cluster):
    want = sorted((HOST, m.port) for m in matrix_cluster.masters)
    assert len(want) == 3 and len(matrix_cluster.replicas) == 3
    for node in matrix_cluster.nodes:  # masters and replicas alike
        client = node.client(decode_responses=False)
        assert cluster_masters(client) == want, node
        nodes = parse_cluster_nodes(client.execute_command("CLUSTER", "NODES").decode())
        assert len(nodes) == 6
        replicas = [n for n in nodes if not n.is_master]
        assert sorted(n.port for n in replicas) == sorted(r.port for r in matrix_cluster.replicas)
        assert {n.master_id for n in replicas} == set(matrix_cluster.ids[:3])
        assert sum(last - first + 1 for n in nodes for first, last in n.slots) == 16384


def test_a_real_cluster_node_without_slots_is_refused(redis_server_factory):
    node = redis_server_factory.start(
        port_picker=free_cluster_port,
        extra_args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
    )
    try:
        with pytest.raises(
            RedispolicyError, match=r"cluster slots 0-16383 \(16384 of 16384\) have no reachable master"
        ):
            cluster_masters(node.client(), self_host=HOST)
    finally:
        node.stop()
