"""Issue 10, defect 4: a check that could not run is *not checked* in every format and exit code.

CONFIG renamed (a managed service), an ACL user without +config|get, a refused key audit or
INFO: never "in sync", never Prometheus check_success 1, never exit 0 from drift or plan —
unless the policy says so in advance (``target: {config: unavailable}``), which every format
then names.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from junitparser import Error, JUnitXml, Skipped
from prometheus_client.parser import text_string_to_metric_families
from redis_servers import RedisServer, RedisServerFactory, configured_servers
from sarif_check import check_sarif

from redispolicy.main import run

SPECS = configured_servers()
FORMATS = ("text", "json", "markdown", "github", "sarif", "junit", "prometheus")

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${{URL}}{extra}
config:
  maxmemory-policy: noeviction
keys:
  - name: session
    pattern: "session:*"
    ttl: {{max: 1h}}
"""


def write_policy(root: Path, extra: str = "") -> None:
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies" / "test.yaml").write_text(POLICY.format(extra=extra))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def every_format(
    capsys: pytest.CaptureFixture[str], verb: str = "drift", *args: str
) -> tuple[int, dict[str, str]]:
    """One run, every format: text on stdout, the others as --report files."""
    reports = [a for fmt in FORMATS[1:] for a in ("--report", f"{fmt}=out/{verb}.{fmt}")]
    code = run([verb, "--policy-dir", "policies", "-e", "test", "--color", "never", *args, *reports])
    out = capsys.readouterr().out
    texts = {"text": out, **{fmt: Path(f"out/{verb}.{fmt}").read_text() for fmt in FORMATS[1:]}}
    return code, texts


def schema_valid(doc: dict[str, Any]) -> None:
    schema = json.loads(resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)


def prometheus(text: str) -> dict[str, dict[str, float]]:
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    return {
        name: {s.labels.get("check", ""): s.value for s in fams[name].samples}
        for name in (
            "redispolicy_drift_check_success",
            "redispolicy_config_checked",
            "redispolicy_drift_checked",
        )
    }


def assert_config_not_checked(code: int, texts: dict[str, str], why: str) -> None:
    """Every format says config was not checked, and why; the run fails (exit 1)."""
    assert code == 1, texts["text"]
    text = texts["text"]
    assert "in sync" not in text and "match the policy" not in text.split("config not checked")[0]
    assert f"✗ config not checked: {why}" in text
    assert text.rstrip().endswith("✗ not checked: config (1 check(s) could not run)")
    doc = json.loads(texts["json"])
    schema_valid(doc)
    (t,) = doc["targets"]
    assert t["checks"] == {"config": "not_checked", "keys": "checked", "health": "checked"}
    assert why in t["not_checked"]["config"]
    assert doc["summary"]["not_checked"] == 1 and doc["summary"]["failing"] is True
    assert doc["summary"]["in_sync"] is False
    md = texts["markdown"]
    assert "in sync" not in md and f"❌ **config not checked: {why}" in md
    assert "— ❌ 1 check(s) could not run" in md
    errors = [line for line in texts["github"].splitlines() if line.startswith("::error ")]
    assert (
        len(errors) == 1 and "title=redispolicy drift%3A config not checked" in errors[0] and why in errors[0]
    )
    sarif = json.loads(texts["sarif"])
    check_sarif(sarif)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "drift/not_checked"]
    assert result["level"] == "error" and why in result["message"]["text"]
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is False
    (suite,) = list(JUnitXml.fromstring(texts["junit"]))
    (case,) = [c for c in suite if c.name == "config check"]
    assert isinstance(case.result[0], Error) and why in (case.result[0].message or "")
    assert int(ET.fromstring(texts["junit"]).attrib["errors"]) == 1
    prom = prometheus(texts["prometheus"])
    assert prom["redispolicy_drift_check_success"] == {"": 0}
    assert prom["redispolicy_config_checked"] == {"": 0}
    assert prom["redispolicy_drift_checked"] == {"config": 0, "keys": 1, "health": 1}


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_renamed_config_is_not_checked_then_expected(
    spec: Any,
    redis_server_factory: RedisServerFactory,
    here: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = redis_server_factory.start(spec, extra_args=["--rename-command", "CONFIG", ""])
    try:
        server.client().set("session:1", "v", ex=60)  # the key audit passes: only config is unknown
        monkeypatch.setenv("URL", server.url)
        write_policy(here)
        code, texts = every_format(capsys)
        assert_config_not_checked(code, texts, "CONFIG is unavailable on this server")
        # plan: exit 1 with and without --detailed-exitcode, and the JSON says why
        for extra in ((), ("--detailed-exitcode",)):
            assert run(["plan", "--policy-dir", "policies", "-e", "test", "-o", "json", *extra]) == 1
            doc = json.loads(capsys.readouterr().out)
            schema_valid(doc)
            assert doc["targets"][0]["checks"]["config"] == "not_checked"
            assert doc["summary"]["not_checked"] == 1
        assert run(["plan", "--policy-dir", "policies", "-e", "test", "--color", "never"]) == 1
        out = capsys.readouterr().out
        assert "✗ config not checked: CONFIG is unavailable" in out and "No changes" not in out

        # the policy says CONFIG is blocked here by design: reported as expected, not failing
        write_policy(here, "\n  config: unavailable")
        code, texts = every_format(capsys)
        assert code == 0, texts["text"]
        text = texts["text"]
        assert "  - config not checked (expected: target.config: unavailable)" in text
        assert "  ✓ keys and health match the policy" in text and "in sync" not in text
        assert "config, keys and health" not in text
        assert text.rstrip().endswith(
            "✓ no drift in what was checked: 1 target(s); config not checked on 1 (expected: target.config: "
            "unavailable)"
        )
        doc = json.loads(texts["json"])
        schema_valid(doc)
        assert doc["targets"][0]["checks"]["config"] == "not_checked_expected"
        assert doc["summary"]["not_checked"] == 0 and doc["summary"]["not_checked_expected"] == 1
        assert doc["summary"]["in_sync"] is False and doc["summary"]["failing"] is False
        assert "config not checked (expected: target.config: unavailable)" in texts["markdown"]
        assert "::error" not in texts["github"] and "::notice" in texts["github"]
        (suite,) = list(JUnitXml.fromstring(texts["junit"]))
        (case,) = [c for c in suite if c.name == "config check"]
        assert isinstance(case.result[0], Skipped)
        prom = prometheus(texts["prometheus"])
        assert prom["redispolicy_drift_check_success"] == {"": 1} and prom["redispolicy_config_checked"] == {
            "": 0
        }
        assert (
            run(["plan", "--policy-dir", "policies", "-e", "test", "--detailed-exitcode", "--color", "never"])
            == 0
        )
        assert "config not checked (expected: target.config: unavailable)" in capsys.readouterr().out
    finally:
        server.stop()


def test_acl_user_without_config_get(
    redis_server: RedisServer, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_server.client().execute_command(
        "ACL", "SETUSER", "viewer", "on", ">viewer-pw-7", "+@all", "-config", "~*"
    )
    monkeypatch.setenv("URL", redis_server.url.replace("redis://", "redis://viewer:viewer-pw-7@"))
    write_policy(here)
    code, texts = every_format(capsys)
    assert_config_not_checked(code, texts, "the ACL user may not run CONFIG GET")
    assert "+config|get" in texts["text"]
    for fmt, text in texts.items():
        assert "viewer-pw-7" not in text, fmt
    assert run(["plan", "--policy-dir", "policies", "-e", "test", "--detailed-exitcode"]) == 1
    capsys.readouterr()


def test_stale_declaration_is_a_note(
    redis_server: RedisServer, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("URL", redis_server.url)
    write_policy(here, "\n  config: unavailable")
    code, texts = every_format(capsys)
    assert code == 0, texts["text"]
    assert "note: the policy says target.config: unavailable, but CONFIG GET works here" in texts["text"]
    doc = json.loads(texts["json"])
    assert doc["targets"][0]["checks"]["config"] == "checked" and "notes" in doc["targets"][0]
    assert "::notice" in texts["github"]


def acl_user(server: RedisServer, name: str, *rules: str) -> str:
    server.client().execute_command("ACL", "SETUSER", name, "on", ">pw-acl-3", "+@all", "~*", *rules)
    return server.url.replace("redis://", f"redis://{name}:pw-acl-3@")


def test_refused_key_audit_and_info_are_not_checked(
    redis_server: RedisServer, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_server.client().set("session:1", "v")  # would be a violation, if the audit could run
    write_policy(here)
    # SCAN refused: the key audit cannot run; config and health still do
    monkeypatch.setenv("URL", acl_user(redis_server, "noscan", "-scan"))
    code, texts = every_format(capsys)
    assert code == 1, texts["text"]
    assert "✗ keys not checked: key audit stopped: the server answered" in texts["text"]
    doc = json.loads(texts["json"])
    schema_valid(doc)
    assert doc["targets"][0]["checks"] == {"config": "checked", "keys": "not_checked", "health": "checked"}
    assert "keys" not in doc["targets"][0]
    prom = prometheus(texts["prometheus"])
    assert prom["redispolicy_drift_check_success"] == {"": 0}
    assert prom["redispolicy_drift_checked"] == {"config": 1, "keys": 0, "health": 1}
    # INFO refused beyond what identifies the server (INFO all): health is not checked, never "ok"
    monkeypatch.setenv(
        "URL",
        acl_user(redis_server, "noinfo", "-info", "+info|server", "+info|replication", "+info|keyspace"),
    )
    code, texts = every_format(capsys, "drift", "--no-keys")
    assert code == 1, texts["text"]
    assert "✗ health not checked: the server refused INFO" in texts["text"]
    doc = json.loads(texts["json"])
    assert doc["targets"][0]["checks"] == {"config": "checked", "keys": "skipped", "health": "not_checked"}
    assert doc["targets"][0]["health"] == []
    assert '"health check"' not in texts["junit"] or "CheckNotRun" in texts["junit"]
    for text in texts.values():
        assert "pw-acl-3" not in text
