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
