"""One apply at a time per target: a lock key on the server itself.

``SET redispolicy:apply-lock <holder> NX PX <ttl>``; the holder (a random token, user,
host, pid, time) is JSON, so a second apply can name who holds it. A background
thread extends the TTL while the apply runs, so a slow apply keeps its lock and a
crashed one frees it within the TTL. Release and refresh are compare-and-act Lua
scripts: a process never deletes or extends a lock it no longer holds.
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
from dataclasses import dataclass

import redis

from redispolicy.errors import RedispolicyError

LOCK_KEY = "redispolicy:apply-lock"
LOCK_TTL_MS = 30_000

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


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
    return Holder(secrets.token_hex(8), user, socket.gethostname(), os.getpid(),
                  time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


class ApplyLock:
    def __init__(self, client: redis.Redis, key: str = LOCK_KEY, ttl_ms: int = LOCK_TTL_MS) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.holder = _me()
        self.value = json.dumps(self.holder.__dict__, sort_keys=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, timeout: float, poll: float = 0.2) -> None:
        deadline = time.monotonic() + timeout
        freed_retries = 3
        while True:
            if self.client.set(self.key, self.value, nx=True, px=self.ttl_ms):
                self._thread = threading.Thread(target=self._keep_alive, name="redispolicy-lock", daemon=True)
                self._thread.start()
                return
            if time.monotonic() >= deadline:
                holder = self._current()
                if holder is None and freed_retries > 0:
                    # Released between our SET and the GET: the lock is free, so try it again rather
                    # than fail without being able to name a holder.
                    freed_retries -= 1
                    continue
                raise RedispolicyError(
                    f"another apply holds the lock on this server: {holder or '(released just now)'}",
                    f"wait for it to finish and run apply again (--lock-timeout SECONDS waits longer); "
                    f"if that process is gone, the lock expires within {self.ttl_ms // 1000} s, "
                    f"or delete the key '{self.key}' after checking")
            time.sleep(poll)

    def _current(self) -> str | None:
        """Who holds the lock (None: nobody any more)."""
        raw = self.client.get(self.key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return Holder(**data).describe()
        except (TypeError, ValueError):
            return f"an unknown holder ({self.key} = {str(raw)[:60]!r})"

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            # On an error the apply itself meets the same error and reports it.
            with contextlib.suppress(redis.RedisError):
                self.client.eval(_REFRESH, 1, self.key, self.value, self.ttl_ms)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with contextlib.suppress(redis.RedisError):  # if not, it expires within the TTL
            self.client.eval(_RELEASE, 1, self.key, self.value)
