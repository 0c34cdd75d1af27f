"""The policy JSON Schema (2020-12) and its errors as located diagnostics.

Every error is reported at once, at the node it concerns: an unknown key at that
key, a missing key at its parent mapping, a bad value at the value. Definitions in
schema.json may carry ``x-rule`` (a stable rule id, e.g. duration-invalid) and
``x-message`` (a message written for people rather than a validator dump).
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.policy.nodes import MapNode, Node, Path, find, json_path, key_location, to_plain


def schema_text() -> str:
    return resources.files("redispolicy.policy").joinpath("schema.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(schema_text())
    return result


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def validate(root: MapNode) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple[str, int, int, str]] = set()
    for error in _validator().iter_errors(to_plain(root)):
        for diag in _convert(root, error):
            key = (diag.rule, diag.location.line, diag.location.col, diag.message)
            if key not in seen:
                seen.add(key)
                out.append(diag)
    return out


def _loc(root: MapNode, path: Path) -> Location:
    node = find(root, path)
    return node.loc if node is not None else root.loc


def _convert(root: MapNode, error: jsonschema.ValidationError) -> list[Diagnostic]:
    path: Path = tuple(error.absolute_path)
    sub = error.schema if isinstance(error.schema, dict) else {}
    where = json_path(path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return _unknown_keys(root, path, sub, error)
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        owner = "the document" if not path else json_path(path)
        return [
            Diagnostic(
                "schema-missing-key",
                Severity.ERROR,
                f"{owner} is missing the required key '{missing}'",
                _loc(root, path),
                where,
                hint=f"add '{missing}:'"
                + (
                    " (apiVersion: redispolicy/v1)"
                    if missing == "apiVersion"
                    else " (kind: RedisPolicy)"
                    if missing == "kind"
                    else ""
                ),
            )
        ]
    if error.validator in ("oneOf", "anyOf") and error.context:
        # The branch that got past the type check knows better (ttl: {max: 3 days} is a bad
        # duration at 'max'; ttl: {max: 3d, min: 1h} an unknown key at 'min'). Errors of branches
        # that failed on the value's type or on a missing key leave the x-message summary in charge.
        deeper = [
            e
            for e in error.context
            if len(e.absolute_path) > len(path)
            or e.validator in ("additionalProperties", "unevaluatedProperties")
        ]
        if deeper:
            return [d for e in deeper for d in _convert(root, e)]
    if error.validator == "propertyNames":
        return [
            Diagnostic(
                "schema-invalid",
                Severity.ERROR,
                f"'{error.instance}' is not a valid parameter name",
                _loc(root, path),
                where,
                hint="parameter names are letters, digits, '-' and '_'",
            )
        ]
    rule = sub.get("x-rule") or ("schema-type" if error.validator == "type" else "schema-invalid")
    message = sub.get("x-message") or _message(error)
    value = error.instance
    if isinstance(value, (str, int, float, bool)) and rule != "schema-type" and "x-message" in sub:
        message = f"{_yaml_text(value)}: {message}"
    return [Diagnostic(rule, Severity.ERROR, message, _loc(root, path), where, hint=_hint(error, sub))]


def _unknown_keys(
    root: MapNode, path: Path, sub: dict[str, Any], error: jsonschema.ValidationError
) -> list[Diagnostic]:
    allowed = sorted(_allowed_keys(sub))
    node = find(root, path)
    present = node.entries if isinstance(node, MapNode) else {}
    out = []
    for key in present:
        if key in allowed:
            continue
        loc = key_location(root, (*path, key)) or _loc(root, path)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else ("allowed here: " + ", ".join(allowed) if allowed else "remove it")
        )
        out.append(
            Diagnostic(
                "schema-unknown-key",
                Severity.ERROR,
                f"unknown key '{key}'",
                loc,
                json_path((*path, key)),
                hint=hint,
            )
        )
    return out


def _allowed_keys(sub: dict[str, Any]) -> set[str]:
    keys = set(sub.get("properties", {}))
    for part in sub.get("allOf", []):
        ref = part.get("$ref", "")
        if ref.startswith("#/$defs/"):
            keys |= set(schema()["$defs"][ref.split("/")[-1]].get("properties", {}))
    return keys


def _message(error: jsonschema.ValidationError) -> str:
    v = error.validator
    sub = error.schema if isinstance(error.schema, dict) else {}
    inst = error.instance
    if v == "const":
        return f"must be {sub['const']!r}, not {inst!r}"
    if v == "enum":
        return f"{inst!r} is not one of: " + ", ".join(map(str, sub["enum"]))
    if v == "type":
        want = sub["type"]
        want = " or ".join(want) if isinstance(want, list) else want
        return f"expected {_article(want)}, got {_typename(inst)}"
    if v in ("oneOf", "anyOf") and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return _message(best) if best is not None else str(error.message)
    return str(error.message)


def _yaml_text(value: object) -> str:
    """A scalar as the policy author wrote it: true/false, never Python's True/False."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _hint(error: jsonschema.ValidationError, sub: dict[str, Any]) -> str:
    if error.validator == "enum":
        return "use one of the listed values"
    if error.validator == "const":
        return f"write {_yaml_text(sub['const']) if isinstance(sub['const'], bool) else sub['const']}"
    return "see `redispolicy schema` for the allowed shape"


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _typename(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


__all__ = ["Node", "schema", "schema_text", "validate"]


def document_errors(document_schema: dict[str, Any], doc: object, limit: int = 5) -> list[str]:
    """Errors of a JSON document (not a policy) against a schema: ``$.path: message``, best first.

    The one door to jsonschema for other stages' documents (the saved plan file); messages
    are cut short because a hostile document can hold very long values.
    """
    validator = jsonschema.Draft202012Validator(document_schema)
    errors = sorted(validator.iter_errors(doc), key=jsonschema.exceptions.relevance)
    out = []
    for error in errors[:limit]:
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in error.message)
        message = message if len(message) <= 160 else message[:157] + "..."
        out.append(f"{json_path(tuple(error.absolute_path))}: {message}")
    return out
