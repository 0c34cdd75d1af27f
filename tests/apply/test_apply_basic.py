"""apply against real servers: the ordinary paths (faults, races and properties live beside this)."""

from __future__ import annotations

import json
from pathlib import Path

from redispolicy.main import run

from .conftest import cli, make_plan, write_policy


def _apply(plan: Path, url: str, capsys, *extra: str) -> tuple[int, str, str]:
    return cli(capsys, "apply", str(plan), "--url", url, *extra)


def test_saved_plan_applies_atomically_and_is_verified(matrix_server, tmp_path, capsys):
    d = write_policy(tmp_path, "config:\n  maxmemory: 1gb\n  maxmemory-policy: allkeys-lru\n  timeout: 300\n")
    plan = make_plan(d, matrix_server.url, capsys)
    code, out, _ = _apply(plan, matrix_server.url, capsys, "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["result"] == "applied" and doc["verified"] is True
    assert {c["parameter"] for c in doc["applied"]} == {"maxmemory", "maxmemory-policy", "timeout"}
    live = matrix_server.client().config_get("*")
    assert (live["maxmemory"], live["maxmemory-policy"], live["timeout"]) == (
        "1073741824",
        "allkeys-lru",
        "300",
    )


def test_same_plan_twice_is_stale_the_second_time(redis_server, tmp_path, capsys):
    d = write_policy(tmp_path, "config:\n  maxmemory: 1gb\n")
    plan = make_plan(d, redis_server.url, capsys)
    assert _apply(plan, redis_server.url, capsys)[0] == 0
    redis_server.client().config_set("maxmemory", "536870912")
    code, out, _ = _apply(plan, redis_server.url, capsys)
    assert code == 1
    assert "maxmemory: planned from 0, now 536870912" in out
    assert redis_server.client().config_get("maxmemory")["maxmemory"] == "536870912"


def test_changed_policy_file_makes_the_plan_stale(redis_server, tmp_path, capsys):
    d = write_policy(tmp_path, "config:\n  maxmemory: 1gb\n")
    plan = make_plan(d, redis_server.url, capsys)
    write_policy(tmp_path, "config:\n  maxmemory: 2gb\n")
    code, out, _ = _apply(plan, redis_server.url, capsys)
    assert code == 1 and "changed since the plan" in out
    assert redis_server.client().config_get("maxmemory")["maxmemory"] == "0"


def test_restart_only_changes_are_reported_not_applied(redis_server, tmp_path, capsys):
    d = write_policy(tmp_path, "config:\n  databases: 32\n  maxmemory: 1gb\n")
    plan = make_plan(d, redis_server.url, capsys)
    code, out, _ = _apply(plan, redis_server.url, capsys)
    assert code == 0
    assert "databases" in out and "restart the server" in out
    live = redis_server.client().config_get("*")
    assert live["databases"] == "16" and live["maxmemory"] == "1073741824"


def test_clamped_value_is_rolled_back(matrix_server, tmp_path, capsys):
    """Redis clamps hz to 500: the read-back differs from what was sent, so apply undoes everything."""
    d = write_policy(tmp_path, "config:\n  hz: 1000\n  timeout: 300\n")
    plan = make_plan(d, matrix_server.url, capsys)
    code, out, _ = _apply(plan, matrix_server.url, capsys)
    assert code == 1
    assert "hz: sent 1000, the server reports 500" in out and "rolled back and verified" in out
    live = matrix_server.client().config_get("*")
    assert (live["hz"], live["timeout"]) == ("10", "0")


def test_persist_without_config_file_is_exit_3(redis_server_factory, tmp_path, capsys):
    server = redis_server_factory.start(config_file=False)
    try:
        d = write_policy(tmp_path, "persist: true\nconfig:\n  maxmemory: 1gb\n")
        plan = make_plan(d, server.url, capsys)
        code, out, _ = _apply(plan, server.url, capsys)
        assert code == 3
        assert "applied at runtime, not persisted" in out and "without a config file" in out
        assert server.client().config_get("maxmemory")["maxmemory"] == "1073741824"
    finally:
        server.stop()


def test_persist_rewrites_the_config_file(matrix_server, tmp_path, capsys):
    assert matrix_server.config_path is not None
    d = write_policy(tmp_path, "persist: true\nconfig:\n  maxmemory: 1gb\n")
    plan = make_plan(d, matrix_server.url, capsys)
    code, out, _ = _apply(plan, matrix_server.url, capsys)
    assert code == 0 and "Persisted with CONFIG REWRITE" in out
    assert "maxmemory 1gb" in matrix_server.config_path.read_text()


def test_fresh_plan_with_auto_approve(redis_server, tmp_path, capsys):
    d = write_policy(tmp_path, "config:\n  maxmemory: 1gb\n")
    code = run(["apply", "--policy-dir", str(d), "-e", "test", "--url", redis_server.url, "--auto-approve"])
    out = capsys.readouterr().out
    assert code == 0 and "0 → 1073741824" in out and "Applied 1 change" in out
    assert redis_server.client().config_get("maxmemory")["maxmemory"] == "1073741824"


def test_file_and_env_together_is_a_usage_error(tmp_path, capsys):
    assert run(["apply", str(tmp_path / "x.plan"), "-e", "test"]) == 64
    assert run(["apply"]) == 64
