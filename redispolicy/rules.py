"""Stable rule ids. Renamed never; new ones are appended.

Each rule has a one-line description (SARIF ``shortDescription``, JUnit test name,
``redispolicy validate --list-rules``). The ids are what users put in CI filters
and what the invalid-case fixtures in tests/cases/ assert on.
"""

from __future__ import annotations

from typing import NamedTuple


class Rule(NamedTuple):
    id: str
    summary: str


_RULES = [
    # Reading the file
    Rule("yaml-syntax", "The file is not well-formed YAML"),
    Rule("yaml-duplicate-key", "A mapping repeats a key; YAML would silently keep only the last"),
    Rule("yaml-too-large", "The file is larger than the policy size limit"),
    Rule("yaml-encoding", "The file is not UTF-8 text"),
    Rule("yaml-not-mapping", "The document is not a mapping (or there is not exactly one document)"),
    Rule("yaml-alias-limit", "Anchors and aliases expand beyond the node limit (a 'billion laughs' file)"),
    Rule("yaml-unsupported-tag", "A YAML tag the policy format does not use"),
    # The schema
    Rule("schema-unknown-key", "A key the policy schema does not define"),
    Rule("schema-missing-key", "A required key is missing"),
    Rule("schema-type", "A value has the wrong type"),
    Rule("schema-invalid", "A value the policy schema does not allow"),
    # Layering
    Rule("extends-not-found", "An extends entry names a file that does not exist"),
    Rule("extends-outside-dir", "An extends entry leaves the policy directory"),
    Rule("extends-cycle", "Files extend each other in a cycle"),
    Rule("environment-duplicate", "Two policy files declare the same environment"),
    Rule("env-unresolved", "A ${VAR} has no value here (fine for validate; needed to connect)"),
    Rule("env-required", "A ${VAR:?message} or, with --strict-env, any ${VAR} is unset"),
    Rule("env-syntax", "A malformed ${...} reference"),
    # Config parameters
    Rule("config-unknown-parameter", "Not a Redis or Valkey configuration parameter"),
    Rule("config-file-only", "A directive that exists only in redis.conf, never via CONFIG SET"),
    Rule("config-type", "The value does not parse as the parameter's type"),
    Rule("config-range", "The value is outside the parameter's range"),
    Rule("config-enum", "The value is not one of the parameter's choices"),
    Rule("config-needs-restart", "A startup-only parameter: applying it needs a restart"),
    Rule("config-protected", "A protected parameter: settable only with enable-protected-configs"),
    Rule("config-literal-secret", "A sensitive parameter has a literal value; secrets come from ${VAR}"),
    Rule("config-alias", "A parameter is set by its alias; the policy names it twice or by an old name"),
    Rule(
        "config-unobservable",
        "A value the server reads back without part of it, so drift in that part cannot be seen",
    ),
    Rule("config-maxmemory-zero-policy", "An eviction policy with maxmemory 0 (no limit) never evicts"),
    # Key classes
    Rule("keys-duplicate-class", "Two key classes share a name"),
    Rule("keys-unreachable-class", "A key class can never match: an earlier pattern covers it"),
    Rule("keys-bad-pattern", "A key pattern is not a valid Redis glob"),
    Rule("duration-invalid", "Not a duration (30s, 5m, 12h, 3d, 1w)"),
    Rule("size-invalid", "Not a Redis size (1000, 1k, 1kb, 1m, 1mb, 1g, 1gb)"),
    Rule("ignore-expired", "An ignore entry is past its 'until' date"),
    # Capacity
    Rule("capacity-exceeded", "The workloads' resident size exceeds the memory budget"),
    Rule("capacity-unknown-class", "A capacity workload names a key class that does not exist"),
    Rule("capacity-no-limit", "Capacity cannot be checked: no maxmemory limit is set"),
    Rule("capacity-no-ttl", "A workload sized by arrivals_per_day needs a class with ttl.max"),
    Rule(
        "config-dangerous",
        "A parameter that points the server at files or opens code loading, without an allow_dangerous opt-in",
    ),
    Rule("allow-dangerous-unknown", "allow_dangerous names an unknown parameter"),
    Rule(
        "allow-dangerous-unused", "allow_dangerous names a parameter that needs no opt-in or is not managed"
    ),
    # Key classes that would make cleanup / remediate a flush (issue 10)
    Rule("keys-catch-all", "A class with cleanup: or remediate: true whose pattern matches every key"),
    Rule("keys-ttl-zero", "ttl.max is zero: Redis deletes a key whose TTL is 0 at once"),
    Rule("keys-idle-zero", "cleanup.idle_over is zero: every key qualifies (write always: true if meant)"),
    # Lock timeouts (issue 13)
    Rule("health-unknown-class", "health.expired_per_hour names a key class that does not exist"),
    Rule(
        "health-notifications-off",
        "health.expired_per_hour, but the policy's notify-keyspace-events does not publish expired events",
    ),
    # Comparing environments (issue 14)
    Rule(
        "expected-differences-catch-all",
        "An expected_differences glob matches every difference (or every parameter): nothing could fail",
    ),
    Rule(
        "expected-differences-unknown",
        "An expected_differences entry names no compared section or no known parameter: it never matches",
    ),
]

RULES: dict[str, Rule] = {r.id: r for r in _RULES}
