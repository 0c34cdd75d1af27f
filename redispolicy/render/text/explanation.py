"""explain: a table of effective values, with where each came from and what it overrode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.render.style import Style
from redispolicy.render.text.common import rich_text

if TYPE_CHECKING:
    from redispolicy.policy.explain import Explanation


def render_explanation(exp: Explanation, style: Style) -> str:
    """rich renders the table; it is imported only for explain."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for col in ("setting", "written", "normalized", "from", "overrode"):
        table.add_column(col, overflow="fold")
    for e in exp.entries:
        over = "; ".join(f"{raw} at {loc.short}" for raw, loc in e.overrode)
        norm = e.normalized if e.normalized is not None else ("—" if not e.note else e.note)
        table.add_row(e.name, e.written, norm, e.source.short, over)
    head = f"environment {exp.environment or '(none)'}: " + " <- ".join(reversed(exp.files))
    return rich_text(style, Text(head, style="bold"), table)
