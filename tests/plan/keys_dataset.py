"""A seeded keyspace with known ground truth for the key-audit tests.

Several classes of a few thousand keys, with known numbers of keys without a TTL, with
a TTL above the class's max, with a TTL in a persistent class, of the wrong type and
over the size limit, plus rare classes and unclassified keys, spread over db 0 and db 1.
Built with pipelines and a fixed ``random.Random`` seed, so the same names and TTLs come
back on every server. No TTL is shorter than 5 minutes: nothing expires during a test.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import redis

SEED = 20261125
MIN = 60_000  # ms
HOUR = 60 * MIN
DAY = 24 * HOUR

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
config:
  maxmemory-policy: noeviction
unclassified: warn
{sampling}
keys:
  - name: ocr-cache
    pattern: "ocr:*"
    ttl: {{max: 3d}}
  - name: document-state
    pattern: "doc:*:state"
    ttl: persistent
  - name: documents
    pattern: "doc:*"
    ttl: {{max: 1d}}
  - name: locks
    pattern: "lock:*"
    ttl: {{max: 10m}}
    type: string
  - name: chunks
    pattern: "chunk:*"
    ttl: {{max: 2d}}
  - name: rate-limits
    pattern: "ratelimit:*"
    ttl: {{max: 1h}}
    type: zset
    max_size: 1kb
  - name: sessions
    pattern: "session:*"
    ttl: {{max: 30m}}
  - name: admin
    pattern: "admin:*"
    ttl: persistent
  - name: archive
    pattern: "archive:*"
    ttl: {{max: 1d}}
"""

CLASSES = (
    "ocr-cache",
    "document-state",
    "documents",
    "locks",
    "chunks",
    "rate-limits",
    "sessions",
    "admin",
    "archive",
)
BIG = ("ocr-cache", "document-state", "locks", "chunks")  # sampled at n = 2000
RARE = ("documents", "rate-limits", "sessions", "admin", "archive")  # expected < 300 draws: SCAN MATCH
KINDS = ("no_ttl", "ttl_over_max", "ttl_forbidden", "wrong_type", "oversized")


@dataclass
class Truth:
    matched: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    violations: dict[str, dict[str, int]] = field(
        default_factory=lambda: {c: dict.fromkeys(KINDS, 0) for c in CLASSES}
    )
    violators: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CLASSES})
    unclassified: int = 0
    total: int = 0

    def violating_keys(self, cls: str) -> int:
        return len(self.violators[cls])


class _Writer:
    """Pipelined writes to db 0 / db 1 (every third key goes to db 1), recording the truth."""

    def __init__(self, url_db0: redis.Redis, url_db1: redis.Redis, truth: Truth) -> None:
        self.pipes = [url_db0.pipeline(transaction=False), url_db1.pipeline(transaction=False)]
        self.truth = truth
        self.n = 0
        self.queued = 0

    def pipe(self) -> redis.client.Pipeline:
        p = self.pipes[1 if self.n % 3 == 0 else 0]
        self.n += 1
        self.queued += 1
        if self.queued >= 2000:
            for q in self.pipes:
                q.execute()
            self.queued = 0
        return p

    def string(self, key: str, ttl_ms: int | None, value: str = "v") -> None:
        p = self.pipe()
        if ttl_ms:
            p.set(key, value, px=ttl_ms)
        else:
            p.set(key, value)

    def hash(self, key: str, ttl_ms: int | None) -> None:
        p = self.pipe()
        p.hset(key, mapping={"a": "1", "b": "2"})
        if ttl_ms:
            p.pexpire(key, ttl_ms)

    def zset(self, key: str, ttl_ms: int | None, members: int = 3) -> None:
        p = self.pipe()
        p.zadd(key, {f"member-{i:06d}-padding-xxxxxxxx": i for i in range(members)})
        if ttl_ms:
            p.pexpire(key, ttl_ms)

    def flush(self) -> None:
        for q in self.pipes:
            q.execute()


def seed(db0: redis.Redis, db1: redis.Redis) -> Truth:
    rng = random.Random(SEED)
    truth = Truth()
    w = _Writer(db0, db1, truth)

    def ids(n: int) -> list[int]:
        return rng.sample(range(10**6, 10**7), n)

    def record(cls: str, key: str, *kinds: str) -> None:
        truth.matched[cls] += 1
        for k in kinds:
            truth.violations[cls][k] += 1
        if kinds:
            truth.violators[cls].add(key)

    # ocr-cache: ttl max 3d. 4000 keys, 60 without TTL, 25 at 5 days.
    for i, ident in enumerate(ids(4000)):
        key = f"ocr:{ident}"
        if i < 60:
            w.string(key, None)
            record("ocr-cache", key, "no_ttl")
        elif i < 85:
            w.string(key, 5 * DAY)
            record("ocr-cache", key, "ttl_over_max")
        else:
            w.string(key, rng.randint(HOUR, 60 * HOUR))
            record("ocr-cache", key)
    # document-state: persistent. 3000 keys, 45 with a TTL.
    for i, ident in enumerate(ids(3000)):
        key = f"doc:{ident}:state"
        if i < 45:
            w.hash(key, DAY)
            record("document-state", key, "ttl_forbidden")
        else:
            w.hash(key, None)
            record("document-state", key)
    # documents (doc:*, after doc:*:state; first match wins): 60 keys, 4 without TTL.
    for i, ident in enumerate(ids(60)):
        key = f"doc:{ident}:meta"
        if i < 4:
            w.string(key, None)
            record("documents", key, "no_ttl")
        else:
            w.string(key, 6 * HOUR)
            record("documents", key)
    # locks: ttl max 10m, type string. 3000 keys: 30 no TTL, 15 at 1 h, 20 hashes with a
    # good TTL, 6 hashes without TTL (two violations on one key).
    for i, ident in enumerate(ids(3000)):
        key = f"lock:{ident}"
        if i < 30:
            w.string(key, None)
            record("locks", key, "no_ttl")
        elif i < 45:
            w.string(key, HOUR)
            record("locks", key, "ttl_over_max")
        elif i < 65:
            w.hash(key, 8 * MIN)
            record("locks", key, "wrong_type")
        elif i < 71:
            w.hash(key, None)
            record("locks", key, "no_ttl", "wrong_type")
        else:
            w.string(key, rng.randint(5 * MIN, 9 * MIN))
            record("locks", key)
    # chunks: ttl max 2d, 4000 keys, none violating.
    for ident in ids(4000):
        key = f"chunk:{ident}"
        w.string(key, rng.randint(DAY, 45 * HOUR), value="x" * 20)
        record("chunks", key)
    # rate-limits: ttl max 1h, zset, max 1kb. 800 keys: 7 oversized, 5 strings, 3 without TTL.
    for i, ident in enumerate(ids(800)):
        key = f"ratelimit:{ident}"
        if i < 7:
            w.zset(key, 30 * MIN, members=300)
            record("rate-limits", key, "oversized")
        elif i < 12:
            w.string(key, 30 * MIN)
            record("rate-limits", key, "wrong_type")
        elif i < 15:
            w.zset(key, None)
            record("rate-limits", key, "no_ttl")
        else:
            w.zset(key, 30 * MIN)
            record("rate-limits", key)
    # sessions: ttl max 30m. 40 keys: 3 without TTL, 2 at 2 h.
    for i, ident in enumerate(ids(40)):
        key = f"session:{ident}"
        if i < 3:
            w.string(key, None)
            record("sessions", key, "no_ttl")
        elif i < 5:
            w.string(key, 2 * HOUR)
            record("sessions", key, "ttl_over_max")
        else:
            w.string(key, 20 * MIN)
            record("sessions", key)
    # admin: persistent, 25 keys, all fine. archive: no keys at all.
    for ident in ids(25):
        w.string(f"admin:{ident}", None)
        record("admin", f"admin:{ident}")
    # unclassified
    for ident in ids(300):
        w.string(f"misc:queue:{ident}", None)
    for _ in range(200):
        w.string(f"tmp:{uuid.UUID(int=rng.getrandbits(128))}", HOUR)
    names: set[str] = set()
    while len(names) < 60:  # 60 distinct names (> the 50 fan-out): user:*:profile is suggested
        names.add("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)))
    for name in sorted(names):
        w.string(f"user:{name}:profile", None)
        w.string(f"user:{name}:settings", None)
    w.string("weird*key:1", None)
    w.string("weird*key:2", None)
    w.flush()
    truth.unclassified = 300 + 200 + 120 + 2
    truth.total = sum(truth.matched.values()) + truth.unclassified
    return truth
