"""Machine JSON, versioned: fields may be added, never renamed."""

from __future__ import annotations

import json
from typing import Any

from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport

FORMAT_VERSION = "1"


def diagnostic_dict(d: Diagnostic) -> dict[str, Any]:
    return {
        "rule": d.rule, "severity": d.severity.label, "message": d.message,
        "file": d.location.file, "line": d.location.line, "column": d.location.col,
        "path": d.path, "hint": d.hint,
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
        "summary": {"errors": report.count(Severity.ERROR), "warnings": report.count(Severity.WARNING),
                    "notes": report.count(Severity.NOTE)},
    }
    return json.dumps(doc, indent=2) + "\n"


def render_explanation(exp: object, style: Style) -> str:
    from redispolicy.policy.explain import Explanation

    assert isinstance(exp, Explanation)
    doc = {
        "format_version": FORMAT_VERSION,
        "command": "explain",
        "environment": exp.environment,
        "files": list(exp.files),
        "settings": [{
            "name": e.name, "written": e.written, "normalized": e.normalized,
            "source": e.source.short, "note": e.note,
            "overrode": [{"written": raw, "source": loc.short} for raw, loc in e.overrode],
        } for e in exp.entries],
    }
    return json.dumps(doc, indent=2) + "\n"


def plan_dict(plan: object, show_unchanged: bool = False) -> dict[str, Any]:
    from redispolicy.plan.model import Plan

    assert isinstance(plan, Plan)
    ident = plan.identity
    config = []
    for c in plan.changes:
        if not c.changed and not show_unchanged:
            continue
        entry: dict[str, Any] = {"parameter": c.parameter, "before": c.before, "after": c.after,
                                 "action": c.action, "sensitive": c.sensitive, "source": c.source.short}
        if c.sensitive:
            entry["changed"] = c.changed
        config.append(entry)
    target: dict[str, Any] = {"address": ident.address, "role": ident.role,
                              "server": {"product": ident.product, "version": ident.version},
                              "config": config}
    if not plan.config_available:
        target["config_unavailable"] = plan.config_reason
    key_violations = 0
    if plan.keys is not None:
        target["keys"] = keys_dict(plan.keys)
        key_violations = plan.keys.violations
    return {
        "format_version": FORMAT_VERSION, "command": "plan", "environment": plan.environment,
        "targets": [target],
        "summary": {"config_changes": len(plan.pending), "key_violations": key_violations,
                    "drift": bool(plan.pending) or key_violations > 0},
    }


def keys_dict(findings: object) -> dict[str, Any]:
    from redispolicy.plan.keys import KeyFindings

    assert isinstance(findings, KeyFindings)
    return {
        "mode": findings.mode, "scanned": findings.scanned, "dbsize": findings.dbsize,
        "classes": [{
            "name": c.name, "pattern": c.pattern, "matched": c.matched, "vanished": c.vanished,
            "violations": c.violations,
            "estimated_violating": {"value": c.violating, "low": c.violating, "high": c.violating},
            "ttl_seconds": {"p50": c.ttl_p50, "p90": c.ttl_p90, "max": c.ttl_max},
            "memory_bytes": c.memory_bytes,
            "examples": list(c.examples),
        } for c in findings.classes],
        "unclassified": {"matched": findings.unclassified, "examples": list(findings.unclassified_examples)},
    }


def render_plan(plan: object, style: Style) -> str:
    return json.dumps(plan_dict(plan, show_unchanged=style.verbose > 0), indent=2) + "\n"


def render_apply(report: object, style: Style) -> str:
    from redispolicy.apply.report import ApplyReport

    assert isinstance(report, ApplyReport)
    doc = {
        "format_version": FORMAT_VERSION, "command": "apply", "environment": report.environment,
        "target": report.address, "result": report.status, "detail": report.detail,
        "applied": [{"parameter": c.parameter, "before": c.before, "after": c.after, "sensitive": c.sensitive}
                    for c in report.applied],
        "verified": report.verified, "persisted": report.persisted,
        "not_applied": [{"parameter": p, "action": a} for p, a in report.not_applied],
        "moved": list(report.moved), "mismatches": list(report.mismatches), "now_live": report.now_live,
        "exit_code": report.exit_code,
    }
    return json.dumps(doc, indent=2) + "\n"
