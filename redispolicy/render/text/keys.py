"""The key audit block plan and drift show (and markdown reuses): per class its size, what
is wrong and its TTLs, unclassified keys, the remediation count and capacity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.catalog.units import approx_duration, human_bytes
from redispolicy.render.escape import printable as p
from redispolicy.render.style import Style
from redispolicy.render.text.common import approx, percent

if TYPE_CHECKING:
    from redispolicy.plan.model import ClassFindings, KeyFindings
    from redispolicy.plan.stats import Estimate


def class_counts(c: ClassFindings) -> tuple[str, str]:
    """(how many keys, what is wrong) for one class, in the wording its mode allows."""
    if c.exact:
        size = f"{c.matched:>7} keys" + (" (exact, SCAN MATCH)" if c.via == "match" else "")
        bad = ", ".join(f"{n} {k}" for k, n in c.violations.items() if n)
        return size, bad or "ok"
    m = c.matched_estimate()
    size = f"≈ {approx(m.value)} keys (95 % CI {approx(m.low)}–{approx(m.high)})"
    if c.upper_bound_rate is not None:
        return size, f"0 sampled violations: < {percent(c.upper_bound_rate)} (95 %)"
    bad = ", ".join(
        f"{k} ≈ {approx(e.value)} ({approx(e.low)}–{approx(e.high)})"
        for k, e in c.violation_estimates().items()
        if c.violations.get(k)
    )
    return size, bad


def suggested_count(findings: KeyFindings, n: int) -> str:
    if findings.mode == "sample" and findings.sample_size:
        return f"≈ {approx(n * findings.dbsize / findings.sample_size)} keys, {n} sampled"
    return f"{n} key" + ("" if n == 1 else "s")


def on_nodes(findings: KeyFindings) -> str:
    """' on 3 cluster masters' when the audit covered a cluster's masters, else ''."""
    n = len(findings.nodes)
    return f" on {n} cluster master{'' if n == 1 else 's'}" if n else ""


def keys_lines(findings: KeyFindings, style: Style) -> list[str]:
    d = approx_duration
    where = on_nodes(findings)
    if findings.mode == "sample":
        matched = sum(1 for c in findings.classes if c.via == "match")
        head = (
            f"Keys (sample: {findings.sample_size} random draws of {findings.dbsize} keys{where}, 95 % intervals"
            + (f"; {matched} rare class(es) counted exactly by SCAN MATCH" if matched else "")
            + ")"
        )
    else:
        head = f"Keys ({findings.mode}: {findings.scanned} of {findings.dbsize} keys inspected{where})"
    lines = ["", style.paint(head, "bold")]
    if not style.key_names and (
        any(c.examples for c in findings.classes) or findings.unclassified_examples or findings.suggestions
    ):
        lines.append(
            style.paint(
                "  key names withheld (examples, suggested patterns): --examples includes them", "dim"
            )
        )
    if findings.nodes and style.verbose:
        lines.append(style.paint("  cluster masters: " + ", ".join(findings.nodes), "dim"))
    width = max([len(c.name) for c in findings.classes] + [len("unclassified")])
    for c in findings.classes:
        size, bad = class_counts(c)
        mark = style.paint("✗", "red", "bold") if c.violating else style.paint("✓", "green")
        ttl = (
            f"TTL p50 {d(c.ttl_p50)} p90 {d(c.ttl_p90 or 0)} max {d(c.ttl_max or 0)}"
            if c.ttl_p50 is not None
            else "no TTLs"
        )
        line = f"  {mark} {p(c.name):<{width}}  {size}  {bad}  ({ttl})"
        if c.memory_estimate is not None:
            line += f"  memory {bytes_estimate(c.memory_estimate, c.exact)}"
        if c.examples and style.key_names:
            line += style.paint("  e.g. " + p(", ".join(c.examples[:3])), "dim")
        lines.append(line)
    if findings.unclassified:
        if findings.mode == "sample":
            u = findings.unclassified_estimate()
            size = f"≈ {approx(u.value)} keys (95 % CI {approx(u.low)}–{approx(u.high)})"
        else:
            size = f"{findings.unclassified:>7} keys"
        line = f"  {style.paint('?', 'yellow')} {'unclassified':<{width}}  {size}"
        if findings.unclassified_examples and style.key_names:
            line += style.paint("  e.g. " + p(", ".join(findings.unclassified_examples[:3])), "dim")
        lines.append(line)
        if findings.suggestions and style.key_names:  # built from key names: as private as they are
            lines.append(
                "    suggested classes: "
                + p(
                    ", ".join(
                        f"{pattern} ({suggested_count(findings, n)})" for pattern, n in findings.suggestions
                    )
                )
            )
    lines += remediation_lines(findings, style)
    lines += capacity_lines(findings, style)
    return lines


def bytes_estimate(e: Estimate, exact: bool) -> str:
    b = human_bytes
    if exact:
        return b(round(e.value))
    return f"≈ {b(round(e.value))} (95 % CI {b(round(e.low))}–{b(round(e.high))})"


def capacity_lines(findings: KeyFindings, style: Style) -> list[str]:
    """Under the key audit (--memory): each capacity workload's observed size against the policy's estimate."""
    if not findings.capacity:
        return []
    lines = [style.paint("  capacity (observed MEMORY USAGE vs the policy's estimate):", "bold")]
    for o in findings.capacity:
        k = o.observed_keys
        keys = f"{round(k.value)} keys" if o.exact else f"≈ {approx(k.value)} keys"
        observed = (
            "not measured (MEMORY USAGE unavailable)"
            if o.observed_bytes is None
            else bytes_estimate(o.observed_bytes, o.exact)
        )
        if not o.exact and o.observed_bytes is not None:
            observed = observed[:-1] + f"; {keys})"
        else:
            observed += f" ({keys})"
        est = "unknown" if o.estimate_bytes is None else human_bytes(o.estimate_bytes)
        lines.append(f"    {o.key_class}: observed {observed} vs policy estimate {est}")
    return lines


def remediation_lines(findings: KeyFindings, style: Style) -> list[str]:
    """Under the key audit: how many keys of `remediate: true` classes `redispolicy remediate` would fix."""
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
    text = (
        f"remediation: {n} keys would get a TTL ({a} without one, {b} above max lowered to max)"
        if exact
        else f"remediation: about {n} keys would get a TTL (≈ {a} without one, ≈ {b} above max; "
        "estimated from the sample)"
    )
    return [
        f"  {style.paint('~', 'yellow', 'bold')} {text}",
        style.paint(
            "    `redispolicy remediate -e ENV` counts them exactly (a dry run); "
            "`redispolicy apply --remediate-keys` sets the TTLs and reports the exact counts",
            "dim",
        ),
    ]
