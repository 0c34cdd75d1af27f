"""The regression cases in tests/cases/, run through the real CLI in process.

Each ``tests/cases/invalid/<case>/`` and ``tests/cases/valid/<case>/`` holds policy files
and an ``expected.yaml``:

    description: why the case exists
    args: [--strict-env]            # extra validate flags (optional)
    env: {VAR: value}               # environment for the run; RP_TEST_* and REDIS_* are cleared first
    files: [policy.yaml]            # the files to validate (default: every *.yaml but expected.yaml)
    generate: {file: policy.yaml, kind: too-large}   # written by the test into a copy of the case
    exit_code: 0                    # default 1 for invalid cases, 0 for valid ones
    diagnostics:                    # each must be reported, at exactly this place
      - {rule: X, file: policy.yaml, line: N, col: M, severity: warning,
         message_contains: [...], message_not_contains: [...], hint_contains: [...]}
    only_listed: [rule, ...]        # every diagnostic with these rules must be listed above
    no_warnings: true               # no warning at all (valid cases)
    output_not_contains: [...]      # absent from the output in every format (secrets)
    explain:                        # valid cases: `explain -e ENV -o json` entries
      - {env: production, name: maxmemory, normalized: "1073741824", written: 1gb,
         source: production.yaml:6, overrode: ["512mb at base.yaml:5"], note: ...}

``line: 0`` means "the whole file" (no position). File names are compared by basename:
diagnostics name files relative to the working directory.
Every ERROR reported for an invalid case must be one of its expected diagnostics, so a
case cannot pass while the tool reports the wrong problem as well as the right one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from redispolicy.main import run
from redispolicy.render import VALIDATE_FORMATS as FORMATS
from redispolicy.rules import RULES

CASES = Path(__file__).resolve().parent / "cases"
INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.is_dir())
VALID = sorted(p for p in (CASES / "valid").iterdir() if p.is_dir())

# Every rule `validate` can emit: each needs at least one case (the "one case per check").
VALIDATE_RULES = set(RULES)  # a new rule without a case fails the coverage test below


def load_expected(case: Path) -> dict[str, Any]:
    path = case / "expected.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    return data or {}


def basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def prepare(case: Path, exp: dict[str, Any], tmp_path: Path) -> Path:
    """The directory to validate: the case itself, or a copy with generated files."""
    gen = exp.get("generate")
    if not gen:
        return case
    work = tmp_path / case.name
    shutil.copytree(case, work)
    if gen["kind"] == "too-large":
        header = b"apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: production\n"
        filler = b"# " + b"x" * 97 + b"\n"  # 100 bytes a line
        (work / gen["file"]).write_bytes(header + filler * 11_000)  # 1.1 MB > the 1 MiB limit
    else:
        raise AssertionError(f"unknown generate kind {gen['kind']!r}")
    return work


def policy_files(directory: Path, exp: dict[str, Any]) -> list[Path]:
    names = exp.get("files") or sorted(
        p.name for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.name != "expected.yaml"
    )
    return [directory / n for n in names]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith(("RP_TEST_", "REDIS_")) or name in ("GITHUB_STEP_SUMMARY", "NO_COLOR"):
            monkeypatch.delenv(name)
    return monkeypatch


def validate(
    directory: Path, exp: dict[str, Any], capsys: pytest.CaptureFixture[str], fmt: str = "json"
) -> tuple[int, str, str]:
    argv = [
        "validate",
        "--policy-dir",
        str(directory),
        "-o",
        fmt,
        "--color",
        "never",
        "-v",
        *exp.get("args", []),
        *map(str, policy_files(directory, exp)),
    ]
    code = run(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def describe(diags: list[dict[str, Any]]) -> str:
    return (
        "\n".join(
            f"  {d['severity']:7} {d['rule']} {basename(d['file'])}:{d['line']}:{d['column']} {d['message']}"
            for d in diags
        )
        or "  (none)"
    )


def matches(want: dict[str, Any], got: dict[str, Any]) -> bool:
    if got["rule"] != want["rule"] or basename(got["file"]) != want["file"]:
        return False
    if got["line"] != want["line"]:
        return False
    if "col" in want and got["column"] != want["col"]:
        return False
    if "severity" in want and got["severity"] != want["severity"]:
        return False
    return True


def check_diagnostics(exp: dict[str, Any], diags: list[dict[str, Any]]) -> None:
    for want in exp.get("diagnostics", []):
        found = [d for d in diags if matches(want, d)]
        assert found, f"expected {want} among:\n{describe(diags)}"
        d = found[0]
        for text in want.get("message_contains", []):
            assert text in d["message"], f"{text!r} not in message {d['message']!r}"
        for text in want.get("message_not_contains", []):
            assert text not in d["message"], f"{text!r} in message {d['message']!r}"
        for text in want.get("hint_contains", []):
            assert text in d["hint"], f"{text!r} not in hint {d['hint']!r}"
        for text in want.get("hint_not_contains", []):
            assert text not in d["hint"], f"{text!r} in hint {d['hint']!r}"
    listed = exp.get("diagnostics", [])

    def expected(d: dict[str, Any]) -> bool:
        return any(
            w["rule"] == d["rule"] and w["file"] == basename(d["file"]) and w["line"] == d["line"]
            for w in listed
        )

    unexpected_errors = [d for d in diags if d["severity"] == "error" and not expected(d)]
    assert not unexpected_errors, f"unexpected errors:\n{describe(unexpected_errors)}"
    only = set(exp.get("only_listed", []))
    unlisted = [d for d in diags if d["rule"] in only and not expected(d)]
    assert not unlisted, f"unlisted diagnostics:\n{describe(unlisted)}"
    if exp.get("no_warnings"):
        warnings = [d for d in diags if d["severity"] == "warning"]
        assert not warnings, f"unexpected warnings:\n{describe(warnings)}"


def check_secrets_absent(directory: Path, exp: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    secrets = exp.get("output_not_contains", [])
    if not secrets:
        return
    for fmt in FORMATS:
        _, out, err = validate(directory, exp, capsys, fmt)
        for secret in secrets:
            assert secret not in out, f"{secret!r} in -o {fmt} output"
            assert secret not in err, f"{secret!r} on stderr with -o {fmt}"


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case(
    case: Path, tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = load_expected(case)
    assert exp.get("diagnostics"), f"{case.name}: an invalid case must list its expected diagnostics"
    for name, value in exp.get("env", {}).items():
        clean_env.setenv(name, value)
    directory = prepare(case, exp, tmp_path)
    code, out, _ = validate(directory, exp, capsys)
    report = json.loads(out)
    assert report["format_version"] == "1"
    check_diagnostics(exp, report["diagnostics"])
    assert code == exp.get("exit_code", 1), f"exit {code}; diagnostics:\n{describe(report['diagnostics'])}"
    assert report["valid"] is (code == 0)
    check_secrets_absent(directory, exp, capsys)


@pytest.mark.parametrize("case", VALID, ids=[p.name for p in VALID])
def test_valid_case(
    case: Path, tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = load_expected(case)
    for name, value in exp.get("env", {}).items():
        clean_env.setenv(name, value)
    directory = prepare(case, exp, tmp_path)
    code, out, _ = validate(directory, exp, capsys)
    report = json.loads(out)
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert not errors, f"errors in a valid case:\n{describe(errors)}"
    assert code == exp.get("exit_code", 0) == 0
    assert report["valid"] is True
    check_diagnostics(exp, report["diagnostics"])
    check_secrets_absent(directory, exp, capsys)
    check_explain(directory, exp, capsys)


def check_explain(directory: Path, exp: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    by_env: dict[str, dict[str, dict[str, Any]]] = {}
    for want in exp.get("explain", []):
        env = want["env"]
        if env not in by_env:
            code = run(["explain", "-e", env, "--policy-dir", str(directory), "-o", "json"])
            out, err = capsys.readouterr()
            assert code == 0, err
            by_env[env] = {s["name"]: s for s in json.loads(out)["settings"]}
            for secret in exp.get("output_not_contains", []):
                assert secret not in out
        settings = by_env[env]
        assert want["name"] in settings, f"{want['name']} not explained; have {sorted(settings)}"
        got = settings[want["name"]]
        for key in ("normalized", "written", "note"):
            if key in want:
                assert got[key] == want[key], f"{want['name']}: {key} {got[key]!r} != {want[key]!r}"
        if "source" in want:
            assert basename(got["source"]) == want["source"], got
        if "overrode" in want:
            overrode = [f"{o['written']} at {basename(o['source'])}" for o in got["overrode"]]
            assert overrode == want["overrode"], got


def test_every_validate_rule_has_a_case() -> None:
    assert set(RULES) >= VALIDATE_RULES, "a rule id was renamed or removed (ids are stable)"
    covered = {d["rule"] for case in (*INVALID, *VALID) for d in load_expected(case).get("diagnostics", [])}
    missing = VALIDATE_RULES - covered
    assert not missing, f"rules without a case in tests/cases/: {sorted(missing)}"


def test_invalid_cases_are_checked_at_their_lines() -> None:
    """Guard the fixtures themselves: every expected diagnostic names an existing file and line."""
    for case in INVALID + VALID:
        exp = load_expected(case)
        for want in exp.get("diagnostics", []):
            path = case / want["file"]
            if exp.get("generate", {}).get("file") == want["file"]:
                continue
            assert path.exists(), f"{case.name}: {want['file']} does not exist"
            if want["line"]:
                lines = path.read_bytes().split(b"\n")
                assert want["line"] <= len(lines), f"{case.name}: {want['file']} has no line {want['line']}"
