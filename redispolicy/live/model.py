"""What the live stage reads, as plain data: no redis-py here.

The plan and render stages import these types; keeping them apart from the modules
that talk to the server means importing ``redispolicy.plan`` or ``redispolicy.render``
does not load redis-py (validate and explain start faster, and the layering is visible).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from redispolicy.secret import Secret

ServerMode = Literal["standalone", "cluster", "sentinel", "unknown"]  # unknown: not reached
DEFAULT_RATE = 20_000  # keys/s a key pass reads at by default: gentle on a production primary


@dataclass(frozen=True)
class Identity:
    product: str  # redis | valkey
    version: str  # 7.0.15, or Valkey's own 8.1.1 (Valkey reports redis_version:7.2.4)
    run_id: str
    role: str  # master | slave (as INFO says)
    mode: ServerMode
    address: str
    replicas: int = 0  # connected_slaves: nodes this one feeds, which a CONFIG SET here does not reach


@dataclass(frozen=True)
class ConfigSnapshot:
    available: bool
    reason: str = ""  # why not, when unavailable
    values: dict[str, str | Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    at: float  # time.monotonic() of the reading
    used_memory: int
    maxmemory: int
    total_system_memory: int
    keyspace_hits: int
    keyspace_misses: int
    evicted_keys: int
    expired_keys: int
    fragmentation_ratio: float
    fragmentation_bytes: int  # rss - used: the ratio means little when this is small
    rejected_connections: int
    blocked_clients: int
    connected_clients: int
    role: str
    master_link_status: str | None  # replicas only
    rdb_last_bgsave_status: str
    aof_enabled: bool
    aof_last_write_status: str
    loading: bool


@dataclass(frozen=True)
class SlowEntry:
    id: int
    duration_us: int
    command: str  # the command name only: arguments may hold keys or secrets


@dataclass(frozen=True)
class HealthReadings:
    first: Reading
    second: Reading | None  # after --window seconds, when asked
    slowlog_len: int
    slowest: tuple[SlowEntry, ...]


class Observation(NamedTuple):
    """One key's row of a ``Batch``."""

    key: bytes
    db: int
    pttl: int  # ms; -1 no TTL; -2 vanished between SCAN and the check
    type: str | None = None
    memory: int | None = None


class Batch(NamedTuple):
    """What the audit learnt about a batch of keys, as columns: one list per command.

    Columns rather than an object per key: a million keys are judged per audit, and
    the judge works on whole lists (classification, counting) instead of per-key objects
    (measured: building a NamedTuple per key cost 0.8 µs, a third of the whole audit).
    """

    db: int
    keys: list[bytes]
    pttls: list[int]  # ms; -1 no TTL; -2 vanished between SCAN and the check
    types: list[str | None] | None = None  # TYPE, when a rule needs it (None: vanished)
    memory: list[int | None] | None = None  # MEMORY USAGE, when a rule needs it

    @classmethod
    def of(cls, rows: list[Observation]) -> Batch:
        """Columns from rows (all of one db); TYPE / MEMORY columns when any row has them."""
        db = rows[0].db if rows else 0
        types = [r.type for r in rows] if any(r.type is not None for r in rows) else None
        memory = [r.memory for r in rows] if any(r.memory is not None for r in rows) else None
        return cls(db, [r.key for r in rows], [r.pttl for r in rows], types, memory)

    def rows(self) -> list[Observation]:
        n = len(self.keys)
        types = self.types if self.types is not None else [None] * n
        memory = self.memory if self.memory is not None else [None] * n
        return [
            Observation(k, self.db, p, t, m)
            for k, p, t, m in zip(self.keys, self.pttls, types, memory, strict=True)
        ]

    def take(self, index: list[int]) -> Batch:
        """The rows at ``index``, in that order (repeats allowed)."""
        return Batch(
            self.db,
            [self.keys[i] for i in index],
            [self.pttls[i] for i in index],
            None if self.types is None else [self.types[i] for i in index],
            None if self.memory is None else [self.memory[i] for i in index],
        )


@dataclass(frozen=True)
class KeyspaceInfo:
    """INFO keyspace: per db (keys, expires); keys - expires is the exact count without a TTL."""

    dbs: dict[int, tuple[int, int]]

    @property
    def keys(self) -> int:
        return sum(k for k, _ in self.dbs.values())


@dataclass(frozen=True)
class ScanStats:
    scanned: int  # unique keys inspected
    duplicates: int  # keys SCAN returned more than once
    seconds: float


@dataclass(frozen=True)
class SentinelAnswer:
    """What one sentinel said about the service (``target.sentinel``)."""

    address: str  # the sentinel's host:port
    primary: tuple[str, int] | None = None  # GET-MASTER-ADDR-BY-NAME; None: no answer (see error)
    error: str = ""  # why it gave no primary: unreachable, refused, does not monitor the service
    quorum_ok: bool | None = None  # CKQUORUM: True OK, False NOQUORUM, None not asked or refused
    quorum: str = ""  # CKQUORUM's reply (its first line)


@dataclass(frozen=True)
class SentinelView:
    """Every sentinel's answer, in the policy's order."""

    service: str
    answers: tuple[SentinelAnswer, ...]

    @property
    def answered(self) -> tuple[SentinelAnswer, ...]:
        return tuple(a for a in self.answers if a.primary is not None)

    def primaries(self) -> dict[tuple[str, int], list[str]]:
        """Each primary named, with the sentinels that named it (first-named first)."""
        out: dict[tuple[str, int], list[str]] = {}
        for a in self.answered:
            assert a.primary is not None
            out.setdefault(a.primary, []).append(a.address)
        return out


@dataclass(frozen=True)
class SlowlogState:
    """SLOWLOG as `status` reads it: how far the log's ids have gone, and the newest commands' names."""

    length: int
    last_id: int | None  # the newest entry's id (ids keep counting across SLOWLOG RESET); None: empty log
    newest: tuple[SlowEntry, ...]  # newest first; names only, never arguments


@dataclass(frozen=True)
class ClassSample:
    """A small RANDOMKEY sample of one node's keyspace: how many draws, and each draw's key and size."""

    keys: tuple[bytes, ...]  # one entry per draw (repeats kept: each draw counts once)
    memory: tuple[int | None, ...]  # MEMORY USAGE per draw; None: the key vanished, or not measured
    dbsize: int | None  # keys in the sampled dbs (INFO keyspace); None: INFO refused
    memory_measured: bool  # False: MEMORY USAGE refused, so only the key shares are known
    at: float  # time.monotonic() of the sample


@dataclass(frozen=True)
class NodeReading:
    """One node at one moment, for `status`. A figure the server refused is None with its reason in
    ``unavailable`` (never 0: "no evictions" and "cannot tell" must not look alike)."""

    address: str
    role: str  # master | slave | unknown (not reached)
    at: float  # time.monotonic()
    info: Reading | None = None  # INFO; None: refused, or the node not reached
    run_id: str = ""
    commands_processed: int | None = None  # total_commands_processed
    connected_replicas: int | None = None
    slowlog: SlowlogState | None = None
    sample: ClassSample | None = None  # refreshed every few readings only (it costs)
    unavailable: tuple[tuple[str, str], ...] = ()  # (what: node | info | slowlog | keys, why)
    # Lock timeouts: expired events per key class, counted from keyspace notifications; None: not
    # counted (the seam for the expiry counter: status shows the column once a reader fills it).
    expired_by_class: tuple[tuple[str, int], ...] | None = None


@dataclass(frozen=True)
class ExpiryReading:
    """Expired-key events counted per key class (live/expiry.py), from the subscription's start.

    ``unavailable`` says why nothing could be counted (notifications off, CONFIG or PSUBSCRIBE
    refused, the subscription dropped) and how to enable it; the counts are then empty, never 0."""

    counts: tuple[tuple[str, int], ...]  # (class, expired keys), every class of the policy, in its order
    unclassified: int  # expired keys no class matches
    seconds: float  # how long the subscription has been counting
    unavailable: str = ""

    @property
    def available(self) -> bool:
        return not self.unavailable

    def count(self, key_class: str) -> int:
        return dict(self.counts).get(key_class, 0)

    def minus(self, earlier: ExpiryReading) -> ExpiryReading:
        """What happened between ``earlier`` and this reading of the same subscription (a refresh)."""
        if self.unavailable or earlier.unavailable:
            return self if self.unavailable else earlier
        before = dict(earlier.counts)
        return ExpiryReading(
            tuple((name, n - before.get(name, 0)) for name, n in self.counts),
            self.unclassified - earlier.unclassified,
            self.seconds - earlier.seconds,
        )
