"""Cluster topology: which nodes hold the keyspace.

On a Redis Cluster node, SCAN, RANDOMKEY and INFO keyspace see only the slots that node
serves, so an audit of one node sees a fraction of the keys. ``cluster_masters`` lists
every master that serves slots, from ``CLUSTER NODES`` (one text format from Redis 6.0 to
8.x and Valkey), and refuses a cluster where some slots have no reachable master: an
audit that silently missed their keys would report a wrong "N of N".

CLUSTER NODES lines (https://redis.io/docs/latest/commands/cluster-nodes/)::

    <id> <ip:port@cport[,hostname][,aux=value...]> <flags> <master-id|-> <ping-sent> <pong-recv>
    <config-epoch> <link-state> [<slot> | <from>-<to> | [<slot>->-<id>] | [<slot>-<-<id>] ...]

Replicas hold copies of their master's keys; they are never audited.

``discover`` lists every node of a deployment for drift, which checks each node's config
and health: every cluster node, or a standalone primary and the replicas its INFO
replication lists (``slaveN:ip=..,port=..``), reached from the primary or from a replica
(``master_host``/``master_port``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import redis

from redispolicy.errors import RedispolicyError
from redispolicy.live.call import execute
from redispolicy.live.connect import ConnectOptions, connect, for_node
from redispolicy.live.snapshot import server_mode

SLOTS = 16384
UNREACHABLE = frozenset({"fail", "handshake", "noaddr"})  # flags of nodes no client can use


@dataclass(frozen=True)
class ClusterNode:
    id: str
    host: str  # the announced IP ("" while a node does not know its own address yet)
    port: int
    hostname: str  # cluster-announce-hostname (Redis >= 7.0, Valkey); "" when unset
    flags: frozenset[str]
    master_id: str  # "-" for a master
    link_state: str  # connected | disconnected
    slots: tuple[tuple[int, int], ...]  # served slot ranges, inclusive; migration markers left out

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def endpoint(self) -> str:
        """Where a client connects: the IP, or the hostname when the IP is unknown."""
        return self.host or self.hostname

    @property
    def reachable(self) -> bool:
        return not (self.flags & UNREACHABLE) and bool(self.endpoint) and self.port > 0


def parse_cluster_nodes(text: str) -> tuple[ClusterNode, ...]:
    """Every node of a ``CLUSTER NODES`` reply, in reply order. Pure: no I/O."""
    nodes = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            nodes.append(_node(fields))
        except (ValueError, IndexError):
            raise RedispolicyError(
                f"unexpected CLUSTER NODES reply, line {number}: {line.strip()[:200]!r}",
                "report this with the server's product and version; the key audit needs the cluster's "
                "masters",
            ) from None
    return tuple(nodes)


def _node(fields: list[str]) -> ClusterNode:
    if len(fields) < 8:
        raise ValueError("too few fields")
    address, *extras = fields[1].split(",")
    hostname = next((e for e in extras[:1] if "=" not in e), "")  # the first extra, unless an aux key=value
    hostport = address.split("@", 1)[0]  # Redis < 4.0 had no @cport
    host, sep, port = hostport.rpartition(":")
    if not sep:
        raise ValueError("no port")
    host = host.removeprefix("[").removesuffix("]")  # IPv6 is printed bare, but accept [::1] too
    slots = []
    for token in fields[8:]:
        if token.startswith("["):  # [slot->-id] migrating / [slot-<-id] importing: still served as listed
            continue
        lo, _, hi = token.partition("-")
        first, last = int(lo), int(hi or lo)
        if not 0 <= first <= last < SLOTS:
            raise ValueError(f"slot range {token}")
        slots.append((first, last))
    return ClusterNode(
        fields[0],
        "" if host == "?" else host,
        int(port),
        hostname,
        frozenset(fields[2].split(",")),
        fields[3],
        fields[7],
        tuple(slots),
    )


def serving_masters(
    nodes: tuple[ClusterNode, ...],
    missed: str = "a key audit would miss their keys, so none was made",
    way_out: str = "; or skip the key audit with --no-keys",
) -> list[ClusterNode]:
    """The reachable masters that serve slots, sorted by (endpoint, port).

    Every slot must be served by one of them; otherwise a RedispolicyError names the
    unserved slot ranges (and the unreachable masters that claim some of them), then
    ``missed`` (what that would cost the caller) and, in the hint, ``way_out``.
    """
    masters = sorted(
        (n for n in nodes if n.is_master and n.slots and n.reachable), key=lambda n: (n.endpoint, n.port)
    )
    served = bytearray(SLOTS)
    for node in masters:
        for first, last in node.slots:
            served[first : last + 1] = b"\x01" * (last - first + 1)
    unserved = _ranges([slot for slot in range(SLOTS) if not served[slot]])
    if unserved:
        lost = sorted(
            f"{node_address(n.endpoint or '?', n.port)} ({_why(n)})"
            for n in nodes
            if n.is_master and n.slots and not n.reachable
        )
        shown = ", ".join(_show(r) for r in unserved[:10]) + (", ..." if len(unserved) > 10 else "")
        count = sum(last - first + 1 for first, last in unserved)
        raise RedispolicyError(
            f"cluster slots {shown} ({count} of {SLOTS}) have no reachable master"
            + (f"; masters claiming slots but unreachable: {', '.join(lost)}" if lost else "")
            + f"; {missed}",
            "fix the cluster (every slot assigned to a master that is up: CLUSTER INFO says cluster_state:ok), "
            f"then rerun{way_out}",
        )
    return masters


def _why(node: ClusterNode) -> str:
    return ",".join(sorted(node.flags & UNREACHABLE)) or "no address"


def _ranges(slots: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for slot in slots:
        if out and out[-1][1] == slot - 1:
            out[-1] = (out[-1][0], slot)
        else:
            out.append((slot, slot))
    return out


def _show(r: tuple[int, int]) -> str:
    return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"


def node_address(host: str, port: int) -> str:
    """host:port for reports; an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def cluster_masters(client: redis.Redis, self_host: str = "") -> list[tuple[str, int]]:
    """(host, port) of every master serving slots, sorted; asks the node ``client`` is connected to.

    ``self_host`` stands in for the node's own address while it does not know it (a node
    that never met another prints ``:port@cport`` for itself).
    """
    try:
        nodes = read_cluster_nodes(client, self_host)
    except redis.exceptions.NoPermissionError as exc:
        raise _refused(exc) from None
    except redis.ResponseError as exc:
        if str(exc).startswith("NOPERM"):
            raise _refused(exc) from None
        first = str(exc).splitlines()[0]
        raise RedispolicyError(
            f"the server runs in cluster mode but refused CLUSTER NODES ({first}); the key audit needs the "
            "cluster's masters to read every slot",
            "allow CLUSTER NODES for the audit user (it may be renamed "
            "or blocked on a managed service), or skip the key audit with --no-keys",
        ) from None
    return [(n.endpoint, n.port) for n in serving_masters(nodes)]


def read_cluster_nodes(client: redis.Redis, self_host: str = "") -> tuple[ClusterNode, ...]:
    """CLUSTER NODES of the node ``client`` is connected to, parsed. Raises redis-py's error when refused
    (each caller words the refusal for its own command).

    ``self_host`` stands in for the node's own address while it does not know it (a node
    that never met another prints ``:port@cport`` for itself).
    """
    reply = execute(client, "CLUSTER", "NODES")
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    nodes = parse_cluster_nodes(text)
    if self_host:
        nodes = tuple(
            replace(n, host=self_host) if "myself" in n.flags and not n.endpoint else n for n in nodes
        )
    return nodes


def _refused(exc: Exception) -> RedispolicyError:
    first = str(exc).splitlines()[0]
    return RedispolicyError(
        f"the server runs in cluster mode and the ACL user may not run CLUSTER NODES ({first}); the key audit "
        "needs it to find every master",
        "grant +cluster|nodes to the audit user on every node (e.g. ACL SETUSER <user> +cluster|nodes), "
        "or skip the key audit with --no-keys",
    )


# -- every node of a deployment (drift checks each one) ----------------------------------------

MAX_HOPS = 8  # replica -> its primary -> ...: how far a chain of replicas is followed up


@dataclass(frozen=True)
class Member:
    """One node of a deployment, as discovery found it."""

    host: str
    port: int
    role: str  # master | slave (INFO's and CLUSTER NODES' word)
    given: bool = False  # the node the URL names: reached with that URL itself

    @property
    def address(self) -> str:
        return node_address(self.host, self.port)


@dataclass(frozen=True)
class Deployment:
    mode: str  # standalone | cluster | sentinel (INFO server)
    members: tuple[Member, ...]  # replication: the primary first; cluster: each master, then its replicas
    audited: int  # the index of the member that carries the key audit (primary, or the given cluster node)


def cluster_members(nodes: tuple[ClusterNode, ...], self_host: str = "") -> tuple[Member, ...]:
    """Every node of a cluster with an address: each master (sorted), followed by its replicas (sorted).

    Nodes in handshake or without an address cannot be connected to and are left out; a node
    flagged ``fail`` is kept, so a node that is down shows as a target that could not be checked.
    """

    def member(n: ClusterNode) -> Member:
        host = n.endpoint or (self_host if "myself" in n.flags else "")
        return Member(host, n.port, "master" if n.is_master else "slave", given="myself" in n.flags)

    usable = [
        n
        for n in nodes
        if not n.flags & {"handshake", "noaddr"}
        and n.port > 0
        and (n.endpoint or ("myself" in n.flags and self_host))
    ]
    order = sorted(usable, key=lambda n: (member(n).host, n.port))
    masters = [n for n in order if n.is_master]
    out: list[Member] = []
    for m in masters:
        out.append(member(m))
        out.extend(member(r) for r in order if not r.is_master and r.master_id == m.id)
    placed = {(x.host, x.port) for x in out}
    out.extend(
        member(n) for n in order if (member(n).host, n.port) not in placed
    )  # replicas of unlisted masters
    return tuple(out)


def replicas_of(replication: dict[str, Any]) -> list[tuple[str, int]]:
    """(ip, port) of every replica a primary lists in INFO replication, in slaveN order.

    ``slaveN:ip=10.0.0.6,port=6379,state=online,offset=..,lag=0`` (Redis 6.0 to 8.x, Valkey):
    redis-py parses the value into a dict; a plain string is accepted too. Every state is kept
    (a replica still syncing is a node of the deployment; its health shows the link).
    """
    found: list[tuple[int, str, int]] = []
    for key, value in replication.items():
        if not (key.startswith("slave") and key[5:].isdigit()):
            continue
        fields = (
            value
            if isinstance(value, dict)
            else dict(part.split("=", 1) for part in str(value).split(",") if "=" in part)
        )
        ip, port = str(fields.get("ip", "")), int(fields.get("port", 0) or 0)
        if ip and port > 0:
            found.append((int(key[5:]), ip, port))
    return [(ip, port) for _, ip, port in sorted(found)]


def primary_of(replication: dict[str, Any]) -> tuple[str, int] | None:
    """(master_host, master_port) of a replica's INFO replication; None on a primary."""
    if str(replication.get("role", "master")) == "master":
        return None
    host, port = str(replication.get("master_host", "")), int(replication.get("master_port", 0) or 0)
    return (host, port) if host and port > 0 else None


def discover(client: redis.Redis, opts: ConnectOptions) -> Deployment:
    """Every node of the deployment ``client`` (connected with ``opts``) belongs to.

    Cluster: every node CLUSTER NODES lists. Standalone primary: itself and its replicas.
    Standalone replica: its primary (followed up a chain of replicas), then the primary's
    replicas; when the primary cannot be reached it is still listed (it will fail its check)
    beside the replica. Sentinel: the node alone. Other nodes are reached with ``for_node``:
    the same credentials and TLS settings.
    """
    parts = urlsplit(opts.url.reveal())
    given = Member(parts.hostname or "", parts.port or 6379, "master", given=True)
    mode = server_mode(client.info("server"))
    if mode == "sentinel":
        return Deployment(mode, (given,), 0)
    if mode == "cluster":
        try:
            reply = execute(client, "CLUSTER", "NODES")
        except redis.ResponseError as exc:
            first = str(exc).splitlines()[0]
            raise RedispolicyError(
                f"the server runs in cluster mode but refused CLUSTER NODES ({first}); drift checks every node "
                "of the cluster and needs it to find them",
                "allow CLUSTER NODES (+cluster|nodes) for this user, or check this node alone with "
                "target.topology: standalone or --no-discover",
            ) from None
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        members = cluster_members(parse_cluster_nodes(text), self_host=given.host)
        at = next((i for i, m in enumerate(members) if m.given), None)
        if at is None:  # the node does not list itself with an address: check it as given, too
            members, at = (*members, given), len(members)
        return Deployment(mode, members, at)
    replication: dict[str, Any] = client.info("replication")
    up = primary_of(replication)
    if up is None:
        return Deployment(mode, _with_replicas(given, replicas_of(replication)), 0)
    given = replace(given, role="slave")
    seen = {(given.host, given.port)}
    for _ in range(MAX_HOPS):
        try:
            peer = connect(for_node(opts, *up))
        except RedispolicyError:
            return Deployment(mode, (Member(up[0], up[1], "master"), given), 0)  # fails its own check
        try:
            info: dict[str, Any] = peer.info("replication")
        finally:
            peer.close()
        seen.add(up)
        above = primary_of(info)
        if above is None or above in seen:
            primary = Member(up[0], up[1], "master" if above is None else "slave")
            return Deployment(mode, _with_replicas(primary, replicas_of(info), given), 0)
        up = above
    raise RedispolicyError(
        f"the replica {given.address} is more than {MAX_HOPS} hops from a primary",
        "check the replication chain (replicaof), or check this node alone with "
        "target.topology: standalone or --no-discover",
    )


def _with_replicas(
    primary: Member, replicas: list[tuple[str, int]], given: Member | None = None
) -> tuple[Member, ...]:
    """The primary, then its replicas; the given node keeps its URL when the primary lists it by that address."""
    out = [primary]
    for host, port in replicas:
        if given is not None and (host, port) == (given.host, given.port):
            out.append(given)
            given = None
        elif (host, port) != (primary.host, primary.port):
            out.append(Member(host, port, "slave"))
    if given is not None:  # listed under another address (a hostname, replica-announce-ip), or not at all
        out.append(given)
    return tuple(out)
