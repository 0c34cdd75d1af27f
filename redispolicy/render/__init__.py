"""HOW IT'S SHOWN: pure renderers, registered by (report kind, format).

A renderer is ``(report, style) -> str``; it never prints. ``REGISTRY`` is the one
place that says which report kind has which format (the way check-jsonschema registers
its reporters by name): a pair missing from it is not a fallback to text but a usage
error, decided by main.py before anything runs. Entries name ``module:function`` and the
module is imported only when its pair is asked for, so validate's cold start pays for one.

Layout: one module per machine format (``json_``, ``markdown``, ``github``, ``sarif``,
``junit``, ``prometheus``), each holding every kind it supports next to that format's own
escaping rules; text, the largest by far, is a package with one module per kind
(``text/plan.py`` ...) and its shared wording in ``text/common.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from redispolicy.errors import UsageError
from redispolicy.render.style import Style

FORMATS = ("text", "json", "markdown", "github", "sarif", "junit", "prometheus")
KINDS = (
    "validation",
    "explanation",
    "plan",
    "apply",
    "remediation",
    "cleanup",
    "drift",
    "status",
    "comparison",
)

Renderer = Callable[[Any, Style], str]

# (kind, format) -> "module:function"; register() adds to it.
REGISTRY: dict[tuple[str, str], str] = {}

_MODULE = {"json": "json_"}


def register(kind: str, fmt: str, where: str | None = None) -> None:
    """Declare that ``kind`` renders in ``fmt``; ``where`` defaults to the house layout:
    ``render.text.<kind>:render_<kind>`` for text, ``render.<format>:render_<kind>`` otherwise."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if where is None:
        module = f"text.{kind}" if fmt == "text" else _MODULE.get(fmt, fmt)
        where = f"redispolicy.render.{module}:render_{kind}"
    REGISTRY[(kind, fmt)] = where


# The matrix. Text and json for every kind; the CI formats where a report has findings
# with a place in the policy (validation, drift); markdown where a pull request shows it.
for _kind in KINDS:
    register(_kind, "text")
    register(_kind, "json")
for _fmt in ("markdown", "github", "sarif", "junit"):
    register("validation", _fmt)
for _fmt in ("markdown", "github", "sarif", "junit", "prometheus"):
    register("drift", _fmt)
register("plan", "markdown")
for _fmt in ("markdown", "github"):  # compare gates a promotion: its pull request and CI annotations
    register("comparison", _fmt)


def formats(kind: str) -> tuple[str, ...]:
    """The formats ``kind`` renders in, in FORMATS order."""
    return tuple(f for f in FORMATS if (kind, f) in REGISTRY)


class UnsupportedFormat(UsageError):
    """A (kind, format) pair the registry does not have. main.py refuses these before a command
    runs; reaching this is a caller that skipped that check, still a usage error, never text."""

    def __init__(self, kind: str, fmt: str) -> None:
        super().__init__(
            f"the {kind} report has no {fmt} format; it supports {', '.join(formats(kind))}",
            "choose one of those formats",
        )


def renderer(fmt: str, what: str) -> Renderer:
    """The function rendering report kind ``what`` (e.g. 'validation') in format ``fmt``."""
    where = REGISTRY.get((what, fmt))
    if where is None:
        raise UnsupportedFormat(what, fmt)
    module, _, name = where.partition(":")
    fn: Renderer = getattr(importlib.import_module(module), name)
    return fn


VALIDATE_FORMATS = formats("validation")

__all__ = [
    "FORMATS",
    "KINDS",
    "REGISTRY",
    "VALIDATE_FORMATS",
    "Renderer",
    "Style",
    "UnsupportedFormat",
    "formats",
    "register",
    "renderer",
]
