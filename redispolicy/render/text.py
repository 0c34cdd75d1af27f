"""Human text: one line per diagnostic, compiler style, then a verdict line."""

from __future__ import annotations

from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport

_COLOR = {Severity.ERROR: ("red", "bold"), Severity.WARNING: ("yellow",), Severity.NOTE: ("blue",)}


def diagnostic_line(d: Diagnostic, style: Style) -> str:
    sev = style.paint(d.severity.label, *_COLOR[d.severity])
    head = f"{style.paint(str(d.location), 'bold')}: {sev}: {d.message} {style.paint(f'[{d.rule}]', 'dim')}"
    if d.hint:
        head += "\n  " + style.paint("hint:", "cyan") + " " + d.hint
    return head


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render_validation(report: ValidationReport, style: Style) -> str:
    shown = [d for d in report.diagnostics if d.severity > Severity.NOTE or style.verbose]
    if style.quiet:
        shown = [d for d in shown if d.severity == Severity.ERROR]
    lines = [diagnostic_line(d, style) for d in shown]
    errors, warnings, notes = (report.count(s) for s in (Severity.ERROR, Severity.WARNING, Severity.NOTE))
    envs = ", ".join(report.environments) or "none"
    scope = f"{_plural(len(report.files), 'file')} (environments: {envs})"
    extra = []
    if warnings:
        extra.append(_plural(warnings, "warning"))
    if notes:
        extra.append(_plural(notes, "note") + ("" if style.verbose else " (-v shows them)"))
    if errors:
        verdict = style.paint(f"✗ {_plural(errors, 'error')}", "red", "bold") + f" in {scope}"
    else:
        verdict = style.paint("✓ valid:", "green", "bold") + f" {scope}"
    if extra:
        verdict += "; " + ", ".join(extra)
    if lines:
        lines.append("")
    lines.append(verdict)
    return "\n".join(lines) + "\n"


def render_explanation(exp: object, style: Style) -> str:
    """A table of effective values (rich renders it; imported only for explain)."""
    import io

    from rich.console import Console
    from rich.table import Table

    from redispolicy.policy.explain import Explanation

    assert isinstance(exp, Explanation)
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for col in ("setting", "written", "normalized", "from", "overrode"):
        table.add_column(col, overflow="fold")
    for e in exp.entries:
        over = "; ".join(f"{raw} at {loc.short}" for raw, loc in e.overrode)
        norm = e.normalized if e.normalized is not None else ("—" if not e.note else e.note)
        table.add_row(e.name, e.written, norm, e.source.short, over)
    buf = io.StringIO()
    console = Console(file=buf, width=160, force_terminal=style.color, no_color=not style.color,
                      color_system="standard" if style.color else None, highlight=False)
    head = f"environment {exp.environment or '(none)'}: " + " <- ".join(reversed(exp.files))
    console.print(head, style="bold", markup=False, soft_wrap=True)
    console.print(table)
    return buf.getvalue()


_SYMBOL = {"set": ("~", "yellow"), "restart": ("!", "red"), "protected": ("⊘", "magenta"),
           "unsupported": ("?", "blue"), "noop": (" ", "dim")}
_LEGEND = {"set": "set at runtime (CONFIG SET)", "restart": "needs a restart (startup-only)",
           "protected": "protected: needs enable-protected-configs",
           "unsupported": "unknown to this server version"}


def _plan_value(c: object) -> str:
    from redispolicy.plan.model import Change

    assert isinstance(c, Change)
    if c.sensitive:
        return "(sensitive value changes)" if c.changed else "(sensitive, unchanged)"
    before = "(absent)" if c.before is None else (c.before if c.before != "" else '""')
    after = c.after if c.after != "" else '""'
    return after if c.action == "noop" else f"{before} → {after}"


def render_plan(plan: object, style: Style) -> str:
    from redispolicy.plan.model import Plan

    assert isinstance(plan, Plan)
    ident = plan.identity
    lines = [style.paint(f"redispolicy plan · {plan.environment or '(no environment)'} · "
                         f"{ident.product} {ident.version} at {ident.address} ({ident.role})", "bold"), ""]
    if not plan.config_available:
        lines += [style.paint("⚠ " + plan.config_reason, "yellow"), ""]
        return "\n".join(lines) + "\n"
    shown = [c for c in plan.changes if c.changed or style.verbose]
    keys = keys_lines(plan.keys, style) if plan.keys is not None else []
    if not plan.pending:
        lines.append(style.paint("No changes. The server matches the policy.", "green"))
        return "\n".join(lines + keys) + "\n"
    width = max(len(c.parameter) for c in shown)
    values = [_plan_value(c) for c in shown]
    vwidth = min(max(len(v) for v in values), 60)
    for c, value in zip(shown, values, strict=True):
        sym, color = _SYMBOL[c.action]
        lines.append(f"  {style.paint(sym, color, 'bold')} {c.parameter:<{width}}  {value:<{vwidth}}  "
                     + style.paint(c.source.short, "dim"))
    kinds = [k for k in ("set", "restart", "protected", "unsupported") if any(c.action == k for c in plan.pending)]
    lines.append("")
    lines.append("Legend: " + " · ".join(f"{style.paint(_SYMBOL[k][0], _SYMBOL[k][1])} {_LEGEND[k]}" for k in kinds))
    counts = {k: sum(1 for c in plan.pending if c.action == k) for k in kinds}
    words = {"set": "to set", "restart": "needing a restart", "protected": "protected",
             "unsupported": "unsupported"}
    lines.append(style.paint("Plan: ", "bold") + ", ".join(f"{n} {words[k]}" for k, n in counts.items()) + ".")
    return "\n".join(lines + keys) + "\n"


_APPLY_HEAD = {
    "applied": ("✓ Applied", "green"), "nothing": ("No changes to apply.", "green"),
    "stale": ("✗ The plan is stale: nothing was changed.", "red"),
    "refused": ("✗ Nothing was changed.", "red"), "declined": ("Apply cancelled: nothing was changed.", "yellow"),
    "rolled_back": ("✗ Failed and rolled back: nothing was changed.", "red"),
    "partial": ("⚠ PARTIALLY APPLIED", "red"), "unknown": ("⚠ The outcome is unknown", "red"),
    "not_persisted": ("⚠ Applied at runtime, not persisted", "yellow"),
}


def _shown(value: str | None) -> str:
    return "(absent)" if value is None else (value if value != "" else '""')


def render_apply(report: object, style: Style) -> str:
    from redispolicy.apply.report import NEXT_STEP, ApplyReport

    assert isinstance(report, ApplyReport)
    title, color = _APPLY_HEAD[report.status]
    lines = [style.paint(f"redispolicy apply · {report.environment or '(no environment)'} · {report.address}",
                         "bold"), ""]
    if report.status == "applied":
        title = f"✓ Applied {len(report.applied)} change(s), verified by reading them back"
    lines.append(style.paint(title, color, "bold"))
    if report.detail:
        lines.append(f"  {report.detail}")
    for m in report.moved:
        lines.append(f"  - {m}")
    for m in report.mismatches:
        lines.append(f"  - {m}")
    if report.applied and report.status in ("applied", "not_persisted"):
        lines.append("")
        width = max(len(c.parameter) for c in report.applied)
        for c in report.applied:
            value = "(sensitive value changed)" if c.sensitive else f"{_shown(c.before)} → {_shown(c.after)}"
            lines.append(f"  {style.paint('~', 'yellow', 'bold')} {c.parameter:<{width}}  {value}")
    if report.status in ("partial", "unknown") and report.now_live:
        lines += ["", "Now live on the server:"] + [f"  {k} = {v}" for k, v in report.now_live.items()]
    if report.persisted is True:
        lines.append(style.paint("Persisted with CONFIG REWRITE.", "green"))
    if report.not_applied:
        lines += ["", "Not applied (needs an operator):"]
        lines += [f"  {_SYMBOL[a][0]} {p}: {NEXT_STEP.get(a, a)}" for p, a in report.not_applied]
    return "\n".join(lines) + "\n"


def keys_lines(findings: object, style: Style) -> list[str]:
    from redispolicy.catalog.units import approx_duration as d
    from redispolicy.plan.keys import KeyFindings

    assert isinstance(findings, KeyFindings)
    lines = ["", style.paint(f"Keys ({findings.mode}: {findings.scanned} of {findings.dbsize} keys inspected)",
                             "bold")]
    width = max([len(c.name) for c in findings.classes] + [len("unclassified")])
    for c in findings.classes:
        bad = ", ".join(f"{n} {k}" for k, n in c.violations.items() if n)
        mark = style.paint("✗", "red", "bold") if bad else style.paint("✓", "green")
        ttl = (f"TTL p50 {d(c.ttl_p50)} p90 {d(c.ttl_p90 or 0)} max {d(c.ttl_max or 0)}"
               if c.ttl_p50 is not None else "no TTLs")
        line = f"  {mark} {c.name:<{width}}  {c.matched:>7} keys  {bad or 'ok'}  ({ttl})"
        if c.examples:
            line += style.paint("  e.g. " + ", ".join(c.examples[:3]), "dim")
        lines.append(line)
    if findings.unclassified:
        line = f"  {style.paint('?', 'yellow')} {'unclassified':<{width}}  {findings.unclassified:>7} keys"
        if findings.unclassified_examples:
            line += style.paint("  e.g. " + ", ".join(findings.unclassified_examples[:3]), "dim")
        lines.append(line)
    return lines
