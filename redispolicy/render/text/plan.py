"""plan: the header, each change with its action symbol and source, a legend and a count,
then the key audit. A plan whose config was not checked says so instead of "no changes"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.render.escape import printable as p
from redispolicy.render.style import Style
from redispolicy.render.text.common import SYMBOL, this_node_only
from redispolicy.render.text.keys import keys_lines

if TYPE_CHECKING:
    from redispolicy.plan.model import Change, Plan

_LEGEND = {
    "set": "set at runtime (CONFIG SET)",
    "restart": "needs a restart (startup-only)",
    "protected": "protected: needs enable-protected-configs",
    "unsupported": "unknown to this server version",
}
_WORDS = {
    "set": "to set",
    "restart": "needing a restart",
    "protected": "protected",
    "unsupported": "unsupported",
}


def _plan_value(c: Change) -> str:
    if c.sensitive:
        return "(sensitive value changes)" if c.changed else "(sensitive, unchanged)"
    before = "(absent)" if c.before is None else (p(c.before) if c.before != "" else '""')
    after = p(c.after) if c.after != "" else '""'
    return after if c.action == "noop" else f"{before} → {after}"


def render_plan(plan: Plan, style: Style) -> str:
    from redispolicy.plan.drift import config_not_checked, stale_declaration

    ident = plan.identity
    lines = [
        style.paint(
            p(
                f"redispolicy plan · {plan.environment or '(no environment)'} · "
                f"{ident.product} {ident.version} at {ident.address} ({ident.role})"
            ),
            "bold",
        ),
        "",
    ]
    keys = keys_lines(plan.keys, style) if plan.keys is not None else []
    if plan.nodes:
        return "\n".join(lines + _deployment_lines(plan, style) + keys) + "\n"
    unchecked = config_not_checked(plan)
    if unchecked is not None:  # a plan of nothing is not "no changes": say config was not checked, and why
        if unchecked.expected:
            lines += [style.paint(p(f"{unchecked.text}: {unchecked.reason}"), "yellow")]
        else:
            lines += [style.paint(p(f"✗ {unchecked.text}"), "red", "bold")]
        return "\n".join(lines + keys) + "\n"
    for note in (this_node_only("plan", ident.mode, ident.replicas), stale_declaration(plan)):
        if note:
            lines += [style.paint("note: " + note, "yellow"), ""]
    if not plan.pending:
        lines.append(style.paint("No changes. The server matches the policy.", "green"))
        return "\n".join(lines + keys) + "\n"
    lines += _change_lines(plan, style)
    return "\n".join(lines + _summary(plan.pending, style) + keys) + "\n"


def _deployment_lines(plan: Plan, style: Style) -> list[str]:
    """Every node of the deployment: its address and role, then its changes (CONFIG SET is per node)."""
    from redispolicy.plan.drift import config_not_checked, stale_declaration

    lines: list[str] = []
    note = stale_declaration(plan)
    if note:
        lines += [style.paint("note: " + note, "yellow"), ""]
    for node in plan.all_nodes:
        ident = node.identity
        where = p(f"{ident.address} ({_ROLE.get(ident.role, ident.role)})")
        unchecked = config_not_checked(node)
        if unchecked is not None:
            color = "yellow" if unchecked.expected else "red"
            lines.append(style.paint(f"{where} — {p(unchecked.text)}: {p(unchecked.reason)}", color, "bold"))
        elif not node.pending:
            lines.append(style.paint(where, "bold") + " — " + style.paint("no changes", "green"))
        else:
            lines.append(style.paint(where, "bold"))
            lines += _change_lines(node, style)
        lines.append("")
    pending = tuple(c for n in plan.all_nodes for c in n.pending)
    if not pending:
        return [*lines, style.paint("No changes. Every node matches the policy.", "green")]
    return lines[:-1] + _summary(pending, style, len(plan.all_nodes))


_ROLE = {"master": "primary", "slave": "replica"}


def _change_lines(plan: Plan, style: Style) -> list[str]:
    shown = [c for c in plan.changes if c.changed or style.verbose]
    if not shown:
        return []
    lines = []
    width = max(len(c.parameter) for c in shown)
    values = [_plan_value(c) for c in shown]
    vwidth = min(max(len(v) for v in values), 60)
    for c, value in zip(shown, values, strict=True):
        sym, color = SYMBOL[c.action]
        danger = (
            style.paint("  ⚠ dangerous (allow_dangerous)", "red", "bold") if c.dangerous and c.changed else ""
        )
        lines.append(
            f"  {style.paint(sym, color, 'bold')} {p(c.parameter):<{width}}  {value:<{vwidth}}  "
            + style.paint(c.source.short, "dim")
            + danger
        )
    return lines


def _summary(pending: tuple[Change, ...], style: Style, nodes: int = 1) -> list[str]:
    kinds = [k for k in ("set", "restart", "protected", "unsupported") if any(c.action == k for c in pending)]
    counts = {k: sum(1 for c in pending if c.action == k) for k in kinds}
    where = f" over {nodes} nodes" if nodes > 1 else ""
    return [
        "",
        "Legend: " + " · ".join(f"{style.paint(SYMBOL[k][0], SYMBOL[k][1])} {_LEGEND[k]}" for k in kinds),
        style.paint("Plan: ", "bold")
        + ", ".join(f"{n} {_WORDS[k]}" for k, n in counts.items())
        + f"{where}.",
    ]
