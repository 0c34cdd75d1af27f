"""GitHub Actions workflow-command annotations, escaped the way the runner unescapes them."""

from __future__ import annotations

from pathlib import Path

from sample_reports import literal_report, real_report

from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.render.github import annotation, render_validation
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport


def unescape_data(s: str) -> str:
    return s.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_prop(s: str) -> str:
    return unescape_data(s.replace("%3A", ":").replace("%2C", ","))


def parse(line: str) -> tuple[str, dict[str, str], str]:
    """Split '::level k=v,k=v::message' as the runner does (on the raw, escaped text)."""
    assert line.startswith("::")
    head, sep, message = line[2:].partition("::")
    assert sep
    level, _, props = head.partition(" ")
    fields = dict(p.split("=", 1) for p in props.split(",")) if props else {}
    return level, {k: unescape_prop(v) for k, v in fields.items()}, unescape_data(message)


def test_levels_and_positions() -> None:
    lines = render_validation(literal_report(), Style()).splitlines()
    parsed = [parse(line) for line in lines[:-1]]
    assert [p[0] for p in parsed] == ["error", "error", "warning", "notice", "error", "error"]
    level, props, message = parsed[0]
    assert props == {
        "file": "policies/production.yaml",
        "line": "7",
        "col": "3",
        "title": "redispolicy yaml-duplicate-key",
    }
    assert message == "duplicate key 'maxmemory': first at line 5, again at line 7\nkeep one 'maxmemory'"
    # a whole-file problem: no line/col properties at all
    assert parsed[4][1] == {"file": "policies/huge.yaml", "title": "redispolicy yaml-too-large"}
    # a line without a column
    assert parsed[5][1]["line"] == "4" and "col" not in parsed[5][1]
    assert lines[-1] == "redispolicy: 4 error(s), 1 warning(s) in 3 file(s)"


def test_message_escaping_percent_and_newlines() -> None:
    d = Diagnostic(
        "keys-unreachable-class",
        Severity.WARNING,
        "100% covered\r\nreally: yes, twice",
        Location("p.yaml", 2, 1),
        hint="a\nb",
    )
    line = annotation(d)
    assert "\n" not in line and "\r" not in line
    message = line.split("::", 2)[2]
    # control characters inside the message or hint are shown, not obeyed (they could fake a line);
    # the one line break is the message/hint separator, escaped for the runner
    assert message == "100%25 covered\\r\\nreally: yes, twice%0Aa\\nb"
    assert unescape_data(message) == "100% covered\\r\\nreally: yes, twice\na\\nb"


def test_property_escaping_colon_comma_percent_newline() -> None:
    d = Diagnostic("config-type", Severity.ERROR, "m", Location("dir,x/prod:eu 100%\n.yaml", 3, 4))
    line = annotation(d)
    head = line.split("::")[1]
    assert head == "error file=dir%2Cx/prod%3Aeu 100%25%0A.yaml,line=3,col=4,title=redispolicy config-type"
    _, props, _ = parse(line)
    assert props["file"] == "dir,x/prod:eu 100%\n.yaml"


def test_every_line_is_one_command(tmp_path: Path) -> None:
    text = render_validation(real_report(tmp_path), Style())
    lines = text.splitlines()
    assert text.endswith("\n")
    for line in lines[:-1]:
        level, props, _ = parse(line)
        assert level in ("error", "warning", "notice")
        assert props["file"].startswith("policies/")
        assert props["title"].startswith("redispolicy ")


def test_no_colour_codes() -> None:
    assert "\x1b[" not in render_validation(literal_report(), Style(color=True))


def test_empty_report() -> None:
    assert (
        render_validation(ValidationReport(("a.yaml",), (), ()), Style())
        == "redispolicy: 0 error(s), 0 warning(s) in 1 file(s)\n"
    )
