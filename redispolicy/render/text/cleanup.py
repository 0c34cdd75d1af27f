"""cleanup: per class how many keys are eligible (dry run, preview) or were deleted, then a verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.catalog.units import human_duration
from redispolicy.render.style import Style
from redispolicy.render.text.common import head, keys_count

if TYPE_CHECKING:
    from redispolicy.apply.cleanup import ClassCleanup, CleanupReport


def _rule(c: ClassCleanup) -> str:
    return "always" if c.always else f"idle over {human_duration(c.idle_over or 0)}"


def render_cleanup(report: CleanupReport, style: Style) -> str:
    from redispolicy.apply.cleanup import DELETE_CHUNK

    mode = {"dry_run": "dry run", "preview": "execute: listed for deletion"}.get(
        report.status, "execute" if report.execute else "dry run"
    )
    lines = head("cleanup", report.environment, report.address, mode, style)
    if report.status == "refused":
        lines.append(style.paint("✗ Refused: nothing was deleted.", "red", "bold"))
        for name, pattern in report.refused:
            lines.append(
                f"  class '{name}' (pattern '{pattern}') matches every key: cleaning it up would empty "
                "the database"
            )
        lines.append(
            "  " + style.paint("hint:", "cyan") + " give those classes a narrower pattern (e.g. 'tmp:*') "
            "or remove their `cleanup:`; redispolicy never flushes a database"
        )
        return "\n".join(lines) + "\n"
    if report.status == "nothing":
        lines.append(report.detail)
        return "\n".join(lines) + "\n"
    done = report.status in ("done", "interrupted", "failed")
    width = max([len(c.name) for c in report.classes] + [5])
    pwidth = max([len(c.pattern) for c in report.classes] + [7])
    rwidth = max([len(_rule(c)) for c in report.classes] + [6])
    for c in report.classes:
        what = (
            f"{c.deleted} deleted, {c.skipped} skipped"
            if done
            else f"{c.eligible} of {c.matched} keys eligible"
        )
        mark = (
            style.paint("-", "red", "bold")
            if (c.deleted if done else c.eligible)
            else style.paint("✓", "green")
        )
        lines.append(f"  {mark} {c.name:<{width}}  {c.pattern:<{pwidth}}  {_rule(c):<{rwidth}}  {what}")
        if c.examples and not done and style.key_names:
            lines.append(style.paint("      e.g. " + ", ".join(c.examples), "dim"))
    if report.nodes:  # a cluster: each master's own keys (the class rows are the sums)
        nwidth = max(len(n.address) for n in report.nodes)
        lines.append(f"  per master ({len(report.nodes)}):")
        for n in report.nodes:
            what = f"{n.deleted} deleted, {n.skipped} skipped" if done else f"{n.eligible} eligible"
            lines.append(f"    {n.address:<{nwidth}}  {n.scanned:>7} keys scanned  {what}")
    lines.append("")
    if report.status == "dry_run":
        lines.append(
            style.paint(
                f"Dry run: {keys_count(report.eligible)} would be deleted (UNLINK). Nothing was "
                "deleted; run with --execute to delete them.",
                "bold",
            )
        )
    elif report.status == "preview":
        lines.append(
            style.paint(
                f"Deleting {keys_count(report.eligible)} (UNLINK, at most {DELETE_CHUNK} per call; "
                "each key is checked again right before, and skipped if it was used since).",
                "bold",
            )
        )
    elif report.status == "done":
        lines.append(
            style.paint(
                f"✓ Deleted {keys_count(report.deleted)}; {report.skipped} skipped (used or gone "
                "since they were listed).",
                "green",
                "bold",
            )
        )
    else:
        lines.append(
            style.paint(
                f"⚠ {'Interrupted' if report.status == 'interrupted' else 'Stopped'}: "
                f"{keys_count(report.deleted)} deleted so far, {report.skipped} skipped.",
                "red",
                "bold",
            )
        )
    lines.append(f"  {report.scanned} keys scanned in {report.seconds:.1f} s")
    if report.detail:
        lines.append(f"  {report.detail}")
    return "\n".join(lines) + "\n"
