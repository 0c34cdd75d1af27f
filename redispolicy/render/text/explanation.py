"""explain: a table of effective values, with where each came from and what it overrode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.render.style import Style

if TYPE_CHECKING:
    from redispolicy.policy.explain import Explanation


def render_explanation(exp: Explanation, style: Style) -> str:
    """rich renders the table; it is imported only for explain."""
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for col in ("setting", "written", "normalized", "from", "overrode"):
        table.add_column(col, overflow="fold")
    for e in exp.entries:
        over = "; ".join(f"{raw} at {loc.short}" for raw, loc in e.overrode)
        norm = e.normalized if e.normalized is not None else ("—" if not e.note else e.note)
        table.add_row(e.name, e.written, norm, e.source.short, over)
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=160,
        force_terminal=style.color,
        no_color=not style.color,
        color_system="standard" if style.color else None,
        highlight=False,
    )
    head = f"environment {exp.environment or '(none)'}: " + " <- ".join(reversed(exp.files))
    console.print(head, style="bold", markup=False, soft_wrap=True)
    console.print(table)
    return buf.getvalue()
