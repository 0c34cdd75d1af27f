"""apply -e ENV asks before changing anything; without a terminal to ask on it refuses and says how to go on."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from redispolicy.commands import Options
from redispolicy.commands import apply as apply_cmd
from redispolicy.main import run
from redispolicy.render.style import Style

from .conftest import write_policy

POLICY = """\
config:
  maxmemory: 1gb
  hz: 20
"""


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    return write_policy(tmp_path, POLICY)


def _state(server) -> dict[str, str]:
    c = server.client()
    return {"maxmemory": c.config_get("maxmemory")["maxmemory"], "hz": c.config_get("hz")["hz"]}


def test_no_terminal_and_no_auto_approve_refuses_saying_how_to_proceed(
    matrix_server, policies, tmp_path, capsys
):
    assert not sys.stdin.isatty()  # as in CI: nobody to ask
    before = _state(matrix_server)
    code = run(["apply", "--policy-dir", str(policies), "-e", "test", "--url", matrix_server.url])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("redispolicy: error: apply needs confirmation and there is no terminal")
    assert "--auto-approve" in captured.err
    assert "plan --out" in captured.err and "apply FILE" in captured.err
    assert "Traceback" not in captured.err
    assert _state(matrix_server) == before == {"maxmemory": "0", "hz": "10"}
    assert not (tmp_path / "state" / "redispolicy" / "audit.log").exists()  # nothing was applied
    assert matrix_server.client().exists("redispolicy:apply-lock") == 0


def test_json_output_refuses_the_same_way(matrix_server, policies, capsys):
    code = run(
        ["apply", "--policy-dir", str(policies), "-e", "test", "--url", matrix_server.url, "-o", "json"]
    )
    captured = capsys.readouterr()
    assert code == 1 and "--auto-approve" in captured.err
    assert captured.out == ""  # no half report on stdout
    assert _state(matrix_server) == {"maxmemory": "0", "hz": "10"}


def test_auto_approve_applies_without_a_terminal(matrix_server, policies, tmp_path, capsys):
    code = run(
        ["apply", "--policy-dir", str(policies), "-e", "test", "--url", matrix_server.url, "--auto-approve"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert "maxmemory" in captured.out and "Applied 2 change(s)" in captured.out
    assert _state(matrix_server) == {"maxmemory": "1073741824", "hz": "20"}
    (line,) = (tmp_path / "state" / "redispolicy" / "audit.log").read_text().splitlines()
    assert json.loads(line)["result"] == "applied"


def test_declined_at_the_prompt_changes_nothing(matrix_server, policies, capsys):
    """With a terminal, anything but 'yes' declines: exit 1, nothing changed (the prompt is stubbed)."""
    asked: list[str] = []
    opts = Options(policies, dict(os.environ), "text", (), Style(color=False))
    req = apply_cmd.ApplyRequest(url=matrix_server.url, lock_timeout=0, interactive=True)
    result = apply_cmd.run_env(opts, "test", req, lambda shown: asked.append(shown) or False)
    assert result.exit_code == 1
    assert "Apply cancelled: nothing was changed." in result.stdout
    assert len(asked) == 1 and "maxmemory" in asked[0] and "hz" in asked[0]  # it showed the plan first
    assert _state(matrix_server) == {"maxmemory": "0", "hz": "10"}


def test_nothing_to_do_needs_no_confirmation(matrix_server, policies, capsys):
    c = matrix_server.client()
    c.config_set("maxmemory", "1gb")
    c.config_set("hz", "20")
    code = run(["apply", "--policy-dir", str(policies), "-e", "test", "--url", matrix_server.url])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "No changes" in captured.out
