"""The effective policy: frozen values that know where they came from."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Literal

from redispolicy.diagnostics import Location
from redispolicy.live.model import DEFAULT_RATE
from redispolicy.policy.nodes import MapNode
from redispolicy.secret import Secret


@dataclass(frozen=True)
class Value:
    """One effective scalar: the text Redis would get, and its provenance."""

    value: str | Secret | None  # None: a ${VAR} is unset here
    raw: str  # as written in the file, ${...} included
    source: Location
    overrode: tuple[tuple[str, Location], ...] = ()  # (raw text, where) it replaced, nearest first
    variables: tuple[str, ...] = ()  # ${VAR}s it references

    @property
    def resolved(self) -> bool:
        return self.value is not None

    @property
    def display(self) -> str:
        return self.raw if self.value is None else str(self.value)


@dataclass(frozen=True)
class Setting:
    name: str  # as written in the policy
    canonical: str | None  # the catalog's primary name, None if unknown
    value: Value


@dataclass(frozen=True)
class Removed:
    name: str
    at: Location  # the explicit null
    was: Value


@dataclass(frozen=True)
class SentinelTarget:
    """``target.sentinel``: where the current primary is learned (the sentinels answer for ``service``)."""

    addresses: tuple[Value, ...]  # host:port each, asked in order
    service: str
    location: Location  # the sentinel: mapping, for findings about the sentinels' view
    username: str | None = None
    password: Value | None = None  # the sentinels' own (requirepass in sentinel.conf)


@dataclass(frozen=True)
class Target:
    url: Value | None  # None: the sentinels name the host (target.sentinel)
    name: str = ""
    topology: str | None = None
    username: Value | None = None
    password: Value | None = None
    connect_timeout: int | None = None  # seconds
    read_timeout: int | None = None
    tls: dict[str, str | bool] = field(default_factory=dict)
    # target.config: "unavailable" says CONFIG is blocked here by design (a managed service), so a
    # config check that cannot run is reported as "not checked (expected)" rather than an error.
    config: str = "available"
    sentinel: SentinelTarget | None = None


@dataclass(frozen=True)
class KeyClass:
    name: str
    pattern: str
    location: Location
    ttl_max: int | None = None  # seconds; implies every key has a TTL
    persistent: bool = False  # keys must NOT have a TTL
    remediate: bool = False
    cleanup_idle_over: int | None = None
    cleanup_always: bool = False  # cleanup: {always: true}
    type: str | None = None
    max_size: int | None = None  # bytes


@dataclass(frozen=True)
class Workload:
    key_class: str
    item_size: int
    location: Location
    items: int | None = None
    arrivals_per_day: float | None = None
    item_size_text: str = ""  # as written, e.g. "10mb", for the arithmetic in messages


@dataclass(frozen=True)
class Capacity:
    utilization_limit_percent: float
    workloads: tuple[Workload, ...]
    location: Location


SamplingMode = Literal["auto", "exact", "sample"]
Unclassified = Literal["ignore", "warn", "error"]


@dataclass(frozen=True)
class Sampling:
    """How the key audit reads the keyspace (``sampling:``); the defaults live here and nowhere else."""

    mode: SamplingMode = "auto"  # auto: exact when the keyspace fits time_budget at max_rate
    keys: int = 10_000  # draws in sample mode
    time_budget: int = 60  # seconds an automatic exact audit may take at the rate limit
    max_rate: int = DEFAULT_RATE  # keys/s; 0 lifts the limit


@dataclass(frozen=True)
class Threshold:
    """An upper health limit (a value above it is a warning / critical finding)."""

    warning: float | None = None
    critical: float | None = None


@dataclass(frozen=True)
class LowerThreshold:
    """A lower health limit (a value below it is a finding): the hit rate."""

    warning_below: float | None = None
    critical_below: float | None = None


@dataclass(frozen=True)
class ExpiryRule:
    """``health.expired_per_hour``: keys of one class that expired (a lock's holder never deleted it) per hour.

    Judged on what ``drift --window`` counts from keyspace notifications (plan/expiry.py says how a
    window is turned into "per hour")."""

    key_class: str  # `class:` in the file
    location: Location
    warning: float | None = None
    critical: float | None = None


@dataclass(frozen=True)
class Health:
    """``health:`` thresholds for drift; a policy entry replaces the default for that check whole."""

    memory_used_percent: Threshold = Threshold(warning=80, critical=90)
    hit_rate_percent: LowerThreshold = LowerThreshold(warning_below=20)
    fragmentation_ratio: Threshold = Threshold()
    evicted_keys: Threshold = Threshold()
    rejected_connections: Threshold = Threshold()
    connected_clients: Threshold = Threshold()
    expired_per_hour: ExpiryRule | None = None  # no rule: nothing subscribes


@dataclass(frozen=True)
class IgnoreRule:
    """One ``ignore:`` entry: a ``parameter`` or ``class`` glob, why, and until when."""

    reason: str
    location: Location
    parameter: str | None = None
    key_class: str | None = None  # `class:` in the file
    until: datetime.date | None = None
    until_text: str = ""  # as written (an unreadable date hides nothing)

    @property
    def subject(self) -> str:
        return self.parameter or self.key_class or ""

    def in_force(self, today: datetime.date) -> bool:
        """Past its ``until`` date, or with a date that cannot be read, a rule hides nothing."""
        if self.until_text and self.until is None:
            return False
        return self.until is None or self.until >= today


# What `redispolicy compare` puts side by side: the first segment of every compared path.
COMPARED_SECTIONS = ("config", "persist", "unclassified", "keys", "health", "capacity")


@dataclass(frozen=True)
class ExpectedDifference:
    """One ``expected_differences`` entry: a compared ``path`` or config ``parameter`` (Redis globs), and why
    it is meant to differ from other environments (``redispolicy compare``; plan/envdiff.py matches it)."""

    reason: str
    location: Location
    path: str | None = None
    parameter: str | None = None

    @property
    def subject(self) -> str:
        return f"parameter {self.parameter}" if self.parameter is not None else f"path {self.path or ''}"


@dataclass(frozen=True)
class AuditStream:
    key: str = "redispolicy:audit"
    maxlen: int = 1000


@dataclass(frozen=True)
class AuditSettings:
    """``audit:``: where apply, remediate and cleanup record what they did."""

    log: str | None = None  # None: --audit-log, or the per-user default
    stream: AuditStream | None = None  # also XADD each record to a capped stream on the server


@dataclass(frozen=True)
class Policy:
    environment: str | None
    file: str  # the file the environment is defined in
    files: tuple[str, ...]  # every file that contributed, bases first
    config: tuple[Setting, ...]
    removed: tuple[Removed, ...]
    keys: tuple[KeyClass, ...]
    tree: MapNode  # the merged document, for explain and later stages
    target: Target | None = None
    targets: tuple[Target, ...] = ()
    persist: bool = False
    unclassified: Unclassified = "warn"
    sampling: Sampling = Sampling()
    capacity: Capacity | None = None
    health: Health = Health()
    ignore: tuple[IgnoreRule, ...] = ()
    audit: AuditSettings = AuditSettings()
    # allow_dangerous: parameters that move files, load code or are protected, opted in one by one.
    allow_dangerous: tuple[str, ...] = ()
    expected_differences: tuple[ExpectedDifference, ...] = ()

    def setting(self, name: str) -> Setting | None:
        for s in self.config:
            if name in (s.name, s.canonical):
                return s
        return None
