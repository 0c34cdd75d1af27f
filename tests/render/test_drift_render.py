"""The drift renderers on a literal report: every format, every shape, no server needed.

The literal report has a drifted target (a set, a restart and a sensitive parameter, a
noop, a key class with violations, unclassified keys, a critical and a warning health
check, an ignored finding, a server restart) and a target that could not be checked.
The live tests (tests/drift/) check the same formats against real servers.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from prometheus_client.parser import text_string_to_metric_families

from redispolicy.diagnostics import Location
from redispolicy.live.model import Identity
from redispolicy.plan.drift import KINDS, DriftReport, Finding, TargetDrift, apply_ignores, findings_for
from redispolicy.plan.health import HealthCheck
from redispolicy.plan.keys import ClassFindings, KeyFindings
from redispolicy.plan.model import Change, Plan
from redispolicy.policy.model import IgnoreRule
from redispolicy.render import renderer
from redispolicy.render.style import Style
from redispolicy.secret import REDACTED, Secret

F = "policies/production.yaml"
TODAY = datetime.date(2026, 5, 1)


def _ident(addr: str = "10.0.0.5:6379") -> Identity:
    return Identity("redis", "7.0.15", "abc123", "master", "standalone", addr)


def _rules(entries: tuple[dict[str, str], ...]) -> tuple[IgnoreRule, ...]:
    """ignore: entries as the policy stage builds them."""
    return tuple(
        IgnoreRule(
            e["reason"],
            Location(F, 1),
            e.get("parameter"),
            e.get("class"),
            datetime.date.fromisoformat(e["until"]) if "until" in e else None,
            e.get("until", ""),
        )
        for e in entries
    )


def drifted_target(ignore: tuple[dict[str, str], ...] = (), name: str = "") -> TargetDrift:
    ident = _ident()
    changes = (
        Change("maxmemory", "1073741824", "1073741824", "noop", Location(F, 7)),
        Change("maxmemory-policy", "noeviction", "allkeys-lru", "set", Location(F, 8)),
        Change("databases", "16", "32", "restart", Location(F, 9)),
        Change("requirepass", REDACTED, REDACTED, "set", Location(F, 10), True, Secret("hunter2-secret")),
        Change(
            "client-output-buffer-limit",
            "normal 0 0 0",
            "normal 1mb 1mb 60",
            "set",
            Location("policies/base.yaml", 4),
        ),
    )
    plan = Plan("production", ident, changes)
    keys = KeyFindings(
        "exact",
        120,
        120,
        (
            ClassFindings(
                "cache",
                "cache:*",
                9,
                0,
                {"no_ttl": 3, "ttl_over_max": 2, "ttl_forbidden": 0, "wrong_type": 0, "oversized": 0},
                1800,
                3600,
                7200,
                ("cache:1",),
            ),
            ClassFindings(
                "blob",
                "blob:*",
                100,
                0,
                dict.fromkeys(("no_ttl", "ttl_over_max", "ttl_forbidden", "wrong_type", "oversized"), 0),
                None,
                None,
                None,
                (),
            ),
        ),
        unclassified=2,
        unclassified_examples=("stray:1", "stray:2"),
    )
    health = (
        HealthCheck("memory_used_percent", 93.4, "critical", 90.0, "7834 of maxmemory 8388608 bytes"),
        HealthCheck("hit_rate_percent", 15.0, "warning", 20.0, "over the server's lifetime (20 lookups)"),
        HealthCheck("evicted_keys", 0.0, "ok", None, "since the server started"),
        HealthCheck("last_save", None, "ok", None, "rdb_last_bgsave_status:ok"),
    )
    found = findings_for(plan, keys, health, restarted_from="old-run-id")
    found = apply_ignores(found, _rules(ignore), TODAY)
    return TargetDrift(ident, plan, keys, health, tuple(found), name=name)


def failed_target() -> TargetDrift:
    ident = Identity("unknown", "", "", "unknown", "unknown", "10.0.0.6:6379")
    return TargetDrift(
        ident,
        Plan("production", ident, ()),
        None,
        (),
        (),
        error="cannot connect to redis://:***@10.0.0.6:6379: Connection refused",
        name="cache-b",
    )


IGNORE = ({"parameter": "client-output-*", "reason": "managed by the platform team", "until": "2026-12-31"},)


def report(fail_on: str = "critical") -> DriftReport:
    return DriftReport("production", (drifted_target(IGNORE, "cache-a"), failed_target()), F, fail_on)


def clean() -> DriftReport:
    ident = _ident()
    plan = Plan("production", ident, (Change("maxmemory", "1", "1", "noop", Location(F, 7)),))
    health = (HealthCheck("memory_used_percent", 1.0, "ok", 80.0),)
    return DriftReport("production", (TargetDrift(ident, plan, None, health, ()),), F)


def render(fmt: str, rep: DriftReport, style: Style | None = None) -> str:
    text = renderer(fmt, "drift")(rep, style or Style())
    assert "hunter2-secret" not in text
    return text


def test_findings_are_classified_and_anchored() -> None:
    t = drifted_target(IGNORE)
    got = [
        (f.kind, f.subject, f.severity, f.location.short if f.location else None, f.ignored)
        for f in t.findings
    ]
    assert got == [
        ("server_restarted", "run_id", "warning", None, False),
        ("value_drift", "maxmemory-policy", "warning", f"{F}:8", False),
        ("restart_pending", "databases", "warning", f"{F}:9", False),
        ("value_drift", "requirepass", "warning", f"{F}:10", False),
        ("value_drift", "client-output-buffer-limit", "warning", "policies/base.yaml:4", True),
        ("ttl_policy", "cache", "warning", None, False),
        ("unclassified_keys", "unclassified", "warning", None, False),
        ("health", "memory_used_percent", "critical", None, False),
        ("health", "hit_rate_percent", "warning", None, False),
    ]
    by = {f.subject: f for f in t.findings}
    assert by["requirepass"].message == "requirepass: the (sensitive) live value differs from the policy"
    assert by["cache"].message == "key class cache (cache:*): 3 no_ttl, 2 ttl_over_max"
    assert by["unclassified"].message == "2 keys match no class"
    assert by["client-output-buffer-limit"].ignored_because == "managed by the platform team"


def test_expired_rule_hides_nothing_and_aliases_match() -> None:
    expired = ({"parameter": "client-output-buffer-limit", "reason": "x", "until": "2026-04-30"},)
    assert not any(f.ignored for f in drifted_target(expired).findings)
    alias = ({"parameter": "slave-read-only", "reason": "legacy name"},)
    f = Finding("value_drift", "replica-read-only", "m", "warning")
    assert apply_ignores([f], _rules(alias), TODAY)[0].ignored
    cls = ({"class": "cach*", "reason": "known"},)
    assert [
        g.subject for g in apply_ignores(list(drifted_target().findings), _rules(cls), TODAY) if g.ignored
    ] == ["cache"]


def test_exit_semantics() -> None:
    assert report().failing()
    only_warning = DriftReport(
        "p",
        (
            TargetDrift(
                _ident(),
                Plan("p", _ident(), ()),
                None,
                (),
                (
                    Finding("health", "hit_rate_percent", "m", "warning"),
                    Finding("unclassified_keys", "unclassified", "m", "warning"),
                ),
            ),
        ),
        F,
    )
    assert not only_warning.failing() and only_warning.failing("warning")
    assert not only_warning.in_sync and clean().in_sync


def test_text_in_sync_is_one_line() -> None:
    out = render("text", clean())
    assert out.count("\n") == 1
    assert out.startswith("✓ in sync: production · 10.0.0.5:6379 (redis 7.0.15, master)")


def test_text_lists_findings_and_errors() -> None:
    out = render("text", report())
    assert (
        "  warning value_drift: maxmemory-policy: live noeviction, policy allkeys-lru  policies/production.yaml:8"
        in out
    )
    assert "  critical health: memory_used_percent 93.4 (threshold 90)" in out
    assert "  - ignored (managed by the platform team): value_drift: client-output-buffer-limit" in out
    assert "could not check: cannot connect" in out
    assert out.rstrip().endswith(
        "✗ 1 of 2 target(s) could not be checked; 8 finding(s) on the others; 1 ignored"
    )


def test_markdown_tables_collapsed_ignored_and_in_sync_line() -> None:
    out = render("markdown", report(), Style(key_names=True))  # --examples
    assert "| | kind | subject | message | source |" in out
    assert (
        "| ⚠️ warning | value_drift | `maxmemory-policy` | maxmemory-policy: live noeviction, policy allkeys-lru | "
        "`policies/production.yaml:8` |" in out
    )
    assert "| ❌ critical | health | `memory_used_percent` |" in out
    assert "<details><summary>1 ignored finding(s)</summary>" in out
    details = out[out.index("<details>") : out.index("</details>")]
    assert "client-output-buffer-limit" in details and "managed by the platform team" in details
    audit = out[out.index("<details><summary>Key audit</summary>") :]
    audit = audit[: audit.index("</details>")]
    assert (
        "| ❌ | cache | `cache:*` | 9 keys | 3 no_ttl, 2 ttl_over_max | 30m / 1h / 2h |  | `cache:1` |"
        in audit
    )
    assert "| ❔ | unclassified | | 2 keys | no class matches |" in audit
    assert "| health check | value | status | threshold | detail |" in out
    assert "#### `cache-b (10.0.0.6:6379)`" in out and "could not check" in out
    one = render("markdown", clean())
    assert one.count("\n") == 1 and "in sync" in one


def parse_annotation(line: str) -> tuple[str, dict[str, str], str]:
    head, sep, message = line[2:].partition("::")
    assert line.startswith("::") and sep
    level, _, props = head.partition(" ")
    fields = dict(p.split("=", 1) for p in props.split(",")) if props else {}
    unesc = {k: v.replace("%3A", ":").replace("%2C", ",").replace("%25", "%") for k, v in fields.items()}
    return level, unesc, message.replace("%0A", "\n").replace("%25", "%")


def test_github_annotations_at_policy_lines() -> None:
    lines = render("github", report()).splitlines()
    parsed = [parse_annotation(line) for line in lines[:-1]]
    levels = [p[0] for p in parsed]
    assert levels == sorted(levels, key=["error", "warning", "notice"].index), "errors first"
    by_msg = {m: (lvl, props) for lvl, props, m in parsed}
    lvl, props = by_msg["cache-a (10.0.0.5:6379): maxmemory-policy: live noeviction, policy allkeys-lru"]
    assert lvl == "warning" and props["file"] == F and props["line"] == "8"
    crit = [p for p in parsed if "memory_used_percent" in p[2]]
    assert crit[0][0] == "error" and "file" not in crit[0][1]
    assert [p[0] for p in parsed if "client-output-buffer-limit" in p[2]] == ["notice"]
    assert any(p[0] == "error" and "cannot connect" in p[2] and p[1]["file"] == F for p in parsed)
    assert lines[-1].startswith("redispolicy drift production: 1 of 2 target(s) could not be checked")


def test_sarif_valid_official_and_github() -> None:
    from sarif_check import check_sarif

    doc = json.loads(render("sarif", report()))
    check_sarif(doc)
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        f"drift/{k}" for k in (*KINDS, "error", "not_checked")
    ]
    results = run["results"]
    assert sorted(r["ruleId"] for r in results) == sorted(
        [
            "drift/server_restarted",
            "drift/value_drift",
            "drift/restart_pending",
            "drift/value_drift",
            "drift/ttl_policy",
            "drift/unclassified_keys",
            "drift/health",
            "drift/health",
            "drift/error",
        ]
    )
    levels = {
        r["ruleId"]: r["level"] for r in results if r["ruleId"] in ("drift/error", "drift/restart_pending")
    }
    assert levels == {"drift/error": "error", "drift/restart_pending": "warning"}
    for r in results:
        region = r["locations"][0]["physicalLocation"]["region"]
        uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        if r["properties"]["subject"] == "databases":
            assert (uri, region) == (F, {"startLine": 9})
        if r["ruleId"] == "drift/health":
            assert (uri, region["startLine"]) == (F, 1)  # no policy line: the environment's file
    assert run["properties"]["ignored"][0]["subject"] == "client-output-buffer-limit"
    fingerprints = [r["partialFingerprints"]["primaryLocationLineHash"] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)
    check_sarif(json.loads(render("sarif", clean())))


def test_validate_sarif_is_official_sarif_too(tmp_path: Path) -> None:
    from sample_reports import literal_report
    from sarif_check import check_official_sarif

    check_official_sarif(json.loads(renderer("sarif", "validation")(literal_report(), Style())))


def test_sarif_checker_is_not_vacuous() -> None:
    from sarif_check import check_official_sarif

    doc = json.loads(render("sarif", report()))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(AssertionError):
        check_official_sarif(doc)


def test_junit_one_case_per_check() -> None:
    text = render("junit", report())
    xml = JUnitXml.fromstring(text)
    suites = list(xml)
    assert len(suites) == 2
    cases = {c.name: c for c in suites[0]}
    # 5 parameters (the noop included), 2 classes + unclassified, 4 health checks, the restart
    assert len(cases) == 5 + 3 + 4 + 1
    failed = sorted(n for n, c in cases.items() if any(isinstance(r, Failure) for r in c.result))
    assert failed == sorted(
        ["maxmemory-policy", "databases", "requirepass", "cache", "memory_used_percent", "run_id"]
    )
    skipped = [n for n, c in cases.items() if any(isinstance(r, Skipped) for r in c.result)]
    assert skipped == ["client-output-buffer-limit"]
    assert cases["client-output-buffer-limit"].result[0].message == "ignored: managed by the platform team"
    assert cases["maxmemory"].is_passed and cases["blob"].is_passed
    assert cases["hit_rate_percent"].is_passed and "warning health" in (
        cases["hit_rate_percent"].system_out or ""
    )
    error_cases = list(suites[1])
    assert len(error_cases) == 1 and isinstance(error_cases[0].result[0], Error)
    root = ET.fromstring(text)
    assert root.attrib["failures"] == "6" and root.attrib["errors"] == "1" and root.attrib["skipped"] == "1"
    # --fail-on warning: the hit-rate and unclassified warnings fail too
    (warn_suite, _) = list(JUnitXml.fromstring(render("junit", report("warning"))))
    warn = {c.name: c for c in warn_suite}
    assert not warn["hit_rate_percent"].is_passed and not warn["unclassified"].is_passed


def test_prometheus_parses_and_counts_by_kind() -> None:
    text = render("prometheus", report())
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    findings = {
        (s.labels["instance"], s.labels["kind"]): s.value for s in fams["redispolicy_drift_findings"].samples
    }
    a = "10.0.0.5:6379"
    assert findings[(a, "value_drift")] == 2 and findings[(a, "restart_pending")] == 1
    assert findings[(a, "health")] == 2 and findings[(a, "server_restarted")] == 1
    ignored = {
        (s.labels["instance"], s.labels["kind"]): s.value
        for s in fams["redispolicy_drift_ignored_findings"].samples
    }
    assert ignored[(a, "value_drift")] == 1
    ok = {s.labels["instance"]: s.value for s in fams["redispolicy_drift_check_success"].samples}
    assert ok == {a: 1, "10.0.0.6:6379": 0}
    status = {s.labels["check"]: s.value for s in fams["redispolicy_health_status"].samples}
    assert status["memory_used_percent"] == 2 and status["hit_rate_percent"] == 1
    last = [s.labels["instance"] for s in fams["redispolicy_drift_last_success_timestamp_seconds"].samples]
    assert last == [a]
    for value in ("noeviction", "allkeys-lru", "1073741824", "cache:1", "stray:1"):
        assert value not in text
    # the key audit, as numbers a dashboard can trend (never a key name: see the loop above)
    keys = {s.labels["class"]: s.value for s in fams["redispolicy_keys"].samples}
    assert keys == {"cache": 9, "blob": 100, "": 2}
    violating = {
        (s.labels["class"], s.labels["rule"]): s.value for s in fams["redispolicy_keys_violating"].samples
    }
    assert violating[("cache", "no_ttl")] == 3 and violating[("cache", "ttl_over_max")] == 2
    assert violating[("blob", "no_ttl")] == 0
    assert [s.value for s in fams["redispolicy_keys_audit_exact"].samples] == [1]


def test_json_findings_and_summary() -> None:
    doc = json.loads(render("json", report()))
    a, b = doc["targets"]
    assert a["name"] == "cache-a" and b["name"] == "cache-b" and "error" in b
    assert [(f["kind"], f["subject"], f["ignored"]) for f in a["findings"]][4] == (
        "value_drift",
        "client-output-buffer-limit",
        True,
    )
    assert doc["summary"]["ignored"] == 1 and doc["summary"]["findings"] == 8
    assert doc["summary"]["config_changes"] == 3 and doc["summary"]["errors"] == 1
    assert doc["summary"]["failing"] is True and doc["summary"]["health"] == "critical"
