"""JUnit XML: parses, one test case per policy file, failures for files with errors."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from sample_reports import literal_report, real_report

from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.render.junit import render_validation
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport


def parse(report: ValidationReport) -> ET.Element:
    text = render_validation(report, Style(color=True))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "\x1b[" not in text, "no terminal colour codes in XML"
    return ET.fromstring(text.encode("utf-8"))


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.attrib["name"]: c for c in root.iter("testcase")}


def test_one_testcase_per_file_with_failures_for_errors() -> None:
    report = literal_report()
    root = parse(report)
    assert root.tag == "testsuites"
    by_name = cases(root)
    # the three listed files, plus huge.yaml which only a diagnostic names
    assert sorted(by_name) == [
        "policies/base.yaml",
        "policies/huge.yaml",
        "policies/production.yaml",
        "policies/staging.yaml",
    ]
    failed = {n for n, c in by_name.items() if c.find("failure") is not None}
    assert failed == {"policies/production.yaml", "policies/staging.yaml", "policies/huge.yaml"}
    assert root.attrib["tests"] == "4" and root.attrib["failures"] == "3"
    suite = root.find("testsuite")
    assert suite is not None and suite.attrib["tests"] == "4" and suite.attrib["failures"] == "3"
    # base.yaml has only a warning: it passes, and the warning is kept in system-out
    base = by_name["policies/base.yaml"]
    out = base.find("system-out")
    assert out is not None and "keys-unreachable-class" in (out.text or "")


def test_failure_lists_each_error_once() -> None:
    by_name = cases(parse(literal_report()))
    failure = by_name["policies/production.yaml"].find("failure")
    assert failure is not None
    assert failure.attrib["type"] == "yaml-duplicate-key"
    assert failure.attrib["message"].startswith("2 error(s): duplicate key 'maxmemory'")
    text = failure.text or ""
    assert text.count("[yaml-duplicate-key]") == 1 and text.count("[config-range]") == 1
    assert "policies/production.yaml:7:3: error:" in text
    staging = by_name["policies/staging.yaml"]
    failure = staging.find("failure")
    assert failure is not None and failure.attrib["message"].startswith("1 error(s):")
    notes = staging.find("system-out")
    assert notes is not None and "env-unresolved" in (notes.text or "")


def test_valid_report_has_no_failures() -> None:
    root = parse(ValidationReport(("policies/a.yaml", "policies/b.yaml"), ("a",), ()))
    assert root.attrib["failures"] == "0"
    assert len(list(root.iter("testcase"))) == 2
    assert not list(root.iter("failure"))


def test_markup_and_control_characters_still_parse() -> None:
    msg = "unknown key '<a & \"b\">' with \x01 and \x1b[31m"
    report = ValidationReport(
        ("p.yaml",), (), (Diagnostic("schema-unknown-key", Severity.ERROR, msg, Location("p.yaml", 3, 1)),)
    )
    failure = parse(report).find(".//failure")
    assert failure is not None
    assert '<a & "b">' in failure.attrib["message"]
    assert "\\x01" in failure.attrib["message"]


def test_real_validation_parses(tmp_path: Path) -> None:
    report = real_report(tmp_path)
    by_name = cases(parse(report))
    assert set(by_name) == set(report.files)
    failed = {n for n, c in by_name.items() if c.find("failure") is not None}
    assert failed == {"policies/huge.yaml", "policies/production.yaml", "policies/staging.yaml"}
