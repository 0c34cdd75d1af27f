"""GitHub Actions workflow commands: annotations on the policy lines of a pull request.

Escaping follows the runner's rules: in data, % CR LF become %25 %0D %0A; in
properties also ':' and ','.
"""

from __future__ import annotations

from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def annotation(d: Diagnostic) -> str:
    props = [f"file={_prop(d.location.file)}"]
    if d.location.line:
        props.append(f"line={d.location.line}")
        if d.location.col:
            props.append(f"col={d.location.col}")
    props.append(f"title={_prop('redispolicy ' + d.rule)}")
    body = d.message + (f"\n{d.hint}" if d.hint else "")
    return f"::{_LEVEL[d.severity]} {','.join(props)}::{_data(body)}"


def render_validation(report: ValidationReport, style: Style) -> str:
    lines = [annotation(d) for d in report.diagnostics]
    errors = report.count(Severity.ERROR)
    lines.append(f"redispolicy: {errors} error(s), {report.count(Severity.WARNING)} warning(s) "
                 f"in {len(report.files)} file(s)")
    return "\n".join(lines) + "\n"
