"""apply: the outcome, what was applied (read back), what needs an operator, the nodes it did
not reach, and with --remediate-keys the key step; and what apply -e shows before asking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from redispolicy.catalog.units import human_duration
from redispolicy.render.escape import printable as p
from redispolicy.render.style import Style
from redispolicy.render.text.common import SYMBOL, keys_count, shown, this_node_only
from redispolicy.render.text.remediation import method_words, remediation_rows

if TYPE_CHECKING:
    from redispolicy.apply.remediate import RemediationResult
    from redispolicy.apply.report import ApplyReport, KeysOutcome

_APPLY_HEAD = {
    "applied": ("✓ Applied", "green"),
    "nothing": ("No changes to apply.", "green"),
    "stale": ("✗ The plan is stale: nothing was changed.", "red"),
    "refused": ("✗ Nothing was changed.", "red"),
    "declined": ("Apply cancelled: nothing was changed.", "yellow"),
    "rolled_back": ("✗ Failed and rolled back: nothing was changed.", "red"),
    "partial": ("⚠ PARTIALLY APPLIED", "red"),
    "unknown": ("⚠ The outcome is unknown", "red"),
    "not_persisted": ("⚠ Applied at runtime, not persisted", "yellow"),
}


def render_apply(report: ApplyReport, style: Style) -> str:
    from redispolicy.apply.report import NEXT_STEP

    title, color = _APPLY_HEAD[report.status]
    lines = [
        style.paint(
            f"redispolicy apply · {report.environment or '(no environment)'} · {report.address}", "bold"
        ),
        "",
    ]
    if report.status == "applied":
        title = f"✓ Applied {len(report.applied)} change(s), verified by reading them back"
    elif report.status == "nothing" and report.keys is not None:
        title = "No config changes to apply."
    lines.append(style.paint(title, color, "bold"))
    if report.detail:
        lines.append(f"  {p(report.detail)}")
    if report.audit_error:
        lines.append(
            style.paint(f"  ⚠ the audit record was not written: {report.audit_error}", "red", "bold")
        )
    if report.unreached is not None:
        note = this_node_only("apply", report.unreached.mode, report.unreached.replicas)
        lines.append(style.paint(f"  note: {note}", "yellow"))
    for m in report.moved:
        lines.append(f"  - {p(m)}")
    for m in report.mismatches:
        lines.append(f"  - {p(m)}")
    if report.applied and report.status in ("applied", "not_persisted"):
        lines.append("")
        width = max(len(c.parameter) for c in report.applied)
        for c in report.applied:
            value = (
                "(sensitive value changed)" if c.sensitive else f"{p(shown(c.before))} → {p(shown(c.after))}"
            )
            lines.append(f"  {style.paint('~', 'yellow', 'bold')} {c.parameter:<{width}}  {value}")
    if report.status in ("partial", "unknown") and report.now_live:
        lines += ["", "Now live on the server:"] + [
            f"  {k} = {p(str(v))}" for k, v in report.now_live.items()
        ]
    if report.persisted is True:
        lines.append(style.paint("Persisted with CONFIG REWRITE.", "green"))
    if report.not_applied:
        lines += ["", "Not applied (needs an operator):"]
        lines += [f"  {SYMBOL[a][0]} {param}: {NEXT_STEP.get(a, a)}" for param, a in report.not_applied]
    if report.keys is not None:
        lines += _keys_lines(report.keys, style)
    if report.nodes:
        lines += _node_table(report, style)
    return "\n".join(lines) + "\n"


_NODE_COLOR = {"applied": "green", "nothing": "green", "not_reached": "dim", "rolled_back": "yellow"}


def _node_table(report: ApplyReport, style: Style) -> list[str]:
    """A deployment rollout: per node (in rollout order) its outcome and what it runs now, read back."""
    lines = ["", style.paint("Nodes (rollout order; values read back after the rollout):", "bold")]
    width = max(len(n.address) + len(n.role) + 3 for n in report.nodes)
    for n in report.nodes:
        where = f"{n.address} ({n.role})"
        status = n.status.replace("_", " ")
        lines.append(
            f"  {p(where):<{width}}  {style.paint(status, _NODE_COLOR.get(n.status, 'red'), 'bold')}"
        )
        for name, value in n.now:
            lines.append(f"      {name} = {p(shown(value))}")
    return lines


def _counts(r: RemediationResult) -> str:
    return f"({r.no_ttl} without one, {r.over_max} above max lowered to max)"


def _keys_lines(k: KeysOutcome, style: Style) -> list[str]:
    """apply --remediate-keys: the key step, under the config result."""
    if k.status == "nothing":
        return ["", f"Keys: {k.detail}."]
    if k.status == "skipped":
        return ["", style.paint(f"Keys: not remediated ({k.detail}): no key was changed.", "yellow")]
    r = k.result
    if r is None:  # done, interrupted and failed always carry what was done: nothing more to say
        return ["", f"Keys: {k.status}. {k.detail}".rstrip()]
    lines = [""]
    if k.status == "done" and r.changed:
        touched = sum(1 for c in r.classes if c.changed)
        lines.append(
            style.paint(
                f"✓ Keys: {keys_count(r.changed)} got a TTL {_counts(r)} in {touched} "
                f"class{'' if touched == 1 else 'es'}",
                "green",
                "bold",
            )
        )
    elif k.status == "done":
        lines.append(
            style.paint(
                f"✓ Keys: no key needed a TTL ({len(r.classes)} remediate "
                f"class{'' if len(r.classes) == 1 else 'es'} checked)",
                "green",
                "bold",
            )
        )
    else:
        what = "Interrupted" if k.status == "interrupted" else "Stopped by an error"
        lines.append(
            style.paint(
                f"⚠ Keys: {what}: {keys_count(r.changed)} got a TTL so far {_counts(r)}; PARTIALLY APPLIED",
                "red",
                "bold",
            )
        )
    lines += remediation_rows(r, False, style)
    lines.append(f"  {r.scanned} keys scanned in {r.seconds:.1f} s, with {method_words(r.method)}")
    if k.detail:
        lines.append(f"  {k.detail}")
    return lines


def remediate_keys_notice(classes: Sequence[tuple[str, str, int]], remediate_cmd: str, style: Style) -> str:
    """What apply -e ENV --remediate-keys shows before asking: the classes whose keys will get a TTL.

    ``classes``: (name, pattern, ttl max in seconds) of every class with `remediate: true`.
    """
    title = style.paint("Keys (--remediate-keys):", "bold")
    if not classes:
        return f"\n{title} no key class has `remediate: true` with `ttl: {{max: ...}}`: no key will change.\n"
    width = max(len(n) for n, _, _ in classes)
    pwidth = max(len(pattern) for _, pattern, _ in classes)
    names = ", ".join(n for n, _, _ in classes)
    lines = ["", f"{title} after the config step, keys of {names} will get TTLs:"]
    lines += [
        f"  {style.paint('~', 'yellow', 'bold')} {n:<{width}}  {pattern:<{pwidth}}  max {human_duration(m)}"
        for n, pattern, m in classes
    ]
    lines += [
        "  A key without a TTL gets the class's max; a key above it is lowered to max; no other key changes.",
        style.paint(f"  `{remediate_cmd}` counts them first without changing anything.", "dim"),
    ]
    return "\n".join(lines) + "\n"
