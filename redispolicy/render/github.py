"""GitHub Actions workflow commands: annotations on the policy lines of a pull request.

Escaping follows the runner's rules: in data, % CR LF become %25 %0D %0A; in
properties also ':' and ','. Before that, control characters in messages (live values,
policy values) are written as visible escapes: the runner would turn %0A back into a line
of the annotation, and a raw one into a workflow command of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.render.escape import printable as p
from redispolicy.render.style import Style

if TYPE_CHECKING:
    from redispolicy.plan.drift import DriftReport
    from redispolicy.plan.envdiff import Comparison
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
    body = p(d.message) + (f"\n{p(d.hint)}" if d.hint else "")
    return f"::{_LEVEL[d.severity]} {','.join(props)}::{_data(body)}"


def render_validation(report: ValidationReport, style: Style) -> str:
    lines = [annotation(d) for d in report.diagnostics]
    errors = report.count(Severity.ERROR)
    lines.append(
        f"redispolicy: {errors} error(s), {report.count(Severity.WARNING)} warning(s) "
        f"in {len(report.files)} file(s)"
    )
    return "\n".join(lines) + "\n"


def _drift_annotation(level: str, title: str, message: str, file: str = "", line: int = 0) -> str:
    props = []
    if file:
        props.append(f"file={_prop(file)}")
        if line:
            props.append(f"line={line}")
    props.append(f"title={_prop(p(title))}")
    return f"::{level} {','.join(props)}::{_data(p(message))}"


def render_drift(report: DriftReport, style: Style) -> str:
    """One annotation per finding, at the policy line it concerns when it has one.

    Failing findings (drift; health and unclassified keys at or above --fail-on) and
    warnings are ``::warning``, critical ones ``::error``; ignored findings ``::notice``;
    a target that could not be checked, or a check that could not run on it, is an ``::error``
    on the policy file (a ``::notice`` when the policy expects it: target.config: unavailable).
    Errors come first: GitHub shows only the first 10 errors and 10 warnings of a step.
    """
    errors: list[str] = []
    warnings: list[str] = []
    notices: list[str] = []
    many = len(report.targets) > 1
    for t in report.targets:
        prefix = f"{t.label}: " if many else ""
        if t.error:
            errors.append(
                _drift_annotation(
                    "error", "redispolicy drift: target not checked", prefix + t.error, report.policy_file
                )
            )
            continue
        for nc in t.unchecked:
            if nc.expected:
                notices.append(
                    _drift_annotation(
                        "notice",
                        f"redispolicy drift: {nc.check} not checked (expected)",
                        f"{prefix}{nc.text}: {nc.reason}",
                        report.policy_file,
                    )
                )
            else:
                errors.append(
                    _drift_annotation(
                        "error",
                        f"redispolicy drift: {nc.check} not checked",
                        prefix + nc.text,
                        report.policy_file,
                    )
                )
        for note in t.notes:
            notices.append(
                _drift_annotation("notice", "redispolicy drift: note", prefix + note, report.policy_file)
            )
        for f in t.findings:
            loc = f.location
            file, line = (loc.file, loc.line) if loc is not None else ("", 0)
            title = f"redispolicy drift {f.kind}"
            if f.ignored:
                notices.append(
                    _drift_annotation(
                        "notice",
                        f"{title} (ignored)",
                        f"{prefix}{f.message} — ignored: {f.ignored_because}",
                        file,
                        line,
                    )
                )
            elif f.severity == "critical":
                errors.append(_drift_annotation("error", title, prefix + f.message, file, line))
            else:
                warnings.append(_drift_annotation("warning", title, prefix + f.message, file, line))
    active = report.active()
    if report.errors:
        verdict = f"{len(report.errors)} of {len(report.targets)} target(s) could not be checked"
    elif report.incomplete:
        verdict = f"not checked: {len(report.incomplete)} check(s) could not run"
    elif report.failing():
        verdict = f"drift: {len(active)} finding(s)"
    elif active:
        verdict = f"{len(active)} warning(s), not failing (--fail-on {report.fail_on})"
    elif report.unchecked():
        verdict = "no drift in what was checked; config not checked (expected: target.config: unavailable)"
    else:
        verdict = "in sync"
    summary = p(
        f"redispolicy drift {report.environment or '(no environment)'}: {verdict} across "
        f"{len(report.targets)} target(s); {len(report.ignored())} ignored"
    )
    return "\n".join([*errors, *warnings, *notices, summary]) + "\n"


def render_comparison(c: Comparison, style: Style) -> str:
    """compare: an ``::error`` per unexpected difference at the line that sets it (the second
    environment's, else the first's), a ``::warning`` per stale entry, a ``::notice`` per expected one."""
    errors, warnings, notices = [], [], []
    for d in c.differences:
        loc = d.b_source or d.a_source
        file, line = (loc.file, loc.line) if loc is not None else ("", 0)
        a = "(not set)" if d.a is None else d.a
        b = "(not set)" if d.b is None else d.b
        message = f"{d.path}: {c.env_a} {a}, {c.env_b} {b}"
        if d.expected is None:
            errors.append(
                _drift_annotation("error", "redispolicy compare: unexpected difference", message, file, line)
            )
        else:
            notices.append(
                _drift_annotation(
                    "notice",
                    "redispolicy compare: expected difference",
                    f"{message} (expected: {d.expected.reason})",
                    file,
                    line,
                )
            )
    for e in c.stale:
        warnings.append(
            _drift_annotation(
                "warning",
                "redispolicy compare: stale expected_differences entry",
                f"{e.subject} matched no difference between {c.env_a} and {c.env_b}",
                e.location.file,
                e.location.line,
            )
        )
    summary = p(
        f"redispolicy compare {c.env_a} {c.env_b}: {len(c.unexpected)} unexpected, {len(c.expected)} expected "
        f"difference(s), {len(c.stale)} stale entr{'y' if len(c.stale) == 1 else 'ies'}"
    )
    return "\n".join([*errors, *warnings, *notices, summary]) + "\n"
