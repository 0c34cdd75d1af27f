"""What every text renderer shares: diagnostic lines, headings, counts and the one-node note."""

from __future__ import annotations

from typing import Any

from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.render.escape import printable as p
from redispolicy.render.style import Style

_COLOR = {Severity.ERROR: ("red", "bold"), Severity.WARNING: ("yellow",), Severity.NOTE: ("blue",)}

# Plan actions: the symbol shown before a parameter, and its colour.
SYMBOL = {
    "set": ("~", "yellow"),
    "restart": ("!", "red"),
    "protected": ("⊘", "magenta"),
    "unsupported": ("?", "blue"),
    "noop": (" ", "dim"),
}


def diagnostic_line(d: Diagnostic, style: Style) -> str:
    sev = style.paint(d.severity.label, *_COLOR[d.severity])
    head = (
        f"{style.paint(str(d.location), 'bold')}: {sev}: {p(d.message)} {style.paint(f'[{d.rule}]', 'dim')}"
    )
    if d.hint:
        head += "\n  " + style.paint("hint:", "cyan") + " " + p(d.hint)
    return head


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def keys_count(n: int) -> str:
    return plural(n, "key")


def head(verb: str, environment: str | None, address: str, mode: str, style: Style) -> list[str]:
    """The first line of remediate and cleanup: verb · environment · address · mode, then a blank."""
    parts = (
        [f"redispolicy {verb}", environment or "(no environment)"] + ([address] if address else []) + [mode]
    )
    return [style.paint(" · ".join(parts), "bold"), ""]


def shown(value: str | None) -> str:
    """A config value as a person reads it: absent and empty are visible."""
    return "(absent)" if value is None else (value if value != "" else '""')


def approx(x: float) -> str:
    return f"{x:.0f}" if x >= 10 or x == 0 else f"{x:.1f}"


def percent(rate: float) -> str:
    pct = rate * 100
    return f"{pct:.2g} %" if pct < 10 else f"{pct:.0f} %"


def this_node_only(verb: str, mode: str, replicas: int) -> str:
    """Plan and apply work on one node; CONFIG SET is not replicated. Say so where it matters.

    ``mode`` and ``replicas`` are the server's (Identity.mode, Identity.replicas), or what an
    apply recorded as not reached (ApplyReport.unreached): the words live here, the data there.
    """
    if mode == "cluster":
        return (
            f"a cluster node: this {verb} covers this node only (CONFIG SET reaches no other node); "
            "`redispolicy drift` checks every node"
        )
    if replicas:
        return (
            f"this primary has {replicas} replica(s), which a CONFIG SET here does not reach: "
            f"this {verb} covers this node only; `redispolicy drift` checks every node"
        )
    return ""


def rich_text(style: Style, *renderables: Any) -> str:
    """rich renderables (tables, bold headings) as text, in our style: 160 columns, colour only when
    the style has it. rich is imported here, lazily: only the commands with tables pay for it."""
    import io

    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(
        file=buf,
        width=160,
        force_terminal=style.color,
        no_color=not style.color,
        color_system="standard" if style.color else None,
        highlight=False,
    )
    for r in renderables:
        console.print(r, soft_wrap=isinstance(r, (str, Text)))  # a heading runs on; tables fit 160
    return buf.getvalue()
