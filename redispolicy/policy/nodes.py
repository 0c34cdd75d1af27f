"""The located document tree: every node remembers the file, line and column it came from.

The YAML library's own objects are not used past the loader: plain Python values
lose their marks, and YAML 1.1 turns ``appendonly: yes`` into ``True``. Scalars here
keep both the typed value (for the schema) and the source text (for Redis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redispolicy.diagnostics import Location

PathKey = str | int
Path = tuple[PathKey, ...]


@dataclass(frozen=True, eq=False)
class ScalarNode:
    value: Any  # str, int, float, bool or None, as YAML typed it
    raw: str  # the source text; ``yes`` stays ``yes``
    loc: Location
    quoted: bool = False
    overrode: tuple[Node, ...] = field(default=())  # what this value replaced, nearest first

    @property
    def text(self) -> str:
        """The value as Redis would be sent it: source text for scalars YAML typed."""
        if self.value is None:
            return ""
        if isinstance(self.value, str):
            return self.value
        return self.raw


@dataclass(frozen=True, eq=False)
class SeqNode:
    items: tuple[Node, ...]
    loc: Location
    overrode: tuple[Node, ...] = field(default=())


@dataclass(frozen=True, eq=False)
class MapNode:
    entries: dict[str, Node]
    key_locs: dict[str, Location]
    loc: Location
    overrode: tuple[Node, ...] = field(default=())

    def get(self, key: str) -> Node | None:
        return self.entries.get(key)


Node = ScalarNode | SeqNode | MapNode


def to_plain(node: Node) -> Any:
    """The node as JSON-like data, for the schema validator."""
    if isinstance(node, MapNode):
        return {k: to_plain(v) for k, v in node.entries.items()}
    if isinstance(node, SeqNode):
        return [to_plain(v) for v in node.items]
    return node.value


def find(node: Node, path: Path) -> Node | None:
    cur: Node | None = node
    for key in path:
        if isinstance(cur, MapNode) and isinstance(key, str):
            cur = cur.entries.get(key)
        elif isinstance(cur, SeqNode) and isinstance(key, int) and 0 <= key < len(cur.items):
            cur = cur.items[key]
        else:
            return None
    return cur


def key_location(root: Node, path: Path) -> Location | None:
    """Where the key that holds ``path`` is written (for 'unknown key' diagnostics)."""
    if not path:
        return None
    parent = find(root, path[:-1])
    if isinstance(parent, MapNode) and isinstance(path[-1], str):
        return parent.key_locs.get(path[-1])
    return None


def json_path(path: Path) -> str:
    out = "$"
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        elif key.replace("-", "").replace("_", "").isalnum():
            out += f".{key}"
        else:
            out += f"[{key!r}]"
    return out
