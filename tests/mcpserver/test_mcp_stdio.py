"""`redispolicy mcp` over stdio, driven by the SDK's own client against a real redis-server.

One server process per test (each costs ~2 s of imports), so each test asks several things.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from redispolicy.main import run

from .conftest import seed_and_age, stdio_session, write_policy

READ_ONLY = {"validate_policies", "explain", "plan", "drift_report", "monitor_memory_usage"}


def _audit(tmp_path: Path) -> list[dict]:
    log = tmp_path / "state" / "redispolicy" / "audit.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_default_server_reads_and_only_proposes(redis_server, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the server runs, and where a person then applies its plan
    write_policy(tmp_path, redis_server.url)
    c = redis_server.client()
    c.config_set("maxmemory", str(100 * 1024 * 1024))
    c.config_set("maxmemory-policy", "allkeys-lru")
    seed_and_age(redis_server.client(decode_responses=False), temp=7, docs=4)
    c.set("temp:fresh", "v")  # read just now: not idle, not eligible
    original = (tmp_path / "policies" / "test.yaml").read_text()

    async def session() -> dict:
        out: dict = {}
        async with stdio_session(tmp_path, "--plan-dir", str(tmp_path / "plans")) as s:
            out["tools"] = {t.name: t for t in (await s.list_tools()).tools}
            out["memory"] = await s.call_tool("monitor_memory_usage", {"environment": "test"})
            out["info"] = c.info("all")
            out["dry"] = await s.call_tool("cleanup_old_cache", {"environment": "test", "key_class": "temp"})
            out["execute"] = await s.call_tool(
                "cleanup_old_cache", {"environment": "test", "key_class": "temp", "dry_run": False}
            )
            out["not_cleanable"] = await s.call_tool(
                "cleanup_old_cache", {"environment": "test", "key_class": "docs"}
            )
            out["zero"] = await s.call_tool(
                "cleanup_old_cache", {"environment": "test", "key_class": "temp", "older_than_hours": 0}
            )
            out["set"] = await s.call_tool(
                "set_memory_limit",
                {"environment": "test", "max_memory_mb": 200, "eviction_policy": "allkeys-lfu"},
            )
        return out

    out = anyio.run(session)

    # every tool, each with annotations; without --allow-* nothing can change the server
    tools = out["tools"]
    assert set(tools) == READ_ONLY | {"cleanup_old_cache", "set_memory_limit"}
    for name in READ_ONLY | {"cleanup_old_cache"}:
        a = tools[name].annotations
        assert a is not None and a.read_only_hint is True and a.destructive_hint is False, name
    sml = tools["set_memory_limit"].annotations
    assert sml.read_only_hint is False and sml.destructive_hint is False  # writes a policy file only

    # monitor_memory_usage: the server's own figures
    mem = out["memory"]
    assert not mem.is_error, mem.content
    data, info = mem.structured_content, out["info"]
    assert data["maxmemory"] == info["maxmemory"] == 100 * 1024 * 1024
    assert abs(data["used_memory"] - info["used_memory"]) < 512 * 1024
    assert data["evicted_keys"] == info["evicted_keys"]
    assert data["keyspace_hits"] <= info["keyspace_hits"]
    assert data["memory_used_percent"] == pytest.approx(
        100 * data["used_memory"] / data["maxmemory"], abs=0.01
    )
    assert "memory" in mem.content[0].text and "hit rate" in mem.content[0].text

    # cleanup dry run: counts the 7 idle temp keys, deletes nothing
    dry = out["dry"].structured_content
    assert not out["dry"].is_error and dry["mode"] == "dry_run"
    assert dry["summary"]["eligible"] == 7 and dry["summary"]["deleted"] == 0
    assert all(not cls["examples"] for cls in dry["classes"])  # key names never leave the machine
    assert c.dbsize() == 7 + 4 + 1
    # dry_run: false on a server without --allow-cleanup: what would go, and how to allow it
    ex = out["execute"]
    assert not ex.is_error and ex.structured_content["refused_execute"] is True
    assert ex.structured_content["summary"]["eligible"] == 7
    assert "--allow-cleanup" in ex.content[0].text and c.dbsize() == 12
    # a class the policy does not let cleanup delete, and a zero age: refused
    assert out["not_cleanable"].is_error and "has no cleanup: rule" in out["not_cleanable"].content[0].text
    assert out["zero"].is_error
    assert c.dbsize() == 12

    # set_memory_limit: the server is unchanged, the policy file edited in place, a plan saved
    sm = out["set"]
    assert not sm.is_error, sm.content[0].text
    assert c.config_get("maxmemory")["maxmemory"] == str(100 * 1024 * 1024)
    assert c.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    edited = (tmp_path / "policies" / "test.yaml").read_text()
    assert edited == original.replace("maxmemory: 100mb   # keep", "maxmemory: 200mb   # keep").replace(
        "maxmemory-policy: allkeys-lru", "maxmemory-policy: allkeys-lfu"
    )
    result = sm.structured_content
    plan_file = Path(result["plan_file"])
    assert plan_file.is_file() and result["apply"] is None
    assert f"redispolicy apply {plan_file}" in sm.content[0].text
    changes = {c["parameter"] for c in result["plan"]["targets"][0]["config"]}
    assert {"maxmemory", "maxmemory-policy"} <= changes
    assert _audit(tmp_path) == []  # nothing applied

    # ... and a person applies it
    code = run(["apply", str(plan_file)])
    assert code == 0, capsys.readouterr()
    assert c.config_get("maxmemory")["maxmemory"] == str(200 * 1024 * 1024)
    assert c.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lfu"
    assert "actor" not in _audit(tmp_path)[-1]  # applied by the local user, not through MCP


def test_allow_flags_apply_and_delete_with_the_client_in_the_audit_record(redis_server, tmp_path):
    write_policy(tmp_path, redis_server.url)
    c = redis_server.client()
    c.config_set("maxmemory", str(100 * 1024 * 1024))
    c.config_set("maxmemory-policy", "allkeys-lru")
    seed_and_age(redis_server.client(decode_responses=False), temp=5, docs=3)

    async def session() -> dict:
        out: dict = {}
        async with stdio_session(
            tmp_path, "--allow-apply", "--allow-cleanup", "--plan-dir", str(tmp_path / "plans")
        ) as s:
            out["tools"] = {t.name: t for t in (await s.list_tools()).tools}
            out["set"] = await s.call_tool("set_memory_limit", {"environment": "test", "max_memory_mb": 150})
            out["clean"] = await s.call_tool(
                "cleanup_old_cache", {"environment": "test", "key_class": "temp", "dry_run": False}
            )
        return out

    out = anyio.run(session)
    for name in ("cleanup_old_cache", "set_memory_limit"):
        a = out["tools"][name].annotations
        assert a.read_only_hint is False and a.destructive_hint is True, name

    sm = out["set"]
    assert not sm.is_error, sm.content[0].text
    assert sm.structured_content["apply"]["result"] == "applied"
    assert c.config_get("maxmemory")["maxmemory"] == str(150 * 1024 * 1024)
    assert c.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"  # not asked: unchanged

    clean = out["clean"].structured_content
    assert not out["clean"].is_error and clean["mode"] == "execute"
    assert clean["summary"]["deleted"] == 5
    assert sorted(c.scan_iter()) == [f"doc:{i}" for i in range(3)]

    records = _audit(tmp_path)
    applied = next(r for r in records if r.get("changes") and r["changes"][0].get("parameter") == "maxmemory")
    assert applied["result"] == "applied" and applied["actor"] == "mcp:pytest-assistant 9.1"
    cleaned = next(r for r in records if r.get("command") == "cleanup")
    assert cleaned["actor"] == "mcp:pytest-assistant 9.1"
