"""The tools' own rules, called in-process (tools.py needs no SDK): the precise policy edit, hostile
arguments, --no-write, and cleanup's older_than_hours only ever narrowing the policy's rule."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from redispolicy.mcpserver import tools as t
from redispolicy.mcpserver.policyedit import EditError, set_config

from .conftest import seed_and_age, write_policy


def _settings(tmp_path: Path, **kw: object) -> t.Settings:
    return t.Settings(tmp_path / "policies", dict(os.environ), tmp_path / "plans", **kw)  # type: ignore[arg-type]


# -- the text edit ------------------------------------------------------------------------------

DOC = """kind: RedisPolicy
config:
    # sized for 15 documents a day
    maxmemory: "1gb"    # see PR 7
    appendonly: no

keys: []
"""


def test_edit_keeps_comments_quotes_and_indentation_and_adds_missing_keys():
    edit = set_config("p.yaml", DOC, {"maxmemory": "2048mb", "maxmemory-policy": "allkeys-lru"})
    assert edit.after == DOC.replace('"1gb"    # see PR 7', "2048mb    # see PR 7").replace(
        "    appendonly: no\n", "    appendonly: no\n    maxmemory-policy: allkeys-lru\n"
    )
    assert edit.changed and edit.diff().startswith("--- a/p.yaml\n+++ b/p.yaml\n")


def test_edit_adds_a_config_block_when_there_is_none():
    edit = set_config("p.yaml", "kind: RedisPolicy\nkeys: []", {"maxmemory": "10mb"})
    assert edit.after == "kind: RedisPolicy\nkeys: []\n\nconfig:\n  maxmemory: 10mb\n"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("config: {maxmemory: 1gb}\n", "flow style"),
        ("config:\n  maxmemory: 1gb\n  maxmemory: 2gb\n", "set twice"),
        ("config:\n  maxmemory: >\n    1gb\n", "not a one-line scalar"),
        ("config:\n  maxmemory: 1gb\nconfig:\n  timeout: 1\n", "appears twice"),
    ],
)
def test_edit_refuses_what_it_cannot_edit_exactly(text, said):
    with pytest.raises(EditError, match=said) as info:
        set_config("p.yaml", text, {"maxmemory": "2mb"})
    assert "p.yaml:" in info.value.message and info.value.hint


def test_edit_of_an_unchanged_value_changes_nothing():
    assert not set_config("p.yaml", DOC, {"appendonly": "no"}).changed


# -- set_memory_limit ---------------------------------------------------------------------------


@pytest.mark.parametrize("mb", [0, -5, t.MAX_MEMORY_MB + 1])
def test_set_memory_limit_refuses_hostile_sizes_and_touches_nothing(mb, tmp_path):
    write_policy(tmp_path, "redis://127.0.0.1:1/0")
    before = (tmp_path / "policies" / "test.yaml").read_text()
    out = t.set_memory_limit(_settings(tmp_path), "test", mb)
    assert out.error and "max_memory_mb" in out.text
    assert (tmp_path / "policies" / "test.yaml").read_text() == before
    assert not (tmp_path / "plans").exists()


@pytest.mark.parametrize("environment", ["../outside", "../../outside", "sub/../../outside"])
def test_set_memory_limit_never_reaches_a_file_outside_the_policy_dir(tmp_path, environment):
    # The environment name comes from a model: "../x" must not name a YAML file elsewhere to edit.
    write_policy(tmp_path, "redis://127.0.0.1:1/0")
    outside = tmp_path / "outside.yaml"
    outside.write_text("some: other file\n")
    (tmp_path / "policies" / "sub").mkdir()
    out = t.set_memory_limit(_settings(tmp_path), environment, 64)
    assert out.error and "no policy for environment" in out.text, out.text
    assert outside.read_text() == "some: other file\n"
    assert not (tmp_path / "plans").exists() or not list((tmp_path / "plans").iterdir())


def test_set_memory_limit_refuses_a_policy_file_that_is_a_link(tmp_path):
    # Editing through a link would replace it with a copy of the file it points to.
    policies = write_policy(tmp_path, "redis://127.0.0.1:1/0")
    real = tmp_path / "elsewhere.yaml"
    (policies / "test.yaml").rename(real)
    (policies / "test.yaml").symlink_to(real)
    before = real.read_text()
    out = t.set_memory_limit(_settings(tmp_path), "test", 64)
    assert out.error and "symbolic link" in out.text, out.text
    assert real.read_text() == before and (policies / "test.yaml").is_symlink()


def test_set_memory_limit_puts_the_file_back_when_the_edit_makes_the_policy_invalid(redis_server, tmp_path):
    policies = write_policy(tmp_path, redis_server.url)
    path = policies / "test.yaml"
    path.write_text(
        path.read_text()
        + "capacity:\n  utilization_limit_percent: 80\n  workloads:\n"
        + "    - class: docs\n      items: 2\n      item_size: 5mb\n"
    )
    before = path.read_text()
    out = t.set_memory_limit(_settings(tmp_path), "test", 10)  # 2 x 5mb > 80 % of 10mb
    assert out.error and "capacity" in out.text
    assert path.read_text() == before
    assert not (tmp_path / "plans").exists() or not list((tmp_path / "plans").iterdir())


def test_no_write_leaves_the_policy_and_writes_a_patch_that_applies(redis_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the diff names the file as the server shows it: relative to here
    policies = write_policy(tmp_path, redis_server.url)
    path = policies / "test.yaml"
    before = path.read_text()
    out = t.set_memory_limit(_settings(tmp_path, no_write=True), "test", 300, "volatile-ttl")
    assert not out.error, out.text
    assert path.read_text() == before and out.data is not None
    assert out.data["plan_file"] is None and "maxmemory" in out.text
    assert {c["parameter"] for c in out.data["plan"]["targets"][0]["config"]} >= {"maxmemory"}
    assert redis_server.client().config_get("maxmemory-policy")["maxmemory-policy"] != "volatile-ttl"
    subprocess.run(["git", "init", "-q", "."], check=True)
    subprocess.run(["git", "apply", out.data["patch_file"]], check=True)
    assert "maxmemory: 300mb   # keep" in path.read_text()
    assert "maxmemory-policy: volatile-ttl" in path.read_text()


# -- cleanup_old_cache --------------------------------------------------------------------------


def test_older_than_hours_only_narrows_the_policy_rule(redis_server, tmp_path):
    write_policy(tmp_path, redis_server.url)
    redis_server.client().config_set("maxmemory-policy", "allkeys-lru")
    seed_and_age(redis_server.client(decode_responses=False), temp=6, docs=2)
    s = _settings(tmp_path)
    older = t.cleanup_old_cache(s, "test", "temp", older_than_hours=2)  # keys are 1 h idle
    assert not older.error and older.data is not None and older.data["summary"]["eligible"] == 0
    wider = t.cleanup_old_cache(s, "test", "temp", older_than_hours=0.001)  # 4 s: the policy's 10 m wins
    assert wider.data is not None and wider.data["summary"]["eligible"] == 6
    assert "the policy's 600 s is used" in wider.text
    for hostile in (0, -1, float("nan"), float("inf")):
        out = t.cleanup_old_cache(s, "test", "temp", older_than_hours=hostile)
        assert out.error and "older_than_hours" in out.text
    unknown = t.cleanup_old_cache(s, "test", "nope")
    assert unknown.error and "key classes with cleanup: temp" in unknown.text
    assert redis_server.client().dbsize() == 8


# -- one door ------------------------------------------------------------------------------------


def test_only_the_server_module_imports_the_sdk():
    """docs/architecture.md: one module per third-party library; the HTTP stack under the SDK too."""
    import ast

    package = Path(t.__file__).resolve().parents[1]
    users = set()
    for p in package.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                else []
            )
            if any(
                n.split(".")[0] in ("mcp", "mcp_types", "uvicorn", "starlette", "pydantic", "anyio")
                for n in names
            ):
                users.add(p.relative_to(package).as_posix())
    assert users == {"mcpserver/server.py"}


# -- the CLI's own reports ---------------------------------------------------------------------


def test_read_only_tools_return_what_dash_o_json_prints(redis_server, tmp_path, monkeypatch, capsys):
    import json

    from redispolicy.main import run

    monkeypatch.chdir(tmp_path)
    policies = write_policy(tmp_path, redis_server.url)
    s = _settings(tmp_path)
    for out, argv in (
        (t.validate_policies(s), ["validate"]),
        (t.explain(s, "test", "maxmemory"), ["explain", "-e", "test", "maxmemory"]),
    ):
        assert not out.error and out.text, out.text
        assert run([*argv, "--policy-dir", str(policies), "-o", "json"]) == 0
        assert out.data == json.loads(capsys.readouterr().out)
    plan = t.plan(s, "test")
    assert not plan.error and plan.data is not None and plan.data["command"] == "plan"
    assert "maxmemory" in {c["parameter"] for c in plan.data["targets"][0]["config"]}
    drift = t.drift_report(s, "test", keys=False)
    assert not drift.error and drift.data is not None and drift.data["command"] == "drift"
    missing = t.explain(s, "nope")
    assert missing.error and "no policy for environment 'nope'" in missing.text
