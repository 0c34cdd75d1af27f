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

On a Redis Cluster (``concurrent=True``) the draws and each MATCH pass read every master at
once, one reader thread and connection each, through keyscan.read_partitions — the exact
audit's threading — with the judge fed in the caller's thread and one shared limiter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis

from redispolicy.live.keyscan import MAX_COUNT, Dedupe, Put, RateLimiter, inspect, no_touch, read_partitions
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


@dataclass
class _Tally:
    """One db's counts, written by that db's reader only (so no lock), summed after the pass."""

    drawn: int = 0
    inspected: int = 0
    duplicates: int = 0
    calls: int = 0


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
    concurrent: bool = False,
) -> SampleStats:
    """Draw n keys (over all dbs, in proportion to ``sizes``) and feed every draw, repeats included.

    ``concurrent=True`` (the dbs are a cluster's masters) draws from every db at once, one
    reader thread and connection each (keyscan.read_partitions), all under ``limiter``: its
    rate is the total. Each db gets its allocated draws either way, so the sample is the same
    stratified sample; ``on_batch`` runs in the caller's thread only.
    """
    start = time.monotonic()
    limiter = limiter or RateLimiter(0)
    alloc = allocate(n, sizes)
    tallies = {db: _Tally() for db in sizes}

    def read(db: int, put: Put, stop: threading.Event) -> None:
        client = client_for_db(db)
        no_touch(client)
        tally = tallies[db]
        seen: set[bytes] = set()
        for keys in random_keys(client, alloc[db], batch):
            if stop.is_set():
                return  # the pass failed elsewhere: its counts are never reported
            row = {key: i for i, key in enumerate(dict.fromkeys(keys))}
            unique = list(row)
            # With replacement: a key drawn twice is two independent draws and is judged twice.
            put(inspect(client, db, unique, want_type, want_memory).take([row[key] for key in keys]))
            for key in keys:
                if key in seen:
                    tally.duplicates += 1
                else:
                    seen.add(key)
            tally.drawn += len(keys)
            tally.inspected += len(unique)
            limiter.take(len(keys))

    drawing = sorted(db for db, k in alloc.items() if k > 0)
    read_partitions(drawing, read, on_batch, progress, concurrent, "sample", limiter)
    drawn = sum(t.drawn for t in tallies.values())
    duplicates = sum(t.duplicates for t in tallies.values())
    inspected = sum(t.inspected for t in tallies.values())
    per_db = {db: t.drawn for db, t in tallies.items()}
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
    concurrent: bool = False,
) -> MatchStats:
    """One full ``SCAN MATCH pattern`` of every db; the matches ``keep`` accepts are inspected.

    The loop mirrors ``keyscan._scan_db`` but sees every call, empty ones included, so
    the server's work on keys it visits without returning them is charged to the limiter.
    ``concurrent=True`` scans every db at once, as ``sample_keys``; ``keep`` then runs in the
    reader threads, so it must only read shared state (the judge's ``owns`` does).
    """
    start = time.monotonic()
    limiter = limiter or RateLimiter(0)
    count = max(1, min(count, MAX_COUNT))
    tallies = {db: _Tally() for db in dbs}

    def read(db: int, put: Put, stop: threading.Event) -> None:
        client = client_for_db(db)
        no_touch(client)
        tally = tallies[db]
        dedupe = Dedupe()  # as in the exact scan: SCAN may return a key twice
        cursor = 0
        while not stop.is_set():
            cursor, keys = client.scan(cursor=cursor, match=pattern, count=count)
            tally.calls += 1
            fresh = [k for k in dedupe.fresh(keys) if keep is None or keep(k)]
            if fresh:
                put(inspect(client, db, fresh, want_type, want_memory))
                tally.inspected += len(fresh)
            limiter.take(len(fresh) + max(0, count - len(fresh)) // VISIT_DIVISOR)  # ~count keys visited
            if int(cursor) == 0:
                break
        tally.duplicates = dedupe.duplicates

    read_partitions(dbs, read, on_batch, concurrent=concurrent, name="match", limiter=limiter)
    return MatchStats(
        sum(t.inspected for t in tallies.values()),
        sum(t.duplicates for t in tallies.values()),
        sum(t.calls for t in tallies.values()),
        time.monotonic() - start,
    )
