"""The parameter table: what Redis and Valkey accept for each CONFIG parameter.

Generated (tools/gen_catalog.py) from the research table derived from src/config.c, plus
tools/catalog-overrides.yaml for the lines measured on real servers; loaded once from JSON
because validate must start fast.

``catalog()`` answers for any version (``lookup``, ``suggest``); ``catalog().for_server(
product, version)`` answers for one running server: which names ``CONFIG GET *`` returns
there, which exist at all, and which name that server uses as the primary one.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

# product -> ((from, until), ...): from inclusive, until exclusive (None: still present)
VersionRanges = dict[str, tuple[tuple[str, str | None], ...]]

PRODUCTS = ("redis", "valkey")
_VERSION = re.compile(r"v?(\d+)\.(\d+)")


ParamKind = Literal[
    "bool", "integer", "memory", "memory_or_percent", "octal", "enum", "enum_flags", "string", "special"
]


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind
    mutable: bool
    sensitive: bool
    protected: bool
    deny_loading: bool
    multi_arg: bool
    aliases: tuple[str, ...] = ()
    enum: tuple[str, ...] = ()
    synonyms: dict[str, str] = field(default_factory=dict)
    min: int | None = None
    max: int | None = None
    default: str | None = None
    present_in: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hidden: bool = False  # CONFIG GET * leaves it out (exact name only) in a current release
    versions: VersionRanges = field(default_factory=dict)  # where it exists as a primary name
    hidden_versions: VersionRanges = field(default_factory=dict)
    build: str | None = None  # exists only in servers built with this feature ...
    build_versions: VersionRanges = field(default_factory=dict)  # ... in these versions

    def exists_in(self, product: str, version: str) -> bool:
        return _in(self.versions, product, parse_version(version))


@dataclass(frozen=True)
class Lookup:
    param: Param
    canonical: str  # the primary name in the table (for_server: on that server)
    via_alias: str | None  # the alias the policy used, if any


@dataclass(frozen=True)
class _Name:
    """One CONFIG name (a parameter's primary name or an alias) and where it exists."""

    name: str
    primary: str | None  # None: the name is itself a parameter
    versions: VersionRanges
    hidden_versions: VersionRanges
    build: str | None
    build_versions: VersionRanges


def parse_version(version: str) -> tuple[int, int]:
    """(major, minor) of an INFO version: '7.0.15' -> (7, 0), 'v8.1' -> (8, 1)."""
    m = _VERSION.match(version.strip())
    if not m:
        raise ValueError(f"not a server version: {version!r} (expected major.minor[.patch], e.g. 7.0.15)")
    return int(m.group(1)), int(m.group(2))


def identify(info: Mapping[str, Any]) -> tuple[str, str]:
    """(product, version) from an ``INFO server`` mapping.

    Valkey reports the frozen ``redis_version:7.2.4``; its own version is ``valkey_version``.
    """
    if str(info.get("server_name", "")).lower() == "valkey" or "valkey_version" in info:
        return "valkey", str(info["valkey_version"])
    return "redis", str(info["redis_version"])


def _ranges(data: Mapping[str, Any] | None) -> VersionRanges:
    return {
        product: tuple((str(lo), None if hi is None else str(hi)) for lo, hi in ranges)
        for product, ranges in (data or {}).items()
    }


def _in(ranges: VersionRanges, product: str, version: tuple[int, int]) -> bool:
    return any(
        parse_version(lo) <= version and (hi is None or version < parse_version(hi))
        for lo, hi in ranges.get(product, ())
    )


class Catalog:
    def __init__(self, data: dict[str, Any]) -> None:
        self.params: dict[str, Param] = {
            name: Param(
                name=name,
                kind=p["kind"],
                mutable=p["mutable"],
                sensitive=p["sensitive"],
                protected=p["protected"],
                deny_loading=p["deny_loading"],
                multi_arg=p["multi_arg"],
                aliases=tuple(p.get("aliases", ())),
                enum=tuple(str(e) for e in p.get("enum", ())),
                synonyms=dict(p.get("synonyms", {})),
                min=p.get("min"),
                max=p.get("max"),
                default=p.get("default"),
                present_in={k: tuple(v) for k, v in p.get("present_in", {}).items()},
                hidden=bool(p.get("hidden", False)),
                versions=_ranges(p.get("versions")),
                hidden_versions=_ranges(p.get("hidden_versions")),
                build=(p.get("build") or {}).get("feature"),
                build_versions=_ranges((p.get("build") or {}).get("versions")),
            )
            for name, p in data["params"].items()
        }
        self.aliases: dict[str, str] = {a: v["primary"] for a, v in data["aliases"].items()}
        self.config_file_only: frozenset[str] = frozenset(data["config_file_only"])
        self.versions_known: dict[str, tuple[str, ...]] = {
            product: tuple(vs) for product, vs in data.get("versions_known", {}).items()
        }
        self._names: list[_Name] = [
            _Name(p.name, None, p.versions, p.hidden_versions, p.build, p.build_versions)
            for p in self.params.values()
        ] + [
            _Name(
                alias,
                a["primary"],
                _ranges(a.get("versions")),
                _ranges(a.get("hidden_versions")),
                (a.get("build") or {}).get("feature"),
                _ranges((a.get("build") or {}).get("versions")),
            )
            for alias, a in data["aliases"].items()
        ]
        self._servers: dict[tuple[str, str, bool], ServerCatalog] = {}

    def lookup(self, name: str) -> Lookup | None:
        """Names are case-insensitive in Redis (the configs dict uses a case-insensitive hash)."""
        key = name.lower()
        if key in self.params:
            return Lookup(self.params[key], key, None)
        primary = self.aliases.get(key)
        if primary and primary in self.params:
            return Lookup(self.params[primary], primary, key)
        return None

    def suggest(self, name: str) -> str | None:
        names = list(self.params) + list(self.aliases)
        close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.75)
        return close[0] if close else None

    def for_server(self, product: str, version: str, *, tls: bool = True) -> ServerCatalog:
        """The view of one server: ``product`` is ``redis`` or ``valkey``, ``version`` its own
        version from INFO (``redis_version`` / ``valkey_version``; see ``identify``), compared
        on (major, minor).

        ``tls`` says whether the server was built with TLS; it matters only for Redis < 7.0,
        where the tls-* parameters are compiled in only with BUILD_TLS=yes (a server without
        them answers an exact ``CONFIG GET tls-port`` with nothing).
        """
        product = product.lower()
        if product not in PRODUCTS:
            raise ValueError(f"unknown server product {product!r}: expected one of {', '.join(PRODUCTS)}")
        parse_version(version)  # refuse a malformed version before caching anything
        key = (product, version, tls)
        if key not in self._servers:
            self._servers[key] = ServerCatalog._build(self, product, version, tls)
        return self._servers[key]


class ServerCatalog:
    """What one server version knows. Built by ``Catalog.for_server``; immutable."""

    def __init__(
        self,
        catalog: Catalog,
        product: str,
        version: str,
        tls: bool,
        primary_of: dict[str, str],
        hidden: frozenset[str],
        renames: dict[str, str],
    ) -> None:
        self.product = product
        self.version = version
        self.major_minor = parse_version(version)
        self.tls = tls
        self._catalog = catalog
        self._primary_of = primary_of  # every name this server knows -> its primary name here
        self._hidden = hidden
        self._renames = renames  # a name of another version -> the name of the same setting here

    @classmethod
    def _build(cls, catalog: Catalog, product: str, version: str, tls: bool) -> ServerCatalog:
        vt = parse_version(version)
        features = {"tls"} if tls else set()
        primary_of: dict[str, str] = {}
        hidden: set[str] = set()
        for n in catalog._names:
            if not _in(n.versions, product, vt):
                continue
            if n.build and n.build not in features and _in(n.build_versions, product, vt):
                continue
            primary_of[n.name] = n.primary or n.name
            if _in(n.hidden_versions, product, vt):
                hidden.add(n.name)
        # A name the server does not know may be another version's name for a setting it has
        # (hash-max-listpack-entries on 6.x is hash-max-ziplist-entries; primaryauth on Redis is
        # masterauth): names linked by an alias relation in any version are the same setting.
        linked: dict[str, set[str]] = {}
        for n in catalog._names:
            if n.primary is not None:
                linked.setdefault(n.name, set()).add(n.primary)
                linked.setdefault(n.primary, set()).add(n.name)
        renames: dict[str, str] = {}
        for name, others in linked.items():
            if name in primary_of:
                continue
            here = {primary_of[o] for o in others if o in primary_of}
            if len(here) == 1:
                renames[name] = here.pop()
        return cls(catalog, product, version, tls, primary_of, frozenset(hidden), renames)

    @property
    def covered(self) -> bool:
        """The version lies in the range the catalog was built and checked for."""
        known = self._catalog.versions_known.get(self.product, ())
        if not known:
            return False
        first, last = parse_version(known[0]), parse_version(known[-1])
        return first <= self.major_minor and self.major_minor[0] <= last[0]

    def names(self) -> set[str]:
        """Primary names and aliases ``CONFIG GET *`` returns on this server (hidden ones excluded)."""
        return {n for n in self._primary_of if n not in self._hidden}

    def hidden_names(self) -> set[str]:
        """Names this server answers only when asked by exact name (``CONFIG GET key-load-delay``)."""
        return set(self._hidden)

    def primary_names(self) -> set[str]:
        """One name per parameter: the primary names on this server, hidden ones included."""
        return set(self._primary_of.values())

    def exists(self, name: str) -> bool:
        """This server knows the name (as a primary name or an alias, hidden or not)."""
        return name.lower() in self._primary_of

    def lookup(self, name: str) -> Lookup | None:
        """The parameter behind ``name`` and the name this server uses as its primary one.

        ``masterauth`` on Valkey >= 8.0 -> ``primaryauth``. A name from another version for the
        same setting resolves too (``hash-max-listpack-entries`` on Redis 6.x ->
        ``hash-max-ziplist-entries``, ``primaryauth`` on Redis -> ``masterauth``); use
        ``exists`` to ask whether the server accepts the name itself. None: not on this server.
        """
        key = name.lower()
        primary = self._primary_of.get(key) or self._renames.get(key)
        if primary is None:
            return None
        return Lookup(self._catalog.params[primary], primary, None if key == primary else key)

    def __repr__(self) -> str:
        return f"<ServerCatalog {self.product} {self.version} ({len(self._primary_of)} names)>"


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    text = resources.files("redispolicy.catalog").joinpath("params.json").read_text(encoding="utf-8")
    return Catalog(json.loads(text))
