"""status: a table per refresh (rich), or one plain line per node when the output is not a terminal.

A figure that is not available is "n/a" (refused, not reached) or "…" (no window yet),
never 0; the reasons follow the table. Colours are the policy's health judgement
(plan/status.py): yellow warning, red critical.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redispolicy.catalog.units import human_bytes
from redispolicy.render.escape import printable
from redispolicy.render.style import Style
from redispolicy.render.text.common import rich_text

if TYPE_CHECKING:
    from rich.console import Group

    from redispolicy.plan.status import NodeStatus, StatusReport

COLOUR = {"ok": "green", "warning": "yellow", "critical": "red"}
NA = "n/a"
PENDING = "…"  # no window yet (the first refresh of --watch)


def _num(value: float | None, node: NodeStatus, suffix: str = "", rate: bool = True) -> str:
    if value is None:
        return (
            PENDING if rate and node.window is None and node.overall != "critical" and _reached(node) else NA
        )
    text = f"{value:.1f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}"
    return text + suffix


def _reached(node: NodeStatus) -> bool:
    return not any(what in ("node", "info") for what, _ in node.unavailable)


def memory(node: NodeStatus) -> str:
    if node.used_memory is None:
        return NA
    used = human_bytes(node.used_memory)
    limit = human_bytes(node.maxmemory) if node.maxmemory else "no limit"
    pct = f" {node.memory_percent:.1f}%" if node.memory_percent is not None else ""
    system = " of system" if node.memory_of == "system" else ""
    return f"{used} / {limit}{pct}{system}"


def hit_rate(node: NodeStatus) -> str:
    if node.hit_rate_percent is not None:
        return f"{node.hit_rate_percent:.1f}%"
    if node.lookups == 0:
        return "no lookups"
    return _num(None, node)


def clients(node: NodeStatus) -> str:
    if node.connected_clients is None:
        return NA
    return f"{node.connected_clients} ({node.blocked_clients} blocked)"


def slowlog(node: NodeStatus) -> str:
    if node.slowlog_length is None:
        return NA
    if node.slowlog_growth is None:
        return f"{node.slowlog_length}"
    names = f" {printable(','.join(dict.fromkeys(node.slow_commands)))}" if node.slow_commands else ""
    return f"{node.slowlog_length} (+{node.slowlog_growth}{names})"


def replication(node: NodeStatus) -> str:
    if node.replication_link is not None:
        return f"link {node.replication_link}"
    if node.replicas is not None:
        return f"{node.replicas} replica{'s' if node.replicas != 1 else ''}"
    return NA if not _reached(node) else "-"


def locks(node: NodeStatus) -> str:
    """The lock-timeout seam: expired events per class, once a reader counts them."""
    if node.expired_by_class is None:
        return ""
    return ", ".join(f"{name} {count}" for name, count in node.expired_by_class)


COLUMNS: tuple[tuple[str, str], ...] = (
    ("node", ""),
    ("memory", "memory"),
    ("ops/s", ""),
    ("hit rate", "hit_rate"),
    ("evict/s", "evictions"),
    ("expire/s", ""),
    ("clients", "connected_clients"),
    ("slowlog", ""),
    ("replication", "replication_link"),
)


def cells(node: NodeStatus) -> list[str]:
    return [
        f"{node.address} {node.role}",
        memory(node),
        _num(node.ops_per_sec, node),
        hit_rate(node),
        _num(node.evictions_per_sec, node),
        _num(node.expirations_per_sec, node),
        clients(node),
        slowlog(node),
        replication(node),
    ]


def _colour(node: NodeStatus, figure: str) -> str | None:
    if figure == "" or node.status is None or figure not in node.status:
        return None
    return COLOUR.get(node.status[figure])


def _notes(report: StatusReport) -> list[str]:
    out = []
    for node in report.nodes:
        for what, why in node.unavailable:
            out.append(f"{node.address}: {what} not available: {printable(why)}")
    return out


def _head(report: StatusReport) -> str:
    every = f", every {report.watch:g} s (Ctrl-C to stop)" if report.watch else ""
    windows = {n.window for n in report.nodes if n.window is not None}
    over = f"; rates over {max(windows):.1f} s" if windows else ""
    return f"status of {report.environment or '(no environment)'}: refresh {report.refresh}{every}{over}"


def view(report: StatusReport, style: Style) -> Group:
    """The rich renderable of one refresh: the node table, the key-class table, and what is not available."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    nodes = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    show_locks = any(n.expired_by_class is not None for n in report.nodes)
    for title, _ in COLUMNS:
        nodes.add_column(title, overflow="fold")
    if show_locks:
        nodes.add_column("lock timeouts", overflow="fold")
    for node in report.nodes:
        row = [
            Text(text, style=(_colour(node, figure) or "") if style.color else "")
            for text, (_, figure) in zip(cells(node), COLUMNS, strict=True)
        ]
        if show_locks:
            row.append(Text(locks(node)))
        nodes.add_row(*row)
    parts: list[Any] = [Text(_head(report), style="bold" if style.color else ""), nodes]
    sampled = [n for n in report.nodes if n.classes is not None]
    if sampled:
        classes = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
        for title in ("key class", "node", "keys", "memory", "≈ keys"):
            classes.add_column(title, overflow="fold")
        for node in sampled:
            assert node.classes is not None
            for share in node.classes:
                classes.add_row(
                    *(
                        Text(cell)
                        for cell in (
                            printable(share.name),
                            node.address,
                            f"{share.keys_percent:.1f}%",
                            NA if share.memory_percent is None else f"{share.memory_percent:.1f}%",
                            NA if share.estimated_keys is None else str(share.estimated_keys),
                        )
                    )
                )
        ages = [n.sample_age for n in sampled if n.sample_age is not None]
        draws = sum(n.sample_draws or 0 for n in sampled)
        age = f", {max(ages):.0f} s ago" if ages else ""
        parts += [Text(""), Text(f"key classes (a sample of {draws} keys{age})"), classes]
    notes = _notes(report)
    if notes:
        parts += [Text(""), *(Text(n, style="yellow" if style.color else "") for n in notes)]
    return Group(*parts)


def render_status(report: StatusReport, style: Style) -> str:
    """One reading as text: the tables of ``view``."""
    return rich_text(style, view(report, style))


def render_lines(report: StatusReport, style: Style) -> str:
    """One plain line per node (``status --watch`` when stdout is not a terminal: a log, a pipe)."""
    out = []
    for node in report.nodes:
        fields = [f"{title}={cell}" for (title, _), cell in zip(COLUMNS[1:], cells(node)[1:], strict=True)]
        if node.expired_by_class is not None:
            fields.append(f"lock_timeouts={locks(node) or 0}")
        line = f"refresh {report.refresh} {node.address} {node.role} {node.overall}: " + " · ".join(fields)
        out.append(style.paint(line, COLOUR[node.overall]) if node.overall != "ok" else line)
    out += _notes(report)
    return "\n".join(out) + "\n"
