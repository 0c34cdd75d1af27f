"""Strict YAML loading: one mapping document, no duplicate keys, bounded aliases, marks kept.

Why not ``yaml.safe_load``: it keeps the last of two duplicate keys without a word,
turns ``yes`` into ``True`` and throws away line numbers; and an alias-heavy file
("billion laughs") expands into gigabytes. We compose the node graph (libyaml when
available) and build our own located tree from it, counting every node we visit.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import yaml

from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.policy.nodes import MapNode, Node, ScalarNode, SeqNode

MAX_FILE_BYTES = 1 << 20  # a policy is a few KiB; 1 MiB is generous and bounded
MAX_NODES = 100_000  # after alias expansion
MAX_DEPTH = 64

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTION_TAGS = {_STD + "map", _STD + "seq"}


class _Limit(Exception):
    def __init__(self, rule: str, message: str, loc: Location, hint: str) -> None:
        super().__init__(message)
        self.diag = Diagnostic(rule, Severity.ERROR, message, loc, hint=hint)


@dataclass(frozen=True)
class Loaded:
    file: str
    root: MapNode | None
    diagnostics: tuple[Diagnostic, ...]
    text: str = ""


def load_file(path: FsPath, display: str | None = None) -> Loaded:
    name = display or str(path)
    try:
        # Callers pass a resolved path they checked lies inside the policy directory: a symbolic
        # link swapped in there since is refused (O_NOFOLLOW), not followed. One open file for
        # the size check and the read, and never more read than the limit.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_FILE_BYTES:
                return _fail(
                    name,
                    "yaml-too-large",
                    f"the file is {size} bytes; policies are limited to {MAX_FILE_BYTES} bytes",
                    "split it with extends, or check that this is the policy you meant",
                )
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return _fail(
            name,
            "yaml-syntax",
            f"cannot read the file: {exc.strerror or exc}",
            "check the path and its permissions",
        )
    return load_bytes(data, name)


def load_bytes(data: bytes, name: str) -> Loaded:
    if len(data) > MAX_FILE_BYTES:
        return _fail(
            name,
            "yaml-too-large",
            f"the file is {len(data)} bytes; policies are limited to {MAX_FILE_BYTES} bytes",
            "split it with extends",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return Loaded(
            name,
            None,
            (
                Diagnostic(
                    "yaml-encoding",
                    Severity.ERROR,
                    f"the file is not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded",
                    Location(name, line, col),
                    hint="save the file as UTF-8",
                ),
            ),
        )
    return load_text(text, name)


def load_text(text: str, name: str) -> Loaded:
    if "\x00" in text:
        return _fail(
            name,
            "yaml-encoding",
            "the file contains NUL bytes; it is not a text file",
            "save the file as UTF-8 text",
        )
    try:
        docs = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        return Loaded(
            name,
            None,
            (
                Diagnostic(
                    "yaml-syntax",
                    Severity.ERROR,
                    problem or str(exc),
                    loc,
                    hint="fix the YAML syntax at this position",
                ),
            ),
            text,
        )
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return Loaded(
            name,
            None,
            (
                Diagnostic(
                    "yaml-syntax",
                    Severity.ERROR,
                    str(exc).splitlines()[0],
                    Location(name),
                    hint="fix the YAML syntax",
                ),
            ),
            text,
        )
    if len(docs) != 1 or docs[0] is None:
        what = "is empty" if not docs or docs[0] is None else f"holds {len(docs)} documents"
        return Loaded(
            name,
            None,
            (
                Diagnostic(
                    "yaml-not-mapping",
                    Severity.ERROR,
                    f"the file {what}; a policy is one YAML mapping",
                    Location(name, 1, 1),
                    hint="start the file with 'apiVersion: redispolicy/v1'",
                ),
            ),
            text,
        )
    builder = _Builder(name)
    try:
        root = builder.build(docs[0], 0)
    except _Limit as exc:
        return Loaded(name, None, (exc.diag,), text)
    if not isinstance(root, MapNode):
        return Loaded(
            name,
            None,
            (
                Diagnostic(
                    "yaml-not-mapping",
                    Severity.ERROR,
                    f"the document is a {_kind(root)}; a policy is a YAML mapping",
                    root.loc,
                    hint="start the file with 'apiVersion: redispolicy/v1'",
                ),
            ),
            text,
        )
    return Loaded(name, root, tuple(builder.diagnostics), text)


def _kind(node: Node) -> str:
    return "sequence" if isinstance(node, SeqNode) else "scalar"


def _fail(name: str, rule: str, message: str, hint: str) -> Loaded:
    return Loaded(name, None, (Diagnostic(rule, Severity.ERROR, message, Location(name), hint=hint),))


class _Builder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.diagnostics: list[Diagnostic] = []

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.name, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, depth: int) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Limit(
                "yaml-alias-limit",
                f"the document expands to more than {MAX_NODES} nodes (anchors/aliases)",
                self.loc(node),
                "write the values out; policies do not need deep aliasing",
            )
        if depth > MAX_DEPTH:
            raise _Limit(
                "yaml-alias-limit",
                f"the document nests deeper than {MAX_DEPTH} levels",
                self.loc(node),
                "flatten the structure (a recursive alias?)",
            )
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _COLLECTION_TAGS:
            self.diagnostics.append(
                Diagnostic(
                    "yaml-unsupported-tag",
                    Severity.ERROR,
                    f"unsupported YAML tag {node.tag!r}",
                    self.loc(node),
                    hint="remove the tag; policy values are plain mappings, lists and scalars",
                )
            )
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            return SeqNode(tuple(self.build(item, depth + 1) for item in node.value), self.loc(node))
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node)

    def mapping(self, node: yaml.MappingNode, depth: int) -> MapNode:
        entries: dict[str, Node] = {}
        key_locs: dict[str, Location] = {}
        for knode, vnode in node.value:
            kloc = self.loc(knode)
            if not isinstance(knode, yaml.ScalarNode):
                raise _Limit(
                    "yaml-syntax",
                    "a mapping key must be a plain value, not a collection",
                    kloc,
                    "use a string key",
                )
            key = knode.value
            if knode.tag == _STD + "merge":
                raise _Limit(
                    "yaml-unsupported-tag",
                    "YAML merge keys ('<<') are not supported",
                    kloc,
                    "use 'extends' to share settings between policy files",
                )
            if key in key_locs:
                first = key_locs[key]
                self.diagnostics.append(
                    Diagnostic(
                        "yaml-duplicate-key",
                        Severity.ERROR,
                        f"duplicate key '{key}': first at line {first.line}, again at line {kloc.line}",
                        kloc,
                        hint=f"keep one '{key}' (YAML would silently use the last)",
                        related=(first,),
                    )
                )
            key_locs[key] = kloc
            entries[key] = self.build(vnode, depth + 1)
        return MapNode(entries, key_locs, self.loc(node))

    def scalar(self, node: yaml.ScalarNode) -> ScalarNode:
        loc = self.loc(node)
        quoted = node.style in ("'", '"', "|", ">")
        if node.tag not in _SCALAR_TAGS:
            self.diagnostics.append(
                Diagnostic(
                    "yaml-unsupported-tag",
                    Severity.ERROR,
                    f"unsupported YAML tag {node.tag!r}",
                    loc,
                    hint="remove the tag; policy values are plain strings, numbers and booleans",
                )
            )
            return ScalarNode(node.value, node.value, loc, quoted)
        if node.tag == _STD + "str":
            return ScalarNode(node.value, node.value, loc, quoted)
        try:
            value = _constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError):
            value = node.value
        if isinstance(value, (datetime.date, datetime.datetime)):
            value = node.value  # dates stay text: the schema checks their format
        elif isinstance(value, float) and value != value:  # .nan
            value = node.value
        return ScalarNode(value, node.value, loc, quoted)
