"""One RateLimiter shared by several reader threads (the concurrent audit of a cluster's masters).

The budget is the total: three threads taking keys at once at rate R finish no sooner than
all their keys / R. Each take books its keys under a lock, so none is lost between threads.
"""

from __future__ import annotations

import threading
import time

from redispolicy.live.keyscan import RateLimiter


def test_threads_sharing_a_limiter_stay_within_the_total_rate():
    limiter = RateLimiter(1000)
    start = time.monotonic()

    def reader() -> None:
        for _ in range(10):
            limiter.take(10)  # 100 keys per thread

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert limiter.done == 300  # every take booked
    assert elapsed >= 0.3 * 0.95, elapsed  # 300 keys at 1000/s; a budget per thread would take 0.1 s


def test_the_booking_is_exact_under_contention():
    slept: list[float] = []
    limiter = RateLimiter(10**9, sleep=slept.append)

    def reader() -> None:
        for _ in range(20_000):
            limiter.take(1)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert limiter.done == 80_000
