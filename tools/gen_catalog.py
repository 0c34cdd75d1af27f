"""Generate redispolicy/catalog/params.json from the research parameter table.

The research table (../shared/research/redis-config-params.yaml) is derived from
src/config.c of every Redis/Valkey line; we keep only what the tool needs, as JSON,
because json.load is ~20x faster than a YAML parse and validate must start fast.

    python tools/gen_catalog.py ../shared/research/redis-config-params.yaml
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent.parent / "redispolicy" / "catalog" / "params.json"


def _lines(present: dict[str, list[str]] | None) -> dict[str, list[str]]:
    return {prod: [str(v) for v in vers] for prod, vers in (present or {}).items()}


def convert(doc: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, p in sorted(doc["params"].items()):
        entry: dict[str, Any] = {
            "kind": p["value_kind"],
            "mutable": bool(p["mutable"]),
            "sensitive": bool(p["sensitive"]),
            "protected": bool(p["protected"]),
            "deny_loading": bool(p["deny_loading"]),
            "multi_arg": bool(p["multi_arg"]),
            "aliases": list(p.get("aliases") or []),
            "present_in": _lines(p.get("present_in")),
        }
        for field in ("enum", "min", "max", "default"):
            if field in p:
                entry[field] = p[field]
        if p.get("enum_synonyms"):
            entry["synonyms"] = {
                inp: canon
                for canon, syn in p["enum_synonyms"].items()
                for inp in syn["accepted_inputs"]
            }
        params[name] = entry
    for name, p in sorted(doc.get("post_snapshot_additions", {}).items()):
        # Later additions known only from release notes: keep those whose type is
        # known, so validate recognises them; present only from their release on.
        if name in params or "type" not in p:
            continue
        kind = p.get("value_kind") or {"bool": "bool"}.get(p["type"], "integer")
        entry = {
            "kind": kind,
            "mutable": True,
            "sensitive": False,
            "protected": False,
            "deny_loading": False,
            "multi_arg": False,
            "aliases": [],
            "present_in": {p["product"]: [str(p["since"]).split()[0]]},
            "since_only": True,
        }
        for field in ("min", "max", "default"):
            if field in p:
                entry[field] = p[field]
        params[name] = entry
    aliases = {
        alias: {"primary": a["primary"], "where": _lines(a.get("where"))}
        for alias, a in sorted(doc["alias_index"].items())
    }
    return {
        "generated_from": "shared/research/redis-config-params.yaml "
        + str(doc["meta"].get("generated", "")),
        "params": params,
        "aliases": aliases,
        "config_file_only": list(doc["config_file_only_directives"]["names"]),
    }


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else Path("../shared/research/redis-config-params.yaml")
    doc = yaml.safe_load(src.read_text())
    OUT.write_text(json.dumps(convert(doc), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({len(doc['params'])} parameters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
