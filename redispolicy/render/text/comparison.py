"""compare: what each side is, a table of the differences (path, both values, expected and why), the
stale expected_differences entries, then a verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.render.escape import printable as p
from redispolicy.render.style import Style
from redispolicy.render.text.common import plural

if TYPE_CHECKING:
    from redispolicy.plan.envdiff import Comparison, Difference

ABSENT = "(not set)"
_SECRET_NOTE = "differs (values not shown)"


def render_comparison(c: Comparison, style: Style) -> str:
    what = "live servers" if c.mode == "live" else "effective policies"
    width = max(len(c.env_a), len(c.env_b)) + 1
    lines = [
        style.paint(f"redispolicy compare {p(c.env_a)} {p(c.env_b)}: {what}", "bold"),
        f"  {p(c.env_a + ':'):<{width}} {p(c.sides[0])}",
        f"  {p(c.env_b + ':'):<{width}} {p(c.sides[1])}",
        "",
    ]
    if c.differences:
        lines += [*_table(c, style), ""]
    for e in c.stale:
        lines.append(
            f"{style.paint('warning', 'yellow')}: stale expected_differences entry at {e.location.short} "
            f"({p(e.subject)}): it matched no difference between {p(c.env_a)} and {p(c.env_b)}"
        )
        lines.append(f"  {style.paint('hint:', 'cyan')} remove it, or fix its path if a difference was meant")
    if c.stale:
        lines.append("")
    if c.not_compared and style.verbose:
        lines += [f"not compared (where each process is): {', '.join(c.not_compared)}", ""]
    lines += _verdict(c, style)
    return "\n".join(lines) + "\n"


def _table(c: Comparison, style: Style) -> list[str]:
    rows = [("path", c.env_a, c.env_b, "")] + [_row(d) for d in c.differences]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    out = []
    for i, (path, a, b, judged) in enumerate(rows):
        cells = f"{path:<{widths[0]}}  {a:<{widths[1]}}  {b:<{widths[2]}}"
        if i == 0:
            out.append(style.paint(f"{cells}  expected?", "bold"))
            continue
        d = c.differences[i - 1]
        mark = style.paint(judged, "green" if d.expected is not None else "red")
        out.append(f"{cells}  {mark}")
        if style.verbose:
            out.append(f"    {_sources(d, c.env_a, c.env_b)}")
    return out


def _row(d: Difference) -> tuple[str, str, str, str]:
    a = ABSENT if d.a is None else p(d.a) if d.a != "" else '""'
    b = ABSENT if d.b is None else p(d.b) if d.b != "" else '""'
    judged = f"expected ({p(d.expected.reason)})" if d.expected is not None else "UNEXPECTED"
    if d.sensitive:
        judged += f"; {_SECRET_NOTE}"
    return p(d.path), a, b, judged


def _sources(d: Difference, env_a: str, env_b: str) -> str:
    parts = [
        f"{p(env)}: {loc.short if loc else 'default or not set'}"
        for env, loc in ((env_a, d.a_source), (env_b, d.b_source))
    ]
    if d.expected is not None:
        parts.append(f"declared at {d.expected.location.short}")
    return "; ".join(parts)


def _verdict(c: Comparison, style: Style) -> list[str]:
    a, b = p(c.env_a), p(c.env_b)
    compared = f"{plural(c.compared, 'path')} compared"
    unexpected, expected = len(c.unexpected), len(c.expected)
    if unexpected:
        return [
            style.paint(
                f"✗ {a} and {b} differ unexpectedly: {unexpected} unexpected, {expected} expected ({compared})",
                "red",
                "bold",
            ),
            f"  {style.paint('hint:', 'cyan')} make them the same, or declare each intended difference under "
            "expected_differences: with its reason (docs/policy-format.md)",
        ]
    if expected:
        return [
            style.paint(
                f"✓ {a} and {b} differ only as declared: {plural(expected, 'expected difference')} ({compared})",
                "green",
            )
        ]
    return [style.paint(f"✓ {a} and {b} are the same ({compared})", "green")]
