"""What `remediate` and `cleanup` share: the connections per db, the lock, the audit record, progress.

On a Redis Cluster they work on every master serving slots (``cluster``), found from any
node (a replica included) by ``CLUSTER NODES``, each master on a connection of its own, and
under the apply lock of every master (``cluster_locks``; apply/cluster.py explains which key
that is on each master).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.crc import key_slot

from redispolicy.apply import audit
from redispolicy.apply.cluster import lock_key_for, serves
from redispolicy.apply.lock import LOCK_KEY, ApplyLock
from redispolicy.commands import Options
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions, address, connect, for_node
from redispolicy.live.keyscan import keyspace_info
from redispolicy.live.model import Identity, KeyspaceInfo
from redispolicy.live.snapshot import identify
from redispolicy.live.topology import ClusterNode, node_address, read_cluster_nodes, serving_masters
from redispolicy.policy.model import Policy


@dataclasses.dataclass
class Session:
    """One server: the main connection (lock, audit stream), its identity and raw per-db connections."""

    conn: ConnectOptions
    client: redis.Redis
    identity: Identity
    info: KeyspaceInfo
    clients: dict[int, redis.Redis] = dataclasses.field(default_factory=dict)

    def client_for(self, db: int) -> redis.Redis:
        """A connection on db whose replies keep key names as bytes."""
        if db not in self.clients:
            self.clients[db] = connect(dataclasses.replace(self.conn, decode_responses=False, db=db))
        return self.clients[db]

    @property
    def dbs(self) -> list[int]:
        return sorted(self.info.dbs)

    def close_dbs(self) -> None:
        """Close the per-db connections (the main one stays open)."""
        for c in self.clients.values():
            with contextlib.suppress(redis.RedisError):
                c.close()
        self.clients.clear()

    def close(self) -> None:
        self.close_dbs()
        with contextlib.suppress(redis.RedisError):
            self.client.close()


def attach(conn: ConnectOptions, client: redis.Redis, identity: Identity) -> Session:
    """A Session over a connection the caller holds (and closes; call ``close_dbs()`` for the rest)."""
    raw = connect(dataclasses.replace(conn, decode_responses=False))
    try:
        info = keyspace_info(raw)
    finally:
        raw.close()
    return Session(conn, client, identity, info)


@contextlib.contextmanager
def session(conn: ConnectOptions) -> Iterator[Session]:
    client = connect(conn)
    try:
        s = attach(conn, client, identify(client, address(conn.url.reveal())))
    except BaseException:
        client.close()
        raise
    try:
        yield s
    finally:
        s.close()


def require_standalone(identity: Identity, verb: str) -> None:
    """One node's SCAN sees only its slots, and the atomic scripts take keys of many slots: not for clusters."""
    if identity.mode == "cluster":
        raise RedispolicyError(
            f"{identity.address} runs in cluster mode, which {verb} does not support yet; "
            "nothing was read or changed",
            "run it against a standalone server or a primary with replicas",
        )


def require_primary(identity: Identity, verb: str) -> None:
    if identity.role not in ("master", "primary"):
        raise RedispolicyError(
            f"{identity.address} is a replica ({identity.role}); {verb} changes keys, "
            "which only the primary accepts",
            "point --url (or target.url) at the primary",
        )


@contextlib.contextmanager
def apply_lock(client: redis.Redis, take: bool, timeout: float) -> Iterator[None]:
    """The server's apply lock (redispolicy:apply-lock): one changer at a time, config or keys."""
    if not take:
        yield
        return
    lock = ApplyLock(client)
    lock.acquire(timeout)
    try:
        yield
    finally:
        lock.release()


def default_audit_log(environ: dict[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "redispolicy" / "audit.log"


def rate_for(policy: Policy, max_rate: int | None) -> int:
    return max_rate if max_rate is not None else policy.sampling.max_rate


def reserved_keys(policy: Policy) -> frozenset[bytes]:
    """Keys redispolicy keeps on the server, never remediated or deleted: the lock and the audit stream."""
    names = {LOCK_KEY}
    if policy.audit.stream is not None:
        names.add(policy.audit.stream.key)
    return frozenset(n.encode() for n in names)


def write_audit(
    opts: Options,
    policy: Policy,
    audit_log: Path | None,
    client: redis.Redis,
    command: str,
    target: str,
    changes: list[dict[str, Any]],
    result: str,
    detail: str,
    nodes: list[dict[str, Any]] | None = None,
) -> None:
    """One audit line (file, and the policy's stream if any), as apply writes it, with the command's name.

    ``nodes``: on a cluster, each master's address and counts (``changes`` holds the totals).
    """
    entry = audit.record(
        time=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        environment=policy.environment,
        target=target,
        plan_fingerprint="",
        changes=changes,
        result=result,
        detail=detail,
    )
    entry["command"] = command
    if nodes is not None:
        entry["nodes"] = nodes
    log = policy.audit.log
    path = audit_log or (Path(log) if log else None) or default_audit_log(opts.environ)
    audit.append_file(path, entry)
    stream = policy.audit.stream
    if stream is not None:
        with contextlib.suppress(redis.RedisError):  # the file entry stands; the stream is a copy
            audit.append_stream(client, stream.key, stream.maxlen, entry)


def state_file(environ: dict[str, str], name: str) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "redispolicy" / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


# -- a Redis Cluster: every master serving slots ------------------------------------------------


@dataclasses.dataclass
class Master:
    """One master of a cluster: its CLUSTER NODES entry, a Session on it (db 0) and its lock key."""

    node: ClusterNode
    session: Session
    lock_key: str

    @property
    def address(self) -> str:
        return self.session.identity.address


@dataclasses.dataclass
class Cluster:
    masters: list[Master]  # sorted by (host, port): the order locks are taken and keys are changed

    def reserved(self, policy: Policy) -> frozenset[bytes]:
        """``reserved_keys`` plus every master's lock key: never remediated or deleted."""
        return reserved_keys(policy) | {m.lock_key.encode() for m in self.masters}

    def client_for_key(self, key: str, fallback: redis.Redis) -> redis.Redis:
        """The connection to the master serving ``key``'s slot (the audit stream's XADD goes there)."""
        slot = key_slot(key.encode())
        return next((m.session.client for m in self.masters if serves(m.node.slots, slot)), fallback)


def masters_of(client: redis.Redis, verb: str, self_host: str) -> list[ClusterNode]:
    """The masters serving slots, as the node ``client`` is connected to sees them (a replica will do)."""
    try:
        nodes = read_cluster_nodes(client, self_host)
    except redis.ResponseError as exc:
        first = str(exc).splitlines()[0]
        raise RedispolicyError(
            f"the server runs in cluster mode but refused CLUSTER NODES ({first}); {verb} needs it to find "
            "every master; nothing was read or changed",
            "grant +cluster|nodes to this user on every node (e.g. ACL SETUSER <user> +cluster|nodes)",
        ) from None
    # Some slots without a reachable master: their keys would be missed.
    return serving_masters(nodes, f"{verb} would miss their keys, so nothing was read or changed", "")


def _shape(nodes: list[ClusterNode]) -> list[tuple[str, int, tuple[tuple[int, int], ...]]]:
    return [(n.endpoint, n.port, n.slots) for n in nodes]


@contextlib.contextmanager
def cluster(conn: ConnectOptions, entry: Session, verb: str) -> Iterator[Cluster]:
    """A Session on every master serving slots, found from ``entry`` (any node of the cluster).

    Each master is reached with ``for_node``: the target's credentials and TLS settings, db 0
    (a cluster has no other). A node CLUSTER NODES calls a master but which says it is a
    replica (a failover in between) is refused: nothing has been changed yet.
    """
    self_host = urlsplit(conn.url.reveal()).hostname or ""
    nodes = masters_of(entry.client, verb, self_host)
    with contextlib.ExitStack() as stack:
        masters = []
        for node in nodes:
            where = node_address(node.endpoint, node.port)
            opts = dataclasses.replace(for_node(conn, node.endpoint, node.port), db=0)
            try:
                s = stack.enter_context(session(opts))
            except RedispolicyError as exc:
                raise RedispolicyError(
                    f"{verb}: cannot reach cluster master {where} (as CLUSTER NODES announces it): {exc.message}; "
                    "nothing was changed",
                    "every master must be reachable from here with the target's credentials and TLS settings "
                    "(check cluster-announce-ip / cluster-announce-port behind NAT or containers)",
                ) from None
            if s.identity.role not in ("master", "primary"):
                raise RedispolicyError(
                    f"{where} is listed as a cluster master but says it is a {s.identity.role} (a failover "
                    "under way?); nothing was changed",
                    f"wait until CLUSTER NODES settles, then run {verb} again",
                )
            masters.append(Master(node, s, lock_key_for(node.slots)))
        yield Cluster(masters)


@contextlib.contextmanager
def cluster_locks(cl: Cluster, take: bool, timeout: float, verb: str) -> Iterator[None]:
    """The apply lock on EVERY master, taken in order before any key changes; all released after.

    When one cannot be taken, the ones already held are released and nothing changes. Once
    all are held, CLUSTER NODES is read again: masters or slots that moved meanwhile (a
    failover, a resharding) would leave keys outside the locked masters, so the run stops.
    """
    if not take:
        yield
        return
    with contextlib.ExitStack() as held:
        for m in cl.masters:
            lock = ApplyLock(m.session.client, key=m.lock_key)
            try:
                lock.acquire(timeout)
            except RedispolicyError as exc:
                raise RedispolicyError(
                    f"cluster master {m.address} (lock key '{m.lock_key}'): {exc.message}; no key was changed "
                    "on any master",
                    exc.hint,
                ) from None
            held.callback(lock.release)
        self_host = cl.masters[0].node.endpoint if cl.masters else ""
        now = masters_of(cl.masters[0].session.client, verb, self_host) if cl.masters else []
        if _shape(now) != _shape([m.node for m in cl.masters]):
            raise RedispolicyError(
                f"the cluster's masters or their slots changed while {verb} took the locks (a failover or a "
                "resharding); nothing was changed",
                f"wait until the cluster settles (CLUSTER INFO: cluster_state:ok), then run {verb} again",
            )
        yield
