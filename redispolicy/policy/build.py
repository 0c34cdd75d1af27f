"""The policy model builder: a merged, located document tree -> a typed ``Policy``.

``PolicySet.resolve`` (resolve.py) loads, merges and interpolates; this module turns the
result into frozen dataclasses (settings with provenance, key classes, targets, and the
typed sampling / health / ignore / audit settings whose defaults live in policy/model.py),
so no later stage reads a raw mapping.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path as FsPath
from typing import TYPE_CHECKING

from redispolicy.catalog.params import catalog
from redispolicy.catalog.units import parse_duration, parse_size
from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.policy.merge import Removal
from redispolicy.policy.model import (
    AuditSettings,
    AuditStream,
    Capacity,
    ExpectedDifference,
    ExpiryRule,
    Health,
    IgnoreRule,
    KeyClass,
    LowerThreshold,
    Policy,
    Removed,
    Sampling,
    SentinelTarget,
    Setting,
    Target,
    Threshold,
    Unclassified,
    Value,
    Workload,
)
from redispolicy.policy.nodes import MapNode, Node, ScalarNode, SeqNode, to_plain

if TYPE_CHECKING:
    from redispolicy.policy.resolve import PolicySet


def display_path(path: FsPath) -> str:
    """Paths as the user would type them: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def scalar_str(node: Node | None) -> str | None:
    return node.value if isinstance(node, ScalarNode) and isinstance(node.value, str) else None


def build(
    tree: MapNode, files: list[FsPath], pset: PolicySet, diags: list[Diagnostic], removals: list[Removal]
) -> Policy:
    cat = catalog()
    config: list[Setting] = []
    cfg = tree.get("config")
    if isinstance(cfg, MapNode):
        for name, node in cfg.entries.items():
            if not isinstance(node, ScalarNode) or node.value is None:
                continue  # null: not managed (a base's value was already removed by the merge)
            look = cat.lookup(name)
            sensitive = bool(look and look.param.sensitive)
            config.append(
                Setting(
                    name,
                    look.canonical if look else None,
                    pset.value(node, ("config", name), sensitive, diags),
                )
            )
    removed = []
    for r in removals:
        if len(r.path) == 2 and r.path[0] == "config" and isinstance(r.was, ScalarNode):
            removed.append(Removed(str(r.path[1]), r.at, pset.value(r.was, r.path, False, [])))
    return Policy(
        environment=scalar_str(tree.get("environment")),
        file=display_path(files[-1]),
        files=tuple(display_path(f) for f in files),
        config=tuple(config),
        removed=tuple(removed),
        keys=tuple(_key_class(n, diags) for n in _items(tree.get("keys")) if isinstance(n, MapNode)),
        tree=tree,
        target=_target(tree.get("target"), pset, diags, ("target",)),
        targets=tuple(
            t
            for i, n in enumerate(_items(tree.get("targets")))
            if (t := _target(n, pset, diags, ("targets", i))) is not None
        ),
        persist=bool(_plain(tree.get("persist"), False)),
        unclassified=_unclassified(tree.get("unclassified")),
        sampling=_sampling(tree.get("sampling")),
        capacity=_capacity(tree.get("capacity"), diags),
        health=_health(tree.get("health")),
        ignore=tuple(_ignore_rule(n) for n in _items(tree.get("ignore")) if isinstance(n, MapNode)),
        audit=_audit(tree.get("audit")),
        allow_dangerous=tuple(
            str(n.value).lower()
            for n in _items(tree.get("allow_dangerous"))
            if isinstance(n, ScalarNode) and n.value is not None
        ),
        expected_differences=tuple(
            _expected_difference(n)
            for n in _items(tree.get("expected_differences"))
            if isinstance(n, MapNode)
        ),
    )


def _items(node: Node | None) -> tuple[Node, ...]:
    return node.items if isinstance(node, SeqNode) else ()


def _plain(node: Node | None, default: object) -> object:
    return default if node is None else to_plain(node)


def _number(node: Node | None) -> float | None:
    value = node.value if isinstance(node, ScalarNode) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(node: Node | None, default: int) -> int:
    value = node.value if isinstance(node, ScalarNode) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _unclassified(node: Node | None) -> Unclassified:
    text = scalar_str(node)
    return text if text in ("ignore", "warn", "error") else "warn"  # type: ignore[return-value]


def _sampling(node: Node | None) -> Sampling:
    if not isinstance(node, MapNode):
        return Sampling()
    base = Sampling()
    mode = scalar_str(node.get("mode"))
    budget = scalar_str(node.get("time_budget"))
    return Sampling(
        mode=mode if mode in ("auto", "exact", "sample") else base.mode,  # type: ignore[arg-type]
        keys=_int(node.get("keys"), base.keys),
        time_budget=parse_duration(budget) if budget else base.time_budget,
        max_rate=_int(node.get("max_rate"), base.max_rate),
    )


def _health(node: Node | None) -> Health:
    """Each check the policy names replaces that check's default whole (as before typed settings)."""
    if not isinstance(node, MapNode):
        return Health()
    upper = {}
    for name in (
        "memory_used_percent",
        "fragmentation_ratio",
        "evicted_keys",
        "rejected_connections",
        "connected_clients",
    ):
        entry = node.get(name)
        if isinstance(entry, MapNode):
            upper[name] = Threshold(_number(entry.get("warning")), _number(entry.get("critical")))
    hit = node.get("hit_rate_percent")
    lower = (
        {
            "hit_rate_percent": LowerThreshold(
                _number(hit.get("warning_below")), _number(hit.get("critical_below"))
            )
        }
        if isinstance(hit, MapNode)
        else {}
    )
    return Health(**upper, **lower, expired_per_hour=_expiry_rule(node.get("expired_per_hour")))  # type: ignore[arg-type]


def _expiry_rule(node: Node | None) -> ExpiryRule | None:
    """``health.expired_per_hour``; policy/checks.py says when its class is not under ``keys:``."""
    if not isinstance(node, MapNode):
        return None
    return ExpiryRule(
        key_class=scalar_str(node.get("class")) or "",
        location=node.loc,
        warning=_number(node.get("warning")),
        critical=_number(node.get("critical")),
    )


def _ignore_rule(node: MapNode) -> IgnoreRule:
    until_node = node.get("until")
    until_text = (
        str(until_node.value) if isinstance(until_node, ScalarNode) and until_node.value is not None else ""
    )
    try:
        until = datetime.date.fromisoformat(until_text) if until_text else None
    except ValueError:
        until = None  # unreadable: IgnoreRule.in_force says it hides nothing
    return IgnoreRule(
        reason=scalar_str(node.get("reason")) or "",
        location=node.loc,
        parameter=scalar_str(node.get("parameter")),
        key_class=scalar_str(node.get("class")),
        until=until,
        until_text=until_text,
    )


def _expected_difference(node: MapNode) -> ExpectedDifference:
    return ExpectedDifference(
        reason=scalar_str(node.get("reason")) or "",
        location=node.loc,
        path=scalar_str(node.get("path")),
        parameter=scalar_str(node.get("parameter")),
    )


def _audit(node: Node | None) -> AuditSettings:
    if not isinstance(node, MapNode):
        return AuditSettings()
    stream = node.get("stream")
    return AuditSettings(
        log=scalar_str(node.get("log")) or None,
        stream=AuditStream(
            scalar_str(stream.get("key")) or AuditStream.key, _int(stream.get("maxlen"), AuditStream.maxlen)
        )
        if isinstance(stream, MapNode)
        else None,
    )


def _target(
    node: Node | None, pset: PolicySet, diags: list[Diagnostic], path: tuple[str | int, ...]
) -> Target | None:
    if not isinstance(node, MapNode):
        return None
    url = node.get("url")
    sentinel = _sentinel(node.get("sentinel"), pset, diags, (*path, "sentinel"))
    if not isinstance(url, ScalarNode) and sentinel is None:
        return None

    def opt(key: str, sensitive: bool) -> Value | None:
        n = node.get(key)
        return pset.value(n, (*path, key), sensitive, diags) if isinstance(n, ScalarNode) else None

    def seconds(key: str) -> int | None:
        text = scalar_str(node.get(key))
        return parse_duration(text) if text else None

    tls = node.get("tls")
    return Target(
        # URLs may carry credentials
        url=pset.value(url, (*path, "url"), True, diags) if isinstance(url, ScalarNode) else None,
        name=scalar_str(node.get("name")) or "",
        topology=scalar_str(node.get("topology")),
        username=opt("username", False),
        password=opt("password", True),
        connect_timeout=seconds("connect_timeout"),
        read_timeout=seconds("read_timeout"),
        tls={k: v.value for k, v in tls.entries.items() if isinstance(v, ScalarNode)}
        if isinstance(tls, MapNode)
        else {},
        config=scalar_str(node.get("config")) or "available",
        sentinel=sentinel,
    )


def _sentinel(
    node: Node | None, pset: PolicySet, diags: list[Diagnostic], path: tuple[str | int, ...]
) -> SentinelTarget | None:
    """``target.sentinel``; None unless it has a service and at least one address (the schema says why)."""
    if not isinstance(node, MapNode):
        return None
    service = scalar_str(node.get("service"))
    addresses = tuple(
        pset.value(n, (*path, "addresses", i), False, diags)
        for i, n in enumerate(_items(node.get("addresses")))
        if isinstance(n, ScalarNode) and n.value is not None
    )
    if not service or not addresses:
        return None
    password = node.get("password")
    return SentinelTarget(
        addresses=addresses,
        service=service,
        location=node.loc,
        username=scalar_str(node.get("username")),
        password=pset.value(password, (*path, "password"), True, diags)
        if isinstance(password, ScalarNode)
        else None,
    )


def _key_class(node: MapNode, diags: list[Diagnostic]) -> KeyClass:
    ttl = node.get("ttl")
    ttl_max = persistent = None
    if isinstance(ttl, ScalarNode):
        persistent = ttl.value == "persistent"
    elif isinstance(ttl, MapNode):
        ttl_max = parse_duration(str(scalar_str(ttl.get("max"))))
    cleanup = node.get("cleanup")
    idle = scalar_str(cleanup.get("idle_over")) if isinstance(cleanup, MapNode) else None
    size = node.get("max_size")
    return KeyClass(
        name=str(scalar_str(node.get("name"))),
        pattern=scalar_str(node.get("pattern")) or "",
        location=node.loc,
        ttl_max=ttl_max,
        persistent=bool(persistent),
        remediate=bool(_plain(node.get("remediate"), False)),
        cleanup_idle_over=parse_duration(idle) if idle else None,
        cleanup_always=isinstance(cleanup, MapNode) and _plain(cleanup.get("always"), False) is True,
        type=scalar_str(node.get("type")),
        max_size=_bytes(size, diags),
    )


def _bytes(node: Node | None, diags: list[Diagnostic]) -> int | None:
    """A size the schema's pattern let through can still exceed what Redis can store."""
    if not isinstance(node, ScalarNode):
        return None
    try:
        return parse_size(node.value)
    except ValueError as exc:
        diags.append(
            Diagnostic(
                "size-invalid",
                Severity.ERROR,
                f"{node.text!r}: {exc}",
                node.loc,
                hint="write a size below 2^64 bytes, e.g. 10mb",
            )
        )
        return None


def _capacity(node: Node | None, diags: list[Diagnostic]) -> Capacity | None:
    if not isinstance(node, MapNode):
        return None
    workloads = []
    for w in _items(node.get("workloads")):
        if not isinstance(w, MapNode):
            continue
        size = w.get("item_size")
        items = w.get("items")
        arrivals = w.get("arrivals_per_day")
        workloads.append(
            Workload(
                key_class=str(scalar_str(w.get("class"))),
                item_size=_bytes(size, diags) or 0,
                location=w.loc,
                items=items.value if isinstance(items, ScalarNode) else None,
                arrivals_per_day=arrivals.value if isinstance(arrivals, ScalarNode) else None,
                item_size_text=size.text if isinstance(size, ScalarNode) else "",
            )
        )
    limit = node.get("utilization_limit_percent")
    return Capacity(
        float(limit.value) if isinstance(limit, ScalarNode) else 100.0, tuple(workloads), node.loc
    )
