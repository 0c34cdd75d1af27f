"""The sample-mode key audit of a real Redis Cluster (3 masters + 3 replicas) reads its masters at once.

Issue 12: the RANDOMKEY draws (spread over the masters in proportion to their key counts) and
every rare class's SCAN MATCH pass run on every master concurrently, one reader thread and
connection each (keyscan.read_partitions, the exact audit's threading), under the one
RateLimiter: ``--max-rate`` is the total over the cluster. These tests call the audit as plan
and drift do (commands/keyaudit.audit_keys) on a seeded cluster and check that

* the sample agrees with the exact audit within its intervals, the rare classes come out
  exact and equal, and every master is drawn from;
* the three masters are read at the same moment: a barrier that all three readers must reach
  while their draws (and each MATCH pass) are in progress; read one after another, the first
  reader waits alone and the barrier breaks (no timing assertion);
* the budget is a total: elapsed >= every key charged / rate (a lower bound);
* a master that refuses a command or loses its connection mid-sample stops the audit with
  the usual clear error, and no reader thread is left behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import redis

import redispolicy.commands.keyaudit as keyaudit
import redispolicy.live.keysample as keysample
from redispolicy.commands.keyaudit import audit_keys
from redispolicy.diagnostics import Location
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions
from redispolicy.live.keyscan import RateLimiter
from redispolicy.plan.model import ClassFindings, KeyFindings
from redispolicy.plan.stats import wilson
from redispolicy.policy.model import KeyClass, Policy, Sampling
from redispolicy.policy.nodes import MapNode
from redispolicy.secret import Secret

HOUR = 3600
HERE = Location("test.yaml", 1, 1)
CLASSES = (
    KeyClass("ocr-cache", "ocr:*", HERE, ttl_max=24 * HOUR),  # 3000 keys, 300 without a TTL
    KeyClass("documents", "doc:*", HERE, ttl_max=24 * HOUR),  # 2000 keys, 100 with a TTL over the max
    KeyClass("locks", "lock:*", HERE, ttl_max=600),  # 40 keys, 5 without a TTL: rare -> SCAN MATCH
    KeyClass("admin", "admin:*", HERE, persistent=True),  # no key at all: rare -> SCAN MATCH, 0 exactly
)
TOTAL = 3000 + 2000 + 40 + 500  # + 500 unclassified tmp:* keys
DRAWS = 2000
WIDE_Z = 4.5  # a true value outside an interval this wide has probability ~7e-6: no flaky test
BARRIER_TIMEOUT = 20.0  # only ever waited out when the masters are read one after another


def _seed(cluster: Any) -> None:
    client = cluster.client(decode_responses=False)
    pipe = client.pipeline()
    for i in range(3000):
        pipe.set(f"ocr:{i}", "x") if i % 10 == 0 else pipe.set(f"ocr:{i}", "x", ex=2 * HOUR)
    for i in range(2000):
        pipe.set(f"doc:{i}", "x", ex=72 * HOUR if i % 20 == 0 else HOUR)
    for i in range(40):
        pipe.set(f"lock:{i}", "x") if i % 8 == 0 else pipe.set(f"lock:{i}", "x", ex=300)
    for i in range(500):
        pipe.set(f"tmp:{i}", "x", ex=HOUR)
    pipe.execute()
    per_master = [node.client().dbsize() for node in cluster.masters]
    assert sum(per_master) == TOTAL and min(per_master) > TOTAL // 4, per_master
    for node in cluster.masters:  # every master holds locks: every MATCH pass inspects on each
        assert node.client().keys("lock:*"), node


def _policy(mode: str, rate: int = 0, draws: int = DRAWS) -> Policy:
    return Policy(
        environment="test",
        file="test.yaml",
        files=("test.yaml",),
        config=(),
        removed=(),
        keys=CLASSES,
        tree=MapNode({}, {}, HERE),
        sampling=Sampling(mode=mode, keys=draws, max_rate=rate),  # type: ignore[arg-type]
    )


def _audit(url: str, mode: str, rate: int = 0, draws: int = DRAWS) -> KeyFindings:
    findings = audit_keys(_policy(mode, rate, draws), ConnectOptions(Secret(url)))
    assert findings is not None
    return findings


def _readers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("redispolicy-") and t.is_alive()]


def _broken(c: ClassFindings) -> dict[str, int]:
    return {rule: k for rule, k in c.violations.items() if k}


@pytest.fixture
def seeded(redis_cluster: Any) -> Iterator[Any]:
    _seed(redis_cluster)
    yield redis_cluster
    assert _readers() == []  # every reader thread joined, whatever the test did


def test_the_sample_agrees_with_the_exact_audit_and_draws_from_every_master(seeded, monkeypatch):
    draws: list[dict[int, int]] = []
    real_sample_keys = keyaudit.sample_keys

    def spy(*args: Any, **kwargs: Any) -> Any:
        stats = real_sample_keys(*args, **kwargs)
        draws.append(stats.per_db)
        return stats

    monkeypatch.setattr(keyaudit, "sample_keys", spy)
    url = seeded.replicas[1].url  # any node leads to every master
    exact = _audit(url, "exact")
    sample = _audit(url, "sample")
    masters = sorted(m.address for m in seeded.masters)
    assert sorted(exact.nodes) == sorted(sample.nodes) == masters
    ((per_master,),) = [draws]
    assert len(per_master) == 3 and min(per_master.values()) > DRAWS // 4, per_master  # every master
    assert sum(per_master.values()) == sample.sample_size == DRAWS
    assert exact.mode == "exact" and sample.mode == "sample"
    assert exact.dbsize == sample.dbsize == exact.scanned == TOTAL
    truth = {c.name: c for c in exact.classes}
    got = {c.name: c for c in sample.classes}
    assert _broken(truth["ocr-cache"]) == {"no_ttl": 300}  # the exact audit sees the seeded truth
    assert _broken(truth["documents"]) == {"ttl_over_max": 100}
    for name in ("locks", "admin"):  # rare: a SCAN MATCH pass on every master, exact
        assert got[name].exact and got[name].via == "match", name
        assert (got[name].matched, got[name].violations) == (truth[name].matched, truth[name].violations)
    assert got["locks"].matched == 40 and _broken(got["locks"]) == {"no_ttl": 5}
    assert got["admin"].matched == 0
    checks = [("unclassified", sample.unclassified, exact.unclassified)]
    for name in ("ocr-cache", "documents"):
        c = got[name]
        assert not c.exact and c.via == "sample", name
        checks.append((f"{name} matched", c.matched, truth[name].matched))
        checks += [
            (f"{name} {rule}", c.violations.get(rule, 0), k) for rule, k in truth[name].violations.items()
        ]
    for label, k, true_value in checks:
        wide = wilson(k, DRAWS, z=WIDE_Z).scaled(TOTAL)
        assert wide.low - 0.1 <= true_value <= wide.high + 0.1, (label, k, true_value)


def test_the_draws_and_every_match_pass_read_the_three_masters_at_once(seeded, monkeypatch):
    """All three masters' readers meet mid-read: impossible when one master is read after another."""
    draws = threading.Barrier(3, timeout=BARRIER_TIMEOUT)
    passes = threading.Barrier(3, timeout=BARRIER_TIMEOUT)
    met = {"draws": 0, "passes": 0}
    real_random_keys = keysample.random_keys

    def random_keys(client: redis.Redis, k: int, batch: int = keysample.BATCH) -> Iterator[list[bytes]]:
        for i, keys in enumerate(real_random_keys(client, k, batch)):
            if i == 0:  # a batch drawn on this master's connection, not yet inspected: mid-draw
                draws.wait()
                met["draws"] += 1
            yield keys

    real_scan = redis.Redis.scan

    def scan(self: redis.Redis, cursor: int = 0, *args: Any, **kwargs: Any) -> Any:
        reply = real_scan(self, cursor, *args, **kwargs)
        if cursor == 0:  # every master's first SCAN MATCH call of a pass is in: mid-pass
            passes.wait()
            met["passes"] += 1
        return reply

    monkeypatch.setattr(keysample, "random_keys", random_keys)
    monkeypatch.setattr(redis.Redis, "scan", scan)
    sample = _audit(seeded.masters[0].url, "sample")
    assert met["draws"] == 3  # one meeting: each master once
    rare = [c for c in sample.classes if c.via == "match"]
    assert len(rare) == 2 and met["passes"] == 3 * len(rare)  # each rare class's pass: all 3 at once
    assert {c.name: c.matched for c in rare} == {"locks": 40, "admin": 0}


class _Recording(RateLimiter):
    """The audit's limiter, recording which thread charged how many keys (the limiter itself is real)."""

    made: ClassVar[list[_Recording]] = []

    def __init__(self, rate: int) -> None:
        super().__init__(rate)
        self.takes: list[tuple[str, int]] = []
        self.made.append(self)

    def take(self, n: int) -> None:
        self.takes.append((threading.current_thread().name, n))  # list.append is atomic
        super().take(n)


def test_the_masters_share_one_rate_budget(seeded, monkeypatch):
    """At --max-rate R the whole sample (draws + MATCH passes) takes >= keys charged / R, not a third."""
    _Recording.made = []
    monkeypatch.setattr(keyaudit, "RateLimiter", _Recording)
    rate, draws = 8000, 1200  # 1200 draws + 2 passes charging ~1/4 of 5540 keys each: ~0.5 s at one budget
    start = time.monotonic()
    sample = _audit(seeded.masters[2].url, "sample", rate=rate, draws=draws)
    elapsed = time.monotonic() - start
    ((limiter,),) = [_Recording.made]
    assert sample.sample_size == draws
    charged = sum(n for _, n in limiter.takes)
    assert charged == limiter.done and charged > draws  # the MATCH passes are charged too
    # the last take of all sleeps until every key booked is due at ``rate``: a lower bound,
    # whatever the machine's load (a budget per master would finish in about a third of it)
    assert elapsed >= charged / rate * 0.95, (elapsed, charged)
    takers = {name for name, _ in limiter.takes}
    assert len(takers) >= 3 and all(name.startswith("redispolicy-") for name in takers), takers


@pytest.fixture
def auditor(seeded: Any) -> Iterator[tuple[Any, str]]:
    """A user ``auditor`` on every master (ACLs are per node); a test narrows it on one master."""
    admins = [m.client() for m in seeded.masters]
    for admin in admins:
        admin.execute_command("ACL", "SETUSER", "auditor", "on", ">pw-not-shown", "~*", "+@all")
    try:
        yield seeded, "auditor:pw-not-shown"
    finally:
        for admin in admins:
            admin.execute_command("ACL", "DELUSER", "auditor")


@pytest.mark.parametrize(("refused", "stage"), [("randomkey", "draws"), ("scan", "match pass")])
def test_a_master_refusing_a_command_stops_the_sample_cleanly(auditor, refused, stage):
    cluster, credentials = auditor
    cluster.masters[1].client().execute_command("ACL", "SETUSER", "auditor", f"-{refused}")
    with pytest.raises(RedispolicyError) as caught:
        _audit(f"redis://{credentials}@127.0.0.1:{cluster.masters[0].port}/0", "sample")
    message = caught.value.message
    assert message.startswith("key audit stopped: the server answered"), (stage, message)
    assert f"no permissions to run the '{refused}' command" in message, (stage, message)
    assert "pw-not-shown" not in str(caught.value)
    assert "the audit only reads" in caught.value.hint


def test_a_master_losing_its_connection_mid_sample_stops_the_audit_cleanly(auditor, monkeypatch):
    """One master cuts the audit's connection between two of its draw batches and refuses it back.

    A cut alone is healed by redis-py's pool (it reconnects an idle dead connection before the
    next command, which loses nothing for a read-only pass); a master that also refuses the
    reconnection (the user disabled there) is a connection lost for good.
    """
    cluster, credentials = auditor
    victim = cluster.masters[1]
    admin = victim.client()
    real_random_keys = keysample.random_keys
    killed: list[int] = []

    def random_keys(client: redis.Redis, k: int, batch: int = keysample.BATCH) -> Iterator[list[bytes]]:
        port = client.connection_pool.connection_kwargs["port"]
        for i, keys in enumerate(real_random_keys(client, k, batch)):
            if i == 0 and port == victim.port:
                admin.execute_command("ACL", "SETUSER", "auditor", "off")
                killed.append(admin.client_kill_filter(user="auditor"))
            yield keys

    monkeypatch.setattr(keysample, "random_keys", random_keys)
    with pytest.raises(RedispolicyError) as caught:
        _audit(f"redis://{credentials}@127.0.0.1:{cluster.masters[0].port}/0", "sample")
    assert killed == [1]  # the audit's one connection to that master was cut
    message = caught.value.message
    assert message.startswith("key audit stopped: the connection failed mid-scan"), message
    assert "pw-not-shown" not in str(caught.value) and "nothing changed" in caught.value.hint
