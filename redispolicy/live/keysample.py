"""Sampling the keyspace: pipelined RANDOMKEY draws, plus full SCAN MATCH passes for rare classes.

RANDOMKEY picks a key with (near-)uniform probability since Redis 6.0, which switched it
to ``dictGetFairRandomKey``; the residual bias depends on bucket positions of the
randomly seeded hash, not on key names (Redis src/dict.c). Draws are
independent, so the sample is a simple random sample *with replacement*: a key drawn
twice counts as two draws, which keeps the binomial model (and Wilson intervals) exact.
Repeats are counted and reported. The server chooses the keys, so a run cannot be
seeded or replayed.

Keys are drawn per db in proportion to the db's key count (INFO keyspace), largest
remainder first, so the pooled sample is a proportional stratified sample — at least
as precise as one uniform draw over all dbs.

A class too rare to show up in the sample is audited by a full ``SCAN MATCH <pattern>``
pass instead: exact, cheap on the network (only matches come back), and only as costly
on the server as a SCAN. Never KEYS.

Both honour the same ``RateLimiter`` (keys/s) as the exact audit: a draw costs one key;
a MATCH pass costs one key per match inspected plus a quarter of a key for every other
key the server visits (about COUNT per call; SCAN ≈ 1 µs per visited key against
≈ 2–3 µs for SCAN + PTTL + TYPE + MEMORY USAGE of an inspected key; benchmarks/README.md), so
it loads the server about as much per second as the exact audit does. A pass over N
keys therefore takes about N / 4 / rate seconds — per rare class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis

from redispolicy.live.keyscan import MAX_COUNT, Dedupe, RateLimiter, inspect, no_touch
from redispolicy.live.model import Batch

BATCH = 500  # RANDOMKEY calls per pipeline: ~1.5 ms of server time, one round trip
VISIT_DIVISOR = 4  # a key SCAN MATCH visits but we do not inspect costs 1/4 of an inspected key


@dataclass(frozen=True)
class SampleStats:
    drawn: int  # RANDOMKEY replies that named a key (repeats included)
    distinct: int  # distinct keys drawn (drawn - duplicates)
    inspected: int  # keys inspected: each batch's distinct keys (a repeat in a later batch is re-read)
    duplicates: int  # draws that repeated a key already drawn in the same db
    per_db: dict[int, int]  # draws per db
    seconds: float


@dataclass(frozen=True)
class MatchStats:
    inspected: int  # distinct matching keys inspected
    duplicates: int  # keys SCAN returned twice
    calls: int
    seconds: float


def allocate(n: int, sizes: dict[int, int]) -> dict[int, int]:
    """n draws split over dbs in proportion to their key counts (largest remainder; sums to n)."""
    total = sum(v for v in sizes.values() if v > 0)
    if n <= 0 or total == 0:
        return dict.fromkeys(sizes, 0)
    exact = {db: n * v / total if v > 0 else 0.0 for db, v in sizes.items()}
    alloc = {db: int(x) for db, x in exact.items()}
    left = n - sum(alloc.values())
    for db in sorted(exact, key=lambda d: (-(exact[d] - alloc[d]), d))[:left]:
        alloc[db] += 1
    return alloc


def random_keys(client: redis.Redis, k: int, batch: int = BATCH) -> Iterator[list[bytes]]:
    """k RANDOMKEY draws in pipelined batches; stops early when the db is empty."""
    left = k
    while left > 0:
        m = min(batch, left)
        pipe = client.pipeline(transaction=False)
        for _ in range(m):
            pipe.randomkey()
        keys = [
            key if isinstance(key, bytes) else str(key).encode() for key in pipe.execute() if key is not None
        ]
        left -= m
        if not keys:
            return  # the db emptied while we sampled
        yield keys


def sample_keys(
    client_for_db: Callable[[int], redis.Redis],
    sizes: dict[int, int],
    n: int,
    on_batch: Callable[[Batch], None],
    want_type: bool = False,
    want_memory: bool = False,
    limiter: RateLimiter | None = None,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> SampleStats:
    """Draw n keys (over all dbs, in proportion to ``sizes``) and feed every draw, repeats included."""
    start = time.monotonic()
    limiter = limiter or RateLimiter(0)
    drawn = inspected = duplicates = 0
    per_db = dict.fromkeys(sizes, 0)
    for db, k in sorted(allocate(n, sizes).items()):
        if k == 0:
            continue
        client = client_for_db(db)
        no_touch(client)
        seen: set[bytes] = set()
        for keys in random_keys(client, k, batch):
            row = {key: i for i, key in enumerate(dict.fromkeys(keys))}
            unique = list(row)
            # With replacement: a key drawn twice is two independent draws and is judged twice.
            on_batch(inspect(client, db, unique, want_type, want_memory).take([row[key] for key in keys]))
            for key in keys:
                if key in seen:
                    duplicates += 1
                else:
                    seen.add(key)
            drawn += len(keys)
            inspected += len(unique)
            per_db[db] += len(keys)
            if progress is not None:
                progress(len(keys))
            limiter.take(len(keys))
    return SampleStats(drawn, drawn - duplicates, inspected, duplicates, per_db, time.monotonic() - start)


def match_pass(
    client_for_db: Callable[[int], redis.Redis],
    dbs: list[int],
    pattern: str,
    on_batch: Callable[[Batch], None],
    keep: Callable[[bytes], bool] | None = None,
    want_type: bool = False,
    want_memory: bool = False,
    limiter: RateLimiter | None = None,
    count: int = MAX_COUNT,
) -> MatchStats:
    """One full ``SCAN MATCH pattern`` of every db; the matches ``keep`` accepts are inspected.

    The loop mirrors ``keyscan.scan_batches`` but sees every call, empty ones included, so
    the server's work on keys it visits without returning them is charged to the limiter.
    """
    start = time.monotonic()
    limiter = limiter or RateLimiter(0)
    count = max(1, min(count, MAX_COUNT))
    inspected = duplicates = calls = 0
    for db in dbs:
        client = client_for_db(db)
        no_touch(client)
        dedupe = Dedupe()  # as in the exact scan: SCAN may return a key twice
        cursor = 0
        while True:
            cursor, keys = client.scan(cursor=cursor, match=pattern, count=count)
            calls += 1
            fresh = [k for k in dedupe.fresh(keys) if keep is None or keep(k)]
            if fresh:
                on_batch(inspect(client, db, fresh, want_type, want_memory))
                inspected += len(fresh)
            limiter.take(len(fresh) + max(0, count - len(fresh)) // VISIT_DIVISOR)  # ~count keys visited
            if int(cursor) == 0:
                break
        duplicates += dedupe.duplicates
    return MatchStats(inspected, duplicates, calls, time.monotonic() - start)
