"""The parameter table: what Redis and Valkey accept for each CONFIG parameter.

Generated (tools/gen_catalog.py) from the research table derived from src/config.c;
loaded once from JSON because validate must start fast.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # bool, integer, memory, memory_or_percent, octal, enum, enum_flags, string, special
    mutable: bool
    sensitive: bool
    protected: bool
    deny_loading: bool
    multi_arg: bool
    aliases: tuple[str, ...] = ()
    enum: tuple[str, ...] = ()
    synonyms: dict[str, str] = field(default_factory=dict)
    min: int | None = None
    max: int | None = None
    default: str | None = None
    present_in: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Lookup:
    param: Param
    canonical: str  # the primary name in the table
    via_alias: str | None  # the alias the policy used, if any


class Catalog:
    def __init__(self, data: dict[str, Any]) -> None:
        self.params: dict[str, Param] = {
            name: Param(
                name=name, kind=p["kind"], mutable=p["mutable"], sensitive=p["sensitive"],
                protected=p["protected"], deny_loading=p["deny_loading"], multi_arg=p["multi_arg"],
                aliases=tuple(p.get("aliases", ())), enum=tuple(str(e) for e in p.get("enum", ())),
                synonyms=dict(p.get("synonyms", {})), min=p.get("min"), max=p.get("max"),
                default=p.get("default"),
                present_in={k: tuple(v) for k, v in p.get("present_in", {}).items()},
            )
            for name, p in data["params"].items()
        }
        self.aliases: dict[str, str] = {a: v["primary"] for a, v in data["aliases"].items()}
        self.config_file_only: frozenset[str] = frozenset(data["config_file_only"])

    def lookup(self, name: str) -> Lookup | None:
        """Names are case-insensitive in Redis (the configs dict uses a case-insensitive hash)."""
        key = name.lower()
        if key in self.params:
            return Lookup(self.params[key], key, None)
        primary = self.aliases.get(key)
        if primary and primary in self.params:
            return Lookup(self.params[primary], primary, key)
        return None

    def suggest(self, name: str) -> str | None:
        names = list(self.params) + list(self.aliases)
        close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.75)
        return close[0] if close else None


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    text = resources.files("redispolicy.catalog").joinpath("params.json").read_text(encoding="utf-8")
    return Catalog(json.loads(text))
