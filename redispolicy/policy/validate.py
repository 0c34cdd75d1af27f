"""The validate stage: paths in, a ValidationReport out. No server, no secrets needed."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path as FsPath

from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.errors import UsageError
from redispolicy.policy.checks import check
from redispolicy.policy.resolve import POLICY_SUFFIXES, PolicySet, display_path
from redispolicy.report import ValidationReport


def validate_paths(
    paths: Sequence[FsPath],
    policy_dir: FsPath,
    env: Mapping[str, str],
    strict_env: bool = False,
    today: datetime.date | None = None,
) -> ValidationReport:
    today = today or datetime.date.today()
    groups = _group(paths or [policy_dir], policy_dir)
    diags: list[Diagnostic] = []
    files: list[str] = []
    envs: list[str] = []
    for directory, chosen in groups.items():
        pset = PolicySet(directory, env, strict_env=strict_env)
        candidates = chosen if chosen is not None else pset.files()
        extended: set[FsPath] = set()
        roots: list[FsPath] = []
        env_files: dict[str, FsPath] = {}
        for path in candidates:
            loaded, _ = pset.load(path)
            files.append(display_path(path))
            name = loaded.root.get("environment") if loaded.root else None
            env_name = getattr(name, "value", None)
            if isinstance(env_name, str):
                if env_name in env_files:
                    first = display_path(env_files[env_name])
                    diags.append(
                        Diagnostic(
                            "environment-duplicate",
                            Severity.ERROR,
                            f"environment '{env_name}' is also defined in {first}",
                            name.loc if name else Location(display_path(path)),
                            hint="give each environment exactly one file",
                        )
                    )
                env_files[env_name] = path
                envs.append(env_name)
            roots.append(path)
            extended |= set(pset._chain(path.resolve(), (), [], None)[:-1])
        for path in roots:
            # Bases are checked through the environments that extend them (locations point
            # into the base); a file nobody extends is checked on its own.
            if path.resolve() in extended and path not in env_files.values():
                continue
            resolution = pset.resolve(path)
            diags.extend(resolution.diagnostics)
            if resolution.policy is not None:
                diags.extend(check(resolution.policy, today))
        for path in candidates:
            diags.extend(pset.load(path)[1])
    return ValidationReport(tuple(dict.fromkeys(files)), tuple(envs), _dedupe(diags))


def _group(paths: Sequence[FsPath], policy_dir: FsPath) -> dict[FsPath, list[FsPath] | None]:
    """Directory -> the files to check there (None: every policy file in it)."""
    groups: dict[FsPath, list[FsPath] | None] = {}
    root = policy_dir.resolve()
    for p in paths:
        if p.is_dir():
            groups[p.resolve()] = None
        elif p.is_file() or p.suffix in POLICY_SUFFIXES:
            if not p.exists():
                raise UsageError(f"{p}: no such file", "check the path")
            rp = p.resolve()
            directory = root if rp.is_relative_to(root) else rp.parent
            chosen = groups.setdefault(directory, [])
            if chosen is not None:
                chosen.append(rp)
        else:
            raise UsageError(f"{p}: no such file or directory", "pass policy files or a directory")
    return groups


def _dedupe(diags: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    seen: dict[tuple[str, str, int, int, str], Diagnostic] = {}
    for d in diags:
        seen.setdefault((d.rule, d.location.file, d.location.line, d.location.col, d.message), d)
    return tuple(sorted(seen.values(), key=lambda d: d.sort_key))
