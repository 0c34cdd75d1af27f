"""Issue 10, defect 7 (the report side): key names stay on the machine unless --examples, and
control characters in values cannot fake lines — plan and drift, every format, on the matrix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from redis_servers import RedisServer

from redispolicy.main import run

PLANTED = ("session:tok_SECRET123", "user:tok_SECRET456")  # a violating key, an unclassified one
LEAK = "tok_SECRET"  # also what a suggested pattern built from the names would carry
LIVE = "x\n+ maxmemory 1gb\x1b[2K"  # a live string value faking a plan line, and an ANSI erase-line
POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${URL}
config:
  replica-announce-ip: "app\\e[31m\\u2028- fake"
keys:
  - name: session
    pattern: "session:*"
    ttl: {max: 1h}
"""
FORMATS = ("text", "json", "markdown", "github", "sarif", "junit", "prometheus")


@pytest.fixture
def planted(matrix_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    c = matrix_server.client()
    for key in PLANTED:
        c.set(key, "v")  # no TTL: the session key violates ttl.max, the user key matches no class
    c.config_set("replica-announce-ip", LIVE)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("URL", matrix_server.url)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "test-key")
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = run([*args[:1], "--policy-dir", "policies", "-e", "test", "--color", "never", *args[1:]])
    return code, capsys.readouterr().out


def outputs(capsys: pytest.CaptureFixture[str], verb: str, fmt: str, *extra: str) -> dict[str, str]:
    """stdout in ``fmt``, every --report file, the $GITHUB_STEP_SUMMARY markdown (and drift's textfile)."""
    formats = FORMATS if verb == "drift" else ("text", "json", "markdown")
    Path("summary.md").write_text("")
    reports = [a for f in formats for a in ("--report", f"{f}=out/{verb}.{f}")]
    textfile = ["--textfile-dir", "prom"] if verb == "drift" else []
    code, out = cli(capsys, verb, "-o", fmt, *reports, *textfile, *extra)
    assert code == 2, out  # drift found, or plan --detailed-exitcode has changes: every check ran
    found = {f"stdout {fmt}": out, "step summary": Path("summary.md").read_text()}
    found.update({f"report {f}": Path(f"out/{verb}.{f}").read_text() for f in formats})
    if verb == "drift":
        found["textfile"] = Path("prom/redispolicy_test.prom").read_text()
    return found


@pytest.mark.parametrize("verb", ["plan", "drift"])
def test_key_names_only_with_examples(planted: Path, capsys: pytest.CaptureFixture[str], verb: str) -> None:
    for fmt in ("json", "markdown") + (("github", "sarif", "junit", "prometheus") if verb == "drift" else ()):
        for where, text in outputs(
            capsys, verb, fmt, *(["--detailed-exitcode"] if verb == "plan" else [])
        ).items():
            assert LEAK not in text, f"{verb} {where}: a key name left the machine without --examples"
    # the operator's own terminal may show them (plan's text lists examples under the key audit)
    code, out = cli(capsys, "plan")
    assert code == 0 and "session:tok_SECRET123" in out and "user:tok_SECRET456" in out
    # --examples: the machine formats carry them
    found = outputs(capsys, verb, "json", "--examples", *(["--detailed-exitcode"] if verb == "plan" else []))
    doc = json.loads(found["stdout json"])
    keys = doc["targets"][0]["keys"]
    assert keys["key_names"] == "included"
    assert keys["classes"][0]["examples"] == ["session:tok_SECRET123"]
    assert keys["unclassified"]["examples"] == ["user:tok_SECRET456"]
    assert PLANTED[0] in found["report markdown"] and PLANTED[0] in found["step summary"]
    withheld = json.loads(
        outputs(capsys, verb, "json", *(["--detailed-exitcode"] if verb == "plan" else []))["stdout json"]
    )["targets"][0]["keys"]
    assert withheld["key_names"] == "withheld" and withheld["unclassified"]["suggested_patterns"] == []
    assert withheld["classes"][0]["violating_keys"] == 1  # the counts stay


def no_fake_lines(where: str, text: str) -> None:
    assert "\x1b" not in text and "\u2028" not in text, where
    assert not re.search(r"^\s*[+-] (maxmemory|fake)", text, re.M), f"{where}: a value faked a line"


@pytest.mark.parametrize("verb", ["plan", "drift"])
def test_control_characters_cannot_fake_lines(
    planted: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    extra = ["--detailed-exitcode"] if verb == "plan" else []
    for fmt in ("text", "markdown") + (("github",) if verb == "drift" else ()):
        found = outputs(capsys, verb, fmt, *extra)
        for where, text in found.items():
            if "json" not in where and "sarif" not in where:  # JSON escapes by itself
                no_fake_lines(f"{verb} {where}", text)
        shown = found[f"stdout {fmt}"]
        assert "x\\n+ maxmemory 1gb\\x1b[2K" in shown, shown  # the value, visibly escaped
        assert "app\\x1b[31m\\u2028- fake" in shown, shown
    # machine formats keep the value as it is (JSON escapes it), and junit stays valid XML
    found = outputs(capsys, verb, "json", *extra)
    doc = json.loads(found["stdout json"])
    (change,) = [c for c in doc["targets"][0]["config"] if c["parameter"] == "replica-announce-ip"]
    assert change["before"] == LIVE
    if verb == "drift":
        ET.fromstring(found["report junit"])
        assert "\\u001b" not in found["report sarif"]  # SARIF messages are shown to people: escaped too


def test_cleanup_json_carries_key_names_only_with_examples(
    planted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """cleanup lists eligible keys per class: the names stay on the operator's terminal unless --examples."""
    (planted / "policies" / "test.yaml").write_text(
        POLICY.replace("ttl: {max: 1h}", "cleanup: {always: true}")
    )
    code, out = cli(capsys, "cleanup", "-o", "json", "--report", "text=out.txt")
    assert code == 0 and json.loads(out)["classes"][0]["eligible"] == 1
    assert LEAK not in out and LEAK not in Path("out.txt").read_text()
    code, out = cli(capsys, "cleanup", "-o", "text")
    assert LEAK in out  # the operator's terminal
    code, out = cli(capsys, "cleanup", "-o", "json", "--examples")
    assert json.loads(out)["classes"][0]["examples"] == ["session:tok_SECRET123"]
