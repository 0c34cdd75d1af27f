"""The drift report: one list of findings per target, from the plan, key and health stages.

No second diff engine: config findings come from ``compare`` (plan), key findings from
the key judge, health from the thresholds. Each finding has a kind, a subject, where in
the policy it is anchored, and whether an ``ignore:`` rule hides it.

What fails a run (exit 2): every active config, key-class and restart finding; health
findings and unclassified keys by their severity against ``--fail-on`` (critical by
default). ``unclassified: warn`` gives warnings, ``unclassified: error`` critical ones,
``unclassified: ignore`` none.
"""

from __future__ import annotations

import datetime
import fnmatch
from dataclasses import dataclass, replace
from typing import Any

from redispolicy.diagnostics import Location
from redispolicy.live.snapshot import Identity
from redispolicy.plan.health import ORDER, HealthCheck
from redispolicy.plan.ignore import live_rules
from redispolicy.plan.keys import KeyFindings
from redispolicy.plan.model import Plan
from redispolicy.policy.model import Policy
from redispolicy.policy.nodes import key_location

KINDS = ("value_drift", "restart_pending", "protected", "unsupported", "ttl_policy", "unclassified_keys",
         "health", "server_restarted")
CONFIG_KINDS = ("value_drift", "restart_pending", "protected", "unsupported")
KEY_KINDS = ("ttl_policy", "unclassified_keys")
GRADED_KINDS = ("health", "unclassified_keys")  # fail by severity against --fail-on
_ACTION_KIND = {"set": "value_drift", "restart": "restart_pending", "protected": "protected",
                "unsupported": "unsupported"}
# A health check and the policy threshold (health.<name>) it is judged by.
_THRESHOLD = {"hit_rate_window_percent": "hit_rate_percent", "evicted_keys_window": "evicted_keys"}


@dataclass(frozen=True)
class Finding:
    kind: str  # one of KINDS
    subject: str  # parameter, key class, health check
    message: str
    severity: str  # warning | critical
    location: Location | None = None  # the policy line it concerns
    ignored_because: str = ""  # the ignore rule's reason, when hidden

    @property
    def ignored(self) -> bool:
        return bool(self.ignored_because)

    def fails(self, fail_on: str = "critical") -> bool:
        """Whether this finding makes the run fail (exit 2)."""
        if self.ignored:
            return False
        return self.kind not in GRADED_KINDS or ORDER[self.severity] >= ORDER[fail_on]


@dataclass(frozen=True)
class TargetDrift:
    identity: Identity
    plan: Plan
    keys: KeyFindings | None
    health: tuple[HealthCheck, ...]
    findings: tuple[Finding, ...]
    error: str = ""  # the target could not be checked
    name: str = ""  # the fleet entry's name (targets[].name), if any

    @property
    def active(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ignored)

    @property
    def label(self) -> str:
        """How reports name the target: 'cache-a (10.0.0.5:6379)' or the address alone."""
        return f"{self.name} ({self.identity.address})" if self.name else self.identity.address


@dataclass(frozen=True)
class DriftReport:
    environment: str | None
    targets: tuple[TargetDrift, ...]
    policy_file: str
    fail_on: str = "critical"  # the health level that fails the run (--fail-on)

    def active(self) -> tuple[Finding, ...]:
        return tuple(f for t in self.targets for f in t.active)

    def ignored(self) -> tuple[Finding, ...]:
        return tuple(f for t in self.targets for f in t.findings if f.ignored)

    @property
    def errors(self) -> tuple[TargetDrift, ...]:
        return tuple(t for t in self.targets if t.error)

    def failing(self, fail_on: str | None = None) -> bool:
        """Drift of any kind, or health at or above ``fail_on``, or a target not checked."""
        level = fail_on or self.fail_on
        return any(f.fails(level) for f in self.active()) or bool(self.errors)

    @property
    def in_sync(self) -> bool:
        """No finding at all (not even an ignored one or a warning) and every target checked."""
        return not self.errors and not any(t.findings for t in self.targets)


def _count(n: float, exact: bool) -> str:
    return f"{n:.0f}" if exact else f"≈ {n:.0f}"


def findings_for(plan: Plan, keys: KeyFindings | None, health: tuple[HealthCheck, ...],
                 restarted_from: str | None = None, policy: Policy | None = None) -> list[Finding]:
    """Every finding of one target. ``policy`` anchors key-class and health findings at their lines."""
    out: list[Finding] = []
    if restarted_from:
        out.append(Finding("server_restarted", "run_id", f"the server restarted since the plan "
                           f"(run_id {restarted_from} -> {plan.identity.run_id})", "warning"))
    for c in plan.pending:
        shown = "the (sensitive) live value differs from the policy" if c.sensitive else \
            f"live {_v(c.before)}, policy {_v(c.after)}"
        if c.action == "unsupported":
            shown = "unknown to this server version" if c.sensitive else \
                f"unknown to this server version (policy {_v(c.after)})"
        out.append(Finding(_ACTION_KIND[c.action], c.parameter, f"{c.parameter}: {shown}", "warning", c.source))
    where = {k.name: k.location for k in policy.keys} if policy is not None else {}
    if keys is not None:
        for cls in keys.classes:
            if cls.violating:
                counts = cls.violations if cls.exact else {k: e.value for k, e in cls.violation_estimates().items()}
                bad = ", ".join(f"{_count(n, cls.exact)} {k}" for k, n in counts.items()
                                if cls.violations.get(k))
                out.append(Finding("ttl_policy", cls.name, f"key class {cls.name} ({cls.pattern}): {bad}",
                                   "warning", where.get(cls.name)))
        mode = policy.unclassified if policy is not None else "warn"
        if keys.unclassified and mode != "ignore":
            exact = keys.mode != "sample"
            n = keys.unclassified if exact else keys.unclassified_estimate().value
            noun = "key matches" if exact and n == 1 else "keys match"
            loc = _where(policy, ("unclassified",)) or _where(policy, ("keys",))
            out.append(Finding("unclassified_keys", "unclassified", f"{_count(n, exact)} {noun} no class",
                               "critical" if mode == "error" else "warning", loc))
    for h in health:
        if h.status in ("warning", "critical"):
            value = "" if h.value is None else f"{h.value:g}"
            limit = "" if h.threshold is None else f" (threshold {h.threshold:g})"
            loc = _where(policy, ("health", _THRESHOLD.get(h.check, h.check)))
            out.append(Finding("health", h.check, f"{h.check} {value}{limit} {h.detail}".strip(), h.status, loc))
    return out


def _where(policy: Policy | None, path: tuple[str, ...]) -> Location | None:
    return key_location(policy.tree, path) if policy is not None else None


def _v(value: str | None) -> str:
    return "(absent)" if value is None else (value if value != "" else '""')


def apply_ignores(findings: list[Finding], rules: tuple[dict[str, Any], ...],
                  today: datetime.date) -> list[Finding]:
    """Hide findings an ``ignore:`` rule covers; a rule past its ``until`` date hides nothing.

    ``parameter`` globs match config findings, ``class`` globs key-class findings (the
    subject ``unclassified`` for keys no class matches).
    """
    in_force = live_rules(rules, today)
    out = []
    for f in findings:
        reason = ""
        for r in in_force:
            if r.get("parameter") and f.kind in CONFIG_KINDS:
                hit = _parameter_matches(f.subject, str(r["parameter"]))
            elif r.get("class") and f.kind in KEY_KINDS:
                hit = fnmatch.fnmatchcase(f.subject, str(r["class"]))
            else:
                hit = False
            if hit:
                reason = str(r.get("reason") or "ignored")
                break
        out.append(replace(f, ignored_because=reason) if reason else f)
    return out


def _parameter_matches(subject: str, rule: str) -> bool:
    """A glob over the server's name; a plain name also matches through its aliases (slave-* / replica-*)."""
    from redispolicy.catalog.params import catalog

    if fnmatch.fnmatchcase(subject.lower(), rule.lower()):
        return True
    if any(ch in rule for ch in "*?["):
        return False
    cat = catalog()
    a, b = cat.lookup(subject), cat.lookup(rule)
    return a is not None and b is not None and a.canonical == b.canonical
