"""The drift report: one list of findings per target, from the plan, key and health stages.

No second diff engine: config findings come from ``compare`` (plan), key findings from
the key judge, health from the thresholds. Each finding has a kind, a subject, where in
the policy it is anchored, and whether an ``ignore:`` rule hides it.

What fails a run (exit 2): every active config, key-class, restart and topology finding; health
findings and unclassified keys by their severity against ``--fail-on`` (critical by
default). ``unclassified: warn`` gives warnings, ``unclassified: error`` critical ones,
``unclassified: ignore`` none.

A check that could not run (CONFIG renamed or refused, the key audit or INFO refused) is
*not checked*: never a pass, and it fails the run (exit 1) like an unreachable target,
unless the policy says so in advance (``target: {config: unavailable}``), which the
report then names.
"""

from __future__ import annotations

import datetime
import fnmatch
from dataclasses import dataclass, replace
from typing import Literal, get_args

from redispolicy.diagnostics import Location
from redispolicy.live.model import Identity
from redispolicy.plan.health import ORDER, HealthCheck
from redispolicy.plan.ignore import live_rules
from redispolicy.plan.keys import KeyFindings
from redispolicy.plan.model import Plan
from redispolicy.policy.model import IgnoreRule, Policy, Target
from redispolicy.policy.nodes import key_location

Kind = Literal[
    "value_drift",
    "restart_pending",
    "protected",
    "unsupported",
    "ttl_policy",
    "unclassified_keys",
    "health",
    "server_restarted",
    "topology",  # target.topology pinned, a different deployment found (plan/topology.py)
]
Severity = Literal["warning", "critical"]
KINDS: tuple[Kind, ...] = get_args(Kind)
CONFIG_KINDS = ("value_drift", "restart_pending", "protected", "unsupported")
KEY_KINDS = ("ttl_policy", "unclassified_keys")
GRADED_KINDS = ("health", "unclassified_keys")  # fail by severity against --fail-on
_ACTION_KIND: dict[str, Kind] = {
    "set": "value_drift",
    "restart": "restart_pending",
    "protected": "protected",
    "unsupported": "unsupported",
}
# A health check and the policy threshold (health.<name>) it is judged by.
_THRESHOLD = {"hit_rate_window_percent": "hit_rate_percent", "evicted_keys_window": "evicted_keys"}


@dataclass(frozen=True)
class Finding:
    kind: Kind
    subject: str  # parameter, key class, health check
    message: str
    severity: Severity
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


CHECKS = ("config", "keys", "health")
EXPECTED_UNAVAILABLE = "expected: target.config: unavailable"


@dataclass(frozen=True)
class NotChecked:
    """A check that could not run on a target that was reached: never reported as passing."""

    check: str  # one of CHECKS
    reason: str
    expected: bool = False  # the policy says so (target.config: unavailable): shown, not failing

    @property
    def text(self) -> str:
        if self.expected:
            return f"{self.check} not checked ({EXPECTED_UNAVAILABLE})"
        if self.check == "config":  # the other way out, for a managed service that blocks CONFIG by design
            return (
                f"config not checked: {self.reason}; if CONFIG is blocked here by design, "
                "say `config: unavailable` under the policy's target"
            )
        return f"{self.check} not checked: {self.reason}"


def declared_config(policy: Policy, target: Target | None = None) -> str:
    """What the policy says about CONFIG on this target (a fleet entry, else the single target):
    available | unavailable. A --url on a fleet's policy names no entry: available."""
    target = target or policy.target
    return target.config if target is not None else "available"


def config_not_checked(plan: Plan) -> NotChecked | None:
    """The plan's config check as a NotChecked when CONFIG GET could not run, else None."""
    status = plan.config_check
    if status == "checked":
        return None
    return NotChecked("config", plan.config_reason, status == "not_checked_expected")


def stale_declaration(plan: Plan) -> str:
    """A note when the policy says CONFIG is unavailable here but it answered: the declaration is stale."""
    if plan.config_available and plan.config_declared == "unavailable":
        return (
            "the policy says target.config: unavailable, but CONFIG GET works here and config was checked; "
            "remove `config: unavailable` from the target so a blocked CONFIG fails the run again"
        )
    return ""


@dataclass(frozen=True)
class TargetDrift:
    identity: Identity
    plan: Plan
    keys: KeyFindings | None
    health: tuple[HealthCheck, ...]
    findings: tuple[Finding, ...]
    error: str = ""  # the target could not be checked
    name: str = ""  # the fleet entry's name (targets[].name), if any
    not_checked: tuple[NotChecked, ...] = ()  # keys or health that could not run (config: from the plan)
    notes: tuple[str, ...] = ()  # e.g. a stale target.config: unavailable

    @property
    def active(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ignored)

    @property
    def unchecked(self) -> tuple[NotChecked, ...]:
        """Every check that could not run on this (reached) target, config first; expected ones included."""
        if self.error:
            return ()  # the whole target is an error, reported as such
        config = config_not_checked(self.plan)
        return (config, *self.not_checked) if config is not None else self.not_checked

    @property
    def checks(self) -> dict[str, str]:
        """Per check: checked | not_checked | not_checked_expected | skipped (keys: --no-keys, no key
        classes, or audited on another node of the deployment)."""
        if self.error:
            return dict.fromkeys(CHECKS, "not_checked")
        status = {
            "config": "checked",
            "keys": "checked" if self.keys is not None else "skipped",
            "health": "checked",
        }
        for n in self.unchecked:
            status[n.check] = "not_checked_expected" if n.expected else "not_checked"
        return status

    @property
    def checked(self) -> tuple[str, ...]:
        """The checks that ran, in CHECKS order: what an "in sync" line may claim."""
        return tuple(c for c, s in self.checks.items() if s == "checked")

    @property
    def label(self) -> str:
        """How reports name the target: 'cache-a (10.0.0.5:6379)' or the address alone."""
        return f"{self.name} ({self.identity.address})" if self.name else self.identity.address


@dataclass(frozen=True)
class ShardInfo:
    """``drift --shard K/N``: this report covers shard ``index`` of ``count``; ``fleet`` names every
    entry of the fleet in the policy's order, so merge-reports can order the merged targets as an
    unsharded run would and name the entries no shard's report covered."""

    index: int
    count: int
    fleet: tuple[str, ...]
    policy_file: str = ""  # the environment's file, as DriftReport.policy_file


@dataclass(frozen=True)
class DriftReport:
    environment: str | None
    targets: tuple[TargetDrift, ...]
    policy_file: str
    fail_on: str = "critical"  # the health level that fails the run (--fail-on)
    shard: ShardInfo | None = None  # a sharded run's part of the fleet (-o json records it)

    def active(self) -> tuple[Finding, ...]:
        return tuple(f for t in self.targets for f in t.active)

    def ignored(self) -> tuple[Finding, ...]:
        return tuple(f for t in self.targets for f in t.findings if f.ignored)

    @property
    def errors(self) -> tuple[TargetDrift, ...]:
        return tuple(t for t in self.targets if t.error)

    def unchecked(self) -> tuple[tuple[TargetDrift, NotChecked], ...]:
        """Checks that could not run on reached targets, expected ones included."""
        return tuple((t, n) for t in self.targets for n in t.unchecked)

    @property
    def incomplete(self) -> tuple[tuple[TargetDrift, NotChecked], ...]:
        """Checks that should have run and could not: each fails the run (exit 1), like an error."""
        return tuple((t, n) for t, n in self.unchecked() if not n.expected)

    def failing(self, fail_on: str | None = None) -> bool:
        """Drift of any kind, or health at or above ``fail_on``, or a target or check not checked."""
        level = fail_on or self.fail_on
        return any(f.fails(level) for f in self.active()) or bool(self.errors) or bool(self.incomplete)

    @property
    def in_sync(self) -> bool:
        """No finding at all (not even an ignored one or a warning), every target and every check run."""
        return not self.errors and not any(t.findings or t.unchecked for t in self.targets)

    @property
    def checked(self) -> tuple[str, ...]:
        """The checks that ran (CHECKS order; the key audit runs on one node of a deployment): what
        a one-line "in sync" may claim."""
        return tuple(c for c in CHECKS if any(c in t.checked for t in self.targets))


def and_list(words: tuple[str, ...] | list[str]) -> str:
    """'config, keys and health'; 'nothing' for none."""
    if not words:
        return "nothing"
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _count(n: float, exact: bool) -> str:
    return f"{n:.0f}" if exact else f"≈ {n:.0f}"


def findings_for(
    plan: Plan,
    keys: KeyFindings | None,
    health: tuple[HealthCheck, ...],
    restarted_from: str | None = None,
    policy: Policy | None = None,
) -> list[Finding]:
    """Every finding of one target. ``policy`` anchors key-class and health findings at their lines."""
    out: list[Finding] = []
    if restarted_from:
        out.append(
            Finding(
                "server_restarted",
                "run_id",
                f"the server restarted since the plan (run_id {restarted_from} -> {plan.identity.run_id})",
                "warning",
            )
        )
    for c in plan.pending:
        shown = (
            "the (sensitive) live value differs from the policy"
            if c.sensitive
            else f"live {_v(c.before)}, policy {_v(c.after)}"
        )
        if c.action == "unsupported":
            shown = (
                "unknown to this server version"
                if c.sensitive
                else f"unknown to this server version (policy {_v(c.after)})"
            )
        out.append(
            Finding(_ACTION_KIND[c.action], c.parameter, f"{c.parameter}: {shown}", "warning", c.source)
        )
    where = {k.name: k.location for k in policy.keys} if policy is not None else {}
    if keys is not None:
        for cls in keys.classes:
            if cls.violating:
                counts = (
                    cls.violations
                    if cls.exact
                    else {k: e.value for k, e in cls.violation_estimates().items()}
                )
                bad = ", ".join(
                    f"{_count(n, cls.exact)} {k}" for k, n in counts.items() if cls.violations.get(k)
                )
                out.append(
                    Finding(
                        "ttl_policy",
                        cls.name,
                        f"key class {cls.name} ({cls.pattern}): {bad}",
                        "warning",
                        where.get(cls.name),
                    )
                )
        mode = policy.unclassified if policy is not None else "warn"
        if keys.unclassified and mode != "ignore":
            exact = keys.mode != "sample"
            n = keys.unclassified if exact else keys.unclassified_estimate().value
            noun = "key matches" if exact and n == 1 else "keys match"
            loc = _where(policy, ("unclassified",)) or _where(policy, ("keys",))
            out.append(
                Finding(
                    "unclassified_keys",
                    "unclassified",
                    f"{_count(n, exact)} {noun} no class",
                    "critical" if mode == "error" else "warning",
                    loc,
                )
            )
    for h in health:
        if h.status in ("warning", "critical"):
            value = "" if h.value is None else f"{h.value:g}"
            limit = "" if h.threshold is None else f" (threshold {h.threshold:g})"
            loc = _where(policy, ("health", _THRESHOLD.get(h.check, h.check)))
            out.append(
                Finding("health", h.check, f"{h.check} {value}{limit} {h.detail}".strip(), h.status, loc)
            )
    return out


def _where(policy: Policy | None, path: tuple[str, ...]) -> Location | None:
    return key_location(policy.tree, path) if policy is not None else None


def _v(value: str | None) -> str:
    return "(absent)" if value is None else (value if value != "" else '""')


def apply_ignores(
    findings: list[Finding], rules: tuple[IgnoreRule, ...], today: datetime.date
) -> list[Finding]:
    """Hide findings an ``ignore:`` rule covers; a rule past its ``until`` date hides nothing.

    ``parameter`` globs match config findings, ``class`` globs key-class findings (the
    subject ``unclassified`` for keys no class matches). No rule hides a health, server_restarted or
    ``topology`` finding (not even ``parameter: "*"``): a wrong deployment is fixed at the URL
    or in ``target.topology`` itself.
    """
    in_force = live_rules(rules, today)
    out = []
    for f in findings:
        reason = ""
        for r in in_force:
            if r.parameter and f.kind in CONFIG_KINDS:
                hit = _parameter_matches(f.subject, r.parameter)
            elif r.key_class and f.kind in KEY_KINDS:
                hit = fnmatch.fnmatchcase(f.subject, r.key_class)
            else:
                hit = False
            if hit:
                reason = r.reason or "ignored"
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
