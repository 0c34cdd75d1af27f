"""A first policy, proposed: a ``ConfigSource`` and the observed keyspace -> ``Proposal`` (``redispolicy init``).

Pure: no server, no files. The config part keeps only what differs from the defaults of the
source's product and version, compared on normalized values (``catalog/normalize.py``), so
``save "3600 1 300 100 60 10000"`` on Redis 7 is left out and ``maxmemory 1073741824`` is
kept; a parameter whose default the catalog cannot state (``dir``: the working directory at
startup) is left out and counted, since nothing tells whether it was chosen. Secrets become
``${REDIS_<PARAM>_<ENV>}`` references. Key classes come from the patterns the key audit would
suggest (``PatternSuggester``), each with what a second pass observed: a ``ttl.max`` rounded
up to a readable duration, ``persistent`` when no key had a TTL, the type when uniform, and no
TTL rule when the class mixes keys with and without a TTL (any rule would be violated).

``factor`` turns several environments' proposals into a shared base and per-environment
differences, in the layering form of ``extends`` (policy/merge.py).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redispolicy.catalog.danger import danger
from redispolicy.catalog.normalize import normalize
from redispolicy.catalog.params import Param, catalog, parse_version
from redispolicy.catalog.source import ConfigSource
from redispolicy.plan.suggest import PatternSuggester
from redispolicy.policy.glob import FirstMatch
from redispolicy.secret import Secret

if TYPE_CHECKING:
    from redispolicy.live.model import Batch

TOP_CLASSES = 10  # key classes proposed at most: the namespaces holding the most keys

# Comment headers, in file order; a parameter goes to the first group one of whose prefixes
# (or exact names) it starts with, else to "general".
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("memory", ("maxmemory", "lazyfree-", "active-defrag", "activedefrag", "lfu-", "jemalloc-",
                "hash-max-", "list-max-", "set-max-", "zset-max-", "stream-node-", "list-compress-")),
    ("persistence", ("save", "appendonly", "appendfsync", "appendfilename", "appenddirname", "aof-",
                     "auto-aof-", "rdb", "dbfilename", "dir", "stop-writes-on-bgsave-error",
                     "no-appendfsync-on-rewrite")),
    ("replication", ("repl-", "replica", "slave", "masterauth", "masteruser", "primaryauth",
                     "primaryuser", "min-replicas-", "min-slaves-")),
    ("networking", ("bind", "port", "tcp-", "unixsocket", "timeout", "tls-", "io-threads",
                    "socket-mark-id")),
    ("security", ("requirepass", "protected-mode", "acl", "enable-", "rename-")),
    ("clients", ("maxclients", "client-", "proto-max-bulk-len", "tracking-")),
    ("events and monitoring", ("notify-keyspace-events", "slowlog-", "latency-")),
    ("cluster", ("cluster-",)),
    ("general", ()),
)  # fmt: skip

# Defaults the catalog's one default per parameter does not state: where a product or version
# starts a parameter at another value (the research table's differs_in column, and Redis 6.0
# measured). (product, first (major, minor), last (major, minor) or None) -> {name: default}.
_OTHER_DEFAULTS: tuple[tuple[str, tuple[int, int], tuple[int, int] | None, dict[str, str]], ...] = (
    ("redis", (6, 0), (6, 0), {"repl-diskless-sync": "no", "ignore-warnings": "ARM64-COW-BUG"}),
    ("redis", (6, 2), (6, 2), {"repl-diskless-sync": "no", "acl-pubsub-default": "allchannels"}),
    (
        "valkey",
        (8, 0),
        None,
        {
            "hide-user-data-from-log": "yes",
            "lazyfree-lazy-eviction": "yes",
            "lazyfree-lazy-expire": "yes",
            "lazyfree-lazy-server-del": "yes",
            "lazyfree-lazy-user-del": "yes",
            "lazyfree-lazy-user-flush": "yes",
            "replica-lazy-flush": "yes",
            "repl-backlog-size": "10485760",
            "syslog-ident": "valkey",
        },
    ),
)

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_READABLE = ("10s", "30s", "1m", "5m", "10m", "15m", "30m", "1h", "2h", "3h", "6h", "12h", "1d", "2d", "3d",
             "1w", "2w", "30d", "60d", "90d", "180d", "365d")  # fmt: skip
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class ProposedSetting:
    name: str  # the name the source's server uses
    value: str  # as it goes into the file: readable units, or a ${VAR} reference for a secret
    normalized: str  # the live value, normalized (a secret: a marker, never the value)
    group: str
    notes: tuple[str, ...] = ()  # startup-only, protected, dangerous: why it is marked
    variable: str | None = None  # a secret: the variable the value must come from
    dangerous: bool = False  # needs allow_dangerous
    location: str | None = None  # a conf file's file:line


@dataclass(frozen=True)
class ProposedClass:
    name: str
    pattern: str | None  # None: an environment's entry for a base class (the base gives the pattern)
    keys: int  # keys the second pass put in this class
    ttl: str | None  # "persistent", a duration (ttl.max), or None: no TTL rule
    type: str | None  # when every key has this type
    comment: str  # what was observed, for the reader


@dataclass(frozen=True)
class Proposal:
    """One file's worth: an environment's (``environment`` set) or a base (``environment`` None)."""

    environment: str | None
    origin: str  # the header's "from ..."
    product: str
    version: str
    settings: tuple[ProposedSetting, ...]
    classes: tuple[ProposedClass, ...] = ()
    extends: tuple[str, ...] = ()
    target_url_var: str | None = None
    target_password_var: str | None = None
    health: bool = True  # write the health defaults
    left_out: tuple[str, ...] = ()  # parameters without a default to compare with
    notes: tuple[str, ...] = ()  # what the source or the proposal could not carry over
    key_note: str = ""  # how the key classes were found (or why there are none)

    @property
    def variables(self) -> tuple[str, ...]:
        """Every variable the file references, in order: they must be set before plan."""
        out = [v for v in (self.target_url_var, self.target_password_var) if v]
        out += [s.variable for s in self.settings if s.variable and s.variable not in out]
        return tuple(out)

    @property
    def allow_dangerous(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.settings if s.dangerous)


def variable_name(what: str, env: str) -> str:
    """``REDIS_<WHAT>_<ENV>`` as a shell variable: letters, digits and ``_`` only, upper case."""
    return re.sub(r"[^A-Z0-9]+", "_", f"REDIS_{what}_{env}".upper()).strip("_")


def default_of(param: Param, product: str, version: str) -> str | None:
    """The parameter's default on this product and version; None when the catalog cannot state it."""
    major_minor = parse_version(version)
    for prod, first, last, table in _OTHER_DEFAULTS:
        in_range = prod == product and first <= major_minor and (last is None or major_minor <= last)
        if in_range and param.name in table:
            return table[param.name]
    default = param.default
    if default is None or default.startswith("<"):  # "<process cwd at startup ...>": a description
        return None
    return default


def group_of(name: str) -> str:
    for group, prefixes in GROUPS:
        if any(name.startswith(p) for p in prefixes):
            return group
    return "general"


@dataclass(frozen=True)
class ConfigProposal:
    settings: tuple[ProposedSetting, ...]
    left_out: tuple[str, ...]  # no default to compare with
    notes: tuple[str, ...]


def propose_config(source: ConfigSource, env: str) -> ConfigProposal:
    """Every parameter of ``source`` whose normalized value differs from its default there."""
    sc = catalog().for_server(source.product, source.version)
    settings: list[ProposedSetting] = []
    left_out: list[str] = []
    notes: list[str] = list(source.notes)
    for name in sorted(source.values):
        look = sc.lookup(name)
        if look is None:
            notes.append(f"{name}: not a parameter the catalog knows for {source.product} {source.version}")
            continue
        if look.via_alias is not None and look.canonical in source.values:
            continue  # CONFIG GET * lists the alias next to the primary name: one entry
        param, raw = look.param, source.values[name]
        text = raw.reveal() if isinstance(raw, Secret) else raw
        try:
            live = normalize(param, text)
        except (ValueError, OverflowError) as exc:
            notes.append(f"{name}: the value cannot be written into a policy ({exc})")
            continue
        default = default_of(param, source.product, source.version)
        if default is None:
            left_out.append(look.canonical)
            continue
        try:
            if normalize(param, default) == live:
                continue
        except (ValueError, OverflowError):
            pass  # a default we cannot read: the live value differs from what we know
        settings.append(_setting(look.canonical, param, live, env, source.locations.get(name)))
    return ConfigProposal(tuple(settings), tuple(left_out), tuple(notes))


def _setting(name: str, param: Param, live: str, env: str, location: str | None) -> ProposedSetting:
    notes: list[str] = []
    if not param.mutable:
        notes.append("startup-only: a change needs a restart")
    if param.protected:
        notes.append("protected: CONFIG SET needs enable-protected-configs")
    why = danger(param)
    if why is not None and not param.protected:
        notes.append(f"dangerous: {why}")
    if param.sensitive:
        var = variable_name(name, env)
        return ProposedSetting(name, "${" + var + "}", "(sensitive)", group_of(name), tuple(notes), var,
                               why is not None, location)  # fmt: skip
    return ProposedSetting(
        name, readable(param, live), live, group_of(name), tuple(notes), None, why is not None, location
    )


def readable(param: Param, normalized: str) -> str:
    """The value as a person writes it: sizes in exact kb/mb/gb, everything else as normalized."""
    if param.kind in ("memory", "memory_or_percent") and normalized.isdigit():
        n = int(normalized)
        for unit, size in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
            if n and n % size == 0:
                return f"{n // size}{unit}"
    return normalized


# -- key classes --------------------------------------------------------------------------------


def ttl_ceiling(max_ms: int) -> str:
    """The smallest readable duration at least ``max_ms`` long: 2h59m -> 3h, 25h -> 2d."""
    seconds = -(-max_ms // 1000)
    for text in _READABLE:
        if int(text[:-1]) * _UNIT[text[-1]] >= seconds:
            return text
    return f"{-(-seconds // 86400)}d"


def class_name(pattern: str, taken: set[str]) -> str:
    """``doc:*:state`` -> ``doc-state``: the literal parts, in a name the schema accepts, unique."""
    literal = [_NAME_CHARS.sub("-", part).strip("-._") for part in re.split(r"[*?\[\]:\\]+", pattern)]
    base = "-".join(p for p in literal if p)[:60] or "keys"
    if not base[0].isalnum():
        base = "k" + base
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


class Namespaces:
    """First pass: every key name, into the audit's pattern suggester."""

    def __init__(self) -> None:
        self.suggester = PatternSuggester()

    def add(self, batch: Batch) -> None:
        keys = [k for k, p in zip(batch.keys, batch.pttls, strict=True) if p != -2]
        self.suggester.add_all([k.decode("utf-8", "backslashreplace") for k in keys])

    def patterns(self, top: int = TOP_CLASSES) -> tuple[str, ...]:
        return tuple(p for p, _ in self.suggester.suggestions(top))


@dataclass
class _Observed:
    keys: int = 0
    with_ttl: int = 0
    max_ms: int = 0
    types: set[str] = field(default_factory=set)


def order_patterns(per_env: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Each environment's patterns in the order its classes will have after the merge: the patterns
    every environment has first (they go to the base, whose classes come first), then its own.
    The second pass classes keys in exactly this order, so what it observed is what plan will judge."""
    envs = list(per_env.values())
    common = tuple(p for p in envs[0] if all(p in e for e in envs[1:]))
    return {name: common + tuple(p for p in pats if p not in common) for name, pats in per_env.items()}


def name_patterns(patterns: list[str]) -> dict[str, str]:
    """A class name per pattern, unique over every environment (the same pattern, the same name)."""
    taken: set[str] = set()
    return {p: class_name(p, taken) for p in dict.fromkeys(patterns)}


class ClassObserver:
    """Second pass: per proposed pattern (first match wins, as the audit classes keys), what was seen."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        self._first = FirstMatch(list(patterns))
        self.seen = [_Observed() for _ in patterns]

    def add(self, batch: Batch) -> None:
        types = batch.types or [None] * len(batch.keys)
        for number, pttl, typ in zip(self._first.numbers(batch.keys), batch.pttls, types, strict=True):
            if number == self._first.none or pttl == -2:
                continue
            o = self.seen[number - 1]
            o.keys += 1
            if pttl >= 0:
                o.with_ttl += 1
                o.max_ms = max(o.max_ms, pttl)
            if typ is not None and typ != "none":
                o.types.add(typ)

    def classes(
        self, names: Mapping[str, str], keep: frozenset[str] = frozenset()
    ) -> tuple[ProposedClass, ...]:
        """One class per pattern that holds keys (and every pattern in ``keep``), in pass order."""
        return tuple(
            _proposed_class(names[pattern], pattern, o)
            for pattern, o in zip(self.patterns, self.seen, strict=True)
            if o.keys or pattern in keep  # no key: an earlier pattern took them all, it could never match
        )


_TYPES = ("string", "list", "set", "zset", "hash", "stream")


def _proposed_class(name: str, pattern: str, o: _Observed) -> ProposedClass:
    ttl: str | None
    if o.keys == 0:
        ttl, seen = None, "no keys here"
    elif o.with_ttl == 0:
        ttl, seen = "persistent", f"{o.keys} keys, none with a TTL"
    elif o.with_ttl == o.keys:
        ttl = ttl_ceiling(o.max_ms)
        seen = f"{o.keys} keys, longest remaining TTL {-(-o.max_ms // 1000)}s"
    else:
        ttl = None
        seen = (
            f"{o.keys} keys: {o.with_ttl} with a TTL, {o.keys - o.with_ttl} without; no TTL rule proposed "
            "(decide: ttl.max with remediate, or persistent)"
        )
    kind = next(iter(o.types)) if len(o.types) == 1 else None
    return ProposedClass(name, pattern, o.keys, ttl, kind if kind in _TYPES else None, f"observed: {seen}")


# -- the proposal, and several environments factored -----------------------------------------


def propose(
    source: ConfigSource, env: str, classes: tuple[ProposedClass, ...] = (), key_note: str = ""
) -> Proposal:
    """An environment's policy. The tool connects as the URL's user; when the server has a
    requirepass, target.password is that variable (the default user's password)."""
    config = propose_config(source, env)
    password = next((s.variable for s in config.settings if s.name == "requirepass"), None)
    return Proposal(
        environment=env,
        origin=source.origin,
        product=source.product,
        version=source.version,
        settings=config.settings,
        classes=classes,
        target_url_var=variable_name("URL", env),
        target_password_var=password,
        left_out=config.left_out,
        notes=config.notes,
        key_note=key_note,
    )


def _shared_key(s: ProposedSetting) -> tuple[str, str] | None:
    """What must be equal for a setting to go to the base: name and normalized value. Never a secret
    (each environment has its own variable) nor a dangerous one: ``allow_dangerous`` is a list, and
    an environment's own list would replace the base's, leaving the base's setting refused."""
    return None if s.variable is not None or s.dangerous else (s.name, s.normalized)


def factor(proposals: Mapping[str, Proposal]) -> tuple[Proposal, dict[str, Proposal]]:
    """A base with what every environment shares and each environment with only its differences.

    A parameter goes to the base when every environment has it with the same normalized value
    (so no environment ever needs ``null`` to take a base value back). A key class goes to the
    base when every environment has its pattern (``order_patterns`` put those first, in the
    same order everywhere), with its TTL rule and type where they agree; an environment's entry
    of the same name adds the fields that differ (keys merge by name). The health defaults
    live in the base.
    """
    envs = list(proposals.values())
    keys = [{_shared_key(s) for s in p.settings} for p in envs]
    shared = [s for s in envs[0].settings if _shared_key(s) and all(_shared_key(s) in k for k in keys[1:])]
    shared_keys = {_shared_key(s) for s in shared}
    by_pattern = [{c.pattern: c for c in p.classes} for p in envs]
    base_classes: list[ProposedClass] = []
    for c in envs[0].classes:
        same = [b.get(c.pattern) for b in by_pattern]
        if any(s is None for s in same):
            continue
        ttls, kinds = {s.ttl for s in same if s}, {s.type for s in same if s}
        differs = len(ttls) > 1 or len(kinds) > 1
        base_classes.append(
            ProposedClass(
                c.name,
                c.pattern,
                sum(s.keys for s in same if s),
                ttls.pop() if len(ttls) == 1 else None,
                kinds.pop() if len(kinds) == 1 else None,
                "in every environment" + ("; each environment file gives what differs" if differs else ""),
            )
        )
    in_base = {c.pattern: c for c in base_classes}
    base = Proposal(
        environment=None,
        origin=", ".join(f"{name}: {p.origin}" for name, p in proposals.items()),
        product=envs[0].product,
        version=", ".join(sorted({p.version for p in envs})),
        settings=tuple(dataclasses.replace(s, location=None) for s in shared),
        classes=tuple(base_classes),
    )
    rest = {
        name: dataclasses.replace(
            p,
            settings=tuple(s for s in p.settings if _shared_key(s) not in shared_keys),
            classes=tuple(o for c in p.classes if (o := _own(c, in_base.get(c.pattern or ""))) is not None),
            extends=("base.yaml",),
            health=False,
        )
        for name, p in proposals.items()
    }
    return base, rest


def _own(c: ProposedClass, base: ProposedClass | None) -> ProposedClass | None:
    """What an environment's class adds to the base's class of the same pattern (None: nothing)."""
    if base is None:
        return c
    ttl = c.ttl if c.ttl != base.ttl else None
    kind = c.type if c.type != base.type else None
    if ttl is None and kind is None:
        return None
    return dataclasses.replace(c, pattern=None, ttl=ttl, type=kind)
