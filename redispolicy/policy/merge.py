"""The extends merge rule (docs/policy-format.md, Layering), with provenance.

Mappings deep-merge; scalars and lists replace; an explicit ``null`` removes a
setting from management; ``keys`` classes merge by ``name``. A replaced node is kept
in the new node's ``overrode`` chain so ``explain`` can say what a value overrode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from redispolicy.diagnostics import Location
from redispolicy.policy.nodes import MapNode, Node, Path, ScalarNode, SeqNode


@dataclass(frozen=True)
class Removal:
    path: Path
    at: Location
    was: Node


def merge(base: Node | None, over: Node, path: Path, removals: list[Removal]) -> Node | None:
    if isinstance(over, ScalarNode) and over.value is None and base is not None and path:
        removals.append(Removal(path, over.loc, base))
        return None
    if isinstance(base, MapNode) and isinstance(over, MapNode):
        entries = dict(base.entries)
        key_locs = dict(base.key_locs)
        for key, value in over.entries.items():
            merged = merge(base.entries.get(key), value, (*path, key), removals)
            if merged is None:
                entries.pop(key, None)
                key_locs.pop(key, None)
            else:
                entries[key] = merged
                key_locs[key] = over.key_locs[key]
        return MapNode(entries, key_locs, over.loc, overrode=(base, *base.overrode))
    if path == ("keys",) and isinstance(base, SeqNode) and isinstance(over, SeqNode):
        return _merge_classes(base, over, removals)
    if base is None:
        return over
    return replace(over, overrode=(base, *base.overrode))


def _class_name(node: Node) -> str | None:
    if isinstance(node, MapNode):
        name = node.entries.get("name")
        if isinstance(name, ScalarNode) and isinstance(name.value, str):
            return name.value
    return None


def _merge_classes(base: SeqNode, over: SeqNode, removals: list[Removal]) -> SeqNode:
    items = list(base.items)
    index = {n: i for i, item in enumerate(items) if (n := _class_name(item)) is not None}
    for item in over.items:
        name = _class_name(item)
        if name is not None and name in index:
            i = index[name]
            merged = merge(items[i], item, ("keys", i), removals)
            if merged is not None:
                items[i] = merged
        else:
            if name is not None:
                index[name] = len(items)
            items.append(item)
    return SeqNode(tuple(items), over.loc, overrode=(base, *base.overrode))
