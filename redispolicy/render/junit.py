"""JUnit XML: one test case per policy file, failing with its errors."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from redispolicy.diagnostics import Severity
from redispolicy.render.escape import printable
from redispolicy.render.style import Style
from redispolicy.render.text.common import diagnostic_line

if TYPE_CHECKING:
    from redispolicy.plan.drift import DriftReport, Finding, TargetDrift
    from redispolicy.report import ValidationReport

# Characters XML 1.0 cannot carry at all (ElementTree writes them unescaped, making the file unparsable).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _m(text: str) -> str:
    """A drift message (it may carry live values) for XML: no control character, so no faked line."""
    return _x(printable(text))


def render_validation(report: ValidationReport, style: Style) -> str:
    plain = Style(color=False)
    by_file = {f: [d for d in report.diagnostics if d.location.file == f] for f in report.files}
    for d in report.diagnostics:  # diagnostics in files not listed (e.g. a missing base)
        if d.location.file not in report.files:
            by_file.setdefault(d.location.file, []).append(d)
    failures = sum(1 for ds in by_file.values() if any(d.severity == Severity.ERROR for d in ds))
    suites = ET.Element("testsuites", name="redispolicy", tests=str(len(by_file)), failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="redispolicy validate",
        tests=str(len(by_file)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for file, diags in by_file.items():
        case = ET.SubElement(
            suite, "testcase", classname="redispolicy.validate", name=_x(file), file=_x(file)
        )
        errors = [d for d in diags if d.severity == Severity.ERROR]
        if errors:
            failure = ET.SubElement(
                case,
                "failure",
                type=errors[0].rule,
                message=_x(f"{len(errors)} error(s): {errors[0].message}"),
            )
            failure.text = _x("\n".join(diagnostic_line(d, plain) for d in errors))
        others = [d for d in diags if d.severity != Severity.ERROR]
        if others:
            ET.SubElement(case, "system-out").text = _x("\n".join(diagnostic_line(d, plain) for d in others))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def render_drift(report: DriftReport, style: Style) -> str:
    """One testsuite per target; one testcase per check: every managed config parameter,
    every key class (and the unclassified keys), every health check.

    A case fails when its check has a finding that fails the run (drift; health and
    unclassified keys at or above --fail-on); a finding below that level is written to
    the case's system-out; an ignored one makes the case skipped. A finding no check
    covers (a server restart since the plan) gets a case of its own, and a target that
    could not be checked one case with an error. A check that could not run (CONFIG, the
    key audit or INFO refused) is a case with an error too, never a pass; skipped when the
    policy expects it (target.config: unavailable).
    """
    from redispolicy.plan.drift import CONFIG_KINDS

    env = report.environment or "default"
    suites = ET.Element("testsuites", name=_x(f"redispolicy drift {env}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for t in report.targets:
        target = (t.name or t.identity.address).replace(".", "_")  # dots would nest the classname
        suite = ET.SubElement(suites, "testsuite", name=_x(f"redispolicy drift {env} {t.label}"))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

        def case(
            group: str,
            name: str,
            file: str = "",
            line: int = 0,
            *,
            suite: ET.Element = suite,
            counts: dict[str, int] = counts,
            target: str = target,
        ) -> ET.Element:
            attrs = {
                "classname": _x(f"redispolicy.drift.{env}.{target}.{group}"),
                "name": _x(name),
                "time": "0",
            }
            if file:
                attrs["file"] = _x(file)
                if line:
                    attrs["line"] = str(line)
            counts["tests"] += 1
            return ET.SubElement(suite, "testcase", attrs)

        def judge(el: ET.Element, found: list[Finding], *, counts: dict[str, int] = counts) -> None:
            failing = [f for f in found if f.fails(report.fail_on)]
            hidden = [f for f in found if f.ignored]
            below = [f for f in found if not f.ignored and not f.fails(report.fail_on)]
            if failing:
                counts["failures"] += 1
                f = failing[0]
                node = ET.SubElement(el, "failure", type=f.kind, message=_m(f.message))
                node.text = _x(
                    "\n".join(
                        f"{g.severity} {g.kind}: {printable(g.message)}"
                        + (f" ({g.location.short})" if g.location else "")
                        for g in failing
                    )
                )
            elif hidden and not below:
                counts["skipped"] += 1
                ET.SubElement(el, "skipped", message=_x(f"ignored: {hidden[0].ignored_because}"))
            if below or (hidden and failing):
                ET.SubElement(el, "system-out").text = _x(
                    "\n".join(
                        f"{g.severity} {g.kind}: {printable(g.message)}"
                        + (f" (ignored: {g.ignored_because})" if g.ignored else "")
                        for g in [*below, *hidden]
                    )
                )

        if t.error:
            el = case("target", "connect", report.policy_file)
            counts["errors"] += 1
            ET.SubElement(el, "error", type="TargetNotChecked", message=_x(t.error)).text = _x(t.error)
        else:
            for nc in t.unchecked:
                el = case(nc.check, f"{nc.check} check", report.policy_file)
                if nc.expected:
                    counts["skipped"] += 1
                    ET.SubElement(el, "skipped", message=_m(nc.text))
                else:
                    counts["errors"] += 1
                    ET.SubElement(el, "error", type="CheckNotRun", message=_m(nc.text)).text = _m(nc.reason)
            used: set[int] = set()

            def take(
                kinds: tuple[str, ...], subject: str | None, *, t: TargetDrift = t, used: set[int] = used
            ) -> list[Finding]:
                out = []
                for i, f in enumerate(t.findings):
                    if i not in used and f.kind in kinds and subject in (None, f.subject):
                        used.add(i)
                        out.append(f)
                return out

            for c in t.plan.changes:
                el = case("config", c.parameter, c.source.file, c.source.line)
                judge(el, take(CONFIG_KINDS, c.parameter))
            if t.keys is not None:
                for kc in t.keys.classes:
                    el = case("keys", kc.name)
                    judge(el, take(("ttl_policy",), kc.name))
                el = case("keys", "unclassified")
                judge(el, take(("unclassified_keys",), None))
            for h in t.health:
                el = case("health", h.check)
                judge(el, take(("health",), h.check))
            for i, f in enumerate(t.findings):  # anything no check above covers
                if i not in used:
                    loc = f.location
                    el = case(f.kind, f.subject, loc.file if loc else "", loc.line if loc else 0)
                    judge(el, [f])
        for key, n in counts.items():
            suite.set(key, str(n))
            totals[key] += n
        suite.set("time", "0")
    for key, n in totals.items():
        suites.set(key, str(n))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
