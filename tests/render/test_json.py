"""The versioned JSON output of validate and explain."""

from __future__ import annotations

import json
from pathlib import Path

from sample_reports import literal_report, real_report

from redispolicy.diagnostics import Location
from redispolicy.policy.explain import Entry, Explanation
from redispolicy.render.json_ import render_explanation, render_validation
from redispolicy.render.style import Style

DIAGNOSTIC_KEYS = {"rule", "severity", "message", "file", "line", "column", "path", "hint", "related"}


def test_validation_shape() -> None:
    report = literal_report()
    doc = json.loads(render_validation(report, Style(color=True)))
    assert doc["format_version"] == "1"
    assert doc["command"] == "validate"
    assert doc["valid"] is False
    assert doc["files"] == list(report.files)
    assert doc["environments"] == ["production", "staging"]
    assert doc["summary"] == {"errors": 4, "warnings": 1, "notes": 1}
    assert len(doc["diagnostics"]) == len(report.diagnostics)
    for d in doc["diagnostics"]:
        assert set(d) >= DIAGNOSTIC_KEYS
        assert d["severity"] in ("error", "warning", "note")
    first = doc["diagnostics"][0]
    assert first == {
        "rule": "yaml-duplicate-key",
        "severity": "error",
        "message": "duplicate key 'maxmemory': first at line 5, again at line 7",
        "file": "policies/production.yaml",
        "line": 7,
        "column": 3,
        "path": "$.config.maxmemory",
        "hint": "keep one 'maxmemory'",
        "related": [{"file": "policies/production.yaml", "line": 5, "column": 3}],
    }
    huge = doc["diagnostics"][4]
    assert (huge["line"], huge["column"]) == (0, 0)


def test_valid_report() -> None:
    from redispolicy.report import ValidationReport

    doc = json.loads(render_validation(ValidationReport(("policies/a.yaml",), ("a",), ()), Style()))
    assert doc["valid"] is True and doc["diagnostics"] == []
    assert doc["summary"] == {"errors": 0, "warnings": 0, "notes": 0}


def test_real_validation(tmp_path: Path) -> None:
    doc = json.loads(render_validation(real_report(tmp_path), Style()))
    assert doc["format_version"] == "1" and doc["valid"] is False
    assert doc["summary"]["errors"] == sum(d["severity"] == "error" for d in doc["diagnostics"]) == 3
    assert doc["summary"]["notes"] == 1


def test_explanation_shape() -> None:
    exp = Explanation(
        "production",
        ("policies/base.yaml", "policies/production.yaml"),
        (
            Entry(
                "maxmemory",
                "1gb",
                "1073741824",
                Location("policies/production.yaml", 12, 14),
                (("512mb", Location("policies/base.yaml", 5, 14)),),
            ),
            Entry(
                "requirepass",
                "${REDIS_PASSWORD}",
                None,
                Location("policies/production.yaml", 13, 16),
                (),
                "unset variable",
            ),
        ),
    )
    doc = json.loads(render_explanation(exp, Style()))
    assert doc["format_version"] == "1"
    assert doc["command"] == "explain"
    assert doc["environment"] == "production"
    assert doc["files"] == ["policies/base.yaml", "policies/production.yaml"]
    assert doc["settings"][0] == {
        "name": "maxmemory",
        "written": "1gb",
        "normalized": "1073741824",
        "source": "policies/production.yaml:12",
        "note": "",
        "overrode": [{"written": "512mb", "source": "policies/base.yaml:5"}],
    }
    assert doc["settings"][1]["normalized"] is None and doc["settings"][1]["note"] == "unset variable"
