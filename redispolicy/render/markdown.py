"""Markdown for pull-request comments and $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.diagnostics import Severity
from redispolicy.render.escape import printable
from redispolicy.render.style import Style
from redispolicy.render.text.common import this_node_only
from redispolicy.render.text.keys import (
    bytes_estimate,
    capacity_lines,
    class_counts,
    on_nodes,
    remediation_lines,
    suggested_count,
)

if TYPE_CHECKING:
    from redispolicy.plan.drift import DriftReport
    from redispolicy.plan.envdiff import Comparison
    from redispolicy.plan.model import KeyFindings, Plan
    from redispolicy.report import ValidationReport

_ICON = {Severity.ERROR: "❌ error", Severity.WARNING: "⚠️ warning", Severity.NOTE: "💬 note"}


def _cell(s: str) -> str:
    """Text for a table cell or a line: control characters escaped (a value cannot start a new row
    or line), pipes escaped (nor a new column)."""
    return printable(s).replace("|", "\\|")


def render_validation(report: ValidationReport, style: Style) -> str:
    errors, warnings = report.count(Severity.ERROR), report.count(Severity.WARNING)
    head = "✅ Policies are valid" if report.valid else f"❌ {errors} policy error(s)"
    lines = [
        f"### redispolicy validate: {head}",
        "",
        f"{len(report.files)} file(s), environments: {', '.join(report.environments) or 'none'}; "
        f"{errors} error(s), {warnings} warning(s), {report.count(Severity.NOTE)} note(s).",
        "",
    ]
    shown = [d for d in report.diagnostics if d.severity > Severity.NOTE]
    if shown:
        lines += ["| | location | rule | message |", "|---|---|---|---|"]
        for d in shown:
            msg = d.message + (f" — {d.hint}" if d.hint else "")
            lines.append(f"| {_ICON[d.severity]} | `{d.location.short}` | `{d.rule}` | {_cell(msg)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_plan(plan: Plan, style: Style) -> str:
    from redispolicy.plan.drift import stale_declaration

    ident = plan.identity
    lines = [
        f"### redispolicy plan: {_cell(plan.environment or '(no environment)')}",
        "",
        f"{_cell(ident.product)} {_cell(ident.version)} at {_code(ident.address)} ({_cell(ident.role)})",
        "",
    ]
    alone = "" if plan.nodes else this_node_only("plan", ident.mode, ident.replicas)
    for note in (alone, stale_declaration(plan)):
        if note:
            lines += [f"ℹ️ {_cell(note)}", ""]
    if not plan.nodes:
        lines += _config_lines(plan)
    for node in plan.all_nodes if plan.nodes else ():  # every node of the deployment: CONFIG SET is per node
        lines += [f"#### {_code(node.identity.address)} ({_cell(node.identity.role)})", ""]
        lines += _config_lines(node)
    if plan.keys is not None:
        lines += keys_table(plan.keys, style.key_names)
    return "\n".join(lines) + "\n"


def _config_lines(plan: Plan) -> list[str]:
    """One node's config changes as a table (or why there is none)."""
    from redispolicy.plan.drift import config_not_checked

    lines: list[str] = []
    unchecked = config_not_checked(plan)
    if unchecked is not None:  # never "no changes": config was not looked at
        if unchecked.expected:
            lines += [f"ℹ️ {_cell(unchecked.text)}: {_cell(unchecked.reason)}", ""]
        else:
            lines += [f"❌ **{_cell(unchecked.text)}**", ""]
    elif not plan.pending:
        lines += ["No config changes. The server's configuration matches the policy.", ""]
    else:
        lines += ["| action | parameter | before | after | source |", "|---|---|---|---|---|"]
        for c in plan.pending:
            before = "(absent)" if c.before is None else c.before
            lines.append(
                f"| {c.action} | {_code(c.parameter)} | {_code(before)} | {_code(c.after)} | "
                f"{_code(c.source.short)} |"
            )
        lines.append("")
    return lines


def _code(s: str) -> str:
    """Inline code that survives any key name: backticks cannot be escaped inside code spans."""
    return f"`{_cell(s)}`" if "`" not in s else _cell(s)


def keys_table(findings: KeyFindings, key_names: bool = False) -> list[str]:
    """The key audit as a table: per class its size, what is wrong, TTLs, memory and examples,
    then unclassified keys with suggested patterns, the remediation estimate and capacity.

    Markdown leaves the machine (PR comments, issue bodies, job summaries): key names, and the
    suggested patterns built from them, only with ``key_names`` (--examples)."""
    from redispolicy.catalog.units import approx_duration as d

    if findings.mode == "sample":
        head = (
            f"sample: {findings.sample_size} random draws of {findings.dbsize} keys{on_nodes(findings)}, "
            "95 % intervals; classes too rare to sample counted exactly by SCAN MATCH"
        )
    else:
        head = f"exact: {findings.scanned} of {findings.dbsize} keys inspected{on_nodes(findings)}"
    bad = sum(1 for c in findings.classes if c.violating)
    icon = "❌" if bad else "✅"
    lines = [
        f"#### Keys — {icon} {bad} of {len(findings.classes)} class(es) with violations ({head})",
        "",
        "| | class | pattern | keys | violations | TTL p50 / p90 / max | memory | examples |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in findings.classes:
        size, wrong = class_counts(c)
        ttl = (
            f"{d(c.ttl_p50)} / {d(c.ttl_p90 or 0)} / {d(c.ttl_max or 0)}"
            if c.ttl_p50 is not None
            else "no TTLs"
        )
        memory = "" if c.memory_estimate is None else bytes_estimate(c.memory_estimate, c.exact)
        examples = ", ".join(_code(e) for e in c.examples[:3]) if key_names else ""
        lines.append(
            f"| {'❌' if c.violating else '✅'} | {_cell(c.name)} | {_code(c.pattern)} | "
            f"{_cell(size.strip())} | {_cell(wrong)} | {ttl} | {_cell(memory)} | {examples} |"
        )
    if findings.unclassified:
        u = findings.unclassified_estimate()
        size = (
            f"≈ {u.value:.0f} keys (95 % CI {u.low:.0f}–{u.high:.0f})"
            if findings.mode == "sample"
            else f"{findings.unclassified} keys"
        )
        examples = ", ".join(_code(e) for e in findings.unclassified_examples[:3]) if key_names else ""
        lines.append(f"| ❔ | unclassified | | {size} | no class matches | | | {examples} |")
    lines.append("")
    if not key_names and (
        any(c.examples for c in findings.classes) or findings.unclassified_examples or findings.suggestions
    ):
        lines += ["Key names (examples, suggested patterns) withheld: `--examples` includes them.", ""]
    elif findings.suggestions:
        lines += [
            "Suggested classes for the unclassified keys (paste into `keys:`): "
            + ", ".join(f"{_code(p)} ({suggested_count(findings, n)})" for p, n in findings.suggestions),
            "",
        ]
    plain = Style(color=False)
    extra = [line.strip() for line in remediation_lines(findings, plain) + capacity_lines(findings, plain)]
    lines += [f"- {_cell(line.lstrip('~ '))}" for line in extra if line]
    if extra:
        lines.append("")
    return lines


_DRIFT_ICON = {"warning": "⚠️", "critical": "❌"}
_HEALTH_ICON = {"ok": "✅ ok", "warning": "⚠️ warning", "critical": "❌ critical", "unknown": "❔ unknown"}


def render_drift(report: DriftReport, style: Style) -> str:
    """A table of findings per target, ignored ones collapsed, then a health table.

    Clean (no finding at all, every target checked): one line. Values of sensitive
    parameters never reach a finding's message, so none can reach this.
    """
    from redispolicy.plan.drift import and_list

    env = report.environment or "(no environment)"
    if report.in_sync and not any(t.notes for t in report.targets):
        where = report.targets[0].label if len(report.targets) == 1 else f"{len(report.targets)} targets"
        return (
            f"✅ **redispolicy drift · {_cell(env)}: in sync** — {_code(where)}: "
            f"{and_list(report.checked)} match the policy.\n"
        )
    active, errors, incomplete = report.active(), report.errors, report.incomplete
    failing = [f for f in active if f.fails(report.fail_on)]
    if errors:
        head = f"❌ {len(errors)} target(s) could not be checked"
    elif incomplete:
        head = f"❌ {len(incomplete)} check(s) could not run"
    elif failing:
        head = f"❌ {len(active)} finding(s)"
    elif active:
        head = f"⚠️ {len(active)} warning(s), not failing (--fail-on {report.fail_on})"
    elif report.unchecked():  # only expected ones (target.config: unavailable): not failing, not "in sync"
        head = "✅ no drift in what was checked; config not checked (expected: target.config: unavailable)"
    else:
        head = "✅ in sync"
    ignored = report.ignored()
    lines = [
        f"### redispolicy drift: {_cell(env)} — {head}",
        "",
        f"{len(report.targets)} target(s); {len(active)} active finding(s), {len(ignored)} ignored; "
        f"policy `{_cell(report.policy_file)}`.",
        "",
    ]
    for t in report.targets:
        ident = t.identity
        if t.error:
            lines += [f"#### {_code(t.label)}", "", f"❌ could not check: {_cell(t.error)}", ""]
            continue
        lines += [f"#### {_code(t.label)} — {_cell(f'{ident.product} {ident.version} ({ident.role})')}", ""]
        for nc in t.unchecked:  # never shown as passing
            lines += [f"ℹ️ {_cell(nc.text)}" if nc.expected else f"❌ **{_cell(nc.text)}**", ""]
        lines += [line for note in t.notes for line in (f"ℹ️ {_cell(note)}", "")]
        shown = t.active
        if shown:
            lines += ["| | kind | subject | message | source |", "|---|---|---|---|---|"]
            for f in shown:
                src = f"`{_cell(f.location.short)}`" if f.location else ""
                lines.append(
                    f"| {_DRIFT_ICON[f.severity]} {f.severity} | {f.kind} | `{_cell(f.subject)}` | "
                    f"{_cell(f.message)} | {src} |"
                )
            lines.append("")
        elif t.checked:
            lines += [f"✅ No active findings: {and_list(t.checked)} match the policy.", ""]
        hidden = [f for f in t.findings if f.ignored]
        if hidden:
            lines += [
                f"<details><summary>{len(hidden)} ignored finding(s)</summary>",
                "",
                "| kind | subject | message | source | reason |",
                "|---|---|---|---|---|",
            ]
            for f in hidden:
                src = f"`{_cell(f.location.short)}`" if f.location else ""
                lines.append(
                    f"| {f.kind} | `{_cell(f.subject)}` | {_cell(f.message)} | {src} | "
                    f"{_cell(f.ignored_because)} |"
                )
            lines += ["", "</details>", ""]
        if t.health:
            lines += ["| health check | value | status | threshold | detail |", "|---|---|---|---|---|"]
            for h in t.health:
                value = "" if h.value is None else f"{h.value:g}"
                limit = "" if h.threshold is None else f"{h.threshold:g}"
                lines.append(
                    f"| {h.check} | {value} | {_HEALTH_ICON.get(h.status, h.status)} | {limit} | "
                    f"{_cell(h.detail)} |"
                )
            lines.append("")
        if t.keys is not None:  # the whole audit behind the ttl_policy findings, folded
            table = keys_table(t.keys, style.key_names)
            lines += ["<details><summary>Key audit</summary>", "", *table[2:], "</details>", ""]
    return "\n".join(lines) + "\n"


def render_comparison(c: Comparison, style: Style) -> str:
    """compare, for a promotion's pull request: the verdict, then one row per difference."""
    a, b = _cell(c.env_a), _cell(c.env_b)
    if c.unexpected:
        head = f"❌ {len(c.unexpected)} unexpected difference(s)"
    elif c.differences:
        head = "✅ Only expected differences"
    else:
        head = "✅ The same"
    what = "live servers" if c.mode == "live" else "effective policies"
    lines = [
        f"### redispolicy compare {a} → {b}: {head}",
        "",
        f"{what.capitalize()}: {a} ({_code(c.sides[0])}) and {b} ({_code(c.sides[1])}); "
        f"{c.compared} path(s) compared, {len(c.expected)} expected and {len(c.unexpected)} unexpected "
        "difference(s).",
        "",
    ]
    if c.differences:
        lines += [f"| path | {a} | {b} | expected? |", "|---|---|---|---|"]
        for d in c.differences:
            judged = f"✅ {_cell(d.expected.reason)}" if d.expected is not None else "❌ unexpected"
            lines.append(f"| {_code(d.path)} | {_value(d.a)} | {_value(d.b)} | {judged} |")
        lines.append("")
    for e in c.stale:
        lines += [
            f"⚠️ stale `expected_differences` entry at `{_cell(e.location.short)}` ({_cell(e.subject)}): "
            "it matched no difference",
            "",
        ]
    return "\n".join(lines) + "\n"


def _value(v: str | None) -> str:
    return "*(not set)*" if v is None else _code(v) if v else '`""`'
