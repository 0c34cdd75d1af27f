"""Human text: one line per diagnostic, compiler style, then a verdict line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.render.escape import printable as p
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport

if TYPE_CHECKING:
    from redispolicy.apply.remediate import RemediationResult
    from redispolicy.apply.report import KeysOutcome
    from redispolicy.plan.keys import ClassFindings, KeyFindings
    from redispolicy.plan.stats import Estimate

_COLOR = {Severity.ERROR: ("red", "bold"), Severity.WARNING: ("yellow",), Severity.NOTE: ("blue",)}


def diagnostic_line(d: Diagnostic, style: Style) -> str:
    sev = style.paint(d.severity.label, *_COLOR[d.severity])
    head = f"{style.paint(str(d.location), 'bold')}: {sev}: {p(d.message)} {style.paint(f'[{d.rule}]', 'dim')}"
    if d.hint:
        head += "\n  " + style.paint("hint:", "cyan") + " " + p(d.hint)
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
    before = "(absent)" if c.before is None else (p(c.before) if c.before != "" else '""')
    after = p(c.after) if c.after != "" else '""'
    return after if c.action == "noop" else f"{before} → {after}"


def render_plan(plan: object, style: Style) -> str:
    from redispolicy.plan.drift import config_not_checked, stale_declaration
    from redispolicy.plan.model import Plan

    assert isinstance(plan, Plan)
    ident = plan.identity
    lines = [style.paint(p(f"redispolicy plan · {plan.environment or '(no environment)'} · "
                           f"{ident.product} {ident.version} at {ident.address} ({ident.role})"), "bold"), ""]
    keys = keys_lines(plan.keys, style) if plan.keys is not None else []
    unchecked = config_not_checked(plan)
    if unchecked is not None:  # a plan of nothing is not "no changes": say config was not checked, and why
        if unchecked.expected:
            lines += [style.paint(p(f"{unchecked.text}: {unchecked.reason}"), "yellow")]
        else:
            lines += [style.paint(p(f"✗ {unchecked.text}"), "red", "bold")]
        return "\n".join(lines + keys) + "\n"
    shown = [c for c in plan.changes if c.changed or style.verbose]
    for note in (this_node_only(ident), stale_declaration(plan)):
        if note:
            lines += [style.paint("note: " + note, "yellow"), ""]
    if not plan.pending:
        lines.append(style.paint("No changes. The server matches the policy.", "green"))
        return "\n".join(lines + keys) + "\n"
    width = max(len(c.parameter) for c in shown)
    values = [_plan_value(c) for c in shown]
    vwidth = min(max(len(v) for v in values), 60)
    for c, value in zip(shown, values, strict=True):
        sym, color = _SYMBOL[c.action]
        danger = style.paint("  ⚠ dangerous (allow_dangerous)", "red", "bold") if c.dangerous and c.changed else ""
        lines.append(f"  {style.paint(sym, color, 'bold')} {p(c.parameter):<{width}}  {value:<{vwidth}}  "
                     + style.paint(c.source.short, "dim") + danger)
    kinds = [k for k in ("set", "restart", "protected", "unsupported") if any(c.action == k for c in plan.pending)]
    lines.append("")
    lines.append("Legend: " + " · ".join(f"{style.paint(_SYMBOL[k][0], _SYMBOL[k][1])} {_LEGEND[k]}" for k in kinds))
    counts = {k: sum(1 for c in plan.pending if c.action == k) for k in kinds}
    words = {"set": "to set", "restart": "needing a restart", "protected": "protected",
             "unsupported": "unsupported"}
    lines.append(style.paint("Plan: ", "bold") + ", ".join(f"{n} {words[k]}" for k, n in counts.items()) + ".")
    return "\n".join(lines + keys) + "\n"


def this_node_only(ident: object, verb: str = "plan") -> str:
    """Plan and apply work on one node; CONFIG SET is not replicated. Say so where it matters."""
    from redispolicy.live.snapshot import Identity

    assert isinstance(ident, Identity)
    if ident.mode == "cluster":
        return (f"a cluster node: this {verb} covers this node only (CONFIG SET reaches no other node); "
                "`redispolicy drift` checks every node")
    if ident.replicas:
        return (f"this primary has {ident.replicas} replica(s), which a CONFIG SET here does not reach: "
                f"this {verb} covers this node only; `redispolicy drift` checks every node")
    return ""


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
    elif report.status == "nothing" and report.keys is not None:
        title = "No config changes to apply."
    lines.append(style.paint(title, color, "bold"))
    if report.detail:
        lines.append(f"  {p(report.detail)}")
    if report.audit_error:
        lines.append(style.paint(f"  ⚠ the audit record was not written: {report.audit_error}", "red", "bold"))
    if report.scope_note:
        lines.append(style.paint(f"  note: {report.scope_note}", "yellow"))
    for m in report.moved:
        lines.append(f"  - {p(m)}")
    for m in report.mismatches:
        lines.append(f"  - {p(m)}")
    if report.applied and report.status in ("applied", "not_persisted"):
        lines.append("")
        width = max(len(c.parameter) for c in report.applied)
        for c in report.applied:
            value = "(sensitive value changed)" if c.sensitive else f"{p(_shown(c.before))} → {p(_shown(c.after))}"
            lines.append(f"  {style.paint('~', 'yellow', 'bold')} {c.parameter:<{width}}  {value}")
    if report.status in ("partial", "unknown") and report.now_live:
        lines += ["", "Now live on the server:"] + [f"  {k} = {p(str(v))}" for k, v in report.now_live.items()]
    if report.persisted is True:
        lines.append(style.paint("Persisted with CONFIG REWRITE.", "green"))
    if report.not_applied:
        lines += ["", "Not applied (needs an operator):"]
        lines += [f"  {_SYMBOL[a][0]} {p}: {NEXT_STEP.get(a, a)}" for p, a in report.not_applied]
    if report.keys is not None:
        lines += _apply_keys_lines(report.keys, style)
    return "\n".join(lines) + "\n"


def _counts(r: RemediationResult) -> str:
    return f"({r.no_ttl} without one, {r.over_max} above max lowered to max)"


def _apply_keys_lines(k: KeysOutcome, style: Style) -> list[str]:
    """apply --remediate-keys: the key step, under the config result."""
    lines = [""]
    if k.status == "nothing":
        return ["", f"Keys: {k.detail}."]
    if k.status == "skipped":
        return ["", style.paint(f"Keys: not remediated ({k.detail}): no key was changed.", "yellow")]
    r = k.result
    assert r is not None
    if k.status == "done" and r.changed:
        touched = sum(1 for c in r.classes if c.changed)
        lines.append(style.paint(f"✓ Keys: {_keys(r.changed)} got a TTL {_counts(r)} in {touched} "
                                 f"class{'' if touched == 1 else 'es'}", "green", "bold"))
    elif k.status == "done":
        lines.append(style.paint(f"✓ Keys: no key needed a TTL ({len(r.classes)} remediate "
                                 f"class{'' if len(r.classes) == 1 else 'es'} checked)", "green", "bold"))
    else:
        what = "Interrupted" if k.status == "interrupted" else "Stopped by an error"
        lines.append(style.paint(f"⚠ Keys: {what}: {_keys(r.changed)} got a TTL so far {_counts(r)}; "
                                 "PARTIALLY APPLIED", "red", "bold"))
    lines += _remediation_rows(r, False, style)
    how = "EXPIRE NX / LT" if r.method == "expire-nx-lt" else "an atomic PTTL+EXPIRE script (Redis 6)"
    lines.append(f"  {r.scanned} keys scanned in {r.seconds:.1f} s, with {how}")
    if k.detail:
        lines.append(f"  {k.detail}")
    return lines


def _approx(x: float) -> str:
    return f"{x:.0f}" if x >= 10 or x == 0 else f"{x:.1f}"


def _percent(rate: float) -> str:
    pct = rate * 100
    return f"{pct:.2g} %" if pct < 10 else f"{pct:.0f} %"


def class_counts(c: ClassFindings) -> tuple[str, str]:
    """(how many keys, what is wrong) for one class, in the wording its mode allows."""
    if c.exact:
        size = f"{c.matched:>7} keys" + (" (exact, SCAN MATCH)" if c.via == "match" else "")
        bad = ", ".join(f"{n} {k}" for k, n in c.violations.items() if n)
        return size, bad or "ok"
    m = c.matched_estimate()
    size = f"≈ {_approx(m.value)} keys (95 % CI {_approx(m.low)}–{_approx(m.high)})"
    if c.upper_bound_rate is not None:
        return size, f"0 sampled violations: < {_percent(c.upper_bound_rate)} (95 %)"
    bad = ", ".join(f"{k} ≈ {_approx(e.value)} ({_approx(e.low)}–{_approx(e.high)})"
                    for k, e in c.violation_estimates().items() if c.violations.get(k))
    return size, bad


def suggested_count(findings: KeyFindings, n: int) -> str:
    if findings.mode == "sample" and findings.sample_size:
        return f"≈ {_approx(n * findings.dbsize / findings.sample_size)} keys, {n} sampled"
    return f"{n} key" + ("" if n == 1 else "s")


def on_nodes(findings: KeyFindings) -> str:
    """' on 3 cluster masters' when the audit covered a cluster's masters, else ''."""
    n = len(findings.nodes)
    return f" on {n} cluster master{'' if n == 1 else 's'}" if n else ""


def keys_lines(findings: object, style: Style) -> list[str]:
    from redispolicy.catalog.units import approx_duration as d
    from redispolicy.plan.keys import KeyFindings

    assert isinstance(findings, KeyFindings)
    where = on_nodes(findings)
    if findings.mode == "sample":
        matched = sum(1 for c in findings.classes if c.via == "match")
        head = (f"Keys (sample: {findings.sample_size} random draws of {findings.dbsize} keys{where}, 95 % intervals"
                + (f"; {matched} rare class(es) counted exactly by SCAN MATCH" if matched else "") + ")")
    else:
        head = f"Keys ({findings.mode}: {findings.scanned} of {findings.dbsize} keys inspected{where})"
    lines = ["", style.paint(head, "bold")]
    if not style.key_names and (any(c.examples for c in findings.classes) or findings.unclassified_examples
                                or findings.suggestions):
        lines.append(style.paint("  key names withheld (examples, suggested patterns): --examples includes them",
                                 "dim"))
    if findings.nodes and style.verbose:
        lines.append(style.paint("  cluster masters: " + ", ".join(findings.nodes), "dim"))
    width = max([len(c.name) for c in findings.classes] + [len("unclassified")])
    for c in findings.classes:
        size, bad = class_counts(c)
        mark = style.paint("✗", "red", "bold") if c.violating else style.paint("✓", "green")
        ttl = (f"TTL p50 {d(c.ttl_p50)} p90 {d(c.ttl_p90 or 0)} max {d(c.ttl_max or 0)}"
               if c.ttl_p50 is not None else "no TTLs")
        line = f"  {mark} {p(c.name):<{width}}  {size}  {bad}  ({ttl})"
        if c.memory_estimate is not None:
            line += f"  memory {bytes_estimate(c.memory_estimate, c.exact)}"
        if c.examples and style.key_names:
            line += style.paint("  e.g. " + p(", ".join(c.examples[:3])), "dim")
        lines.append(line)
    if findings.unclassified:
        if findings.mode == "sample":
            u = findings.unclassified_estimate()
            size = f"≈ {_approx(u.value)} keys (95 % CI {_approx(u.low)}–{_approx(u.high)})"
        else:
            size = f"{findings.unclassified:>7} keys"
        line = f"  {style.paint('?', 'yellow')} {'unclassified':<{width}}  {size}"
        if findings.unclassified_examples and style.key_names:
            line += style.paint("  e.g. " + p(", ".join(findings.unclassified_examples[:3])), "dim")
        lines.append(line)
        if findings.suggestions and style.key_names:  # built from key names: as private as they are
            lines.append("    suggested classes: " + p(", ".join(
                f"{pattern} ({suggested_count(findings, n)})" for pattern, n in findings.suggestions)))
    lines += remediation_lines(findings, style)
    lines += capacity_lines(findings, style)
    return lines


def bytes_estimate(e: Estimate, exact: bool) -> str:
    from redispolicy.catalog.units import human_bytes as b

    if exact:
        return b(round(e.value))
    return f"≈ {b(round(e.value))} (95 % CI {b(round(e.low))}–{b(round(e.high))})"


def capacity_lines(findings: object, style: Style) -> list[str]:
    """Under the key audit (--memory): each capacity workload's observed size against the policy's estimate."""
    from redispolicy.catalog.units import human_bytes
    from redispolicy.plan.keys import KeyFindings

    assert isinstance(findings, KeyFindings)
    if not findings.capacity:
        return []
    lines = [style.paint("  capacity (observed MEMORY USAGE vs the policy's estimate):", "bold")]
    for o in findings.capacity:
        k = o.observed_keys
        keys = f"{round(k.value)} keys" if o.exact else f"≈ {_approx(k.value)} keys"
        observed = ("not measured (MEMORY USAGE unavailable)" if o.observed_bytes is None
                    else bytes_estimate(o.observed_bytes, o.exact))
        if not o.exact and o.observed_bytes is not None:
            observed = observed[:-1] + f"; {keys})"
        else:
            observed += f" ({keys})"
        est = "unknown" if o.estimate_bytes is None else human_bytes(o.estimate_bytes)
        lines.append(f"    {o.key_class}: observed {observed} vs policy estimate {est}")
    return lines


def remediation_lines(findings: object, style: Style) -> list[str]:
    """Under the key audit: how many keys of `remediate: true` classes `redispolicy remediate` would fix."""
    from redispolicy.plan.keys import KeyFindings

    assert isinstance(findings, KeyFindings)
    fixable = [c for c in findings.classes if c.remediate]
    if not fixable:
        return []
    exact = all(c.exact for c in fixable)
    no_ttl = over = 0.0
    for c in fixable:
        counts = c.violations if c.exact else {k: e.value for k, e in c.violation_estimates().items()}
        no_ttl += counts.get("no_ttl", 0)
        over += counts.get("ttl_over_max", 0)
    if round(no_ttl + over) == 0:
        return []
    n, a, b = (f"{no_ttl + over:.0f}", f"{no_ttl:.0f}", f"{over:.0f}")
    text = (f"remediation: {n} keys would get a TTL ({a} without one, {b} above max lowered to max)" if exact
            else f"remediation: about {n} keys would get a TTL (≈ {a} without one, ≈ {b} above max; "
                 "estimated from the sample)")
    return [f"  {style.paint('~', 'yellow', 'bold')} {text}",
            style.paint("    `redispolicy remediate -e ENV` counts them exactly (a dry run); "
                        "`redispolicy apply --remediate-keys` sets the TTLs and reports the exact counts", "dim")]


def remediate_keys_notice(classes: Sequence[tuple[str, str, int]], remediate_cmd: str, style: Style) -> str:
    """What apply -e ENV --remediate-keys shows before asking: the classes whose keys will get a TTL.

    ``classes``: (name, pattern, ttl max in seconds) of every class with `remediate: true`.
    """
    from redispolicy.catalog.units import human_duration

    head = style.paint("Keys (--remediate-keys):", "bold")
    if not classes:
        return f"\n{head} no key class has `remediate: true` with `ttl: {{max: ...}}`: no key will change.\n"
    width = max(len(n) for n, _, _ in classes)
    pwidth = max(len(p) for _, p, _ in classes)
    names = ", ".join(n for n, _, _ in classes)
    lines = ["", f"{head} after the config step, keys of {names} will get TTLs:"]
    lines += [f"  {style.paint('~', 'yellow', 'bold')} {n:<{width}}  {p:<{pwidth}}  max {human_duration(m)}"
              for n, p, m in classes]
    lines += ["  A key without a TTL gets the class's max; a key above it is lowered to max; no other key changes.",
              style.paint(f"  `{remediate_cmd}` counts them first without changing anything.", "dim")]
    return "\n".join(lines) + "\n"


def _head(verb: str, environment: str | None, address: str, mode: str, style: Style) -> list[str]:
    parts = [f"redispolicy {verb}", environment or "(no environment)"] + ([address] if address else []) + [mode]
    return [style.paint(" · ".join(parts), "bold"), ""]


def _keys(n: int) -> str:
    return f"{n} key{'' if n == 1 else 's'}"


def _remediation_rows(r: RemediationResult, dry: bool, style: Style) -> list[str]:
    """One line per remediate class: pattern, max, keys inspected and what was (dry run: would be) changed."""
    from redispolicy.catalog.units import human_duration

    width = max([len(c.name) for c in r.classes] + [5])
    pwidth = max([len(c.pattern) for c in r.classes] + [7])
    lines = []
    for c in r.classes:
        did = (f"{c.no_ttl} without a TTL, {c.over_max} above max" if dry
               else f"{c.no_ttl} got a TTL, {c.over_max} lowered to max")
        mark = style.paint("~", "yellow", "bold") if c.changed else style.paint("✓", "green")
        lines.append(f"  {mark} {c.name:<{width}}  {c.pattern:<{pwidth}}  max {human_duration(c.ttl_max):<4}  "
                     f"{c.matched:>7} keys  {did}")
    return lines


def render_remediation(report: object, style: Style) -> str:
    from redispolicy.apply.remediate import RemediationReport

    assert isinstance(report, RemediationReport)
    dry = report.status == "dry_run" or (report.result is not None and report.result.dry_run)
    lines = _head("remediate", report.environment, report.address, "dry run" if dry else "execute", style)
    r = report.result
    if r is None:
        lines.append(report.detail)
        return "\n".join(lines) + "\n"
    lines += _remediation_rows(r, dry, style)
    lines.append("")
    took = f"{r.scanned} keys scanned in {r.seconds:.1f} s"
    if r.resumed:
        took += "; resumed from a checkpoint (the counts include the earlier run)"
    if r.restarted:
        took += "; the server restarted since the checkpoint, so unfinished dbs were scanned from the start"
    if dry:
        verdict = (f"Dry run: {_keys(r.changed)} would get a TTL ({r.no_ttl} without one, {r.over_max} above max "
                   f"lowered to max). Nothing was changed; run with --execute to set them.")
        lines.append(style.paint(verdict, "bold"))
    elif report.status == "done":
        how = "EXPIRE NX / LT" if r.method == "expire-nx-lt" else "an atomic PTTL+EXPIRE script (Redis 6)"
        verdict = (f"✓ Remediated {_keys(r.changed)}: {r.no_ttl} got a TTL, {r.over_max} had it lowered to max "
                   f"({how}).")
        lines.append(style.paint(verdict, "green", "bold"))
    else:
        verdict = (f"⚠ {'Interrupted' if report.status == 'interrupted' else 'Stopped'}: {_keys(r.changed)} changed "
                   f"so far ({r.no_ttl} got a TTL, {r.over_max} lowered to max).")
        lines.append(style.paint(verdict, "red", "bold"))
    lines.append(f"  {took}")
    if report.detail:
        lines.append(f"  {report.detail}")
    return "\n".join(lines) + "\n"


def _cleanup_rule(c: object) -> str:
    from redispolicy.apply.cleanup import ClassCleanup
    from redispolicy.catalog.units import human_duration

    assert isinstance(c, ClassCleanup)
    return "always" if c.always else f"idle over {human_duration(c.idle_over or 0)}"


def render_cleanup(report: object, style: Style) -> str:
    from redispolicy.apply.cleanup import DELETE_CHUNK, CleanupReport

    assert isinstance(report, CleanupReport)
    mode = {"dry_run": "dry run", "preview": "execute: listed for deletion"}.get(
        report.status, "execute" if report.execute else "dry run")
    lines = _head("cleanup", report.environment, report.address, mode, style)
    if report.status == "refused":
        lines.append(style.paint("✗ Refused: nothing was deleted.", "red", "bold"))
        for name, pattern in report.refused:
            lines.append(f"  class '{name}' (pattern '{pattern}') matches every key: cleaning it up would empty "
                         "the database")
        lines.append("  " + style.paint("hint:", "cyan") + " give those classes a narrower pattern (e.g. 'tmp:*') "
                     "or remove their `cleanup:`; redispolicy never flushes a database")
        return "\n".join(lines) + "\n"
    if report.status == "nothing":
        lines.append(report.detail)
        return "\n".join(lines) + "\n"
    done = report.status in ("done", "interrupted", "failed")
    width = max([len(c.name) for c in report.classes] + [5])
    pwidth = max([len(c.pattern) for c in report.classes] + [7])
    rwidth = max([len(_cleanup_rule(c)) for c in report.classes] + [6])
    for c in report.classes:
        what = (f"{c.deleted} deleted, {c.skipped} skipped" if done
                else f"{c.eligible} of {c.matched} keys eligible")
        mark = style.paint("-", "red", "bold") if (c.deleted if done else c.eligible) else style.paint("✓", "green")
        lines.append(f"  {mark} {c.name:<{width}}  {c.pattern:<{pwidth}}  {_cleanup_rule(c):<{rwidth}}  {what}")
        if c.examples and not done:
            lines.append(style.paint("      e.g. " + ", ".join(c.examples), "dim"))
    lines.append("")
    if report.status == "dry_run":
        lines.append(style.paint(f"Dry run: {_keys(report.eligible)} would be deleted (UNLINK). Nothing was deleted; "
                                 "run with --execute to delete them.", "bold"))
    elif report.status == "preview":
        lines.append(style.paint(f"Deleting {_keys(report.eligible)} (UNLINK, at most {DELETE_CHUNK} per call; each "
                                 "key is checked again right before, and skipped if it was used since).", "bold"))
    elif report.status == "done":
        lines.append(style.paint(f"✓ Deleted {_keys(report.deleted)}; {report.skipped} skipped (used or gone since "
                                 "they were listed).", "green", "bold"))
    else:
        lines.append(style.paint(f"⚠ {'Interrupted' if report.status == 'interrupted' else 'Stopped'}: "
                                 f"{_keys(report.deleted)} deleted so far, {report.skipped} skipped.", "red", "bold"))
    lines.append(f"  {report.scanned} keys scanned in {report.seconds:.1f} s")
    if report.detail:
        lines.append(f"  {report.detail}")
    return "\n".join(lines) + "\n"


_SEVERITY = {"warning": ("yellow",), "critical": ("red", "bold")}


def _drift_scope(report: object) -> str:
    from redispolicy.plan.drift import DriftReport

    assert isinstance(report, DriftReport)
    env = report.environment or "(no environment)"
    if len(report.targets) == 1:
        t = report.targets[0]
        return p(f"{env} · {t.label} ({t.identity.product} {t.identity.version}, {t.identity.role})")
    return p(f"{env} · {len(report.targets)} targets "
             f"({', '.join(t.name or t.identity.address for t in report.targets)})")


def render_drift(report: object, style: Style) -> str:
    from redispolicy.plan.drift import DriftReport, and_list

    assert isinstance(report, DriftReport)
    measured = any(t.keys is not None and t.keys.capacity for t in report.targets)
    noted = any(t.notes for t in report.targets)
    if report.in_sync and not style.verbose and not measured and not noted:  # nothing at all to say: one line
        return (style.paint("✓ in sync:", "green", "bold") + f" {_drift_scope(report)}: "
                f"{and_list(report.checked)} match the policy\n")
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
            lines.append(style.paint(f"  ✓ {'' if t.unchecked else 'in sync: '}{and_list(t.checked)} match the policy",
                                     "green"))
        for f in t.findings:
            where = style.paint(f"  {p(f.location.short)}", "dim") if f.location else ""
            if f.ignored:
                lines.append(style.paint(p(f"  - ignored ({f.ignored_because}): {f.kind}: {f.message}"), "dim"))
            else:
                lines.append(f"  {style.paint(f.severity, *_SEVERITY[f.severity])} {f.kind}: {p(f.message)}{where}")
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
        verdict = style.paint(f"✗ not checked: {what} ({len(incomplete)} check(s) could not run)", "red", "bold")
        if active:
            verdict += f"; {len(active)} finding(s) in what was checked"
    elif failing:
        verdict = style.paint(f"✗ {len(active)} finding(s)", "red", "bold") + f" across {n} target(s)"
    elif active:
        verdict = (style.paint(f"⚠ {len(active)} warning(s)", "yellow", "bold")
                   + f" across {n} target(s), below --fail-on {report.fail_on}: not failing")
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


def _unchecked_lines(t: object, style: Style) -> list[str]:
    """A target's checks that could not run (never shown as passing), then its notes."""
    from redispolicy.plan.drift import TargetDrift

    assert isinstance(t, TargetDrift)
    lines = []
    for nc in t.unchecked:
        if nc.expected:
            lines.append(style.paint(p(f"  - {nc.text}"), "dim"))
        else:
            lines.append(style.paint(p(f"  ✗ {nc.text}"), "red", "bold"))
    lines += [style.paint(p(f"  note: {note}"), "yellow") for note in t.notes]
    return lines
