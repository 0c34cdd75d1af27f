"""drift: per target its findings, the checks that could not run and (with -v) health; one
line when everything is in sync; then a verdict across targets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.render.escape import printable as p
from redispolicy.render.style import Style
from redispolicy.render.text.keys import capacity_lines

if TYPE_CHECKING:
    from redispolicy.plan.drift import DriftReport, TargetDrift

_SEVERITY = {"warning": ("yellow",), "critical": ("red", "bold")}


def _drift_scope(report: DriftReport) -> str:
    env = report.environment or "(no environment)"
    if len(report.targets) == 1:
        t = report.targets[0]
        return p(f"{env} · {t.label} ({t.identity.product} {t.identity.version}, {t.identity.role})")
    return p(
        f"{env} · {len(report.targets)} targets "
        f"({', '.join(t.name or t.identity.address for t in report.targets)})"
    )


def render_drift(report: DriftReport, style: Style) -> str:
    from redispolicy.plan.drift import and_list

    measured = any(t.keys is not None and t.keys.capacity for t in report.targets)
    noted = any(t.notes for t in report.targets)
    if report.in_sync and not style.verbose and not measured and not noted:  # nothing at all to say: one line
        return (
            style.paint("✓ in sync:", "green", "bold") + f" {_drift_scope(report)}: "
            f"{and_list(report.checked)} match the policy\n"
        )
    lines: list[str] = []
    for t in report.targets:
        ident = t.identity
        head = p(f"redispolicy drift · {report.environment or '(no environment)'} · {t.label}")
        if t.error:
            lines += [style.paint(head, "bold"), style.paint(p(f"  ✗ could not check: {t.error}"), "red"), ""]
            continue
        lines.append(style.paint(p(f"{head} ({ident.product} {ident.version}, {ident.role})"), "bold"))
        lines += _unchecked_lines(t, style)
        if not t.findings and t.checked:  # "in sync" only when every check ran
            lines.append(
                style.paint(
                    f"  ✓ {'' if t.unchecked else 'in sync: '}{and_list(t.checked)} match the policy", "green"
                )
            )
        for f in t.findings:
            where = style.paint(f"  {p(f.location.short)}", "dim") if f.location else ""
            if f.ignored:
                lines.append(
                    style.paint(p(f"  - ignored ({f.ignored_because}): {f.kind}: {f.message}"), "dim")
                )
            else:
                lines.append(
                    f"  {style.paint(f.severity, *_SEVERITY[f.severity])} {f.kind}: {p(f.message)}{where}"
                )
        if t.keys is not None:
            lines += capacity_lines(t.keys, style)
        if style.verbose:
            for h in t.health:
                value = "" if h.value is None else f"{h.value:g}"
                lines.append(style.paint(f"    {h.check}: {value} {h.status} {h.detail}".rstrip(), "dim"))
        lines.append("")
    active, ignored, errors, incomplete = report.active(), report.ignored(), report.errors, report.incomplete
    n = len(report.targets)
    failing = [f for f in active if f.fails(report.fail_on)]
    expected = len(report.unchecked()) - len(incomplete)
    if errors:
        verdict = style.paint(f"✗ {len(errors)} of {n} target(s) could not be checked", "red", "bold")
        if active:
            verdict += f"; {len(active)} finding(s) on the others"
    elif incomplete:
        what = and_list(sorted({nc.check for _, nc in incomplete}, key=("config", "keys", "health").index))
        verdict = style.paint(
            f"✗ not checked: {what} ({len(incomplete)} check(s) could not run)", "red", "bold"
        )
        if active:
            verdict += f"; {len(active)} finding(s) in what was checked"
    elif failing:
        verdict = style.paint(f"✗ {len(active)} finding(s)", "red", "bold") + f" across {n} target(s)"
    elif active:
        verdict = (
            style.paint(f"⚠ {len(active)} warning(s)", "yellow", "bold")
            + f" across {n} target(s), below --fail-on {report.fail_on}: not failing"
        )
    elif expected:
        verdict = style.paint("✓ no drift in what was checked", "green", "bold") + f": {n} target(s)"
    else:
        verdict = style.paint("✓ in sync", "green", "bold") + f": {n} target(s)"
    if expected:
        verdict += f"; config not checked on {expected} (expected: target.config: unavailable)"
    if ignored:
        verdict += f"; {len(ignored)} ignored"
    lines.append(verdict)
    return "\n".join(lines) + "\n"


def _unchecked_lines(t: TargetDrift, style: Style) -> list[str]:
    """A target's checks that could not run (never shown as passing), then its notes."""
    lines = []
    for nc in t.unchecked:
        if nc.expected:
            lines.append(style.paint(p(f"  - {nc.text}"), "dim"))
        else:
            lines.append(style.paint(p(f"  ✗ {nc.text}"), "red", "bold"))
    lines += [style.paint(p(f"  note: {note}"), "yellow") for note in t.notes]
    return lines
