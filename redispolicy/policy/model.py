"""The effective policy: frozen values that know where they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redispolicy.diagnostics import Location
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
class Target:
    url: Value
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
    unclassified: str = "warn"
    sampling: dict[str, Any] = field(default_factory=dict)
    capacity: Capacity | None = None
    health: dict[str, Any] = field(default_factory=dict)
    ignore: tuple[dict[str, Any], ...] = ()
    audit: dict[str, Any] = field(default_factory=dict)
    # allow_dangerous: parameters that move files, load code or are protected, opted in one by one.
    allow_dangerous: tuple[str, ...] = ()

    def setting(self, name: str) -> Setting | None:
        for s in self.config:
            if name in (s.name, s.canonical):
                return s
        return None
