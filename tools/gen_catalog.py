"""Generate redispolicy/catalog/params.json from the vendored parameter table.

The source table (tools/catalog-source/redis-config-params.yaml, see its ORIGIN.md) is
derived from src/config.c of every Redis/Valkey line; tools/catalog-overrides.yaml adds the
lines we run but the table does not cover (Redis 6.0, Redis 8.0 GA, Valkey 8.1 GA), measured
on real servers. We keep only what the tool needs, as JSON, because json.load is ~20x faster
than a YAML parse and validate must start fast.

    python tools/gen_catalog.py [SOURCE_YAML] [--overrides FILE] [--check]

``--check`` writes nothing and exits 1 when params.json is not what the inputs generate.

For every name (parameter or alias) the JSON says in which versions it exists, as ranges
per product over (major, minor): ``"versions": {"redis": [["6.0", null]]}`` = from 6.0 on,
still present; ``[["6.2", "8.0"]]`` = 6.2 up to, not including, 8.0. ``hidden_versions``
gives the ranges in which CONFIG GET * leaves the name out (HIDDEN: exact name only), and
``build`` the ranges in which the name exists only in servers built with a feature
(``tls``: Redis < 7.0 built with BUILD_TLS=yes; ``log-req-res``: test builds only).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "redispolicy" / "catalog" / "params.json"
OVERRIDES = Path(__file__).resolve().parent / "catalog-overrides.yaml"
# The research table, vendored so a plain clone regenerates params.json byte for byte.
RESEARCH = Path(__file__).resolve().parent / "catalog-source" / "redis-config-params.yaml"

# research build_condition -> feature name used in params.json
BUILD_FEATURES = {"#ifdef LOG_REQ_RES": "log-req-res"}

ATTR_DEFAULTS: dict[str, Any] = {
    "mutable": True,
    "sensitive": False,
    "protected": False,
    "deny_loading": False,
    "multi_arg": False,
    "hidden": False,
}
KINDS = {"bool", "integer", "memory", "memory_or_percent", "octal", "enum", "enum_flags", "string", "special"}


class OverrideError(ValueError):
    pass


# -- one version line: name -> state ----------------------------------------------------

State = dict[str, Any]  # {"alias_of": str | None, "hidden": bool, "build": str | None}


def _vkey(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", version)
    if not m:
        raise OverrideError(f"not a major.minor version: {version!r}")
    return int(m.group(1)), int(m.group(2))


def _differs_at(p: dict[str, Any], product: str, line: str) -> list[dict[str, Any]]:
    """differs_in entries for exactly this line ("redis 6.2"; not patch-level "redis 6.2 (6.2.0)")."""
    return [d for d in p.get("differs_in") or [] if d.get("where") == f"{product} {line}"]


def _hidden_at(p: dict[str, Any], product: str, line: str) -> bool:
    hidden = bool(p.get("hidden"))
    for d in _differs_at(p, product, line):
        if "flags" in d:
            hidden = "HIDDEN" in d["flags"]
    return hidden


def research_line(doc: dict[str, Any], product: str, line: str) -> dict[str, State]:
    if line not in doc["meta"]["version_lines"].get(product, []):
        raise OverrideError(f"{product}: the research table has no line {line!r}")
    names: dict[str, State] = {}
    for name, p in doc["params"].items():
        if line in (p.get("present_in") or {}).get(product, []):
            names[name] = {
                "alias_of": None,
                "hidden": _hidden_at(p, product, line),
                "build": BUILD_FEATURES.get(p.get("build_condition", "")),
            }
    for alias, a in doc["alias_index"].items():
        if line in (a.get("where") or {}).get(product, []):
            primary = names.get(a["primary"])
            if primary is None or primary["alias_of"] is not None:
                raise OverrideError(
                    f"research {product} {line}: alias {alias} of a missing primary {a['primary']}"
                )
            if alias in names:
                raise OverrideError(f"research {product} {line}: {alias} is both a parameter and an alias")
            names[alias] = {"alias_of": a["primary"], "hidden": primary["hidden"], "build": primary["build"]}
    return names


def _need(names: dict[str, State], name: str, where: str, what: str) -> State:
    if name not in names:
        raise OverrideError(f"{where}: {what} {name!r}, but the base line has no such name")
    return names[name]


def apply_entry(base: dict[str, State], entry: dict[str, Any], where: str) -> dict[str, State]:
    names = {n: dict(s) for n, s in base.items()}
    for name in entry.get("removed") or []:
        _need(names, name, where, "removed")
        del names[name]
    for name, spec in (entry.get("added") or {}).items():
        if name in names:
            raise OverrideError(f"{where}: added {name!r}, but the base line already has it")
        spec = spec or {}
        if "alias_of" in spec:
            primary = _need(names, spec["alias_of"], where, f"alias {name} of")
            names[name] = {
                "alias_of": spec["alias_of"],
                "hidden": primary["hidden"],
                "build": primary["build"],
            }
        else:
            names[name] = {"alias_of": None, "hidden": bool(spec.get("hidden", False)), "build": None}
    for name in entry.get("listed") or []:
        state = _need(names, name, where, "listed")
        if not state["hidden"]:
            raise OverrideError(f"{where}: listed {name!r}, but the base line lists it already")
        state["hidden"] = False
    for name in entry.get("unlisted") or []:
        state = _need(names, name, where, "unlisted")
        if state["hidden"]:
            raise OverrideError(f"{where}: unlisted {name!r}, but the base line hides it already")
        state["hidden"] = True
    for feature, members in (entry.get("build") or {}).items():
        for name in members:
            _need(names, name, where, f"build {feature}")["build"] = feature
    # an alias is listed and compiled exactly when its primary is, unless said otherwise
    return names


def _resolve(
    doc: dict[str, Any],
    product: str,
    version: str,
    by_version: dict[str, Any],
    done: dict[str, dict[str, State]],
    chain: tuple[str, ...] = (),
) -> dict[str, State]:
    if version in done:
        return done[version]
    if version in chain:
        raise OverrideError(f"{product}: base cycle {' -> '.join((*chain, version))}")
    entry = by_version.get(version)
    if entry is None:
        raise OverrideError(f"{product}: base {version!r} is not a listed version")
    if ("research" in entry) == ("base" in entry):
        raise OverrideError(f"{product} {version}: give exactly one of research: / base:")
    if "research" in entry:
        base = research_line(doc, product, str(entry["research"]))
    else:
        base = _resolve(doc, product, str(entry["base"]), by_version, done, (*chain, version))
    done[version] = apply_entry(base, entry, f"{product} {version}")
    return done[version]


def version_lines(
    doc: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, list[tuple[str, dict[str, State]]]]:
    """product -> [(version, names)], oldest first."""
    out: dict[str, list[tuple[str, dict[str, State]]]] = {}
    for product, entries in overrides["versions"].items():
        by_version = {str(e["version"]): e for e in entries}
        if len(by_version) != len(entries):
            raise OverrideError(f"{product}: a version is listed twice")
        order = [str(e["version"]) for e in entries]
        if [_vkey(v) for v in order] != sorted(_vkey(v) for v in order):
            raise OverrideError(f"{product}: versions must be listed oldest first")
        done: dict[str, dict[str, State]] = {}
        out[product] = [(v, _resolve(doc, product, v, by_version, done)) for v in order]
    return out


# -- ranges -----------------------------------------------------------------------------

Ranges = list[list[str | None]]


def to_ranges(versions: list[str], flags: list[bool]) -> Ranges:
    """[6.0, 6.2, 7.0], [F, T, T] -> [["6.2", None]]; an end is the first version without it."""
    ranges: Ranges = []
    start: str | None = None
    for version, flag in zip(versions, flags, strict=True):
        if flag and start is None:
            start = version
        elif not flag and start is not None:
            ranges.append([start, version])
            start = None
    if start is not None:
        ranges.append([start, None])
    return ranges


# -- parameters ---------------------------------------------------------------------------


def _research_param(p: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": p["value_kind"],
        "mutable": bool(p["mutable"]),
        "sensitive": bool(p["sensitive"]),
        "protected": bool(p["protected"]),
        "deny_loading": bool(p["deny_loading"]),
        "multi_arg": bool(p["multi_arg"]),
        "aliases": list(p.get("aliases") or []),
    }
    for field in ("enum", "min", "max", "default"):
        if field in p:
            entry[field] = p[field]
    if p.get("enum_synonyms"):
        entry["synonyms"] = {
            inp: canon for canon, syn in p["enum_synonyms"].items() for inp in syn["accepted_inputs"]
        }
    return entry


def _override_param(name: str, spec: dict[str, Any], where: str) -> dict[str, Any]:
    if spec.get("kind") not in KINDS:
        raise OverrideError(f"{where}: added parameter {name!r} needs a kind, one of {sorted(KINDS)}")
    entry = {**ATTR_DEFAULTS, "aliases": []}
    for key, value in spec.items():
        entry[key] = [str(v) for v in value] if key == "enum" else value
    return entry


def _post_snapshot_param(p: dict[str, Any]) -> dict[str, Any] | None:
    """A later addition known from release notes: only when its type is known."""
    if "type" not in p:
        return None
    entry = {
        **ATTR_DEFAULTS,
        "kind": p.get("value_kind") or {"bool": "bool"}.get(p["type"], "integer"),
        "hidden": "HIDDEN" in (p.get("flags") or []),
        "aliases": [],
        "since_only": True,
    }
    for field in ("min", "max", "default"):
        if field in p:
            entry[field] = p[field]
    return entry


def convert(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    lines = version_lines(doc, overrides)
    known = {product: [v for v, _ in vl] for product, vl in lines.items()}

    # attributes: research table, then parameters the overrides add
    attrs: dict[str, dict[str, Any]] = {name: _research_param(p) for name, p in doc["params"].items()}
    for product, entries in overrides["versions"].items():
        for e in entries:
            for name, spec in (e.get("added") or {}).items():
                if spec and "alias_of" not in spec and name not in attrs:
                    attrs[name] = _override_param(name, spec, f"{product} {e['version']}")

    every = sorted({name for vl in lines.values() for _, names in vl for name in names})
    params: dict[str, Any] = {}
    aliases: dict[str, Any] = {}
    for name in every:
        # the same name can be a parameter in some versions and an alias in others
        # (hash-max-ziplist-entries: primary in 6.x, alias from 7.0; masterauth on Valkey 8)
        roles: dict[bool, dict[str, dict[str, Ranges]]] = {
            is_alias: {"versions": {}, "hidden_versions": {}} for is_alias in (False, True)
        }
        build: dict[str, dict[str, Ranges]] = {}
        present_in: dict[str, list[str]] = {}
        primary_of: set[str] = set()
        for product, vl in lines.items():
            versions = [v for v, _ in vl]
            states = [names.get(name) for _, names in vl]
            for is_alias, role in roles.items():
                mine = [s is not None and (s["alias_of"] is not None) == is_alias for s in states]
                if any(mine):
                    role["versions"][product] = to_ranges(versions, mine)
                    hidden = [m and bool(s and s["hidden"]) for m, s in zip(mine, states, strict=True)]
                    if any(hidden):
                        role["hidden_versions"][product] = to_ranges(versions, hidden)
            features = {s["build"] for s in states if s is not None and s["build"]}
            for feature in features:
                build.setdefault(feature, {})[product] = to_ranges(
                    versions, [s is not None and s["build"] == feature for s in states]
                )
            primary_of |= {s["alias_of"] for s in states if s is not None and s["alias_of"]}
            found = [
                v for v, s in zip(versions, states, strict=True) if s is not None and s["alias_of"] is None
            ]
            if found:
                present_in[product] = found
        if len(build) > 1:
            raise OverrideError(f"{name}: depends on more than one build feature {sorted(build)}")
        if len(primary_of) > 1:
            raise OverrideError(f"{name}: an alias of more than one parameter {sorted(primary_of)}")
        extra: dict[str, Any] = {}
        if build:
            feature, branges = next(iter(build.items()))
            extra["build"] = {"feature": feature, "versions": branges}
        as_param, as_alias = roles[False], roles[True]
        if as_param["versions"]:
            if name not in attrs:
                raise OverrideError(f"{name}: no attributes (neither in the research table nor added)")
            entry = dict(attrs[name])
            entry["versions"] = as_param["versions"]
            if as_param["hidden_versions"]:
                entry["hidden_versions"] = as_param["hidden_versions"]
            entry["present_in"] = present_in
            # hidden: CONFIG GET * leaves it out in the newest version of some product
            entry["hidden"] = any(r[-1][1] is None for r in as_param["hidden_versions"].values())
            params[name] = {**entry, **extra}
        if as_alias["versions"]:
            a: dict[str, Any] = {
                "primary": primary_of.pop(),
                "where": doc["alias_index"].get(name, {}).get("where", {}),
                "versions": as_alias["versions"],
            }
            if as_alias["hidden_versions"]:
                a["hidden_versions"] = as_alias["hidden_versions"]
            aliases[name] = {**a, **extra}

    # aliases named by their primary, in every version
    for alias, a in aliases.items():
        primary = params[a["primary"]]
        if alias not in primary["aliases"]:
            primary["aliases"] = [*primary["aliases"], alias]

    # later releases, known only from release notes
    skipped: list[str] = []
    for name, p in sorted(doc.get("post_snapshot_additions", {}).items()):
        m = re.match(r"(\d+\.\d+)", str(p.get("since", "")))
        product = p.get("product")
        if not m or product not in known:
            skipped.append(name)
            continue
        since = m.group(1)
        if _vkey(since) <= _vkey(known[product][-1]):
            continue  # covered by a measured line (and its overrides)
        if name in params:
            ranges = params[name]["versions"].setdefault(product, [])
            if not ranges or ranges[-1][1] is not None:
                ranges.append([since, None])
            continue
        later = _post_snapshot_param(p)
        if later is None:
            skipped.append(name)
            continue
        later["versions"] = {product: [[since, None]]}
        if later["hidden"]:
            later["hidden_versions"] = {product: [[since, None]]}
        later["present_in"] = {product: [since]}
        params[name] = later
    for name in attrs:
        if name not in params and name not in aliases:
            print(f"note: {name} exists only in development lines; left out", file=sys.stderr)
    if skipped:
        print(
            f"note: {len(skipped)} later additions without a known type left out: {', '.join(skipped)}",
            file=sys.stderr,
        )

    return {
        "generated_from": "tools/catalog-source/redis-config-params.yaml "
        + str(doc["meta"].get("generated", ""))
        + " + tools/catalog-overrides.yaml",
        "versions_known": known,
        "params": params,
        "aliases": aliases,
        "config_file_only": list(doc["config_file_only_directives"]["names"]),
    }


def render(research: Path, overrides: Path) -> str:
    doc = yaml.safe_load(research.read_text())
    over = yaml.safe_load(overrides.read_text())
    return json.dumps(convert(doc, over), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    args = argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    overrides = OVERRIDES
    if "--overrides" in args:
        i = args.index("--overrides")
        overrides = Path(args[i + 1])
        del args[i : i + 2]
    research = Path(args[0]) if args else RESEARCH
    try:
        text = render(research, overrides)
    except OverrideError as exc:
        print(f"gen_catalog: {exc}", file=sys.stderr)
        return 1
    if check:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run python tools/gen_catalog.py", file=sys.stderr)
            return 1
        print(f"{OUT} is up to date")
        return 0
    OUT.write_text(text)
    data = json.loads(text)
    print(f"wrote {OUT} ({len(data['params'])} parameters, {len(data['aliases'])} aliases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
