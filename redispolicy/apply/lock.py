"""One apply at a time per server: a lock key on the server itself, and a fence for the change.

``SET redispolicy:apply-lock <holder> NX PX <ttl>``; the holder (a random token, user,
host, pid, time) is JSON, so a second apply can name who holds it. A background
thread extends the TTL while the apply runs, so a slow apply keeps its lock and a
crashed one frees it within the TTL. Release and refresh are compare-and-act Lua
scripts: a process never deletes or extends a lock it no longer holds.

The lock lives in db 0 whatever database the target URL names: CONFIG is server-wide,
so two applies whose URLs say ``/0`` and ``/3`` must exclude each other. ApplyLock
issues its commands on a db-0 connection of its own when the client it is given
uses another database.

A lock with a TTL cannot stop a stalled apply by itself: a ``CONFIG SET`` held up in
the network past the lock's expiry would land after a second apply took the lock.
``Fence.execute`` therefore sends a change as ``WATCH lock`` / ``GET lock`` (ours?) /
``MULTI`` / change / ``EXEC``: the server runs it only if nobody touched the lock key
since we checked it was ours (taking it over is a ``SET``, which aborts our ``EXEC``).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from redispolicy.errors import RedispolicyError

LOCK_KEY = "redispolicy:apply-lock"
LOCK_DB = 0
LOCK_TTL_MS = 30_000

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
LOST = "the apply lock was lost before the change was sent; nothing was changed"
FENCE_GRANT = (
    f"grant the apply user +select +watch +get +multi +exec and the key ~{LOCK_KEY}, or pass --no-lock"
)


@dataclass(frozen=True)
class Holder:
    token: str
    user: str
    host: str
    pid: int
    since: str

    def describe(self) -> str:
        return f"{self.user}@{self.host} (pid {self.pid}) since {self.since}"


def _me() -> Holder:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Holder(
        secrets.token_hex(8),
        user,
        socket.gethostname(),
        os.getpid(),
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def _holder(raw: object) -> Holder | None:
    """The holder a lock value names, or None when it is not a redispolicy holder."""
    try:
        data = json.loads(raw)  # type: ignore[arg-type]
        return Holder(**data)
    except (TypeError, ValueError):
        return None


class FenceError(Exception):
    """The fenced change was not sent: the lock is no longer ours, or it could not be checked."""

    def __init__(self, message: str, lost: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.lost = lost


@dataclass(frozen=True)
class Fence:
    """What a change needs to prove this apply still holds the lock: the key, our value, and
    the keep-alive's mutex (its PEXPIRE touches the watched key and would abort the EXEC)."""

    key: str
    value: str
    db: int = LOCK_DB
    pause: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def execute(self, client: redis.Redis, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Run ``commands`` in one MULTI/EXEC, only while the lock is ours.

        Returns EXEC's replies, one per command (a failed command's is a ResponseError
        instance: each runs on its own). Raises FenceError when the lock is not ours (nothing
        was run), a ResponseError for a command the server refused to queue (nothing was run),
        or a connection error (it is unknown whether EXEC ran).
        """
        with self.pause:
            for _ in range(2):
                replies = _fenced_transaction(client, self, commands)
                if replies is not None:
                    return replies
                # Aborted, though our GET saw our value: something touched the key without taking
                # it (refreshes are paused). Try once more; the next GET tells if it moved.
        raise FenceError(
            "the apply lock key kept changing while the change was being sent; nothing was changed"
        )


def _connection(pool: Any) -> Any:
    try:
        return pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        return pool.get_connection("MULTI")


def _round_trip(conn: Any, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """Send commands in one write and read every reply; an error reply is returned, not raised."""
    conn.send_packed_command(conn.pack_commands([tuple(c) for c in commands]))
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(conn.read_response())
        except redis.ResponseError as exc:
            replies.append(exc)
    return replies


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _fenced_transaction(
    client: redis.Redis, fence: Fence, commands: Sequence[Sequence[Any]]
) -> list[Any] | None:
    """One WATCH/GET/MULTI/EXEC on one pooled connection; None when EXEC was aborted."""
    pool = client.connection_pool
    db = int(pool.connection_kwargs.get("db") or 0)
    # WATCH and GET in the lock's db, then back to the connection's own db: a watch is kept
    # across SELECT, and the connection goes back to the pool as it came. MULTI is confirmed
    # before the commands are sent: were it refused, they would run at once, unfenced.
    hop = [("SELECT", fence.db)] if db != fence.db else []
    back = [("SELECT", db)] if db != fence.db else []
    conn = _connection(pool)
    try:
        head = _round_trip(conn, [*hop, ("WATCH", fence.key), ("GET", fence.key), *back, ("MULTI",)])
        _check_head(conn, fence, head, head[len(hop) + 1])
        tail = _round_trip(conn, [*commands, ("EXEC",)])
    except BaseException:
        conn.disconnect()  # its db may be the lock's, or a MULTI open: a new connection starts clean
        raise
    finally:
        pool.release(conn)
    return _exec_replies(tail)


def _check_head(conn: Any, fence: Fence, head: list[Any], value: Any) -> None:
    """Raise FenceError unless every command before the change succeeded and the lock is ours."""
    errors = [r for r in head if isinstance(r, redis.ResponseError)]
    if errors:
        if isinstance(errors[0], redis.exceptions.NoPermissionError):
            raise FenceError(
                f"the apply lock could not be checked before the change, nothing was changed: "
                f"NOPERM {str(errors[0]).splitlines()[0]} ({FENCE_GRANT})",
                lost=False,
            )
        raise FenceError(
            f"{LOST} (the lock key {fence.key} is no longer a redispolicy lock: "
            f"{str(errors[0]).splitlines()[0]})"
        )
    if _text(value) != fence.value:
        _round_trip(conn, [("DISCARD",)])
        raise FenceError(LOST)


def _exec_replies(tail: list[Any]) -> list[Any] | None:
    queued, result = tail[:-1], tail[-1]
    if isinstance(result, redis.ResponseError):  # EXECABORT: a command was refused when queued
        raise next((q for q in queued if isinstance(q, redis.ResponseError)), result)
    if result is None:
        return None
    return list(result)


class ApplyLock:
    def __init__(self, client: redis.Redis, key: str = LOCK_KEY, ttl_ms: int = LOCK_TTL_MS) -> None:
        self.client, self._own = _on_lock_db(client)
        self.key = key
        self.ttl_ms = ttl_ms
        self.holder = _me()
        self.value = json.dumps(self.holder.__dict__, sort_keys=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fence = Fence(key, self.value)

    def acquire(self, timeout: float, poll: float = 0.2) -> None:
        try:
            self._acquire(timeout, poll)
        except BaseException:
            self._close()  # a refused acquire is never released: close our db-0 connection here
            raise

    def _acquire(self, timeout: float, poll: float) -> None:
        deadline = time.monotonic() + timeout
        freed_retries = 3
        while True:
            if self.client.set(self.key, self.value, nx=True, px=self.ttl_ms):
                self._thread = threading.Thread(target=self._keep_alive, name="redispolicy-lock", daemon=True)
                self._thread.start()
                return
            held = self._inspect()
            if held is None and freed_retries > 0:
                # Released between our SET and the look at it: the lock is free, so try it again
                # rather than fail without being able to name a holder.
                freed_retries -= 1
                continue
            if held is not None and held.refuse_now:
                raise held.error(self)
            if time.monotonic() >= deadline:
                if held is not None and held.ttl_ms == -1:
                    raise held.error(self)
                raise RedispolicyError(
                    f"another apply holds the lock on this server: {held.who if held else '(released just now)'}",
                    f"wait for it to finish and run apply again (--lock-timeout SECONDS waits longer); "
                    f"if that process is gone, the lock expires within {self.ttl_ms // 1000} s, "
                    f"or delete the key '{self.key}' after checking",
                )
            time.sleep(poll)

    def _inspect(self) -> Held | None:
        """What holds the lock key (None: nobody any more); TYPE first, as GET fails on a hash."""
        pipe = self.client.pipeline(transaction=False)
        pipe.type(self.key)
        pipe.pttl(self.key)
        kind, ttl_ms = (_text(r) for r in pipe.execute())
        if kind == "none":
            return None
        raw = self.client.get(self.key) if kind == "string" else None
        return Held(self.key, kind, int(ttl_ms), None if raw is None else _text(raw))

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            # Never while a fenced change is in flight: the PEXPIRE would abort its EXEC.
            with self.fence.pause, contextlib.suppress(redis.RedisError):
                # On an error the apply itself meets the same error and reports it.
                self.client.eval(_REFRESH, 1, self.key, self.value, self.ttl_ms)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with contextlib.suppress(redis.RedisError):  # if not, it expires within the TTL
            self.client.eval(_RELEASE, 1, self.key, self.value)
        self._close()

    def _close(self) -> None:
        if self._own:
            with contextlib.suppress(redis.RedisError, OSError):
                self.client.connection_pool.disconnect()


@dataclass(frozen=True)
class Held:
    """The lock key as found when it could not be taken."""

    key: str
    kind: str  # the key's TYPE
    ttl_ms: int  # PTTL: -1 means it never expires
    raw: str | None  # the value of a string key

    @property
    def holder(self) -> Holder | None:
        return _holder(self.raw) if self.raw is not None else None

    @property
    def who(self) -> str:
        holder = self.holder
        if holder is not None:
            return holder.describe()
        return f"an unknown holder ({self.key} = {str(self.raw)[:60]!r})"

    @property
    def refuse_now(self) -> bool:
        """Not worth waiting for: another type of key, or a value without TTL that no apply
        wrote. A redispolicy holder without TTL is waited for: if that apply is still running
        it deletes the key when it finishes; only at the deadline is it reported."""
        return self.kind != "string" or (self.ttl_ms == -1 and self.holder is None)

    def error(self, lock: ApplyLock) -> RedispolicyError:
        if self.kind != "string":
            what = f"is a {self.kind}, not a redispolicy lock: something else uses this key name"
        elif self.holder is None:
            what = f"holds {str(self.raw)[:60]!r} and never expires: it was set by hand or by another tool"
        else:
            what = (
                f"names {self.holder.describe()} but never expires (no TTL), so it would block every "
                f"apply forever"
            )
        return RedispolicyError(
            f"the apply lock key '{self.key}' (db {LOCK_DB}) {what}; nothing was changed",
            f"check that nobody is applying to this server, then delete it: {clear_command(lock)}",
        )


def clear_command(lock: ApplyLock) -> str:
    """The redis-cli command that deletes the lock key (no password: the user adds their own)."""
    kwargs = getattr(getattr(lock.client, "connection_pool", None), "connection_kwargs", {})
    where = ""
    if kwargs.get("path"):
        where = f"-s {kwargs['path']} "
    elif kwargs.get("host"):
        where = f"-h {kwargs['host']} -p {kwargs.get('port', 6379)} "
    return f"redis-cli {where}-n {LOCK_DB} DEL {lock.key}"


def _on_lock_db(client: redis.Redis) -> tuple[redis.Redis, bool]:
    """A client on the lock's db: ``client`` itself, or a new one (True) with the same connection
    settings (address, TLS, credentials, timeouts) and db 0."""
    pool = getattr(client, "connection_pool", None)
    if pool is None or int(pool.connection_kwargs.get("db") or 0) == LOCK_DB:
        return client, False
    kwargs = dict(pool.connection_kwargs, db=LOCK_DB)
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    ), True
