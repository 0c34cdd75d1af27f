"""JUnit XML: one test case per policy file, failing with its errors."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from redispolicy.diagnostics import Severity
from redispolicy.render.style import Style
from redispolicy.render.text import diagnostic_line
from redispolicy.report import ValidationReport

# Characters XML 1.0 cannot carry at all (ElementTree writes them unescaped, making the file unparsable).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_validation(report: ValidationReport, style: Style) -> str:
    plain = Style(color=False)
    by_file = {f: [d for d in report.diagnostics if d.location.file == f] for f in report.files}
    for d in report.diagnostics:  # diagnostics in files not listed (e.g. a missing base)
        if d.location.file not in report.files:
            by_file.setdefault(d.location.file, []).append(d)
    failures = sum(1 for ds in by_file.values() if any(d.severity == Severity.ERROR for d in ds))
    suites = ET.Element("testsuites", name="redispolicy", tests=str(len(by_file)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name="redispolicy validate", tests=str(len(by_file)),
                          failures=str(failures), errors="0", skipped="0")
    for file, diags in by_file.items():
        case = ET.SubElement(suite, "testcase", classname="redispolicy.validate", name=_x(file), file=_x(file))
        errors = [d for d in diags if d.severity == Severity.ERROR]
        if errors:
            failure = ET.SubElement(case, "failure", type=errors[0].rule,
                                    message=_x(f"{len(errors)} error(s): {errors[0].message}"))
            failure.text = _x("\n".join(diagnostic_line(d, plain) for d in errors))
        others = [d for d in diags if d.severity != Severity.ERROR]
        if others:
            ET.SubElement(case, "system-out").text = _x("\n".join(diagnostic_line(d, plain) for d in others))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
