"""node_exporter textfile format for drift: gauges only, no values, no secrets, no timestamps.

The HELP text of each metric is fixed, so files of several environments can sit in one
textfile directory (node_exporter drops samples whose HELP differs between files).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from redispolicy import __version__
from redispolicy.render.style import Style

if TYPE_CHECKING:
    from redispolicy.plan.drift import DriftReport
    from redispolicy.plan.model import KeyFindings

_LEVEL = {"ok": 0, "warning": 1, "critical": 2, "unknown": -1}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(x: float) -> str:
    """Counts as integers when they are (exact mode), estimates to 0.1."""
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _keys(metrics: dict[str, tuple[str, list[str]]], base: str, findings: KeyFindings) -> None:
    """The key audit as numbers a dashboard can trend: class sizes, violations per rule, memory.
    Counts only (class names come from the policy); never a key name."""
    metrics["redispolicy_keys_audit_exact"][1].append(
        f"redispolicy_keys_audit_exact{{{base}}} {0 if findings.mode == 'sample' else 1}"
    )
    for c in findings.classes:
        cls = f'{base},class="{_label(c.name)}"'
        metrics["redispolicy_keys"][1].append(f"redispolicy_keys{{{cls}}} {_num(c.matched_estimate().value)}")
        for rule, e in c.violation_estimates().items():
            metrics["redispolicy_keys_violating"][1].append(
                f'redispolicy_keys_violating{{{cls},rule="{rule}"}} {_num(e.value)}'
            )
        if c.memory_estimate is not None:
            metrics["redispolicy_keys_memory_bytes"][1].append(
                f"redispolicy_keys_memory_bytes{{{cls}}} {_num(c.memory_estimate.value)}"
            )
    metrics["redispolicy_keys"][1].append(
        f'redispolicy_keys{{{base},class=""}} {_num(findings.unclassified_estimate().value)}'
    )


def render_drift(report: DriftReport, style: Style) -> str:
    from redispolicy.plan.drift import CHECKS, KINDS

    env = _label(report.environment or "")
    metrics: dict[str, tuple[str, list[str]]] = {
        "redispolicy_drift_findings": ("Active drift findings by kind (ignored ones excluded).", []),
        "redispolicy_drift_ignored_findings": ("Findings hidden by an ignore rule, by kind.", []),
        "redispolicy_health_status": ("Health check status: 0 ok, 1 warning, 2 critical.", []),
        "redispolicy_drift_check_success": (
            "1 if the last drift check read the server and ran every check it should, else 0.",
            [],
        ),
        "redispolicy_drift_checked": (
            "1 if the check (config, keys, health) ran, 0 if it could not "
            "(expected or not); absent when not asked for.",
            [],
        ),
        "redispolicy_config_checked": (
            "1 if the server's config was read and compared with the policy, else 0.",
            [],
        ),
        "redispolicy_drift_last_success_timestamp_seconds": (
            "Unix time of the last successful drift check.",
            [],
        ),
        "redispolicy_keys": (
            "Keys per key class (exact, or estimated in sample mode); an empty class is unclassified.",
            [],
        ),
        "redispolicy_keys_violating": (
            "Keys of a class breaking a rule (exact, or estimated in sample mode).",
            [],
        ),
        "redispolicy_keys_memory_bytes": (
            "MEMORY USAGE of a key class (--memory or max_size; sampled: estimate).",
            [],
        ),
        "redispolicy_keys_audit_exact": ("1 if the key audit read every key, 0 if it sampled.", []),
        "redispolicy_build_info": (
            "redispolicy version.",
            [f'redispolicy_build_info{{version="{__version__}"}} 1'],
        ),
    }
    now = time.time()
    for t in report.targets:
        inst = _label(t.identity.address)
        base = f'environment="{env}",instance="{inst}"'
        # a check that could not run is a failed check, unless the policy expects it (target.config: unavailable)
        ok = 0 if t.error or any(not n.expected for n in t.unchecked) else 1
        metrics["redispolicy_drift_check_success"][1].append(
            f"redispolicy_drift_check_success{{{base}}} {ok}"
        )
        checks = t.checks
        for check in CHECKS:
            if checks[check] != "skipped":
                metrics["redispolicy_drift_checked"][1].append(
                    f'redispolicy_drift_checked{{{base},check="{check}"}} {int(checks[check] == "checked")}'
                )
        metrics["redispolicy_config_checked"][1].append(
            f"redispolicy_config_checked{{{base}}} {int(checks['config'] == 'checked')}"
        )
        if ok:
            metrics["redispolicy_drift_last_success_timestamp_seconds"][1].append(
                f"redispolicy_drift_last_success_timestamp_seconds{{{base}}} {now:.3f}"
            )
        for kind in KINDS:
            active = sum(1 for f in t.findings if f.kind == kind and not f.ignored)
            hidden = sum(1 for f in t.findings if f.kind == kind and f.ignored)
            metrics["redispolicy_drift_findings"][1].append(
                f'redispolicy_drift_findings{{{base},kind="{kind}"}} {active}'
            )
            metrics["redispolicy_drift_ignored_findings"][1].append(
                f'redispolicy_drift_ignored_findings{{{base},kind="{kind}"}} {hidden}'
            )
        for h in t.health:
            metrics["redispolicy_health_status"][1].append(
                f'redispolicy_health_status{{{base},check="{_label(h.check)}"}} {_LEVEL.get(h.status, -1)}'
            )
        if t.keys is not None:
            _keys(metrics, base, t.keys)
    out = []
    for name, (help_text, samples) in metrics.items():
        if not samples:
            continue
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples]
    return "\n".join(out) + "\n"
