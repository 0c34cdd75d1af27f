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

from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.errors import PolicyError
from redispolicy.policy import schema as schema_mod
from redispolicy.policy.build import build, scalar_str
from redispolicy.policy.build import display_path as display_path  # re-exported: commands import it here
from redispolicy.policy.interpolate import InterpolationSyntaxError, interpolate
from redispolicy.policy.merge import Removal, merge
from redispolicy.policy.model import Policy, Value
from redispolicy.policy.nodes import MapNode, Node, ScalarNode, SeqNode, json_path
from redispolicy.policy.yamlload import Loaded, load_file
from redispolicy.secret import Secret

POLICY_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Resolution:
    policy: Policy | None
    diagnostics: tuple[Diagnostic, ...]


class PolicySet:
    def __init__(
        self, directory: FsPath, env: Mapping[str, str], strict_env: bool = False, connecting: bool = False
    ) -> None:
        self.directory = directory.resolve()
        self.env = env
        # validate tolerates unset variables (a note); commands that connect need them all.
        self.strict_env = strict_env or connecting
        self._loaded: dict[FsPath, tuple[Loaded, tuple[Diagnostic, ...]]] = {}
        self.linked_out: dict[FsPath, FsPath] = {}  # policy files refused as links to outside the directory

    # -- files -------------------------------------------------------------------------------
    def files(self) -> list[FsPath]:
        if not self.directory.is_dir():
            raise PolicyError(
                f"policy directory {display_path(self.directory)} does not exist",
                "pass --policy-dir DIR, or run from the repository that holds policies/",
            )
        return sorted(
            p
            for p in self.directory.iterdir()
            if p.suffix in POLICY_SUFFIXES and p.is_file() and not p.name.startswith(".")
        )

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
        diag = Diagnostic(
            "extends-outside-dir",
            Severity.ERROR,
            f"{name} is a symbolic link to {display_path(real)}, outside the policy directory "
            f"{display_path(self.directory)}; policy files are only read from inside it",
            Location(name),
            hint="copy the file into the policy directory (or point the link at a file inside it)",
        )
        return Loaded(name, None, (diag,)), (diag,)

    def environments(self) -> dict[str, FsPath]:
        envs: dict[str, FsPath] = {}
        for path in self.files():
            loaded, _ = self.load(path)
            name = scalar_str(loaded.root.get("environment")) if loaded.root else None
            if name and name not in envs:
                envs[name] = path
        return envs

    def env_file(self, env: str) -> FsPath:
        envs = self.environments()
        if env in envs:
            return envs[env]
        for suffix in POLICY_SUFFIXES:
            candidate = self.directory / f"{env}{suffix}"
            # A name like "../x" must not reach a file outside the directory: the MCP server edits
            # the file this returns, and its environment name comes from a model. (Judged on the
            # name: a file inside that is a link to outside is load()'s to refuse, and say so.)
            inside = FsPath(os.path.normpath(candidate)).is_relative_to(self.directory)
            if inside and candidate.is_file():
                return candidate
        known = ", ".join(sorted(envs)) or "none"
        unread = "".join(
            f"; {display_path(p)} was not read: it is a symbolic link to outside the policy directory"
            for p in self.linked_out
        )
        raise PolicyError(
            f"no policy for environment '{env}' in {display_path(self.directory)}{unread}",
            f"environments found: {known}; pass one with -e"
            + ("; copy linked files into the policy directory" if unread else ""),
        )

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
        policy = build(merged, files, self, diags, removals)
        return Resolution(policy, _dedupe(diags))

    def _chain(
        self, path: FsPath, stack: tuple[FsPath, ...], diags: list[Diagnostic], at: Location | None
    ) -> list[FsPath]:
        """Files in merge order (bases first) for ``path``; diagnostics for bad extends."""
        if path in stack:
            cycle = " -> ".join(display_path(p) for p in (*stack[stack.index(path) :], path))
            diags.append(
                Diagnostic(
                    "extends-cycle",
                    Severity.ERROR,
                    f"extends cycle: {cycle}",
                    at or Location(display_path(path)),
                    hint="remove one of the extends entries in the cycle",
                )
            )
            return []
        loaded, _ = self.load(path)
        if loaded.root is None:
            return [path]
        out: list[FsPath] = []
        ext = loaded.root.get("extends")
        entries = (
            [ext] if isinstance(ext, ScalarNode) else list(ext.items) if isinstance(ext, SeqNode) else []
        )
        for entry in entries:
            if not isinstance(entry, ScalarNode) or not isinstance(entry.value, str):
                continue  # the schema reports it
            try:
                target = (path.parent / entry.value).resolve()
                target.is_file()  # raises for a NUL byte or an over-long name
            except (OSError, ValueError):
                diags.append(
                    Diagnostic(
                        "extends-not-found",
                        Severity.ERROR,
                        f"extends {entry.value!r}: not a usable file name",
                        entry.loc,
                        hint="check the file name; paths are relative to this file",
                    )
                )
                continue
            if not target.is_relative_to(self.directory):
                # Written inside but resolving outside: a symbolic link (of the file or a directory on the way).
                linked = FsPath(os.path.normpath(path.parent / entry.value)).is_relative_to(self.directory)
                how = f"is a symbolic link to {display_path(target)}, outside" if linked else "leaves"
                diags.append(
                    Diagnostic(
                        "extends-outside-dir",
                        Severity.ERROR,
                        f"extends '{entry.value}' {how} the policy directory {display_path(self.directory)}",
                        entry.loc,
                        hint="keep shared policy files inside the policy directory (copies, not links "
                        "to files outside it)",
                    )
                )
                continue
            if not target.is_file():
                diags.append(
                    Diagnostic(
                        "extends-not-found",
                        Severity.ERROR,
                        f"extends '{entry.value}': no such file",
                        entry.loc,
                        hint="check the file name; paths are relative to this file",
                    )
                )
                continue
            out += self._chain(target, (*stack, path), diags, entry.loc)
        return [*out, path]

    # -- interpolation -----------------------------------------------------------------------
    def value(
        self, node: ScalarNode, path: tuple[str | int, ...], sensitive: bool, diags: list[Diagnostic]
    ) -> Value:
        raw = node.text
        overrode = tuple((n.text if isinstance(n, ScalarNode) else "(...)", n.loc) for n in node.overrode)
        if "${" not in raw:
            return Value(Secret(raw) if sensitive else raw, raw, node.loc, overrode)
        try:
            result = interpolate(raw, self.env)
        except InterpolationSyntaxError as exc:
            diags.append(
                Diagnostic(
                    "env-syntax",
                    Severity.ERROR,
                    str(exc),
                    node.loc,
                    json_path(path),
                    hint="fix the reference",
                )
            )
            return Value(None, raw, node.loc, overrode)
        for miss in result.missing:
            if miss.required or self.strict_env:
                diags.append(
                    Diagnostic(
                        "env-required",
                        Severity.ERROR,
                        f"${{{miss.var}}} is not set: {miss.message}",
                        node.loc,
                        json_path(path),
                        hint=f"export {miss.var}=... before running this command",
                    )
                )
            else:
                diags.append(
                    Diagnostic(
                        "env-unresolved",
                        Severity.NOTE,
                        f"${{{miss.var}}} is not set here; its value is checked when a command connects",
                        node.loc,
                        json_path(path),
                        hint="nothing to do for validate; use --strict-env to require it",
                    )
                )
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


def _duplicate_classes(root: MapNode) -> list[Diagnostic]:
    keys = root.get("keys")
    if not isinstance(keys, SeqNode):
        return []
    first: dict[str, Location] = {}
    out = []
    for i, item in enumerate(keys.items):
        name = scalar_str(item.get("name")) if isinstance(item, MapNode) else None
        if name is None:
            continue
        loc = item.entries["name"].loc if isinstance(item, MapNode) else item.loc
        if name in first:
            out.append(
                Diagnostic(
                    "keys-duplicate-class",
                    Severity.ERROR,
                    f"key class '{name}' is defined twice (first at line {first[name].line})",
                    loc,
                    json_path(("keys", i, "name")),
                    hint="rename one, or merge the two definitions",
                    related=(first[name],),
                )
            )
        else:
            first[name] = loc
    return out


# -- building the model -----------------------------------------------------------------------
