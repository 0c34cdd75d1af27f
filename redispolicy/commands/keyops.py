"""What `remediate` and `cleanup` share: the connections per db, the lock, the audit record, progress."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from redispolicy.apply import audit
from redispolicy.apply.lock import LOCK_KEY, ApplyLock
from redispolicy.commands import Options
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions, address, connect
from redispolicy.live.keyscan import keyspace_info
from redispolicy.live.model import Identity, KeyspaceInfo
from redispolicy.live.snapshot import identify
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
) -> None:
    """One audit line (file, and the policy's stream if any), as apply writes it, with the command's name."""
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
