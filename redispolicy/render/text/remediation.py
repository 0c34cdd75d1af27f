"""remediate: per remediate class what was (dry run: would be) changed, then a verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.catalog.units import human_duration
from redispolicy.render.style import Style
from redispolicy.render.text.common import head, keys_count

if TYPE_CHECKING:
    from redispolicy.apply.remediate import RemediationReport, RemediationResult


def remediation_rows(r: RemediationResult, dry: bool, style: Style) -> list[str]:
    """One line per remediate class: pattern, max, keys inspected and what was (dry run: would be) changed.
    apply --remediate-keys shows the same rows under its key step."""
    width = max([len(c.name) for c in r.classes] + [5])
    pwidth = max([len(c.pattern) for c in r.classes] + [7])
    lines = []
    for c in r.classes:
        did = (
            f"{c.no_ttl} without a TTL, {c.over_max} above max"
            if dry
            else f"{c.no_ttl} got a TTL, {c.over_max} lowered to max"
        )
        mark = style.paint("~", "yellow", "bold") if c.changed else style.paint("✓", "green")
        lines.append(
            f"  {mark} {c.name:<{width}}  {c.pattern:<{pwidth}}  max {human_duration(c.ttl_max):<4}  "
            f"{c.matched:>7} keys  {did}"
        )
    return lines


def node_rows(r: RemediationResult, dry: bool) -> list[str]:
    """A cluster: one line per master, its own keys (the class rows above are the sums)."""
    if not r.nodes:
        return []
    width = max(len(n.address) for n in r.nodes)
    lines = [f"  per master ({len(r.nodes)}):"]
    for n in r.nodes:
        did = (
            f"{n.no_ttl} without a TTL, {n.over_max} above max"
            if dry
            else f"{n.no_ttl} got a TTL, {n.over_max} lowered to max"
        )
        lines.append(f"    {n.address:<{width}}  {n.scanned:>7} keys scanned  {did}")
    return lines


def method_words(method: str) -> str:
    return "EXPIRE NX / LT" if method == "expire-nx-lt" else "an atomic PTTL+EXPIRE script (Redis 6)"


def render_remediation(report: RemediationReport, style: Style) -> str:
    dry = report.status == "dry_run" or (report.result is not None and report.result.dry_run)
    lines = head("remediate", report.environment, report.address, "dry run" if dry else "execute", style)
    r = report.result
    if r is None:
        lines.append(report.detail)
        return "\n".join(lines) + "\n"
    lines += remediation_rows(r, dry, style)
    lines += node_rows(r, dry)
    lines.append("")
    took = f"{r.scanned} keys scanned in {r.seconds:.1f} s"
    if r.resumed:
        took += "; resumed from a checkpoint (the counts include the earlier run)"
    if r.restarted:
        took += "; the server restarted since the checkpoint, so unfinished dbs were scanned from the start"
    if dry:
        verdict = (
            f"Dry run: {keys_count(r.changed)} would get a TTL ({r.no_ttl} without one, {r.over_max} above "
            f"max lowered to max). Nothing was changed; run with --execute to set them."
        )
        lines.append(style.paint(verdict, "bold"))
    elif report.status == "done":
        verdict = (
            f"✓ Remediated {keys_count(r.changed)}: {r.no_ttl} got a TTL, {r.over_max} had it lowered to "
            f"max ({method_words(r.method)})."
        )
        lines.append(style.paint(verdict, "green", "bold"))
    else:
        verdict = (
            f"⚠ {'Interrupted' if report.status == 'interrupted' else 'Stopped'}: {keys_count(r.changed)} "
            f"changed so far ({r.no_ttl} got a TTL, {r.over_max} lowered to max)."
        )
        lines.append(style.paint(verdict, "red", "bold"))
    lines.append(f"  {took}")
    if report.detail:
        lines.append(f"  {report.detail}")
    return "\n".join(lines) + "\n"
