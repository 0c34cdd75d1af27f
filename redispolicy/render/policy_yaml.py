"""A proposed policy as a YAML file a person reviews: grouped, commented, secrets as ``${VAR}``.

Pure: ``render_policy(proposal, today) -> str``. Written by hand rather than dumped, so the
file has comment headers per group, a note beside every startup-only, protected or dangerous
parameter, and quoting that keeps each value the text it was (``"3600 1 300 100"``, a pattern's
backslashes). ``policy/`` reads it back; the tests prove ``validate`` passes on every proposal.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re

from redispolicy.plan.propose import GROUPS, Proposal, ProposedClass, ProposedSetting
from redispolicy.policy.model import Health

# Written plain only when YAML reads the text back as that same string (or as yes/no, which
# the policy loader turns back into its source text): words, numbers, sizes such as 512mb.
_PLAIN = re.compile(r"[0-9]+|[0-9]+[a-z]+|[A-Za-z][A-Za-z0-9_.-]*")
_YAML_SPECIAL = {"null", "true", "false", "on", "off", "y", "n", "nan", "inf"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def scalar(text: str) -> str:
    """``text`` as a YAML scalar that reads back as exactly ``text``."""
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_SPECIAL:
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _comment(text: str) -> str:
    """One comment line's text: no control character can end the line early."""
    return _CONTROL.sub(" ", text)


def _value(s: ProposedSetting) -> str:
    if s.variable is not None:
        return s.value  # ${VAR}: plain, resolved by the loader
    return scalar(s.value.replace("${", "$${"))  # a literal ${ in a value must not become a variable


def _header(p: Proposal, today: datetime.date) -> list[str]:
    what = f"environment {p.environment}" if p.environment else "the settings every environment shares"
    lines = [
        f"# Proposed by `redispolicy init` on {today.isoformat()} for {what}.",
        f"# Read from {p.origin}.",
        f"# Only parameters whose value differs from the defaults of {p.product} {p.version} are listed; "
        "review before committing."
        if p.environment
        else "# Only what every environment's server sets alike, away from its defaults; review before committing.",
    ]
    if p.left_out:
        lines.append(
            f"# Left out: {len(p.left_out)} parameter(s) without a known default to compare with "
            f"({', '.join(p.left_out)})."
        )
    lines += [f"# Not carried over: {note}" for note in p.notes]
    if p.variables:
        lines.append(f"# Set before plan: {', '.join(p.variables)}.")
    return [_comment(line) for line in lines]


def _config(settings: tuple[ProposedSetting, ...]) -> list[str]:
    if not settings:
        return []
    out = ["config:"]
    for group, _ in GROUPS:
        members = [s for s in settings if s.group == group]
        if not members:
            continue
        out.append(f"  # {group}")
        for s in members:
            notes = [*s.notes, *([f"from {s.location}"] if s.location else [])]
            tail = f"  # {_comment('; '.join(notes))}" if notes else ""
            out.append(f"  {s.name}: {_value(s)}{tail}")
    return out


def _key_class(c: ProposedClass) -> list[str]:
    out = [f"  # {_comment(c.comment)}", f"  - name: {c.name}"]
    if c.pattern is not None:
        out.append(f"    pattern: {json.dumps(c.pattern)}")
    if c.ttl == "persistent":
        out.append("    ttl: persistent")
    elif c.ttl is not None:
        out.append(f"    ttl: {{max: {c.ttl}}}")
    if c.type is not None:
        out.append(f"    type: {c.type}")
    return out


def _health() -> list[str]:
    out = ["health:"]
    for f in dataclasses.fields(Health):
        value = getattr(Health(), f.name)
        if value is None or not dataclasses.is_dataclass(value) or isinstance(value, type):
            continue
        given = {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
        if given:
            inner = ", ".join(f"{k}: {v:g}" for k, v in given.items())
            out.append(f"  {f.name}: {{{inner}}}")
    return out


def render_policy(p: Proposal, today: datetime.date) -> str:
    lines = [*_header(p, today), "apiVersion: redispolicy/v1", "kind: RedisPolicy"]
    if p.environment:
        lines.append(f"environment: {p.environment}")
    if p.extends:
        lines.append(f"extends: [{', '.join(scalar(e) for e in p.extends)}]")
    if p.target_url_var:
        lines += ["target:", f"  url: ${{{p.target_url_var}}}"]
        if p.target_password_var:
            lines.append(f"  password: ${{{p.target_password_var}}}  # the server's requirepass")
    lines += _config(p.settings)
    if p.allow_dangerous:
        lines.append(f"allow_dangerous: [{', '.join(p.allow_dangerous)}]")
    if p.classes or p.key_note:
        lines.append("")
        if p.key_note:
            lines.append(f"# {_comment(p.key_note)}")
        if p.classes:
            lines.append("keys:")
            for c in p.classes:
                lines += _key_class(c)
    if p.health:
        lines += ["", *_health()]
    return "\n".join(lines) + "\n"
