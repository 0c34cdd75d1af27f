"""Machine JSON, versioned: fields may be added, never renamed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport

if TYPE_CHECKING:
    from redispolicy.apply.cleanup import CleanupReport
    from redispolicy.apply.remediate import NodeRemediation, RemediationReport, RemediationResult
    from redispolicy.apply.report import ApplyReport
    from redispolicy.plan.drift import DriftReport
    from redispolicy.plan.envdiff import Comparison
    from redispolicy.plan.model import CapacityObservation, KeyFindings, Plan
    from redispolicy.plan.stats import Estimate
    from redispolicy.plan.status import NodeStatus, StatusReport
    from redispolicy.policy.explain import Explanation

FORMAT_VERSION = "1"


def diagnostic_dict(d: Diagnostic) -> dict[str, Any]:
    return {
        "rule": d.rule,
        "severity": d.severity.label,
        "message": d.message,
        "file": d.location.file,
        "line": d.location.line,
        "column": d.location.col,
        "path": d.path,
        "hint": d.hint,
        "related": [{"file": r.file, "line": r.line, "column": r.col} for r in d.related],
    }


def render_validation(report: ValidationReport, style: Style) -> str:
    doc = {
        "format_version": FORMAT_VERSION,
        "command": "validate",
        "valid": report.valid,
        "files": list(report.files),
        "environments": list(report.environments),
        "diagnostics": [diagnostic_dict(d) for d in report.diagnostics],
        "summary": {
            "errors": report.count(Severity.ERROR),
            "warnings": report.count(Severity.WARNING),
            "notes": report.count(Severity.NOTE),
        },
    }
    return json.dumps(doc, indent=2) + "\n"


def render_explanation(exp: Explanation, style: Style) -> str:
    doc = {
        "format_version": FORMAT_VERSION,
        "command": "explain",
        "environment": exp.environment,
        "files": list(exp.files),
        "settings": [
            {
                "name": e.name,
                "written": e.written,
                "normalized": e.normalized,
                "source": e.source.short,
                "note": e.note,
                "overrode": [{"written": raw, "source": loc.short} for raw, loc in e.overrode],
            }
            for e in exp.entries
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def plan_dict(plan: Plan, show_unchanged: bool = False, key_names: bool = False) -> dict[str, Any]:
    """``key_names``: include key-name examples and suggested patterns (``--examples``).

    One ``targets[]`` entry per planned node (the primary first, which carries the key audit)."""
    nodes = plan.all_nodes
    key_violations = plan.keys.violations if plan.keys is not None else 0
    pending = plan.pending_anywhere
    return {
        "format_version": FORMAT_VERSION,
        "command": "plan",
        "environment": plan.environment,
        "targets": [_plan_target(n, show_unchanged, key_names) for n in nodes],
        "summary": {
            "config_changes": pending,
            "key_violations": key_violations,
            "drift": bool(pending) or key_violations > 0,
            "not_checked": sum(int(n.config_check == "not_checked") for n in nodes),
            "not_checked_expected": sum(int(n.config_check == "not_checked_expected") for n in nodes),
        },
    }


def _plan_target(plan: Plan, show_unchanged: bool, key_names: bool) -> dict[str, Any]:
    """One node's entry: the shape drift's targets use."""
    from redispolicy.plan.drift import stale_declaration

    ident = plan.identity
    config = []
    for c in plan.changes:
        if not c.changed and not show_unchanged:
            continue
        entry: dict[str, Any] = {
            "parameter": c.parameter,
            "before": c.before,
            "after": c.after,
            "action": c.action,
            "sensitive": c.sensitive,
            "source": c.source.short,
            "dangerous": c.dangerous,
        }
        if c.sensitive:
            entry["changed"] = c.changed
        config.append(entry)
    target: dict[str, Any] = {
        "address": ident.address,
        "role": ident.role,
        "server": {"product": ident.product, "version": ident.version},
        "config": config,
    }
    if ident.replicas:
        target["connected_replicas"] = ident.replicas  # not covered by this plan: CONFIG SET is per node
    # A check that could not run says so explicitly: an empty "config" list alone would read as "no changes".
    target["checks"] = {
        "config": plan.config_check,
        "keys": "checked" if plan.keys is not None else "skipped",
    }
    if not plan.config_available:
        target["config_unavailable"] = plan.config_reason
        target["not_checked"] = {"config": plan.config_reason}
    note = stale_declaration(plan)
    if note:
        target["notes"] = [note]
    if plan.keys is not None:
        target["keys"] = keys_dict(plan.keys, key_names)
    return target


def _interval(e: Estimate, exact: bool) -> dict[str, Any]:
    """{value, low, high}: integers when exact, else rounded to 0.1 key."""
    if exact:
        return {"value": round(e.value), "low": round(e.low), "high": round(e.high)}
    return {"value": round(e.value, 1), "low": round(e.low, 1), "high": round(e.high, 1)}


def _memory(e: Estimate, exact: bool, mean: float | None) -> dict[str, Any]:
    """A class's MEMORY USAGE total: the sum over its keys (exact), or dbsize × mean bytes per
    draw with a normal-approximation 95 % interval (sample)."""
    return {
        "method": "sum" if exact else "sample_estimate",
        "total_bytes": round(e.value),
        "low_bytes": round(e.low),
        "high_bytes": round(e.high),
        "mean_bytes": None if mean is None else round(mean, 1),
    }


def _capacity(o: CapacityObservation) -> dict[str, Any]:
    """One capacity workload: its class's observed size next to the policy's estimate."""
    out: dict[str, Any] = {
        "class": o.key_class,
        "observed_bytes": None if o.observed_bytes is None else round(o.observed_bytes.value),
        "observed_keys": round(o.observed_keys.value) if o.exact else round(o.observed_keys.value, 1),
        "estimate_bytes": o.estimate_bytes,
        "exact": o.exact,
    }
    if not o.exact:
        out["observed_keys_interval"] = _interval(o.observed_keys, False)
        if o.observed_bytes is not None:
            out["observed_bytes_interval"] = {
                "low": round(o.observed_bytes.low),
                "high": round(o.observed_bytes.high),
            }
    return out


def keys_dict(findings: KeyFindings, key_names: bool = False) -> dict[str, Any]:
    """The key audit. Counts in ``matched``/``violations`` are keys seen: every key in exact mode
    (and for classes with ``"exact": true``), the draws in sample mode. ``estimated_*`` always
    speak of the whole keyspace; an exact class has value == low == high. When a sampled class
    showed no violation, ``estimated_violating.upper_bound`` is the one-sided 95 % bound on
    the count, and ``upper_bound_rate`` the bound on the class's violation rate. ``memory``
    (per class, when MEMORY USAGE was measured) and ``capacity`` (with --memory) give bytes.

    Key names hold tokens and PII: without ``key_names`` (``--examples``) every ``examples`` list
    and ``suggested_patterns`` (built from key names) is empty and ``key_names`` says "withheld"."""
    classes = []
    for c in findings.classes:
        violating = _interval(c.violating_estimate(), c.exact)
        if c.upper_bound_violating is not None:
            violating["upper_bound"] = round(c.upper_bound_violating, 1)
        entry: dict[str, Any] = {
            "name": c.name,
            "pattern": c.pattern,
            "matched": c.matched,
            "vanished": c.vanished,
            "exact": c.exact,
            "violations": c.violations,
            "violating_keys": c.keys_violating,
            "estimated_matched": _interval(c.matched_estimate(), c.exact),
            "estimated_violating": violating,
            "estimated_violations": {k: _interval(e, c.exact) for k, e in c.violation_estimates().items()},
            "ttl_seconds": {"p50": c.ttl_p50, "p90": c.ttl_p90, "max": c.ttl_max},
            "memory_bytes": c.memory_bytes,
            "examples": list(c.examples) if key_names else [],
        }
        if c.upper_bound_rate is not None:
            entry["upper_bound_rate"] = round(c.upper_bound_rate, 6)
        if c.memory_estimate is not None:
            entry["memory"] = _memory(c.memory_estimate, c.exact, c.memory_mean)
        if c.via == "match":
            entry["audited_by"] = "scan_match"  # sample mode: too rare to sample, counted exactly
        classes.append(entry)
    exact = findings.mode != "sample"
    doc: dict[str, Any] = {
        "mode": findings.mode,
        "scanned": findings.scanned,
        "dbsize": findings.dbsize,
        "key_names": "included" if key_names else "withheld",
        "classes": classes,
        "unclassified": {
            "matched": findings.unclassified,
            "examples": list(findings.unclassified_examples) if key_names else [],
            "estimated": _interval(findings.unclassified_estimate(), exact),
            "suggested_patterns": [{"pattern": p, "count": n} for p, n in findings.suggestions]
            if key_names
            else [],
        },
    }
    if not exact and findings.sample_size:  # counts are draws: add what they stand for
        for entry in doc["unclassified"]["suggested_patterns"]:
            entry["estimated_keys"] = round(entry["count"] * findings.dbsize / findings.sample_size, 1)
    if findings.nodes:  # a cluster: the masters audited, together the whole keyspace
        doc["nodes"] = list(findings.nodes)
    if findings.capacity:
        doc["capacity"] = [_capacity(o) for o in findings.capacity]
    if not exact:
        doc["sample"] = {
            "draws": findings.sample_size,
            "repeated_draws": findings.duplicates,
            "confidence": 0.95,
            "interval": "wilson_cc",
            "with_replacement": True,
        }
    else:
        doc["duplicates"] = findings.duplicates
    return doc


def render_plan(plan: Plan, style: Style) -> str:
    return (
        json.dumps(plan_dict(plan, show_unchanged=style.verbose > 0, key_names=style.key_names), indent=2)
        + "\n"
    )


def render_apply(report: ApplyReport, style: Style) -> str:
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "command": "apply",
        "environment": report.environment,
        "target": report.address,
        "result": report.status,
        "detail": report.detail,
        "applied": [
            {"parameter": c.parameter, "before": c.before, "after": c.after, "sensitive": c.sensitive}
            for c in report.applied
        ],
        "verified": report.verified,
        "persisted": report.persisted,
        "not_applied": [{"parameter": p, "action": a} for p, a in report.not_applied],
        "moved": list(report.moved),
        "mismatches": list(report.mismatches),
        "now_live": report.now_live,
        "exit_code": report.exit_code,
    }
    if report.audit_error:
        doc["audit_error"] = report.audit_error
    if (
        report.unreached is not None
    ):  # nodes of the deployment this apply did not change (CONFIG SET is per node)
        doc["not_reached"] = _not_reached(report.unreached.mode, report.unreached.replicas)
    if report.nodes:  # a deployment rollout: every node, in rollout order, with what it runs now
        doc["nodes"] = [
            {
                "address": n.address,
                "role": n.role,
                "status": n.status,
                "detail": n.detail,
                "now": dict(n.now),
            }
            for n in report.nodes
        ]
    if report.keys is not None:  # apply --remediate-keys
        keys: dict[str, Any] = {"result": report.keys.status, "detail": report.keys.detail}
        if report.keys.result is not None:
            keys.update(_remediation_fields(report.keys.result))
        doc["keys"] = keys
    return json.dumps(doc, indent=2) + "\n"


def _not_reached(mode: str, replicas: int) -> dict[str, Any]:
    """``{"mode": "cluster"}`` (the other cluster nodes), ``{"replicas": 2}`` (a primary's replicas)."""
    return {"mode": "cluster"} if mode == "cluster" else {"replicas": replicas}


def _remediation_fields(r: RemediationResult) -> dict[str, Any]:
    return {
        "method": r.method,
        "complete": r.complete,
        "resumed": r.resumed,
        "restarted": r.restarted,
        "checkpoint": r.checkpoint,
        "scanned": r.scanned,
        "seconds": round(r.seconds, 3),
        "classes": [
            {
                "name": c.name,
                "pattern": c.pattern,
                "ttl_max_seconds": c.ttl_max,
                "matched": c.matched,
                "no_ttl": c.no_ttl,
                "over_max": c.over_max,
                "changed": c.changed,
            }
            for c in r.classes
        ],
        "summary": {"no_ttl": r.no_ttl, "over_max": r.over_max, "changed": r.changed},
        **({"nodes": [_remediation_node(n) for n in r.nodes]} if r.nodes else {}),
    }


def _remediation_node(n: NodeRemediation) -> dict[str, Any]:
    """A cluster master's own counts (remediate on a cluster; the classes above are the sums)."""
    return {
        "address": n.address,
        "scanned": n.scanned,
        "complete": n.complete,
        "classes": [{"name": c.name, "no_ttl": c.no_ttl, "over_max": c.over_max} for c in n.classes],
        "summary": {"no_ttl": n.no_ttl, "over_max": n.over_max, "changed": n.changed},
    }


def render_remediation(report: RemediationReport, style: Style) -> str:
    r = report.result
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "command": "remediate",
        "environment": report.environment,
        "target": report.address,
        "mode": "dry_run" if r is None or r.dry_run else "execute",
        "result": report.status,
        "detail": report.detail,
    }
    if r is not None:
        doc.update(_remediation_fields(r))
    doc["exit_code"] = report.exit_code
    return json.dumps(doc, indent=2) + "\n"


def render_cleanup(report: CleanupReport, style: Style) -> str:
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "command": "cleanup",
        "environment": report.environment,
        "target": report.address,
        "mode": "execute" if report.execute else "dry_run",
        "result": report.status,
        "detail": report.detail,
        "scanned": report.scanned,
        "seconds": round(report.seconds, 3),
        "classes": [
            {
                "name": c.name,
                "pattern": c.pattern,
                "rule": {"always": True} if c.always else {"idle_over_seconds": c.idle_over},
                "matched": c.matched,
                "eligible": c.eligible,
                "deleted": c.deleted,
                "skipped": c.skipped,
                "examples": list(c.examples) if style.key_names else [],
            }
            for c in report.classes
        ],
        "refused": [{"name": n, "pattern": p} for n, p in report.refused],
        "summary": {"eligible": report.eligible, "deleted": report.deleted, "skipped": report.skipped},
        "exit_code": report.exit_code,
    }
    if report.nodes:  # a cluster: each master's own counts (the classes above are the sums)
        doc["nodes"] = [
            {
                "address": n.address,
                "scanned": n.scanned,
                "classes": [
                    {"name": c.name, "eligible": c.eligible, "deleted": c.deleted, "skipped": c.skipped}
                    for c in n.classes
                ],
                "summary": {"eligible": n.eligible, "deleted": n.deleted, "skipped": n.skipped},
            }
            for n in report.nodes
        ]
    return json.dumps(doc, indent=2) + "\n"


def _status_node(n: NodeStatus) -> dict[str, Any]:
    """One node of a status reading: null where a figure is not available (see ``unavailable``)."""
    return {
        "address": n.address,
        "role": n.role,
        "status": n.overall,
        "window_seconds": n.window,
        "memory": {
            "used_bytes": n.used_memory,
            "maxmemory_bytes": n.maxmemory,
            "used_percent": n.memory_percent,
            "percent_of": n.memory_of,
        },
        "ops_per_sec": n.ops_per_sec,
        "hit_rate_percent": n.hit_rate_percent,
        "lookups": n.lookups,
        "evictions_per_sec": n.evictions_per_sec,
        "expirations_per_sec": n.expirations_per_sec,
        "clients": {"connected": n.connected_clients, "blocked": n.blocked_clients},
        "slowlog": {
            "length": n.slowlog_length,
            "growth": n.slowlog_growth,
            "commands": list(n.slow_commands),
        },
        "replication": {"link": n.replication_link, "replicas": n.replicas},
        "checks": dict(n.status or {}),
        "key_classes": None
        if n.classes is None
        else {
            "draws": n.sample_draws,
            "age_seconds": n.sample_age,
            "classes": [
                {
                    "name": c.name,
                    "draws": c.draws,
                    "keys_percent": c.keys_percent,
                    "memory_percent": c.memory_percent,
                    "estimated_keys": c.estimated_keys,
                }
                for c in n.classes
            ],
        },
        "lock_timeouts": None if n.expired_by_class is None else dict(n.expired_by_class),
        "restarted": n.restarted,
        "unavailable": {what: why for what, why in n.unavailable},
    }


def status_dict(report: StatusReport) -> dict[str, Any]:
    """A status reading; `status --watch -o json` writes one per line (JSON Lines)."""
    return {
        "format_version": FORMAT_VERSION,
        "command": "status",
        "environment": report.environment,
        "refresh": report.refresh,
        "watch_seconds": report.watch,
        "nodes": [_status_node(n) for n in report.nodes],
    }


def render_status(report: StatusReport, style: Style) -> str:
    return json.dumps(status_dict(report), indent=2) + "\n"


def render_status_line(report: StatusReport, style: Style) -> str:
    """One reading as one line of JSON Lines."""
    return json.dumps(status_dict(report), separators=(",", ":")) + "\n"


def render_drift(report: DriftReport, style: Style) -> str:
    from redispolicy.plan.drift import CHECKS, CONFIG_KINDS
    from redispolicy.plan.health import overall

    targets = []
    key_violations = config_changes = 0
    for t in report.targets:
        entry = plan_dict(t.plan, show_unchanged=style.verbose > 0)["targets"][0]
        if t.name:
            entry["name"] = t.name
        entry["checks"] = t.checks
        entry.pop("not_checked", None)  # the target's own view below covers keys and health too
        entry.pop("notes", None)
        reasons = dict.fromkeys(CHECKS, t.error) if t.error else {n.check: n.reason for n in t.unchecked}
        if reasons:
            entry["not_checked"] = reasons
        if t.notes:
            entry["notes"] = list(t.notes)
        hidden_classes = {f.subject for f in t.findings if f.kind == "ttl_policy" and f.ignored}
        if t.keys is not None:
            entry["keys"] = keys_dict(t.keys, style.key_names)
            key_violations += sum(c.violating for c in t.keys.classes if c.name not in hidden_classes)
        config_changes += sum(1 for f in t.active if f.kind in CONFIG_KINDS)
        entry["health"] = [
            {
                "check": h.check,
                "value": h.value,
                "status": h.status,
                "threshold": h.threshold,
                "detail": h.detail,
            }
            for h in t.health
        ]
        entry["findings"] = [
            {
                "kind": f.kind,
                "subject": f.subject,
                "message": f.message,
                "severity": f.severity,
                "source": f.location.short if f.location else None,
                "ignored": f.ignored,
                "ignore_reason": f.ignored_because or None,
                "failing": f.fails(report.fail_on),
            }
            for f in t.findings
        ]
        if t.error:
            entry["error"] = t.error
        targets.append(entry)
    doc = {
        "format_version": FORMAT_VERSION,
        "command": "drift",
        "environment": report.environment,
        "targets": targets,
        "summary": {
            "config_changes": config_changes,
            "key_violations": key_violations,
            "health": overall(tuple(h for t in report.targets for h in t.health)),
            "findings": len(report.active()),
            "ignored": len(report.ignored()),
            "drift": bool(report.active()),
            "failing": report.failing(),
            "fail_on": report.fail_on,
            "errors": len(report.errors),
            "not_checked": len(report.incomplete),
            "not_checked_expected": len(report.unchecked()) - len(report.incomplete),
            "in_sync": report.in_sync,
        },
    }
    if report.shard is not None:  # drift --shard: what `redispolicy merge-reports` joins the shards by
        shard = report.shard
        doc["shard"] = {
            "index": shard.index,
            "count": shard.count,
            "fleet": list(shard.fleet),
            "policy_file": shard.policy_file,
        }
    return json.dumps(doc, indent=2) + "\n"


def render_comparison(c: Comparison, style: Style) -> str:
    """``compare``: secrets only as "(sensitive)" (a difference in one is a difference, never a value)."""

    def short(loc: Location | None) -> str | None:
        return loc.short if loc is not None else None

    doc = {
        "format_version": FORMAT_VERSION,
        "command": "compare",
        "mode": c.mode,
        "a": {"environment": c.env_a, "from": c.sides[0]},
        "b": {"environment": c.env_b, "from": c.sides[1]},
        "differences": [
            {
                "path": d.path,
                "a": d.a,
                "b": d.b,
                "sensitive": d.sensitive,
                "a_source": short(d.a_source),
                "b_source": short(d.b_source),
                "expected": d.expected is not None,
                "reason": d.expected.reason if d.expected is not None else None,
                "declared_at": d.expected.location.short if d.expected is not None else None,
            }
            for d in c.differences
        ],
        "stale": [
            {"path": e.path, "parameter": e.parameter, "reason": e.reason, "source": e.location.short}
            for e in c.stale
        ],
        "not_compared": list(c.not_compared),
        "summary": {
            "compared": c.compared,
            "differences": len(c.differences),
            "expected": len(c.expected),
            "unexpected": len(c.unexpected),
            "stale": len(c.stale),
            "same": not c.unexpected,
        },
    }
    return json.dumps(doc, indent=2) + "\n"
