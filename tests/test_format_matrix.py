"""Issue 11, item 2: one renderer matrix. Every command x every format, for -o and for --report:
either the format is rendered (parsed here, to prove it is that format and not text), or the
run is a usage error (exit 64) naming the formats the command's report has, before a server
is contacted or a report file written.

The unsupported pairs need no server: their target is a listening socket that must never see
a connection. The supported ones run against one real redis-server (module-scoped, a tiny
keyspace), one run per pair with both ``-o FMT`` and ``--report FMT=PATH``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis_servers import RedisServer, RedisServerFactory

from redispolicy.main import REPORT_KIND, run
from redispolicy.render import FORMATS, REGISTRY, formats

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${MATRIX_URL}
  connect_timeout: 1s
  read_timeout: 1s
config:
  maxmemory-policy: allkeys-lru
keys:
  - name: session
    pattern: "session:*"
    ttl: {max: 1h}
    remediate: true
  - name: tmp
    pattern: "tmp:*"
    cleanup: {always: true}
"""

# How each command is run (dry runs; apply changes one parameter of this test's own server).
ARGS = {
    "validate": [],
    "explain": ["-e", "test"],
    "plan": ["-e", "test"],
    "apply": ["-e", "test", "--auto-approve", "--no-lock"],
    "remediate": ["-e", "test"],
    "cleanup": ["-e", "test"],
    "drift": ["-e", "test", "--no-discover"],
    "status": ["-e", "test", "--no-discover"],
    "compare": ["test", "test"],  # the policies only: no server
}
NEEDS_SERVER = {"plan", "apply", "remediate", "cleanup", "drift", "status"}
PAIRS = [(command, fmt) for command in REPORT_KIND for fmt in FORMATS]


def test_the_matrix_is_declared_once_and_every_command_has_a_report() -> None:
    assert set(ARGS) == set(REPORT_KIND), "a command without a row here would go untested"
    assert {kind for kind, _ in REGISTRY} == set(REPORT_KIND.values())
    for kind in REPORT_KIND.values():
        assert formats(kind)[:2] == ("text", "json"), kind  # every report reads on a terminal and in a script
    assert formats("plan") == ("text", "json", "markdown")
    assert formats("drift") == FORMATS


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "matrix-key")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("REDISPOLICY_DEBUG", raising=False)
    return tmp_path


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A port that accepts connections into its backlog and never answers: any connect is seen."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        monkeypatch.setenv("MATRIX_URL", f"redis://127.0.0.1:{s.getsockname()[1]}/0")
        yield s


def _connected(s: socket.socket) -> bool:
    try:
        conn, _ = s.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize(
    ("command", "fmt"),
    [p for p in PAIRS if p[1] not in formats(REPORT_KIND[p[0]])],
    ids=[f"{c}-{f}" for c, f in PAIRS if f not in formats(REPORT_KIND[c])],
)
@pytest.mark.parametrize("how", ["-o", "--report"])
def test_an_unsupported_pair_is_a_usage_error_before_anything_runs(
    command: str,
    fmt: str,
    how: str,
    workdir: Path,
    listener: socket.socket,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = workdir / "out" / f"report.{fmt}"
    flag = ["-o", fmt] if how == "-o" else ["--report", f"{fmt}={target}"]
    code = run([command, *ARGS[command], *flag])
    out, err = capsys.readouterr()
    supported = ", ".join(formats(REPORT_KIND[command]))
    assert code == 64, (out, err)
    assert out == "" and not target.exists()
    if how == "-o":
        assert f"{command} has no {fmt} output: {command} supports -o {supported}" in err, err
    else:
        assert (
            f"{command} has no {fmt} report: {command} supports --report FORMAT=PATH with FORMAT one of "
            f"{supported}" in err
        ), err
    assert not _connected(listener), f"{command} contacted the server before refusing {how} {fmt}"
    assert "Traceback" not in err


def _parse(fmt: str, text: str, command: str) -> Any:
    """Proof that ``text`` is ``fmt`` (a text fallback fails every machine format here)."""
    assert text.strip(), "empty output"
    if fmt == "json":
        doc = json.loads(text)
        assert doc["format_version"] == "1" and doc["command"] == command
        return doc
    if fmt == "sarif":
        doc = json.loads(text)
        assert doc["version"] == "2.1.0" and doc["runs"][0]["tool"]["driver"]["name"] == "redispolicy"
        return doc
    if fmt == "junit":
        root = ET.fromstring(text.encode("utf-8"))
        assert root.tag == "testsuites"
        return root
    if fmt == "prometheus":
        families = {f.name for f in text_string_to_metric_families(text)}
        assert "redispolicy_drift_check_success" in families
        return families
    if fmt == "github":
        lines = text.splitlines()
        assert all(
            line.startswith(("::error ", "::warning ", "::notice ", "redispolicy")) for line in lines
        ), text
        assert lines[-1].startswith("redispolicy"), text  # the summary line
        return lines
    if fmt == "markdown":
        assert text.lstrip().startswith(("###", "✅", "❌", "⚠️")) and f"redispolicy {command}" in text, text
        return text
    assert fmt == "text"
    assert not text.lstrip().startswith(("{", "<", "#", "::")), text
    return text


@pytest.fixture(scope="module")
def server(redis_server_factory: RedisServerFactory) -> RedisServer:
    s = redis_server_factory.start()
    c = s.client()
    c.set("session:1", "v")  # no TTL: remediate would give it one
    c.set("tmp:1", "v")  # cleanup (always) would delete it
    return s


@pytest.mark.parametrize(
    ("command", "fmt"),
    [p for p in PAIRS if p[1] in formats(REPORT_KIND[p[0]])],
    ids=[f"{c}-{f}" for c, f in PAIRS if f in formats(REPORT_KIND[c])],
)
def test_a_supported_pair_renders_that_format(
    command: str,
    fmt: str,
    workdir: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if command in NEEDS_SERVER:
        monkeypatch.setenv("MATRIX_URL", request.getfixturevalue("server").url)
    else:
        monkeypatch.setenv("MATRIX_URL", "redis://127.0.0.1:1/0")  # never contacted
    target = workdir / "out" / f"report.{fmt}"
    code = run([command, *ARGS[command], "--color", "never", "-o", fmt, "--report", f"{fmt}={target}"])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (code, out, err)  # drift may find drift; never a usage error or a crash
    assert "Traceback" not in err and "internal error" not in err, err
    _parse(fmt, out, command)
    _parse(fmt, target.read_text(encoding="utf-8"), command)
