"""validate: one line per diagnostic, compiler style, then a verdict line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.diagnostics import Severity
from redispolicy.render.style import Style
from redispolicy.render.text.common import diagnostic_line, plural

if TYPE_CHECKING:
    from redispolicy.report import ValidationReport


def render_validation(report: ValidationReport, style: Style) -> str:
    shown = [d for d in report.diagnostics if d.severity > Severity.NOTE or style.verbose]
    if style.quiet:
        shown = [d for d in shown if d.severity == Severity.ERROR]
    lines = [diagnostic_line(d, style) for d in shown]
    errors, warnings, notes = (report.count(s) for s in (Severity.ERROR, Severity.WARNING, Severity.NOTE))
    envs = ", ".join(report.environments) or "none"
    scope = f"{plural(len(report.files), 'file')} (environments: {envs})"
    extra = []
    if warnings:
        extra.append(plural(warnings, "warning"))
    if notes:
        extra.append(plural(notes, "note") + ("" if style.verbose else " (-v shows them)"))
    if errors:
        verdict = style.paint(f"✗ {plural(errors, 'error')}", "red", "bold") + f" in {scope}"
    else:
        verdict = style.paint("✓ valid:", "green", "bold") + f" {scope}"
    if extra:
        verdict += "; " + ", ".join(extra)
    if lines:
        lines.append("")
    lines.append(verdict)
    return "\n".join(lines) + "\n"
