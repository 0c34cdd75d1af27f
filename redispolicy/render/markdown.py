"""Markdown for pull-request comments and $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from redispolicy.diagnostics import Severity
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport

_ICON = {Severity.ERROR: "❌ error", Severity.WARNING: "⚠️ warning", Severity.NOTE: "💬 note"}


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_validation(report: ValidationReport, style: Style) -> str:
    errors, warnings = report.count(Severity.ERROR), report.count(Severity.WARNING)
    head = "✅ Policies are valid" if report.valid else f"❌ {errors} policy error(s)"
    lines = [f"### redispolicy validate: {head}", "",
             f"{len(report.files)} file(s), environments: {', '.join(report.environments) or 'none'}; "
             f"{errors} error(s), {warnings} warning(s), {report.count(Severity.NOTE)} note(s).", ""]
    shown = [d for d in report.diagnostics if d.severity > Severity.NOTE]
    if shown:
        lines += ["| | location | rule | message |", "|---|---|---|---|"]
        for d in shown:
            msg = d.message + (f" — {d.hint}" if d.hint else "")
            lines.append(f"| {_ICON[d.severity]} | `{d.location.short}` | `{d.rule}` | {_cell(msg)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_plan(plan: object, style: Style) -> str:
    from redispolicy.plan.model import Plan

    assert isinstance(plan, Plan)
    ident = plan.identity
    lines = [f"### redispolicy plan: {plan.environment or '(no environment)'}", "",
             f"{ident.product} {ident.version} at `{ident.address}` ({ident.role})", ""]
    if not plan.config_available:
        return "\n".join([*lines, f"⚠️ {plan.config_reason}", ""]) + "\n"
    if not plan.pending:
        return "\n".join([*lines, "No changes. The server matches the policy.", ""]) + "\n"
    lines += ["| action | parameter | before | after | source |", "|---|---|---|---|---|"]
    for c in plan.pending:
        before = "(absent)" if c.before is None else c.before
        lines.append(f"| {c.action} | `{c.parameter}` | `{_cell(before)}` | `{_cell(c.after)}` | "
                     f"`{c.source.short}` |")
    lines.append("")
    return "\n".join(lines) + "\n"
