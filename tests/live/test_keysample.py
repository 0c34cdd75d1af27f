"""live/keysample.py against real servers: RANDOMKEY draws, SCAN MATCH passes, the shared rate budget."""

from __future__ import annotations

import dataclasses

import pytest

from redispolicy.live.connect import ConnectOptions, _without_db, connect
from redispolicy.live.keysample import VISIT_DIVISOR, allocate, match_pass, random_keys, sample_keys
from redispolicy.live.keyscan import RateLimiter
from redispolicy.live.model import Observation
from redispolicy.secret import Secret


def test_allocate_is_proportional_and_sums_to_n():
    assert allocate(1000, {0: 3000, 1: 1000}) == {0: 750, 1: 250}
    assert allocate(10, {0: 1, 1: 1, 2: 1}) == {0: 4, 1: 3, 2: 3}  # largest remainder, ties by db
    assert sum(allocate(2000, {0: 10364, 1: 5183, 5: 7}).values()) == 2000
    assert allocate(100, {0: 0, 3: 50}) == {0: 0, 3: 100}
    assert allocate(0, {0: 5}) == {0: 0}
    assert allocate(5, {}) == {}


def test_connect_db_override_beats_the_url_path(redis_server):
    """redis-py prefers a URL's /0 over db=; the key audit needs db= to win to visit every db."""
    redis_server.client(db=3).set("in-three", "1")
    opts = ConnectOptions(Secret(redis_server.url), decode_responses=False)  # url ends in /0
    c = connect(dataclasses.replace(opts, db=3))
    try:
        assert c.exists("in-three") == 1
    finally:
        c.close()
    assert _without_db("redis://h:1/2?db=4&x=1") == "redis://h:1?x=1"
    assert _without_db("unix:///tmp/r.sock?db=2") == "unix:///tmp/r.sock"


def test_random_keys_draws_with_replacement_and_stops_on_an_empty_db(matrix_server):
    c = matrix_server.client(decode_responses=False)
    assert list(random_keys(c, 100)) == []  # empty db: nothing, and no endless loop
    c.mset({f"k:{i}": "v" for i in range(10)})
    batches = list(random_keys(c, 1234, batch=500))
    assert [len(b) for b in batches] == [500, 500, 234]
    drawn = [k for b in batches for k in b]
    assert set(drawn) == {f"k:{i}".encode() for i in range(10)}  # 1234 draws of 10 keys: all seen


def test_sample_keys_feeds_every_draw_in_proportion_to_each_db(matrix_server):
    a, b = matrix_server.client(db=0), matrix_server.client(db=2)
    a.mset({f"a:{i}": "v" for i in range(3000)})
    b.mset({f"b:{i}": "v" for i in range(1000)})
    a.expire("a:0", 3600)
    seen: list[Observation] = []
    stats = sample_keys(
        matrix_server.clients_by_db(),
        {0: 3000, 2: 1000},
        800,
        lambda b: seen.extend(b.rows()),
        want_type=True,
    )
    assert stats.drawn == len(seen) == 800
    assert stats.per_db == {0: 600, 2: 200}
    assert sum(1 for o in seen if o.db == 2 and o.key.startswith(b"b:")) == 200
    assert all(o.type == "string" and o.pttl == -1 for o in seen if o.key != b"a:0")
    # with replacement: repeats are fed as draws and counted (expected ≈ 600²/6000 + 200²/2000 = 80)
    assert stats.duplicates == stats.drawn - stats.distinct
    assert 20 < stats.duplicates < 200


class ChargeLog(RateLimiter):
    def __init__(self) -> None:
        super().__init__(0)
        self.charges: list[int] = []

    def take(self, n: int) -> None:
        self.charges.append(n)
        super().take(n)


def test_match_pass_is_exact_filters_first_match_and_charges_visits(matrix_server):
    c0, c1 = matrix_server.client(db=0), matrix_server.client(db=1)
    c0.mset({f"doc:{i}:state": "s" for i in range(2000)})
    c0.mset({f"doc:{i}:meta": "m" for i in range(30)})
    c1.mset({f"doc:{i}:meta": "m" for i in range(30, 50)})
    c1.mset({f"other:{i}": "o" for i in range(3000)})
    seen: list[Observation] = []
    log = ChargeLog()
    stats = match_pass(
        matrix_server.clients_by_db(),
        [0, 1],
        "doc:*",
        lambda b: seen.extend(b.rows()),
        keep=lambda key: not key.endswith(b":state"),
        limiter=log,
    )
    assert sorted(o.key for o in seen) == sorted(f"doc:{i}:meta".encode() for i in range(50))
    assert {o.db for o in seen if o.key == b"doc:40:meta"} == {1}
    assert stats.inspected == 50 and stats.calls == len(log.charges)
    # every call is charged: matches kept, plus a quarter of the keys visited without returning
    assert log.done >= 50 + (5000 - 2050) // VISIT_DIVISOR - 2 * stats.calls
    assert all(n >= 0 for n in log.charges)


def test_the_rate_limit_paces_sampling(redis_server):
    c = redis_server.client(decode_responses=False)
    c.mset({f"k:{i}": "v" for i in range(500)})
    slept: list[float] = []
    limiter = RateLimiter(1000, sleep=slept.append)
    sample_keys(redis_server.clients_by_db(), {0: 500}, 600, lambda batch: None, limiter=limiter, batch=200)
    assert limiter.done == 600 and slept and max(slept) > 0.1  # 600 draws at 1000/s: ~0.6 s owed


@pytest.mark.parametrize("n", [1, 7])
def test_tiny_samples(redis_server, n):
    redis_server.client().set("only", "1")
    seen: list[Observation] = []
    stats = sample_keys(redis_server.clients_by_db(), {0: 1}, n, lambda b: seen.extend(b.rows()))
    assert [o.key for o in seen] == [b"only"] * n and stats.distinct == 1 and stats.duplicates == n - 1
