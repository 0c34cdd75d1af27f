"""SARIF 2.1.0 for GitHub code scanning (upload-sarif).

GitHub needs: version, runs[].tool.driver.name and rules, results with ruleId,
message.text and a physicalLocation whose artifactLocation.uri is relative to the
repository root; startLine/startColumn are 1-based.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from redispolicy import __version__
from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.render.escape import printable
from redispolicy.render.style import Style
from redispolicy.rules import RULES

if TYPE_CHECKING:
    from redispolicy.plan.drift import DriftReport
    from redispolicy.report import ValidationReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def _uri(path: str) -> str:
    return path.replace("\\", "/").removeprefix("./")


def _result(d: Diagnostic, index: dict[str, int]) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(d.location.file), "uriBaseId": "%SRCROOT%"}}
    # GitHub needs a region with startLine on every result; a whole-file problem points at line 1.
    region: dict[str, int] = {"startLine": d.location.line or 1}
    if d.location.line and d.location.col:
        region["startColumn"] = d.location.col
    physical["region"] = region
    text = d.message + (f" ({d.hint})" if d.hint else "")
    result: dict[str, Any] = {
        "ruleId": d.rule,
        "ruleIndex": index[d.rule],
        "level": _LEVEL[d.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": physical}],
    }
    if d.related:
        result["relatedLocations"] = [
            {
                "id": i,
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(r.file), "uriBaseId": "%SRCROOT%"},
                    **({"region": {"startLine": r.line}} if r.line else {}),
                },
            }
            for i, r in enumerate(d.related)
        ]
    return result


def render_validation(report: ValidationReport, style: Style) -> str:
    used = sorted({d.rule for d in report.diagnostics} | set(RULES), key=list(RULES).index)
    index = {rule: i for i, rule in enumerate(used)}
    rules = [
        {
            "id": r,
            "name": "".join(w.title() for w in r.split("-")),
            "shortDescription": {"text": RULES[r].summary},
            "helpUri": "https://github.com/redispolicy/redispolicy/blob/main/README.md#rules",
        }
        for r in used
    ]
    return _document(rules, [_result(d, index) for d in report.diagnostics])


def _document(rules: list[dict[str, Any]], results: list[dict[str, Any]], **run: Any) -> str:
    """One SARIF run of redispolicy's results; ``run`` adds run-level fields (automationDetails, ...)."""
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "redispolicy",
                        "version": __version__,
                        "informationUri": "https://github.com/redispolicy/redispolicy",
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root"}}},
                "results": results,
                **run,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


_DRIFT_RULES = {
    "value_drift": (
        "ValueDrift",
        "A managed parameter's live value differs from the policy",
        "Review the change and run `redispolicy plan`/`apply`, or update the policy.",
    ),
    "restart_pending": (
        "RestartPending",
        "A startup-only parameter differs: it needs a restart",
        "Change it in the server's config file and restart it in a maintenance window.",
    ),
    "protected": (
        "Protected",
        "A protected parameter differs and the server refuses CONFIG SET for it",
        "Enable enable-protected-configs or change it in the server's config file.",
    ),
    "unsupported": (
        "Unsupported",
        "The policy sets a parameter this server version does not know",
        "Remove it for this environment or upgrade the server.",
    ),
    "ttl_policy": (
        "TtlPolicy",
        "Keys of a class break its TTL, type or size rules",
        "Fix the writer, or run `redispolicy remediate` for classes with remediate: true.",
    ),
    "unclassified_keys": (
        "UnclassifiedKeys",
        "Keys match no key class of the policy",
        "Add a key class for them, or set unclassified: ignore.",
    ),
    "health": (
        "Health",
        "An INFO-based health check is past its threshold",
        "Look at memory, hit rate and evictions; adjust maxmemory or the policy's health thresholds.",
    ),
    "server_restarted": (
        "ServerRestarted",
        "The server restarted since the saved plan was made",
        "Make a fresh plan: a saved plan is refused after a restart.",
    ),
    "topology": (
        "Topology",
        "The deployment found is not the topology the policy pins (target.topology)",
        "Check that the target's URL names the deployment meant, or change target.topology if the "
        "deployment changed on purpose.",
    ),
    "error": (
        "TargetNotChecked",
        "A target could not be checked",
        "Check that the server is reachable and the target URL and credentials are right.",
    ),
    "not_checked": (
        "CheckNotRun",
        "A check could not run on the target (CONFIG, the key audit or INFO was refused)",
        "Grant the drift user what the message names (e.g. +config|get), or, where CONFIG is blocked "
        "by design, say `config: unavailable` under the policy's target.",
    ),
}


def _fingerprint(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32] + ":1"


def render_drift(report: DriftReport, style: Style) -> str:
    """One result per active finding (ruleId ``drift/<kind>``); ignored findings stay out of
    the results (GitHub ignores SARIF suppressions) and are listed in the run's properties.

    Every result has a location GitHub can show: the policy line of the finding, else line 1
    of the environment's policy file. The fingerprint is built from environment, target,
    kind and subject, so an alert stays the same alert while its numbers change.
    """
    from redispolicy.plan.drift import KINDS

    kinds = [*KINDS, "error", "not_checked"]
    index = {k: i for i, k in enumerate(kinds)}
    rules = [
        {
            "id": f"drift/{k}",
            "name": _DRIFT_RULES[k][0],
            "shortDescription": {"text": _DRIFT_RULES[k][1]},
            "fullDescription": {"text": _DRIFT_RULES[k][1] + "."},
            "help": {"text": _DRIFT_RULES[k][2]},
            "defaultConfiguration": {"level": "error" if k in ("error", "not_checked") else "warning"},
            "helpUri": "https://github.com/redispolicy/redispolicy/blob/main/README.md#scheduled-drift-report",
        }
        for k in kinds
    ]
    env = report.environment or ""
    many = len(report.targets) > 1
    results: list[dict[str, Any]] = []
    ignored: list[dict[str, Any]] = []
    expected: list[dict[str, Any]] = []  # checks the policy expects not to run (target.config: unavailable)

    def result(kind: str, level: str, text: str, file: str, line: int, target: str, subject: str) -> None:
        physical = {
            "artifactLocation": {"uri": _uri(file), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": line or 1},
        }
        results.append(
            {
                "ruleId": f"drift/{kind}",
                "ruleIndex": index[kind],
                "level": level,
                "message": {"text": printable(text)},
                "locations": [{"physicalLocation": physical}],
                "partialFingerprints": {"primaryLocationLineHash": _fingerprint(env, target, kind, subject)},
                "properties": {"environment": env, "target": target, "subject": subject},
            }
        )

    for t in report.targets:
        target = t.name or t.identity.address
        prefix = f"{t.label}: " if many else ""
        if t.error:
            result("error", "error", prefix + t.error, report.policy_file, 1, target, "target")
            continue
        for nc in t.unchecked:
            if nc.expected:
                expected.append({"target": target, "check": nc.check, "reason": printable(nc.reason)})
            else:
                result("not_checked", "error", prefix + nc.text, report.policy_file, 1, target, nc.check)
        for f in t.findings:
            if f.ignored:
                ignored.append(
                    {
                        "target": target,
                        "kind": f.kind,
                        "subject": f.subject,
                        "message": printable(f.message),
                        "reason": f.ignored_because,
                    }
                )
                continue
            file, line = (f.location.file, f.location.line) if f.location else (report.policy_file, 1)
            result(
                f.kind,
                "error" if f.severity == "critical" else "warning",
                prefix + f.message,
                file,
                line,
                target,
                f.subject,
            )
    return _document(
        rules,
        results,
        automationDetails={"id": f"redispolicy/drift/{env}/"},
        invocations=[{"executionSuccessful": not report.errors and not report.incomplete}],
        properties={
            "environment": env,
            "targets": [t.name or t.identity.address for t in report.targets],
            "ignored": ignored,
            "not_checked_expected": expected,
        },
    )
