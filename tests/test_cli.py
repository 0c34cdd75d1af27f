"""The CLI contract (docs/cli.md) for validate, explain and schema: exit codes, report files,
the step summary, colour, secrets and clean errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import yaml

from redispolicy import __version__
from redispolicy.main import run
from redispolicy.render.style import use_color

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SECRET = "s3cr3t-value"

INVALID_POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: production
config:
  maxmemory: 1gb
  maxmemory-policy: allkeys-lr
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REDIS_") or name in ("GITHUB_STEP_SUMMARY", "NO_COLOR", "FORCE_COLOR", "TERM"):
            monkeypatch.delenv(name)


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(REPO)
    return REPO


@pytest.fixture
def invalid_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "production.yaml").write_text(INVALID_POLICY)
    monkeypatch.chdir(tmp_path)
    return d


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# -- exit codes ------------------------------------------------------------------------------------
def test_shipped_policies_are_valid(in_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["validate"], capsys)  # default --policy-dir policies
    assert code == 0, out
    assert "valid" in out and "production" in out
    code, out, _ = cli(["validate", "-o", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["valid"] is True
    assert sorted(doc["environments"]) == ["dev", "production", "staging"]
    assert "policies/base.yaml" in doc["files"]


def test_shipped_policies_validate_strictly_with_their_variables(
    in_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for env in ("PRODUCTION", "STAGING"):
        monkeypatch.setenv(f"REDIS_URL_{env}", f"redis://{env.lower()}.internal:6379/0")
        monkeypatch.setenv(f"REDIS_PASSWORD_{env}", SECRET)
    code, out, _ = cli(["validate", "--strict-env", "-o", "json"], capsys)
    assert code == 0, out
    assert not [d for d in json.loads(out)["diagnostics"] if d["rule"].startswith("env-")]
    assert SECRET not in out


def test_shipped_policies_fail_strict_env_without_variables(
    in_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(["validate", "--strict-env", "-o", "json"], capsys)
    assert code == 1
    rules = {d["rule"] for d in json.loads(out)["diagnostics"] if d["severity"] == "error"}
    assert rules == {"env-required"}


def test_invalid_policy_exits_1(invalid_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["validate"], capsys)
    assert code == 1
    assert "policies/production.yaml:6:21: error:" in out
    assert "[config-enum]" in out


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--no-such-option"],
        ["validate", "--report", "nonsense"],
        ["validate", "--report", "xml=out.xml"],
        ["validate", "--report", "sarif="],
        ["validate", "-o", "nonsense"],
        ["validate", "--color", "sometimes"],
        ["validate", "does-not-exist.yaml"],
        ["validate", "--policy-dir", "no/such/dir"],
        ["explain", "maxmemory"],  # -e is required
        ["no-such-command"],
        [],
    ],
)
def test_usage_errors_exit_64(args: list[str], in_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(args, capsys)
    assert code == 64, (out, err)
    assert err  # the reason goes to stderr ...
    assert out == ""  # ... and stdout carries nothing


def test_run_stoppers_exit_1_with_a_hint(in_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(["explain", "-e", "no-such-env"], capsys)
    assert code == 1 and out == ""
    assert "no policy for environment 'no-such-env'" in err
    assert "hint: environments found: dev, production, staging" in err
    code, out, err = cli(["explain", "-e", "production", "no-such-param"], capsys)
    assert code == 1 and "hint:" in err


# -- reports and step summary ------------------------------------------------------------------------
def test_report_files_written_alongside_stdout(
    invalid_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sarif_path = tmp_path / "out" / "redispolicy.sarif"
    junit_path = tmp_path / "out" / "junit.xml"
    code, out, _ = cli(
        ["validate", "--report", f"sarif={sarif_path}", "--report", f"junit={junit_path}", "-o", "github"],
        capsys,
    )
    assert code == 1
    assert out.startswith("::error file=policies/production.yaml,line=6,col=21,")
    sarif = json.loads(sarif_path.read_text())
    assert sarif["version"] == "2.1.0"
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["config-enum"]
    junit = ET.parse(junit_path).getroot()
    assert junit.attrib["failures"] == "1"
    assert [c.attrib["name"] for c in junit.iter("testcase")] == ["policies/production.yaml"]


def test_report_files_have_no_colour(
    invalid_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text_path = tmp_path / "report.txt"
    code, out, _ = cli(["validate", "--color", "always", "--report", f"text={text_path}"], capsys)
    assert code == 1
    assert ANSI.search(out), "stdout asked for colour"
    assert not ANSI.search(text_path.read_text()), "a report file never has colour codes"
    assert "[config-enum]" in text_path.read_text()


def test_unwritable_report_is_a_clean_error(
    invalid_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli(["validate", "--report", f"json={blocker}/sub/x.json"], capsys)
    assert code == 1
    assert "cannot write report" in err and "hint:" in err


def test_step_summary_appended(
    invalid_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = cli(["validate"], capsys)
    assert code == 1
    text = summary.read_text()
    assert text.startswith("# earlier step\n"), "appended, never overwritten"
    assert "### redispolicy validate: ❌ 1 policy error(s)" in text
    assert "`policies/production.yaml:6`" in text and "`config-enum`" in text
    assert "### redispolicy" not in out  # stdout keeps its own format
    # a second run appends again
    cli(["validate"], capsys)
    assert summary.read_text().count("### redispolicy validate") == 2


def test_step_summary_for_valid_policies(
    in_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, _, _ = cli(["validate"], capsys)
    assert code == 0
    assert "✅ Policies are valid" in summary.read_text()


def test_no_step_summary_without_the_variable(
    invalid_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["validate"], capsys)
    assert not list(tmp_path.glob("*.md"))


def test_unwritable_step_summary_warns_but_keeps_the_verdict(
    invalid_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    code, _, err = cli(["validate"], capsys)
    assert code == 1
    assert "GITHUB_STEP_SUMMARY" in err


# -- schema -----------------------------------------------------------------------------------------
def test_schema_is_2020_12_and_accepts_the_shipped_policies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["schema"], capsys)
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(POLICIES.glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {[e.message for e in errors]}"
    # and it is a real constraint, not 'anything goes'
    bad = yaml.safe_load((POLICIES / "base.yaml").read_text())
    bad["confg"] = bad.pop("config")
    assert list(validator.iter_errors(bad))


# -- explain ----------------------------------------------------------------------------------------
def test_explain_shows_value_source_and_what_it_overrode(
    in_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(["explain", "-e", "production", "maxmemory"], capsys)
    assert code == 0
    assert "1073741824" in out
    assert "policies/production.yaml:" in out
    assert "512mb" in out and "policies/base.yaml:" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("maxmemory "))
    assert line.index("1073741824") < line.index("policies/production.yaml:") < line.index("512mb")


def test_explain_json(in_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["explain", "-e", "production", "-o", "json", "maxmemory"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["format_version"] == "1" and doc["environment"] == "production"
    (entry,) = doc["settings"]
    assert entry["normalized"] == "1073741824"
    assert entry["source"].startswith("policies/production.yaml:")
    assert [o["written"] for o in entry["overrode"]] == ["512mb"]


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "-e", "production"],
        ["explain", "-e", "production", "requirepass"],
        ["explain", "-e", "production", "-o", "json"],
        ["explain", "-e", "production", "-v", "--color", "always"],
        ["validate", "-o", "json", "-v"],
        ["validate", "-o", "sarif"],
        ["validate", "-o", "text", "-v"],
        ["validate", "-o", "junit"],
        ["validate", "-o", "github"],
        ["validate", "-o", "markdown"],
        ["validate", "--strict-env", "-o", "json"],
    ],
)
def test_secret_values_never_printed(
    args: list[str], in_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_PASSWORD_PRODUCTION", SECRET)
    monkeypatch.setenv("REDIS_URL_PRODUCTION", f"redis://app:{SECRET}@cache.internal:6379/0")
    code, out, err = cli(args, capsys)
    assert code in (0, 1)
    assert SECRET not in out and SECRET not in err
    if args[:2] == ["explain", "-e"] and "json" not in args:
        assert "requirepass" in out or "maxmemory" in out  # it did print the table


def test_explain_never_prints_literal_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even a literal secret (which validate refuses) is not echoed, nor one it overrode."""
    d = tmp_path / "policies"
    d.mkdir()
    (d / "base.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\n"
        "config:\n  requirepass: base-literal-pw\n  masterauth: base-literal-pw\n"
        "target:\n  url: redis://:url-literal-pw@h:6379\n"
    )
    (d / "prod.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: prod\n"
        "extends: [base.yaml]\nconfig:\n  requirepass: prod-literal-pw\n"
    )
    monkeypatch.chdir(tmp_path)
    for args in (
        ["explain", "-e", "prod"],
        ["explain", "-e", "prod", "-o", "json"],
        ["explain", "-e", "prod", "requirepass"],
        ["validate", "-o", "json"],
        ["validate", "-v"],
    ):
        _, out, err = cli(args, capsys)
        for secret in ("base-literal-pw", "prod-literal-pw", "url-literal-pw"):
            assert secret not in out + err, (args, secret)
    _, out, _ = cli(["explain", "-e", "prod", "-o", "json", "requirepass"], capsys)
    (entry,) = json.loads(out)["settings"]
    assert entry["written"] == "(sensitive)" and entry["source"] == "policies/prod.yaml:6"
    assert [o["written"] for o in entry["overrode"]] == ["(sensitive)"]


def test_explain_reports_a_broken_policy_instead_of_explaining(
    invalid_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (invalid_dir / "production.yaml").write_text(INVALID_POLICY + "  maxmemory: 2gb\n")
    code, out, _ = cli(["explain", "-e", "production"], capsys)
    assert code == 1
    assert "yaml-duplicate-key" in out


# -- colour -----------------------------------------------------------------------------------------
def test_color_always_and_never(invalid_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(["validate", "--color", "always"], capsys)
    assert ANSI.search(out)
    assert "\x1b[31;1merror\x1b[0m" in out
    _, out, _ = cli(["validate", "--color", "never"], capsys)
    assert not ANSI.search(out)


def test_auto_colour_follows_the_terminal_and_no_color(
    invalid_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _, out, _ = cli(["validate"], capsys)
    assert ANSI.search(out), "auto on a terminal: colour"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("NO_COLOR", "1")
    _, out, _ = cli(["validate"], capsys)
    assert not ANSI.search(out), "NO_COLOR turns auto off"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _, out, _ = cli(["validate", "--color", "always"], capsys)
    assert ANSI.search(out), "an explicit --color always beats NO_COLOR (no-color.org)"


def test_no_colour_off_a_terminal(invalid_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(["validate"], capsys)
    assert not ANSI.search(out)


@pytest.mark.parametrize(
    ("choice", "tty", "env", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        ("auto", True, {"TERM": "dumb"}, False),
        ("always", False, {"NO_COLOR": "1"}, True),
        ("never", True, {}, False),
    ],
)
def test_use_color(choice: str, tty: bool, env: dict[str, str], expected: bool) -> None:
    assert use_color(choice, tty, env) is expected


# -- the process, for real ------------------------------------------------------------------------------
def subprocess_run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("REDIS_") and k != "GITHUB_STEP_SUMMARY"
    }
    environ["PYTHONPATH"] = os.pathsep.join([str(REPO), environ.get("PYTHONPATH", "")])
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "redispolicy", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_via_python_m() -> None:
    proc = subprocess_run(["--version"], REPO)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"redispolicy, version {__version__}"


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00b\x00a\x00d",  # UTF-16
        b"apiVersion: [",
        b"a: &a [*a]",
        b"- just\n- a list\n",
        b'apiVersion: redispolicy/v1\nkind: RedisPolicy\nextends: "\\0"\n',
        b"apiVersion: redispolicy/v1\nkind: RedisPolicy\nconfig: {maxmemory: 1gb}\nkeys: [{name: a, pattern: 'a:*',"
        b" ttl: {max: 1d}}]\ncapacity: {workloads: [{class: a, arrivals_per_day: .inf, item_size: 1gb}]}\n",
    ],
)
def test_no_traceback_for_bad_input(content: bytes, tmp_path: Path) -> None:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "policy.yaml").write_bytes(content)
    for args in (["validate"], ["validate", "-o", "sarif"]):
        proc = subprocess_run(args, tmp_path)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "error" in proc.stdout
    # explain shows what it can (semantic checks such as capacity are validate's job)
    proc = subprocess_run(["explain", "-e", "policy"], tmp_path)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr


def test_no_traceback_for_usage_errors(tmp_path: Path) -> None:
    proc = subprocess_run(["validate", "--policy-dir", str(tmp_path / "missing")], tmp_path)
    assert proc.returncode == 64
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("redispolicy: error:")


def test_paths_in_diagnostics_are_relative_to_the_working_directory(
    invalid_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = cli(["validate", "-o", "json", str(invalid_dir / "production.yaml")], capsys)
    (d,) = json.loads(out)["diagnostics"]
    assert d["file"] == "policies/production.yaml"
