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
