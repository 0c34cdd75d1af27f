"""SARIF 2.1.0 as GitHub code scanning (upload-sarif) needs it.

GITHUB_SARIF is a small JSON Schema of the parts GitHub requires or relies on (see
github/docs "SARIF support for code scanning" and the SARIF SDK's GH10xx validation rules):
version 2.1.0 and $schema; runs[].tool.driver.name and rules with id + shortDescription.text;
every result with ruleId, a level GitHub knows, message.text and a first location whose
artifactLocation.uri is repository-relative (no leading '/', no backslash, no drive or
file: scheme) and whose region.startLine is >= 1. Cross-references (ruleId present in the
rules, ruleIndex pointing at it) cannot be said in JSON Schema and are checked below it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sample_reports import chdir, literal_report, real_report

from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.main import run
from redispolicy.render.sarif import render_validation
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport
from redispolicy.rules import RULES

_TEXT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}}
_URI = {"type": "string", "minLength": 1, "not": {"pattern": r"^/|\\|^[A-Za-z]:|^[a-z]+:"}}
_REGION = {
    "type": "object",
    "required": ["startLine"],
    "properties": {
        "startLine": {"type": "integer", "minimum": 1},
        "startColumn": {"type": "integer", "minimum": 1},
        "endLine": {"type": "integer", "minimum": 1},
        "endColumn": {"type": "integer", "minimum": 1},
    },
}
_PHYSICAL = {
    "type": "object",
    "required": ["artifactLocation"],
    "properties": {
        "artifactLocation": {"type": "object", "required": ["uri"], "properties": {"uri": _URI}},
        "region": _REGION,
    },
}

GITHUB_SARIF: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["$schema", "version", "runs"],
    "properties": {
        "$schema": {"type": "string", "pattern": r"^https://.*sarif.*2\.1\.0.*\.json$"},
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "rules"],
                                "properties": {
                                    "name": {"type": "string", "minLength": 1},
                                    "version": {"type": "string", "minLength": 1},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id", "shortDescription"],
                                            "properties": {
                                                "id": {"type": "string", "minLength": 1},
                                                "shortDescription": _TEXT,
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "level", "message", "locations"],
                            "properties": {
                                "ruleId": {"type": "string", "minLength": 1},
                                "ruleIndex": {"type": "integer", "minimum": 0},
                                "level": {"enum": ["error", "warning", "note"]},
                                "message": _TEXT,
                                "locations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 10,
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                        "properties": {
                                            "physicalLocation": {
                                                **_PHYSICAL,
                                                "required": ["artifactLocation", "region"],
                                            }
                                        },
                                    },
                                },
                                "relatedLocations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                        "properties": {"physicalLocation": _PHYSICAL},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def check_github_sarif(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(GITHUB_SARIF)
    errors = sorted(jsonschema.Draft202012Validator(GITHUB_SARIF).iter_errors(doc), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)
    for run_ in doc["runs"]:
        rules = run_["tool"]["driver"]["rules"]
        ids = [r["id"] for r in rules]
        assert len(ids) == len(set(ids)), "rule ids must be unique"
        for result in run_["results"]:
            assert result["ruleId"] in ids, result["ruleId"]
            if "ruleIndex" in result:
                assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def sarif(report: ValidationReport) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render_validation(report, Style()))
    return doc


def test_the_schema_rejects_what_github_rejects() -> None:
    """The checker is not vacuous: each requirement, broken on purpose, is caught."""
    good = sarif(literal_report())
    check_github_sarif(good)

    def broken(mutate: Any) -> dict[str, Any]:
        doc = json.loads(json.dumps(good))
        mutate(doc)
        return doc

    result = ("runs", 0, "results", 0)

    def at(doc: dict[str, Any], path: tuple[Any, ...]) -> Any:
        for p in path:
            doc = doc[p]
        return doc

    mutations = [
        lambda d: d.update(version="2.0.0"),
        lambda d: d.pop("$schema"),
        lambda d: d["runs"][0]["tool"]["driver"].pop("name"),
        lambda d: d["runs"][0]["tool"]["driver"]["rules"][0].pop("shortDescription"),
        lambda d: at(d, result).update(level="fatal"),
        lambda d: at(d, result)["message"].pop("text"),
        lambda d: at(d, result)["locations"][0]["physicalLocation"]["artifactLocation"].update(
            uri="/abs/p.yaml"
        ),
        lambda d: at(d, result)["locations"][0]["physicalLocation"]["artifactLocation"].update(
            uri="a\\b.yaml"
        ),
        lambda d: at(d, result)["locations"][0]["physicalLocation"]["region"].update(startLine=0),
        lambda d: at(d, result)["locations"][0]["physicalLocation"].pop("region"),
        lambda d: at(d, result).update(ruleId="no-such-rule"),
        lambda d: at(d, result).update(ruleIndex=at(d, result)["ruleIndex"] + 1),
    ]
    for mutate in mutations:
        with pytest.raises(AssertionError):
            check_github_sarif(broken(mutate))


def test_literal_report_is_github_sarif() -> None:
    report = literal_report()
    doc = sarif(report)
    check_github_sarif(doc)
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    run_ = doc["runs"][0]
    assert run_["tool"]["driver"]["name"] == "redispolicy"
    results = run_["results"]
    assert len(results) == len(report.diagnostics)
    assert [r["ruleId"] for r in results] == [d.rule for d in report.diagnostics]
    assert [r["level"] for r in results] == ["error", "error", "warning", "note", "error", "error"]
    first = results[0]
    assert first["locations"][0]["physicalLocation"]["region"] == {"startLine": 7, "startColumn": 3}
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "policies/production.yaml"
    assert first["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 5
    assert "duplicate key 'maxmemory'" in first["message"]["text"]
    # A whole-file problem still gets a region: GitHub needs startLine on every result.
    huge = results[4]
    assert huge["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    # A line without a column: no startColumn (absent means column 1 in SARIF, not a guess).
    assert results[5]["locations"][0]["physicalLocation"]["region"] == {"startLine": 4}


def test_rules_carry_every_rule_with_its_description() -> None:
    rules = sarif(literal_report())["runs"][0]["tool"]["driver"]["rules"]
    assert {r["id"]: r["shortDescription"]["text"] for r in rules} == {
        r.id: r.summary for r in RULES.values()
    }


def test_real_validation_is_github_sarif(tmp_path: Path) -> None:
    report = real_report(tmp_path)
    assert {d.severity for d in report.diagnostics} == {Severity.ERROR, Severity.WARNING, Severity.NOTE}
    doc = sarif(report)
    check_github_sarif(doc)
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]
    }
    assert uris == {
        "policies/base.yaml",
        "policies/production.yaml",
        "policies/staging.yaml",
        "policies/huge.yaml",
    }


def test_windows_separators_become_forward_slashes() -> None:
    report = ValidationReport(
        ("policies\\prod.yaml",),
        (),
        (
            Diagnostic("config-type", Severity.ERROR, "bad", Location("policies\\prod.yaml", 3, 1)),
            Diagnostic("config-type", Severity.ERROR, "bad", Location("./policies/dev.yaml", 2, 1)),
        ),
    )
    doc = sarif(report)
    check_github_sarif(doc)
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]
    ]
    assert uris == ["policies/prod.yaml", "policies/dev.yaml"]


def test_empty_report_is_still_a_valid_run() -> None:
    doc = sarif(ValidationReport(("policies/base.yaml",), (), ()))
    check_github_sarif(doc)
    assert doc["runs"][0]["results"] == []


def test_cli_sarif_output_from_the_policy_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real_report(tmp_path)  # writes the files
    with chdir(tmp_path):
        code = run(["validate", "-o", "sarif"])
    out, err = capsys.readouterr()
    assert code == 1, err
    doc = json.loads(out)
    check_github_sarif(doc)
    assert {r["ruleId"] for r in doc["runs"][0]["results"]} >= {
        "yaml-duplicate-key",
        "config-type",
        "yaml-too-large",
    }
