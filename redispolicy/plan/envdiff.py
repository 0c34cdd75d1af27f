"""Two environments side by side: effective policies (or live servers), normalized, diffed, judged.

Each side becomes one flat map of dotted paths (``config.maxmemory``, ``keys.ocr-cache.ttl``,
``capacity.workloads.ocr-cache.arrivals_per_day``) to a comparable text: config values
through the catalog's normalizer (``1gb`` and ``1073741824`` are one value), sizes in bytes,
durations in seconds, sensitive values as digests. DeepDiff (plan/structdiff.py) says which
paths differ; each difference is then *expected* when an ``expected_differences`` entry of
either environment matches it, and an entry that matches nothing here is *stale*.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Literal, NamedTuple

from redispolicy.catalog.normalize import normalize
from redispolicy.catalog.params import Lookup, catalog
from redispolicy.diagnostics import Location
from redispolicy.live.model import ConfigSnapshot, Identity
from redispolicy.plan.structdiff import differing_keys
from redispolicy.policy import glob
from redispolicy.policy.model import COMPARED_SECTIONS, ExpectedDifference, Policy, Setting
from redispolicy.policy.nodes import MapNode, Node, ScalarNode, SeqNode
from redispolicy.secret import REDACTED, Secret

Mode = Literal["policy", "live"]

# Where each process is, not how it is configured: two servers of one environment differ here by
# necessity (ports, paths, announced addresses), so --live leaves these out (docs/cli.md lists them).
PER_INSTANCE = frozenset(
    {
        "port",
        "tls-port",
        "bind",
        "dir",
        "pidfile",
        "logfile",
        "unixsocket",
        "cluster-config-file",
        "cluster-announce-ip",
        "cluster-announce-port",
        "cluster-announce-bus-port",
        "cluster-announce-tls-port",
        "cluster-announce-hostname",
        "cluster-announce-human-nodename",
        "replica-announce-ip",
        "replica-announce-port",
    }
)

_GLOB_CHARS = frozenset("*?[\\")


class Leaf(NamedTuple):
    """One compared value: what the diff sees, what a person is shown, and where it was written."""

    compared: str
    shown: str
    source: Location | None = None
    sensitive: bool = False


@dataclass(frozen=True)
class Difference:
    path: str
    a: str | None  # as shown (None: not set on that side); "(sensitive)" for a secret
    b: str | None
    a_source: Location | None = None
    b_source: Location | None = None
    sensitive: bool = False
    expected: ExpectedDifference | None = None  # the first entry that declares it


@dataclass(frozen=True)
class Comparison:
    """What ``redispolicy compare`` found: the input of every comparison renderer."""

    env_a: str
    env_b: str
    mode: Mode
    sides: tuple[str, str]  # policy: each file chain; live: each server ("redis 7.0.15 at host:port")
    compared: int  # paths compared (on either side)
    differences: tuple[Difference, ...]
    stale: tuple[ExpectedDifference, ...] = ()  # entries that matched no difference here
    not_compared: tuple[str, ...] = ()  # --live: per-instance parameters left out

    @property
    def unexpected(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.expected is None)

    @property
    def expected(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.expected is not None)


# -- judging -------------------------------------------------------------------------------------


def matches(entry: ExpectedDifference, path: str) -> bool:
    """Does the entry declare this path? ``path:`` also covers everything below it (``keys.temp``
    covers ``keys.temp.ttl``); ``parameter:`` is ``config.NAME`` by any of the parameter's names."""
    if entry.parameter is not None:
        head, _, name = path.partition(".")
        return head == "config" and glob.matches(_parameter_pattern(entry.parameter), name)
    pattern = entry.path or ""
    return glob.matches(pattern, path) or glob.matches(pattern + ".*", path)


def _parameter_pattern(parameter: str) -> str:
    """Paths carry the catalog's primary names: an alias (slave-read-only) names its primary."""
    if _GLOB_CHARS & set(parameter):
        return parameter.lower()
    look = catalog().lookup(parameter)
    return look.canonical if look is not None else parameter.lower()


def _applies(entry: ExpectedDifference, mode: Mode) -> bool:
    """Live servers are compared on config alone: other entries are neither used nor stale there."""
    return mode == "policy" or entry.parameter is not None or (entry.path or "").startswith("config")


def judge(
    env_a: str,
    env_b: str,
    mode: Mode,
    sides: tuple[str, str],
    a: dict[str, Leaf],
    b: dict[str, Leaf],
    declared: tuple[ExpectedDifference, ...],
    not_compared: tuple[str, ...] = (),
) -> Comparison:
    """The differences between two flat maps, each marked expected or not; the entries that matched none."""
    changed = differing_keys({k: v.compared for k, v in a.items()}, {k: v.compared for k, v in b.items()})
    entries = tuple(e for e in dict.fromkeys(declared) if _applies(e, mode))
    used: set[ExpectedDifference] = set()
    out = []
    paths = [*a, *(k for k in b if k not in a)]
    paths.sort(key=_section)  # stable: within a section, the first policy's order, then the second's
    for path in paths:
        if path not in changed:
            continue
        hits = [e for e in entries if matches(e, path)]
        used.update(hits)
        la, lb = a.get(path), b.get(path)
        out.append(
            Difference(
                path,
                la.shown if la else None,
                lb.shown if lb else None,
                la.source if la else None,
                lb.source if lb else None,
                bool((la and la.sensitive) or (lb and lb.sensitive)),
                hits[0] if hits else None,
            )
        )
    stale = tuple(e for e in entries if e not in used)
    return Comparison(env_a, env_b, mode, sides, len(a.keys() | b.keys()), tuple(out), stale, not_compared)


def _section(path: str) -> int:
    head = path.partition(".")[0]
    return COMPARED_SECTIONS.index(head) if head in COMPARED_SECTIONS else len(COMPARED_SECTIONS)


def compare_policies(a: Policy, b: Policy) -> Comparison:
    """Two effective policies: config, persist, unclassified, key classes, health and capacity."""
    return judge(
        a.environment or a.file,
        b.environment or b.file,
        "policy",
        (" <- ".join(reversed(a.files)), " <- ".join(reversed(b.files))),
        policy_leaves(a),
        policy_leaves(b),
        (*a.expected_differences, *b.expected_differences),
    )


def compare_live(
    a: Policy,
    b: Policy,
    servers: tuple[tuple[Identity, ConfigSnapshot], tuple[Identity, ConfigSnapshot]],
) -> Comparison:
    """Two servers' whole configuration (CONFIG GET *), normalized; the policies only declare what may differ."""
    (ia, sa), (ib, sb) = servers
    la, skipped_a = live_leaves(sa)
    lb, skipped_b = live_leaves(sb)
    return judge(
        a.environment or a.file,
        b.environment or b.file,
        "live",
        (_server(ia), _server(ib)),
        la,
        lb,
        (*a.expected_differences, *b.expected_differences),
        tuple(sorted(skipped_a | skipped_b)),
    )


def _server(identity: Identity) -> str:
    return f"{identity.product} {identity.version} at {identity.address}"


# -- a live server as a flat map -------------------------------------------------------------------


def live_leaves(snapshot: ConfigSnapshot) -> tuple[dict[str, Leaf], set[str]]:
    """Every parameter by its primary name, normalized; and the per-instance ones left out."""
    cat = catalog()
    out: dict[str, Leaf] = {}
    skipped: set[str] = set()
    for name, value in sorted(snapshot.values.items()):
        look = cat.lookup(name)
        canonical = look.canonical if look is not None else name.lower()
        if canonical in PER_INSTANCE:
            skipped.add(canonical)
            continue
        text = value.reveal() if isinstance(value, Secret) else value
        norm = _normalized(look, text)
        if isinstance(value, Secret) or (look is not None and look.param.sensitive):
            out.setdefault(f"config.{canonical}", Leaf(_digest(norm), REDACTED, None, True))
        else:
            out.setdefault(f"config.{canonical}", Leaf(norm, norm))
    return out, skipped


def _normalized(look: Lookup | None, text: str) -> str:
    if look is None:
        return text  # a module's parameter, or one the catalog does not know: compared as written
    try:
        return normalize(look.param, text)
    except (ValueError, OverflowError):
        return text


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# -- an effective policy as a flat map -------------------------------------------------------------


def policy_leaves(policy: Policy) -> dict[str, Leaf]:
    out: dict[str, Leaf] = {}
    for s in policy.config:
        look = catalog().lookup(s.name)
        out[f"config.{look.canonical if look else s.name.lower()}"] = _setting_leaf(s, look)
    tree = policy.tree
    out["persist"] = Leaf(_yes(policy.persist), _yes(policy.persist), _loc(tree, "persist"))
    out["unclassified"] = Leaf(policy.unclassified, policy.unclassified, _loc(tree, "unclassified"))
    for kc in policy.keys:
        at = ("keys", kc.name)
        _put(out, f"keys.{kc.name}.pattern", kc.pattern, kc.pattern, _loc(tree, *at, "pattern"))
        if kc.persistent:
            _put(out, f"keys.{kc.name}.ttl", "persistent", "persistent", _loc(tree, *at, "ttl"))
        elif kc.ttl_max is not None:
            written = _text(tree, *at, "ttl", "max") or f"{kc.ttl_max}s"
            _put(out, f"keys.{kc.name}.ttl", str(kc.ttl_max), f"max {written}", _loc(tree, *at, "ttl", "max"))
        if kc.type:
            _put(out, f"keys.{kc.name}.type", kc.type, kc.type, _loc(tree, *at, "type"))
        if kc.max_size is not None:
            written = _text(tree, *at, "max_size") or str(kc.max_size)
            _put(out, f"keys.{kc.name}.max_size", str(kc.max_size), written, _loc(tree, *at, "max_size"))
        if kc.remediate:
            _put(out, f"keys.{kc.name}.remediate", "yes", "true", _loc(tree, *at, "remediate"))
        if kc.cleanup_always:
            _put(out, f"keys.{kc.name}.cleanup", "always", "always", _loc(tree, *at, "cleanup"))
        elif kc.cleanup_idle_over is not None:
            written = _text(tree, *at, "cleanup", "idle_over") or f"{kc.cleanup_idle_over}s"
            _put(
                out,
                f"keys.{kc.name}.cleanup",
                f"idle_over {kc.cleanup_idle_over}",
                f"idle_over {written}",
                _loc(tree, *at, "cleanup"),
            )
    _health_leaves(policy, out)
    _capacity_leaves(policy, out)
    return out


def _setting_leaf(s: Setting, look: Lookup | None) -> Leaf:
    value = s.value
    sensitive = look is not None and look.param.sensitive
    if value.value is None:  # an unset ${VAR}: the reference is what the policy says
        return Leaf(f"unresolved {value.raw}", REDACTED if sensitive else value.raw, value.source, sensitive)
    text = value.value.reveal() if isinstance(value.value, Secret) else value.value
    norm = _normalized(look, text)
    if sensitive:
        return Leaf(_digest(norm), REDACTED, value.source, True)
    return Leaf(norm, text, value.source)


def _health_leaves(policy: Policy, out: dict[str, Leaf]) -> None:
    """Every health threshold in force (the defaults included: they are what drift judges by)."""
    tree = policy.tree
    for f in dataclasses.fields(policy.health):
        rule = getattr(policy.health, f.name)
        if rule is None:
            continue
        for g in dataclasses.fields(rule):
            if g.name == "location":
                continue
            value = getattr(rule, g.name)
            if value is None or value == "":
                continue
            key = "class" if g.name == "key_class" else g.name
            shown = _number(value) if isinstance(value, (int, float)) else str(value)
            _put(out, f"health.{f.name}.{key}", shown, shown, _loc(tree, "health", f.name, key))


def _capacity_leaves(policy: Policy, out: dict[str, Leaf]) -> None:
    cap = policy.capacity
    if cap is None:
        return
    limit = _number(cap.utilization_limit_percent)
    tree = policy.tree
    _put(
        out,
        "capacity.utilization_limit_percent",
        limit,
        limit,
        _loc(tree, "capacity", "utilization_limit_percent"),
    )
    for w in cap.workloads:
        base = f"capacity.workloads.{w.key_class}"
        at = ("capacity", "workloads", w.key_class)
        if w.items is not None:
            _put(out, f"{base}.items", _number(w.items), _number(w.items), _loc(tree, *at, "items"))
        if w.arrivals_per_day is not None:
            n = _number(w.arrivals_per_day)
            _put(out, f"{base}.arrivals_per_day", n, n, _loc(tree, *at, "arrivals_per_day"))
        shown = w.item_size_text or str(w.item_size)
        _put(out, f"{base}.item_size", str(w.item_size), shown, _loc(tree, *at, "item_size"))


def _put(out: dict[str, Leaf], path: str, compared: str, shown: str, source: Location | None) -> None:
    out[path] = Leaf(compared, shown, source)


def _yes(flag: bool) -> str:
    return "true" if flag else "false"


def _number(x: float | int) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _find(tree: MapNode, *path: str) -> Node | None:
    """The node at ``path``; a list step picks the item whose ``name`` (or ``class``) is that step."""
    node: Node | None = tree
    for step in path:
        if isinstance(node, MapNode):
            node = node.get(step)
        elif isinstance(node, SeqNode):
            node = next((item for item in node.items if _named(item, step)), None)
        else:
            return None
    return node


def _named(item: Node, name: str) -> bool:
    if not isinstance(item, MapNode):
        return False
    for key in ("name", "class"):
        n = item.get(key)
        if isinstance(n, ScalarNode) and n.value == name:
            return True
    return False


def _loc(tree: MapNode, *path: str) -> Location | None:
    node = _find(tree, *path)
    return node.loc if node is not None else None


def _text(tree: MapNode, *path: str) -> str | None:
    node = _find(tree, *path)
    return node.text if isinstance(node, ScalarNode) else None


__all__ = [
    "PER_INSTANCE",
    "Comparison",
    "Difference",
    "Leaf",
    "compare_live",
    "compare_policies",
    "judge",
    "live_leaves",
    "matches",
    "policy_leaves",
]
