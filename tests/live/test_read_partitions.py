"""keyscan.read_partitions: the one threading scheme of the exact scan, the sample draws and the MATCH passes.

No server needed: the readers here are plain functions. What the audits rely on: the judge
(``on_batch``) runs in the caller's thread only; one reader reads the dbs in order unless
``concurrent``; a reader's error is raised in the caller's thread, and a reader sleeping on
the shared rate budget is woken by it rather than holding the error back until its keys are due.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from redispolicy.live.keyscan import Put, RateLimiter, read_partitions
from redispolicy.live.model import Batch


def _batch(db: int, i: int) -> Batch:
    return Batch(db, [b"k:%d:%d" % (db, i)], [-1])


@pytest.mark.parametrize(("concurrent", "readers_seen"), [(False, 1), (True, 3)])
def test_one_reader_in_order_unless_concurrent_and_the_judge_in_the_callers_thread(concurrent, readers_seen):
    readers: set[str] = set()
    judged: list[tuple[int, str]] = []

    def read(db: int, put: Put, stop: threading.Event) -> None:
        readers.add(threading.current_thread().name)
        for i in range(5):
            put(_batch(db, i))

    def judge(batch: Batch) -> None:
        judged.append((batch.db, threading.current_thread().name))

    read_partitions([0, 1, 2], read, judge, concurrent=concurrent)
    assert len(readers) == readers_seen and all(r.startswith("redispolicy-keyscan-") for r in readers)
    assert {name for _, name in judged} == {threading.current_thread().name}
    assert sorted(db for db, _ in judged) == [0] * 5 + [1] * 5 + [2] * 5
    if not concurrent:  # one after another, as before the cluster audits became concurrent
        assert [db for db, _ in judged] == [0] * 5 + [1] * 5 + [2] * 5


def test_a_failing_reader_wakes_the_readers_sleeping_on_the_shared_budget():
    """Reader 0 books 100 keys at 10 keys/s (10 s owed); reader 1 fails: the error comes at once."""
    limiter = RateLimiter(10)
    booked = threading.Event()

    def read(db: int, put: Put, stop: threading.Event) -> None:
        if db == 0:
            put(_batch(0, 0))
            booked.set()
            limiter.take(100)
            put(_batch(0, 1))  # after the failure: never judged as part of a finished pass
        else:
            booked.wait(5)
            raise redis.ConnectionError("the server closed the connection")

    start = time.monotonic()
    with pytest.raises(redis.ConnectionError, match="closed the connection"):
        read_partitions([0, 1], read, lambda batch: None, concurrent=True, limiter=limiter)
    assert time.monotonic() - start < 5  # not the 10 s reader 0 had booked
    alive = [t.name for t in threading.enumerate() if t.name.startswith("redispolicy-keyscan-")]
    assert alive == []  # every reader joined before the error reached the caller


def test_an_unwoken_limiter_still_paces_and_an_injected_sleep_is_used():
    slept: list[float] = []
    limiter = RateLimiter(1000, sleep=slept.append)
    limiter.take(500)
    assert slept and slept[0] > 0.4
    limiter = RateLimiter(2000)
    start = time.monotonic()
    limiter.take(200)
    assert time.monotonic() - start >= 0.1 * 0.95
