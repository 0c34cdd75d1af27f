"""The explain stage: every effective value, its normalized form, where it came from."""

from __future__ import annotations

from dataclasses import dataclass

from redispolicy.catalog.normalize import normalize
from redispolicy.catalog.params import catalog
from redispolicy.diagnostics import Location
from redispolicy.policy.model import Policy, Value
from redispolicy.policy.nodes import MapNode, Node, ScalarNode, SeqNode, json_path
from redispolicy.secret import REDACTED, Secret


@dataclass(frozen=True)
class Entry:
    name: str  # config parameter name, or a JSON path for other settings
    written: str  # as written (secrets redacted)
    normalized: str | None  # what Redis would report; None if unknown/unresolved
    source: Location
    overrode: tuple[tuple[str, Location], ...]
    note: str = ""  # "unset variable", "removed", ...


@dataclass(frozen=True)
class Explanation:
    environment: str | None
    files: tuple[str, ...]
    entries: tuple[Entry, ...]


def explain(policy: Policy, only: str | None = None) -> Explanation:
    cat = catalog()
    entries: list[Entry] = []
    for s in policy.config:
        look = cat.lookup(s.name)
        entries.append(_config_entry(s.name, s.value, look.param if look else None))
    for r in policy.removed:
        entries.append(
            Entry(r.name, "null", None, r.at, ((r.was.raw, r.was.source),), "removed from management")
        )
    for path, node in _leaves(policy.tree, ()):
        if path[:1] == ("config",) or path[:1] == ("apiVersion",) or path[:1] == ("kind",):
            continue
        written = _raw(node, path)
        entries.append(
            Entry(
                json_path(path)[2:],
                written,
                None,
                node.loc,
                tuple((_raw(n, path), n.loc) for n in node.overrode),
            )
        )
    if only:
        key = only.lower()
        canonical = cat.lookup(key)
        names = {key, canonical.canonical} if canonical else {key}
        entries = [e for e in entries if e.name.lower() in names or e.name.lower().endswith("." + key)]
    return Explanation(policy.environment, policy.files, tuple(entries))


def _config_entry(name: str, value: Value, param: object) -> Entry:
    from redispolicy.catalog.params import Param

    overrode = value.overrode
    if isinstance(param, Param) and param.sensitive:
        written = value.raw if value.variables else REDACTED
        overrode = tuple((r if "${" in r else REDACTED, loc) for r, loc in overrode)
        norm = REDACTED if value.resolved else None
        return Entry(name, written, norm, value.source, overrode, "" if value.resolved else "unset variable")
    if value.value is None:
        return Entry(name, value.raw, None, value.source, overrode, "unset variable")
    text = value.value.reveal() if isinstance(value.value, Secret) else value.value
    norm = None
    note = ""
    if isinstance(param, Param):
        try:
            norm = normalize(param, text)
        except (ValueError, OverflowError) as exc:
            note = f"invalid: {exc}"
    else:
        note = "unknown parameter"
    written = value.raw if value.raw == text else f"{value.raw} = {text}"
    return Entry(name, written, norm, value.source, overrode, note)


def _secretish(path: tuple[str | int, ...]) -> bool:
    return bool(path) and path[0] in ("target", "targets") and path[-1] in ("url", "password")


def _raw(node: Node, path: tuple[str | int, ...]) -> str:
    if _secretish(path) and isinstance(node, ScalarNode) and "${" not in node.text:
        return REDACTED
    return node.text if isinstance(node, ScalarNode) else "(...)"


def _leaves(node: Node, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], ScalarNode]]:
    if isinstance(node, MapNode):
        return [leaf for k, v in node.entries.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(node, SeqNode):
        return [leaf for i, v in enumerate(node.items) for leaf in _leaves(v, (*path, i))]
    return [(path, node)]
