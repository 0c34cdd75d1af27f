"""Reading the keyspace gently: INFO keyspace pre-flight and an exact, rate-limited SCAN.

Never KEYS. SCAN with COUNT <= 1000 keeps each call around a millisecond of server
time; every batch is followed by one pipelined round of PTTL (and TYPE / MEMORY USAGE
only when a rule needs them). Keys SCAN returns twice are counted once. CLIENT
NO-TOUCH (Redis >= 7.2) keeps the audit from refreshing the keys' LRU clocks. Key
names are handled as bytes and never values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis

MAX_COUNT = 1000  # SCAN COUNT ceiling: ~1 ms of server time per call (research §7.4)
DEFAULT_RATE = 20_000  # keys/s: a gentle default on a production primary


@dataclass(frozen=True)
class Observation:
    key: bytes
    db: int
    pttl: int  # ms; -1 no TTL; -2 vanished between SCAN and the check
    type: str | None = None
    memory: int | None = None


@dataclass(frozen=True)
class KeyspaceInfo:
    """INFO keyspace: per db (keys, expires); keys - expires is the exact count without a TTL."""

    dbs: dict[int, tuple[int, int]]

    @property
    def keys(self) -> int:
        return sum(k for k, _ in self.dbs.values())

    @property
    def without_ttl(self) -> int:
        return sum(k - e for k, e in self.dbs.values())


@dataclass(frozen=True)
class ScanStats:
    scanned: int  # unique keys inspected
    duplicates: int  # keys SCAN returned more than once
    seconds: float


def keyspace_info(client: redis.Redis) -> KeyspaceInfo:
    info = client.info("keyspace")
    dbs = {}
    for name, value in info.items():
        if name.startswith("db") and isinstance(value, dict):
            dbs[int(name[2:])] = (int(value.get("keys", 0)), int(value.get("expires", 0)))
    return KeyspaceInfo(dbs)


def no_touch(client: redis.Redis) -> bool:
    """CLIENT NO-TOUCH ON where the server has it (Redis >= 7.2, Valkey >= 7.2)."""
    try:
        client.execute_command("CLIENT", "NO-TOUCH", "ON")
        return True
    except redis.ResponseError:
        return False


class RateLimiter:
    """A token bucket in keys/s; 0 = unlimited. The sleep is the only throttle: no busy loop."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.start = clock()
        self.done = 0

    def take(self, n: int) -> None:
        self.done += n
        if self.rate <= 0:
            return
        ahead = self.done / self.rate - (self.clock() - self.start)
        if ahead > 0:
            self.sleep(ahead)


def scan_batches(client: redis.Redis, db: int, count: int = MAX_COUNT,
                 match: str | None = None) -> Iterator[list[bytes]]:
    """One full SCAN of the connection's current db, in batches as the server returns them."""
    cursor = 0
    count = max(1, min(count, MAX_COUNT))
    while True:
        cursor, keys = client.scan(cursor=cursor, count=count, match=match)
        if keys:
            yield [k if isinstance(k, bytes) else k.encode() for k in keys]
        if int(cursor) == 0:
            return


def inspect(client: redis.Redis, db: int, keys: list[bytes], want_type: bool,
            want_memory: bool) -> list[Observation]:
    pipe = client.pipeline(transaction=False)
    for k in keys:
        pipe.pttl(k)
        if want_type:
            pipe.type(k)
        if want_memory:
            pipe.memory_usage(k, samples=5)
    replies = iter(pipe.execute(raise_on_error=False))
    out = []
    for k in keys:
        pttl = next(replies)
        typ = next(replies) if want_type else None
        mem = next(replies) if want_memory else None
        pttl = pttl if isinstance(pttl, int) else -2
        if isinstance(typ, bytes):
            typ = typ.decode()
        if typ == "none":
            pttl = -2  # gone between SCAN and TYPE
        out.append(Observation(k, db, pttl, typ if isinstance(typ, str) else None,
                               mem if isinstance(mem, int) else None))
    return out


def scan_exact(client_for_db: Callable[[int], redis.Redis], dbs: list[int], on_batch: Callable[[list[Observation]], None],
               want_type: bool = False, want_memory: bool = False, rate: int = DEFAULT_RATE,
               count: int = MAX_COUNT, match: str | None = None,
               progress: Callable[[int], None] | None = None) -> ScanStats:
    start = time.monotonic()
    limiter = RateLimiter(rate)
    scanned = duplicates = 0
    for db in dbs:
        client = client_for_db(db)
        no_touch(client)
        seen: set[int] = set()  # 64-bit hashes: SCAN may return a key twice
        for keys in scan_batches(client, db, count, match):
            fresh = []
            for k in keys:
                h = hash(k)
                if h in seen:
                    duplicates += 1
                else:
                    seen.add(h)
                    fresh.append(k)
            if not fresh:
                continue
            on_batch(inspect(client, db, fresh, want_type, want_memory))
            scanned += len(fresh)
            if progress is not None:
                progress(len(fresh))
            limiter.take(len(fresh))
    return ScanStats(scanned, duplicates, time.monotonic() - start)
