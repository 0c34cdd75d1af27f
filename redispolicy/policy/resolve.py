"""From files to an effective policy: load, schema-check, follow extends, merge, interpolate.

``PolicySet`` owns one policy directory. Each file is loaded and schema-checked once;
``resolve(env)`` follows ``extends`` (refusing cycles and paths that leave the
directory), merges bases first, interpolates ``${VAR}`` in the target and config,
and returns a Policy together with every diagnostic met on the way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from redispolicy.catalog.params import catalog
from redispolicy.catalog.units import parse_duration, parse_size
from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.errors import PolicyError
from redispolicy.policy import schema as schema_mod
from redispolicy.policy.interpolate import InterpolationSyntaxError, interpolate
from redispolicy.policy.merge import Removal, merge
from redispolicy.policy.model import Capacity, KeyClass, Policy, Removed, Setting, Target, Value, Workload
from redispolicy.policy.nodes import MapNode, Node, ScalarNode, SeqNode, json_path, to_plain
from redispolicy.policy.yamlload import Loaded, load_file
from redispolicy.secret import Secret

POLICY_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Resolution:
    policy: Policy | None
    diagnostics: tuple[Diagnostic, ...]


def display_path(path: FsPath) -> str:
    """Paths as the user would type them: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


class PolicySet:
    def __init__(self, directory: FsPath, env: Mapping[str, str], strict_env: bool = False,
                 connecting: bool = False) -> None:
        self.directory = directory.resolve()
        self.env = env
        # validate tolerates unset variables (a note); commands that connect need them all.
        self.strict_env = strict_env or connecting
        self._loaded: dict[FsPath, tuple[Loaded, tuple[Diagnostic, ...]]] = {}
        self.linked_out: dict[FsPath, FsPath] = {}  # policy files refused as links to outside the directory

    # -- files -------------------------------------------------------------------------------
    def files(self) -> list[FsPath]:
        if not self.directory.is_dir():
            raise PolicyError(f"policy directory {display_path(self.directory)} does not exist",
                              "pass --policy-dir DIR, or run from the repository that holds policies/")
        return sorted(p for p in self.directory.iterdir()
                      if p.suffix in POLICY_SUFFIXES and p.is_file() and not p.name.startswith("."))

    def load(self, path: FsPath) -> tuple[Loaded, tuple[Diagnostic, ...]]:
        """The file's located tree and its own diagnostics (YAML + schema).

        Every policy file is read through here, so this is where a file that is a symbolic
        link to somewhere outside the policy directory is refused, unread: it would put text
        that is not in the reviewed directory into the effective policy, just as an
        ``extends`` outside it would (and it is reported under the same rule).
        """
        real = path.resolve()
        if not real.is_relative_to(self.directory):
            return self._linked_out(path, real)
        if real not in self._loaded:
            loaded = load_file(real, display_path(real))
            diags = list(loaded.diagnostics)
            if loaded.root is not None:
                diags += schema_mod.validate(loaded.root)
                diags += _duplicate_classes(loaded.root)
            self._loaded[real] = (loaded, tuple(diags))
        return self._loaded[real]

    def _linked_out(self, path: FsPath, real: FsPath) -> tuple[Loaded, tuple[Diagnostic, ...]]:
        name = display_path(path)
        if path != real:  # a resolved path (validate follows extends with them) is reported where it is named
            self.linked_out[path] = real
        diag = Diagnostic("extends-outside-dir", Severity.ERROR,
                          f"{name} is a symbolic link to {display_path(real)}, outside the policy directory "
                          f"{display_path(self.directory)}; policy files are only read from inside it",
                          Location(name), hint="copy the file into the policy directory (or point the link at a "
                                               "file inside it)")
        return Loaded(name, None, (diag,)), (diag,)

    def environments(self) -> dict[str, FsPath]:
        envs: dict[str, FsPath] = {}
        for path in self.files():
            loaded, _ = self.load(path)
            name = _scalar_str(loaded.root.get("environment")) if loaded.root else None
            if name and name not in envs:
                envs[name] = path
        return envs

    def env_file(self, env: str) -> FsPath:
        envs = self.environments()
        if env in envs:
            return envs[env]
        for suffix in POLICY_SUFFIXES:
            candidate = self.directory / f"{env}{suffix}"
            if candidate.is_file():
                return candidate
        known = ", ".join(sorted(envs)) or "none"
        unread = "".join(f"; {display_path(p)} was not read: it is a symbolic link to outside the policy directory"
                         for p in self.linked_out)
        raise PolicyError(f"no policy for environment '{env}' in {display_path(self.directory)}{unread}",
                          f"environments found: {known}; pass one with -e"
                          + ("; copy linked files into the policy directory" if unread else ""))

    # -- resolution --------------------------------------------------------------------------
    def resolve(self, path: FsPath) -> Resolution:
        if not path.resolve().is_relative_to(self.directory):  # the file itself links outside: refused unread
            return Resolution(None, self.load(path)[1])
        diags: list[Diagnostic] = []
        chain = self._chain(path.resolve(), (), diags, None)
        files = list(dict.fromkeys(chain))
        trees: list[MapNode] = []
        for f in files:
            loaded, file_diags = self.load(f)
            diags.extend(file_diags)
            if loaded.root is not None:
                trees.append(loaded.root)
        if any(d.severity == Severity.ERROR for d in diags) or not trees:
            return Resolution(None, _dedupe(diags))
        removals: list[Removal] = []
        merged: Node = trees[0]
        for tree in trees[1:]:
            # A base's own 'environment' and 'extends' do not leak into what builds on it.
            result = merge(merged, tree, (), removals)
            assert result is not None
            merged = result
        assert isinstance(merged, MapNode)
        root = self.load(path)[0].root
        assert root is not None
        merged = _own_keys(merged, root, ("environment", "extends"))
        policy = _build(merged, files, self, diags, removals)
        return Resolution(policy, _dedupe(diags))

    def _chain(self, path: FsPath, stack: tuple[FsPath, ...], diags: list[Diagnostic],
               at: Location | None) -> list[FsPath]:
        """Files in merge order (bases first) for ``path``; diagnostics for bad extends."""
        if path in stack:
            cycle = " -> ".join(display_path(p) for p in (*stack[stack.index(path):], path))
            diags.append(Diagnostic("extends-cycle", Severity.ERROR, f"extends cycle: {cycle}",
                                    at or Location(display_path(path)),
                                    hint="remove one of the extends entries in the cycle"))
            return []
        loaded, _ = self.load(path)
        if loaded.root is None:
            return [path]
        out: list[FsPath] = []
        ext = loaded.root.get("extends")
        entries = [ext] if isinstance(ext, ScalarNode) else list(ext.items) if isinstance(ext, SeqNode) else []
        for entry in entries:
            if not isinstance(entry, ScalarNode) or not isinstance(entry.value, str):
                continue  # the schema reports it
            try:
                target = (path.parent / entry.value).resolve()
                target.is_file()  # raises for a NUL byte or an over-long name
            except (OSError, ValueError):
                diags.append(Diagnostic("extends-not-found", Severity.ERROR,
                                        f"extends {entry.value!r}: not a usable file name", entry.loc,
                                        hint="check the file name; paths are relative to this file"))
                continue
            if not target.is_relative_to(self.directory):
                # Written inside but resolving outside: a symbolic link (of the file or a directory on the way).
                linked = FsPath(os.path.normpath(path.parent / entry.value)).is_relative_to(self.directory)
                how = f"is a symbolic link to {display_path(target)}, outside" if linked else "leaves"
                diags.append(Diagnostic(
                    "extends-outside-dir", Severity.ERROR,
                    f"extends '{entry.value}' {how} the policy directory {display_path(self.directory)}",
                    entry.loc, hint="keep shared policy files inside the policy directory (copies, not links "
                                    "to files outside it)"))
                continue
            if not target.is_file():
                diags.append(Diagnostic("extends-not-found", Severity.ERROR,
                                        f"extends '{entry.value}': no such file", entry.loc,
                                        hint="check the file name; paths are relative to this file"))
                continue
            out += self._chain(target, (*stack, path), diags, entry.loc)
        return [*out, path]

    # -- interpolation -----------------------------------------------------------------------
    def value(self, node: ScalarNode, path: tuple[str | int, ...], sensitive: bool,
              diags: list[Diagnostic]) -> Value:
        raw = node.text
        overrode = tuple((n.text if isinstance(n, ScalarNode) else "(...)", n.loc)
                         for n in node.overrode)
        if "${" not in raw:
            return Value(Secret(raw) if sensitive else raw, raw, node.loc, overrode)
        try:
            result = interpolate(raw, self.env)
        except InterpolationSyntaxError as exc:
            diags.append(Diagnostic("env-syntax", Severity.ERROR, str(exc), node.loc, json_path(path),
                                    hint="fix the reference"))
            return Value(None, raw, node.loc, overrode)
        for miss in result.missing:
            if miss.required or self.strict_env:
                diags.append(Diagnostic(
                    "env-required", Severity.ERROR, f"${{{miss.var}}} is not set: {miss.message}",
                    node.loc, json_path(path), hint=f"export {miss.var}=... before running this command"))
            else:
                diags.append(Diagnostic(
                    "env-unresolved", Severity.NOTE,
                    f"${{{miss.var}}} is not set here; its value is checked when a command connects",
                    node.loc, json_path(path), hint="nothing to do for validate; use --strict-env to require it"))
        text = result.text
        value: str | Secret | None = None if text is None else (Secret(text) if sensitive else text)
        return Value(value, raw, node.loc, overrode, result.variables)


def _dedupe(diags: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    seen: dict[tuple[str, str, int, int, str], Diagnostic] = {}
    for d in diags:
        seen.setdefault((d.rule, d.location.file, d.location.line, d.location.col, d.message), d)
    return tuple(seen.values())


def _own_keys(merged: MapNode, root: MapNode, keys: tuple[str, ...]) -> MapNode:
    entries = dict(merged.entries)
    key_locs = dict(merged.key_locs)
    for key in keys:
        if key in root.entries:
            entries[key] = root.entries[key]
            key_locs[key] = root.key_locs[key]
        else:
            entries.pop(key, None)
            key_locs.pop(key, None)
    return MapNode(entries, key_locs, merged.loc, merged.overrode)


def _scalar_str(node: Node | None) -> str | None:
    return node.value if isinstance(node, ScalarNode) and isinstance(node.value, str) else None


def _duplicate_classes(root: MapNode) -> list[Diagnostic]:
    keys = root.get("keys")
    if not isinstance(keys, SeqNode):
        return []
    first: dict[str, Location] = {}
    out = []
    for i, item in enumerate(keys.items):
        name = _scalar_str(item.get("name")) if isinstance(item, MapNode) else None
        if name is None:
            continue
        loc = item.entries["name"].loc if isinstance(item, MapNode) else item.loc
        if name in first:
            out.append(Diagnostic(
                "keys-duplicate-class", Severity.ERROR,
                f"key class '{name}' is defined twice (first at line {first[name].line})", loc,
                json_path(("keys", i, "name")), hint="rename one, or merge the two definitions",
                related=(first[name],)))
        else:
            first[name] = loc
    return out


# -- building the model -----------------------------------------------------------------------
def _build(tree: MapNode, files: list[FsPath], pset: PolicySet, diags: list[Diagnostic],
           removals: list[Removal]) -> Policy:
    cat = catalog()
    config: list[Setting] = []
    cfg = tree.get("config")
    if isinstance(cfg, MapNode):
        for name, node in cfg.entries.items():
            if not isinstance(node, ScalarNode) or node.value is None:
                continue  # null: not managed (a base's value was already removed by the merge)
            look = cat.lookup(name)
            sensitive = bool(look and look.param.sensitive)
            config.append(Setting(name, look.canonical if look else None,
                                  pset.value(node, ("config", name), sensitive, diags)))
    removed = []
    for r in removals:
        if len(r.path) == 2 and r.path[0] == "config" and isinstance(r.was, ScalarNode):
            removed.append(Removed(str(r.path[1]), r.at, pset.value(r.was, r.path, False, [])))
    return Policy(
        environment=_scalar_str(tree.get("environment")),
        file=display_path(files[-1]),
        files=tuple(display_path(f) for f in files),
        config=tuple(config),
        removed=tuple(removed),
        keys=tuple(_key_class(n, diags) for n in _items(tree.get("keys")) if isinstance(n, MapNode)),
        tree=tree,
        target=_target(tree.get("target"), pset, diags, ("target",)),
        targets=tuple(t for i, n in enumerate(_items(tree.get("targets")))
                      if (t := _target(n, pset, diags, ("targets", i))) is not None),
        persist=bool(_plain(tree.get("persist"), False)),
        unclassified=str(_plain(tree.get("unclassified"), "warn")),
        sampling=_mapping(tree.get("sampling")),
        capacity=_capacity(tree.get("capacity"), diags),
        health=_mapping(tree.get("health")),
        ignore=tuple(_mapping(n) for n in _items(tree.get("ignore"))),
        audit=_mapping(tree.get("audit")),
        allow_dangerous=tuple(str(n.value).lower() for n in _items(tree.get("allow_dangerous"))
                              if isinstance(n, ScalarNode) and n.value is not None),
    )


def _items(node: Node | None) -> tuple[Node, ...]:
    return node.items if isinstance(node, SeqNode) else ()


def _plain(node: Node | None, default: object) -> object:
    return default if node is None else to_plain(node)


def _mapping(node: Node | None) -> dict[str, Any]:
    plain = to_plain(node) if isinstance(node, MapNode) else {}
    return plain if isinstance(plain, dict) else {}


def _target(node: Node | None, pset: PolicySet, diags: list[Diagnostic],
            path: tuple[str | int, ...]) -> Target | None:
    if not isinstance(node, MapNode) or not isinstance(node.get("url"), ScalarNode):
        return None
    url = node.entries["url"]
    assert isinstance(url, ScalarNode)

    def opt(key: str, sensitive: bool) -> Value | None:
        n = node.get(key)
        return pset.value(n, (*path, key), sensitive, diags) if isinstance(n, ScalarNode) else None

    def seconds(key: str) -> int | None:
        text = _scalar_str(node.get(key))
        return parse_duration(text) if text else None

    tls = node.get("tls")
    return Target(
        url=pset.value(url, (*path, "url"), True, diags),  # URLs may carry credentials
        name=_scalar_str(node.get("name")) or "",
        topology=_scalar_str(node.get("topology")),
        username=opt("username", False),
        password=opt("password", True),
        connect_timeout=seconds("connect_timeout"),
        read_timeout=seconds("read_timeout"),
        tls={k: v.value for k, v in tls.entries.items() if isinstance(v, ScalarNode)}
        if isinstance(tls, MapNode) else {},
        config=_scalar_str(node.get("config")) or "available",
    )


def _key_class(node: MapNode, diags: list[Diagnostic]) -> KeyClass:
    ttl = node.get("ttl")
    ttl_max = persistent = None
    if isinstance(ttl, ScalarNode):
        persistent = ttl.value == "persistent"
    elif isinstance(ttl, MapNode):
        ttl_max = parse_duration(str(_scalar_str(ttl.get("max"))))
    cleanup = node.get("cleanup")
    idle = _scalar_str(cleanup.get("idle_over")) if isinstance(cleanup, MapNode) else None
    size = node.get("max_size")
    return KeyClass(
        name=str(_scalar_str(node.get("name"))),
        pattern=_scalar_str(node.get("pattern")) or "",
        location=node.loc,
        ttl_max=ttl_max,
        persistent=bool(persistent),
        remediate=bool(_plain(node.get("remediate"), False)),
        cleanup_idle_over=parse_duration(idle) if idle else None,
        cleanup_always=isinstance(cleanup, MapNode) and _plain(cleanup.get("always"), False) is True,
        type=_scalar_str(node.get("type")),
        max_size=_bytes(size, diags),
    )


def _bytes(node: Node | None, diags: list[Diagnostic]) -> int | None:
    """A size the schema's pattern let through can still exceed what Redis can store."""
    if not isinstance(node, ScalarNode):
        return None
    try:
        return parse_size(node.value)
    except ValueError as exc:
        diags.append(Diagnostic("size-invalid", Severity.ERROR, f"{node.text!r}: {exc}", node.loc,
                                hint="write a size below 2^64 bytes, e.g. 10mb"))
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
        workloads.append(Workload(
            key_class=str(_scalar_str(w.get("class"))),
            item_size=_bytes(size, diags) or 0,
            location=w.loc,
            items=items.value if isinstance(items, ScalarNode) else None,
            arrivals_per_day=arrivals.value if isinstance(arrivals, ScalarNode) else None,
            item_size_text=size.text if isinstance(size, ScalarNode) else "",
        ))
    limit = node.get("utilization_limit_percent")
    return Capacity(float(limit.value) if isinstance(limit, ScalarNode) else 100.0,
                    tuple(workloads), node.loc)
