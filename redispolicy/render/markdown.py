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


_DRIFT_ICON = {"warning": "⚠️", "critical": "❌"}
_HEALTH_ICON = {"ok": "✅ ok", "warning": "⚠️ warning", "critical": "❌ critical", "unknown": "❔ unknown"}


def render_drift(report: object, style: Style) -> str:
    """A table of findings per target, ignored ones collapsed, then a health table.

    Clean (no finding at all, every target checked): one line. Values of sensitive
    parameters never reach a finding's message, so none can reach this.
    """
    from redispolicy.plan.drift import DriftReport

    assert isinstance(report, DriftReport)
    env = report.environment or "(no environment)"
    if report.in_sync:
        where = report.targets[0].label if len(report.targets) == 1 else f"{len(report.targets)} targets"
        return f"✅ **redispolicy drift · {_cell(env)}: in sync** — `{_cell(where)}`: config, keys and health " \
               "match the policy.\n"
    active, errors = report.active(), report.errors
    failing = [f for f in active if f.fails(report.fail_on)]
    if errors:
        head = f"❌ {len(errors)} target(s) could not be checked"
    elif failing:
        head = f"❌ {len(active)} finding(s)"
    elif active:
        head = f"⚠️ {len(active)} warning(s), not failing (--fail-on {report.fail_on})"
    else:
        head = "✅ in sync"
    ignored = report.ignored()
    lines = [f"### redispolicy drift: {_cell(env)} — {head}", "",
             f"{len(report.targets)} target(s); {len(active)} active finding(s), {len(ignored)} ignored; "
             f"policy `{_cell(report.policy_file)}`.", ""]
    for t in report.targets:
        ident = t.identity
        if t.error:
            lines += [f"#### `{_cell(t.label)}`", "", f"❌ could not check: {_cell(t.error)}", ""]
            continue
        lines += [f"#### `{_cell(t.label)}` — {ident.product} {ident.version} ({ident.role})", ""]
        if not t.plan.config_available:
            lines += [f"⚠️ {_cell(t.plan.config_reason)}", ""]
        shown = t.active
        if shown:
            lines += ["| | kind | subject | message | source |", "|---|---|---|---|---|"]
            for f in shown:
                src = f"`{_cell(f.location.short)}`" if f.location else ""
                lines.append(f"| {_DRIFT_ICON[f.severity]} {f.severity} | {f.kind} | `{_cell(f.subject)}` | "
                             f"{_cell(f.message)} | {src} |")
            lines.append("")
        else:
            lines += ["✅ No active findings: config, keys and health match the policy.", ""]
        hidden = [f for f in t.findings if f.ignored]
        if hidden:
            lines += [f"<details><summary>{len(hidden)} ignored finding(s)</summary>", "",
                      "| kind | subject | message | source | reason |", "|---|---|---|---|---|"]
            for f in hidden:
                src = f"`{_cell(f.location.short)}`" if f.location else ""
                lines.append(f"| {f.kind} | `{_cell(f.subject)}` | {_cell(f.message)} | {src} | "
                             f"{_cell(f.ignored_because)} |")
            lines += ["", "</details>", ""]
        if t.health:
            lines += ["| health check | value | status | threshold | detail |", "|---|---|---|---|---|"]
            for h in t.health:
                value = "" if h.value is None else f"{h.value:g}"
                limit = "" if h.threshold is None else f"{h.threshold:g}"
                lines.append(f"| {h.check} | {value} | {_HEALTH_ICON.get(h.status, h.status)} | {limit} | "
                             f"{_cell(h.detail)} |")
            lines.append("")
    return "\n".join(lines) + "\n"
