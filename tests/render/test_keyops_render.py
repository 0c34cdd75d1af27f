"""Renderers of remediate and cleanup, and the remediation line under plan's key audit (pure, no server)."""

from __future__ import annotations

import json

from redispolicy.apply.cleanup import ClassCleanup, CleanupReport
from redispolicy.apply.remediate import ClassRemediation, RemediationReport, RemediationResult
from redispolicy.plan.keys import ClassFindings, KeyFindings
from redispolicy.plan.stats import Estimate
from redispolicy.render import renderer
from redispolicy.render.style import Style
from redispolicy.render.text.keys import remediation_lines

PLAIN = Style(color=False)


def _findings(exact: bool, remediate: bool = True) -> KeyFindings:
    v = {"no_ttl": 3, "ttl_over_max": 2, "ttl_forbidden": 0, "wrong_type": 0, "oversized": 0}
    est = None if exact else {k: Estimate(n * 100.0, n * 80.0, n * 120.0) for k, n in v.items()}
    c = ClassFindings(
        "ocr",
        "ocr:*",
        10,
        0,
        v,
        None,
        None,
        None,
        (),
        exact=exact,
        remediate=remediate,
        estimated_violations=est,
    )
    other = ClassFindings("locks", "lock:*", 4, 0, dict(v), None, None, None, ())
    return KeyFindings("exact" if exact else "sample", 100, 14, (c, other), 0)


def test_remediation_line_counts_only_remediate_classes():
    lines = remediation_lines(_findings(True), PLAIN)
    assert "remediation: 5 keys would get a TTL (3 without one, 2 above max lowered to max)" in lines[0]
    assert remediation_lines(_findings(True, remediate=False), PLAIN) == []


def test_remediation_line_in_sample_mode_says_it_is_an_estimate():
    text = "\n".join(remediation_lines(_findings(False), PLAIN))
    assert "about 500 keys would get a TTL" in text and "estimated from the sample" in text


def _remediation(status: str, dry: bool) -> RemediationReport:
    result = RemediationResult(
        dry,
        "pttl" if dry else "lua",
        (ClassRemediation("ocr", "ocr:*", 3600, 10, 3, 2),),
        12,
        status != "interrupted",
        checkpoint=None if status != "interrupted" else "/c.json",
    )
    return RemediationReport(
        "prod", "127.0.0.1:6379", status, result, "" if status != "interrupted" else "cut"
    )


def test_remediation_text_and_json():
    text = renderer("text", "remediation")(_remediation("dry_run", True), PLAIN)
    assert "dry run" in text and "Dry run: 5 keys would get a TTL (3 without one, 2 above max" in text
    text = renderer("text", "remediation")(_remediation("done", False), PLAIN)
    assert "✓ Remediated 5 keys: 3 got a TTL, 2 had it lowered to max (an atomic PTTL+EXPIRE script" in text
    doc = json.loads(renderer("json", "remediation")(_remediation("interrupted", False), PLAIN))
    assert doc["format_version"] == "1" and doc["command"] == "remediate" and doc["mode"] == "execute"
    assert doc["result"] == "interrupted" and doc["exit_code"] == 130 and doc["checkpoint"] == "/c.json"
    assert doc["classes"][0] == {
        "name": "ocr",
        "pattern": "ocr:*",
        "ttl_max_seconds": 3600,
        "matched": 10,
        "no_ttl": 3,
        "over_max": 2,
        "changed": 5,
    }


def _cleanup(status: str) -> CleanupReport:
    classes = (
        ClassCleanup("temp", "doc:*:temp", False, 86400, 20, 7, ("doc:1:temp",), 6, 1),
        ClassCleanup("scratch", "scratch:*", True, None, 3, 3, ("scratch:1",), 3, 0),
    )
    return CleanupReport("prod", "127.0.0.1:6379", status, classes, 40, execute=status != "dry_run")


def test_cleanup_text_and_json():
    text = renderer("text", "cleanup")(_cleanup("dry_run"), Style(color=False, key_names=True))
    assert "idle over 1d" in text and "7 of 20 keys eligible" in text and "e.g. doc:1:temp" in text
    assert "doc:1:temp" not in renderer("text", "cleanup")(_cleanup("dry_run"), PLAIN)  # a --report file
    assert '"doc:1:temp"' not in renderer("json", "cleanup")(_cleanup("dry_run"), PLAIN)  # without --examples
    assert "Dry run: 10 keys would be deleted (UNLINK). Nothing was deleted" in text
    text = renderer("text", "cleanup")(_cleanup("done"), PLAIN)
    assert "6 deleted, 1 skipped" in text and "✓ Deleted 9 keys; 1 skipped" in text
    doc = json.loads(renderer("json", "cleanup")(_cleanup("done"), PLAIN))
    assert doc["command"] == "cleanup" and doc["mode"] == "execute" and doc["exit_code"] == 0
    assert doc["classes"][0]["rule"] == {"idle_over_seconds": 86400} and doc["classes"][1]["rule"] == {
        "always": True
    }
    assert doc["summary"] == {"eligible": 10, "deleted": 9, "skipped": 1}
    refused = CleanupReport("prod", "", "refused", refused=(("all", "*"),))
    assert renderer("json", "cleanup")(refused, PLAIN).count('"exit_code": 1') == 1
    assert "class 'all' (pattern '*') matches every key" in renderer("text", "cleanup")(refused, PLAIN)
