"""Plans: what would change on one server, and why; and what the key audit found there.

Only data lives here (frozen dataclasses the renderers read); plan/compare.py builds the
changes and plan/keys.py the key findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from redispolicy.diagnostics import Location
from redispolicy.live.model import Identity
from redispolicy.plan.stats import Estimate
from redispolicy.secret import Secret

Action = Literal["set", "restart", "protected", "unsupported", "noop"]
ACTIONS: tuple[Action, ...] = get_args(Action)
AuditMode = Literal["exact", "sample"]
# the rules a key can break; a key may break two (no_ttl and wrong_type)
VIOLATIONS = ("no_ttl", "ttl_over_max", "ttl_forbidden", "wrong_type", "oversized")


@dataclass(frozen=True)
class Change:
    parameter: str  # the name the running server uses
    before: str | None  # normalized live value; None when the server does not have it
    after: str  # normalized policy value
    action: Action
    source: Location  # the file:line that set it
    sensitive: bool = False  # before/after then hold "(sensitive)"
    # What CONFIG SET gets: normalized; for client-output-buffer-limit only the classes the
    # policy gives; a Secret for sensitive parameters, so a repr never shows it.
    send: str | Secret = ""
    # Points the server at files or opens code loading (catalog/danger.py): applied only with the
    # policy's allow_dangerous opt-in, and shown as dangerous in every plan.
    dangerous: bool = False

    @property
    def changed(self) -> bool:
        return self.action != "noop"


@dataclass(frozen=True)
class Plan:
    environment: str | None
    identity: Identity
    changes: tuple[Change, ...]  # noop entries included; renderers filter
    config_available: bool = True
    config_reason: str = ""
    keys: KeyFindings | None = None  # None: the policy has no key classes, or --no-keys
    config_declared: str = "available"  # the target's `config:`; "unavailable": CONFIG blocked by design
    # The deployment's other nodes (a primary's replicas, the other cluster nodes), each compared on
    # its own: CONFIG SET reaches one node. Empty: one node was planned (alone, or --no-discover).
    nodes: tuple[NodePlan, ...] = ()
    discovered: bool = False  # the nodes were discovered: apply discovers them again and compares
    mode: str = "standalone"  # the deployment's (INFO server)

    @property
    def pending(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.changed)

    @property
    def all_nodes(self) -> tuple[Plan, ...]:
        """Every node's plan, this one (the primary, which carries the key audit) first."""
        return (self, *(n.plan for n in self.nodes))

    @property
    def pending_anywhere(self) -> int:
        """Changes on any node: what --detailed-exitcode counts."""
        return sum(len(n.pending) for n in self.all_nodes)

    @property
    def config_check(self) -> str:
        """checked | not_checked (a failure: never reported as "in sync") | not_checked_expected."""
        if self.config_available:
            return "checked"
        return "not_checked_expected" if self.config_declared == "unavailable" else "not_checked"


@dataclass(frozen=True)
class NodePlan:
    """One more node of the deployment: its own comparison (no key audit: that runs once)."""

    plan: Plan


# -- the key audit's findings (Plan.keys, drift reports) ---------------------------------------


@dataclass(frozen=True)
class ClassFindings:
    name: str
    pattern: str
    matched: int  # keys seen in the class: all of them (exact), or the sampled draws (sample)
    vanished: int
    violations: dict[str, int]  # per rule, over the keys seen (a key may break two rules)
    ttl_p50: int | None  # seconds, over keys with a TTL
    ttl_p90: int | None
    ttl_max: int | None
    examples: tuple[str, ...]  # violating key names (decoded for display)
    memory_bytes: int | None = None  # summed MEMORY USAGE, when measured (sample: estimated total)
    violating_keys: int | None = None  # keys seen breaking at least one rule
    exact: bool = True  # False: the estimates below come from a sample
    via: str = "scan"  # scan (exact mode) | match (SCAN MATCH pass in sample mode) | sample
    estimated_matched: Estimate | None = None  # keys in the whole keyspace
    estimated_violations: dict[str, Estimate] | None = None  # per rule
    estimated_violating: Estimate | None = None  # keys breaking at least one rule
    upper_bound_violating: float | None = None  # sample, none seen: one-sided 95 % bound on the count
    upper_bound_rate: float | None = None  # ... and on the class's violation rate
    remediate: bool = False  # remediate: true with a ttl max: `redispolicy remediate` may fix its TTLs
    memory_estimate: Estimate | None = (
        None  # total bytes: exact sum (value == low == high) or sampled estimate
    )
    memory_mean: float | None = None  # mean MEMORY USAGE per key measured (sample: per class draw)

    @property
    def violating(self) -> int:
        return sum(self.violations.values())

    @property
    def keys_violating(self) -> int:
        return self.violating if self.violating_keys is None else self.violating_keys

    def matched_estimate(self) -> Estimate:
        return self.estimated_matched or Estimate.exact(self.matched)

    def violating_estimate(self) -> Estimate:
        return self.estimated_violating or Estimate.exact(self.keys_violating)

    def violation_estimates(self) -> dict[str, Estimate]:
        if self.estimated_violations is not None:
            return self.estimated_violations
        return {k: Estimate.exact(v) for k, v in self.violations.items()}


@dataclass(frozen=True)
class CapacityObservation:
    """One ``capacity.workloads`` entry: the policy's resident-size estimate and what the audit saw."""

    key_class: str
    estimate_bytes: int | None  # the policy's: items x item_size, or arrivals/day x ttl.max days x item_size
    observed_keys: Estimate  # keys of the class (exact: value == low == high)
    observed_bytes: Estimate | None  # summed (or estimated) MEMORY USAGE; None when it was not measured
    exact: bool


@dataclass(frozen=True)
class KeyFindings:
    mode: AuditMode
    dbsize: int
    scanned: int  # distinct keys inspected
    classes: tuple[ClassFindings, ...]
    unclassified: int  # keys (exact) or draws (sample) no class matched
    unclassified_examples: tuple[str, ...] = ()
    duplicates: int = 0  # exact: keys SCAN returned twice; sample: draws repeating a key
    sample_size: int = 0  # sample: draws that found a key (the n of every interval)
    estimated_unclassified: Estimate | None = None
    suggestions: tuple[tuple[str, int], ...] = ()  # (glob, keys or draws) for the unclassified keys
    capacity: tuple[CapacityObservation, ...] = ()  # capacity.workloads against the observed sizes (--memory)
    nodes: tuple[str, ...] = ()  # cluster: the masters audited (host:port), whose keys add up to dbsize

    @property
    def violations(self) -> int:
        return sum(c.violating for c in self.classes)

    def unclassified_estimate(self) -> Estimate:
        return self.estimated_unclassified or Estimate.exact(self.unclassified)
