"""SARIF 2.1.0 for GitHub code scanning (upload-sarif).

GitHub needs: version, runs[].tool.driver.name and rules, results with ruleId,
message.text and a physicalLocation whose artifactLocation.uri is relative to the
repository root; startLine/startColumn are 1-based.
"""

from __future__ import annotations

import json
from typing import Any

from redispolicy import __version__
from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport
from redispolicy.rules import RULES

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def _uri(path: str) -> str:
    return path.replace("\\", "/").removeprefix("./")


def _result(d: Diagnostic, index: dict[str, int]) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(d.location.file), "uriBaseId": "%SRCROOT%"}}
    # GitHub needs a region with startLine on every result; a whole-file problem points at line 1.
    region: dict[str, int] = {"startLine": d.location.line or 1}
    if d.location.line and d.location.col:
        region["startColumn"] = d.location.col
    physical["region"] = region
    text = d.message + (f" ({d.hint})" if d.hint else "")
    result: dict[str, Any] = {
        "ruleId": d.rule, "ruleIndex": index[d.rule], "level": _LEVEL[d.severity],
        "message": {"text": text}, "locations": [{"physicalLocation": physical}],
    }
    if d.related:
        result["relatedLocations"] = [
            {"id": i, "physicalLocation": {"artifactLocation": {"uri": _uri(r.file), "uriBaseId": "%SRCROOT%"},
                                           **({"region": {"startLine": r.line}} if r.line else {})}}
            for i, r in enumerate(d.related)]
    return result


def render_validation(report: ValidationReport, style: Style) -> str:
    used = sorted({d.rule for d in report.diagnostics} | set(RULES), key=list(RULES).index)
    index = {rule: i for i, rule in enumerate(used)}
    rules = [{"id": r, "name": "".join(w.title() for w in r.split("-")),
              "shortDescription": {"text": RULES[r].summary},
              "helpUri": "https://github.com/redispolicy/redispolicy/blob/main/README.md#rules"}
             for r in used]
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "redispolicy", "version": __version__,
                                "informationUri": "https://github.com/redispolicy/redispolicy",
                                "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root"}}},
            "results": [_result(d, index) for d in report.diagnostics],
        }],
    }
    return json.dumps(doc, indent=2) + "\n"
