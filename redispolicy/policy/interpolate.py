"""``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}`` in policy strings.

Like a POSIX shell: ``:-`` also applies when the variable is set but empty, and
``:?`` fails with the message. ``$${`` writes a literal ``${``. The environment is
passed in as a mapping: stages never read os.environ themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")  # the last: a reference never closed
_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?|-|\?)(.*))?", re.S)


@dataclass(frozen=True)
class Missing:
    var: str
    required: bool  # ${VAR:?message}: its absence is an error even for validate
    message: str


@dataclass(frozen=True)
class Interpolated:
    text: str | None  # None when a variable without a default is unset
    variables: tuple[str, ...]  # every variable referenced
    missing: tuple[Missing, ...]
    literal_default: bool  # a ${VAR:-x} supplied a non-empty literal


class InterpolationSyntaxError(ValueError):
    pass


def has_reference(text: str) -> bool:
    return "${" in text


def interpolate(text: str, env: Mapping[str, str]) -> Interpolated:
    variables: list[str] = []
    missing: list[Missing] = []
    literal_default = False

    def sub(m: re.Match[str]) -> str:
        nonlocal literal_default
        if m.group(0) == "$${":
            return "${"
        if m.group(1) is None:
            raise InterpolationSyntaxError(
                "a '${' has no closing '}'; write ${NAME}, or $${ for a literal '${'"
            )
        body = _BODY.fullmatch(m.group(1))
        if not body:
            raise InterpolationSyntaxError(
                f"'{m.group(0)}' is not a variable reference; write ${{NAME}}, ${{NAME:-default}} "
                "or ${NAME:?message}"
            )
        name, op, arg = body.group(1), body.group(2), body.group(3) or ""
        variables.append(name)
        value = env.get(name)
        empty_counts = op in (":-", ":?")
        if value is not None and (value != "" or not empty_counts):
            return value
        if op in (":-", "-"):
            literal_default = literal_default or bool(arg)
            return arg
        missing.append(Missing(name, op in (":?", "?"), arg or f"{name} is not set"))
        return ""

    result = _REF.sub(sub, text)
    return Interpolated(None if missing else result, tuple(variables), tuple(missing), literal_default)
