"""cleanup against real servers: a dry run deletes nothing; --execute deletes exactly the eligible keys.

Eligibility is checked against the truth the test builds itself: keys of `always`
classes, and keys of `idle_over` classes nobody read since before the idle window
(some are read with GET right before, which makes them ineligible). Everything else —
other classes, a class shadowed by an earlier one, unclassified keys, other dbs' keys of
no cleanup class — must remain. `INFO commandstats` proves no FLUSHDB / FLUSHALL was
sent (MONITOR-free) and counts the UNLINK calls.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import redis

from redispolicy.apply.cleanup import Deleter, Found, find_eligible, matches_every_key, refused
from redispolicy.diagnostics import Location
from redispolicy.errors import RedispolicyError
from redispolicy.policy.model import KeyClass

from .conftest import audit_entries, cli, key_classes, write_policy

# The idle window, and how long the seeded keys look unread. Keys read just before cleanup (idle
# ~0 s) must stay under IDLE until cleanup checks them: with 10 minutes, no stalled CI run gets
# there. The seed is aged by _age (RESTORE ... IDLETIME) instead of by sleeping, so the wait costs
# nothing and the aged keys are far past the window (a sleep of IDLE + 1.2 s left 2 s of margin).
IDLE = 600
AGE = 3600
POLICY = f"""
keys:
  - name: keep-scratch      # shadows scratch:* for scratch:keep:* (first match wins)
    pattern: "scratch:keep:*"
  - name: temp
    pattern: "doc:*:temp"
    ttl: {{max: 6h}}
    cleanup: {{idle_over: {IDLE // 60}m}}
  - name: scratch
    pattern: "scratch:*"
    cleanup: {{always: true}}
  - name: state
    pattern: "doc:*:state"
    ttl: persistent
"""


def _write(tmp_path: Path, body: str = POLICY) -> Path:
    return write_policy(tmp_path, body)


def _seed(server, n: int = 30, dbs: tuple[int, ...] = (0, 1)) -> None:
    for db in dbs:
        p = server.client(db=db).pipeline(transaction=False)
        for i in range(n):
            p.set(f"doc:{i}:temp", "v")
            p.hset(f"doc:{i}:h:temp", "f", "v")  # '*' spans ':': in temp too
            p.set(f"doc:{i}:state", "v")
            p.set(f"scratch:{i}", "v", ex=3600)
            p.rpush(f"scratch:list:{i}", "a")
            p.set(f"scratch:keep:{i}", "v")
            p.set(f"other:{i}", "v")
        p.execute()


def _age(server, dbs: tuple[int, ...] = (0, 1)) -> None:
    """Every key of ``dbs`` as if nobody had read it for AGE seconds, its value and TTL unchanged.

    RESTORE ... IDLETIME (Redis >= 5.0, Valkey) sets the idle clock that OBJECT IDLETIME reports.
    """
    for db in dbs:
        c = server.client(db=db, decode_responses=False)
        keys = list(c.scan_iter(count=1000))
        p = c.pipeline(transaction=False)
        for k in keys:
            p.dump(k)
            p.pttl(k)
        replies = p.execute()
        p = c.pipeline(transaction=False)
        for k, dumped, pttl in zip(keys, replies[0::2], replies[1::2], strict=True):
            p.restore(k, max(pttl, 0), dumped, replace=True, idletime=AGE)  # PTTL -1: no TTL (0)
        p.execute()
        assert all(c.object("idletime", k) > IDLE for k in keys[:3])  # aged past the window


def _keys(server) -> set[tuple[int, str]]:
    out = set()
    for name in server.client().info("keyspace"):
        db = int(name[2:])
        out |= {(db, k) for k in server.client(db=db).scan_iter(count=1000)}
    return out


def _eligible(keys: set[tuple[int, str]], touched: set[tuple[int, str]]) -> set[tuple[int, str]]:
    def is_eligible(db: int, k: str) -> bool:
        if k.startswith("scratch:keep:"):
            return False
        if k.startswith("scratch:"):
            return True
        return k.startswith("doc:") and k.endswith(":temp") and (db, k) not in touched

    return {(db, k) for db, k in keys if is_eligible(db, k)}


def _cleanup(d: Path, url: str, capsys, *extra: str) -> tuple[int, str, str]:
    return cli(capsys, "cleanup", "--policy-dir", str(d), "-e", "test", "--url", url, *extra)


def _flushes(server) -> int:
    stats = server.client().info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("flushdb", "flushall"))


def _prepare(server, tmp_path) -> tuple[Path, set, set]:
    d = _write(tmp_path)
    _seed(server)
    _age(server)
    touched = {(0, "doc:1:temp"), (0, "doc:2:h:temp"), (1, "doc:3:temp")}
    for db, k in touched:
        if ":h:" in k:
            server.client(db=db).hget(k, "f")
        else:
            server.client(db=db).get(k)
    keys = _keys(server)
    return d, keys, _eligible(keys, touched)


def test_dry_run_deletes_nothing_then_execute_deletes_exactly_the_eligible_keys(
    matrix_server, tmp_path, capsys
):
    d, keys, eligible = _prepare(matrix_server, tmp_path)
    sizes = [matrix_server.client(db=db).dbsize() for db in (0, 1)]
    code, out, _ = _cleanup(d, matrix_server.url, capsys, "-o", "json", "--examples")
    assert code == 0
    doc = json.loads(out)
    assert doc["mode"] == "dry_run" and doc["result"] == "dry_run"
    by = {c["name"]: c for c in doc["classes"]}
    assert set(by) == {"temp", "scratch"}
    assert by["temp"]["eligible"] == sum(1 for _, k in eligible if k.startswith("doc:"))
    assert by["scratch"]["eligible"] == sum(1 for _, k in eligible if k.startswith("scratch:"))
    assert doc["summary"] == {"eligible": len(eligible), "deleted": 0, "skipped": 0}
    assert 0 < len(by["temp"]["examples"]) <= 10
    assert all((0, e) in eligible or (1, e) in eligible for c in by.values() for e in c["examples"])
    assert _keys(matrix_server) == keys
    assert [matrix_server.client(db=db).dbsize() for db in (0, 1)] == sizes
    assert _flushes(matrix_server) == 0

    # --execute on the same keyspace (one idle wait per server for both halves)
    code, out, _ = _cleanup(d, matrix_server.url, capsys, "--execute")
    assert code == 0, out
    remaining = _keys(matrix_server) - {(0, "redispolicy:apply-lock")}
    assert remaining == keys - eligible
    assert f"✓ Deleted {len(eligible)} keys; 0 skipped" in out
    # The list came first, then the result.
    assert out.index("execute: listed for deletion") < out.index("✓ Deleted")
    assert _flushes(matrix_server) == 0
    per_db = [sum(1 for db, _ in eligible if db == x) for x in (0, 1)]
    unlinks = matrix_server.client().info("commandstats")["cmdstat_unlink"]["calls"]
    assert unlinks == sum(math.ceil(n / 500) for n in per_db)
    entry = audit_entries(tmp_path)[-1]
    assert entry["command"] == "cleanup" and entry["result"] == "applied"
    assert sum(c["deleted"] for c in entry["changes"]) == len(eligible)


def test_a_key_used_between_listing_and_deleting_is_skipped(redis_server, tmp_path):
    d = _write(tmp_path)
    _seed(redis_server, n=10, dbs=(0,))
    _age(redis_server, dbs=(0,))
    classes = key_classes(d)
    clients: dict[int, redis.Redis] = {}

    def client_for(db: int) -> redis.Redis:
        clients[db] = clients.get(db) or redis_server.client(db=db, decode_responses=False)
        return clients[db]

    found = find_eligible(client_for, classes, [0], keep=True)
    listed = {k.decode() for k, _ in found.keys[0]}
    assert "doc:4:temp" in listed and "scratch:4" in listed
    c = redis_server.client()
    c.get("doc:4:temp")  # used again: no longer idle
    c.delete("scratch:4")  # gone
    result = {x.name: x for x in Deleter(client_for, classes, found).run()}
    assert (result["temp"].skipped, result["scratch"].skipped) == (1, 1)
    assert result["temp"].deleted == result["temp"].eligible - 1
    assert c.exists("doc:4:temp") == 1
    remaining = {k for k in c.scan_iter(count=1000)}
    assert not (listed - {"doc:4:temp"}) & remaining


@pytest.mark.parametrize("pattern", ["*", "**", "?*", "*?", "[^]*", "*[^]", "[^]**", "????", "*[^]?"])
def test_a_class_matching_every_key_is_refused(redis_server, tmp_path, capsys, pattern):
    """Issue 10: '[^]*', '*[^]', '[^]**' (an empty negated class is any byte) got past a list of
    spellings and `cleanup: {always: true}` deleted every key of db0 and db1. Now validation
    refuses the class (keys-catch-all), so the command stops before connecting."""
    d = _write(
        tmp_path, POLICY + f"  - name: everything\n    pattern: '{pattern}'\n    cleanup: {{always: true}}\n"
    )
    _seed(redis_server, n=5, dbs=(0, 1))
    redis_server.client().set("abcd", "v")  # a 4-byte key for '????'
    keys = _keys(redis_server)
    for extra in ((), ("--execute",)):
        code, out, err = _cleanup(d, redis_server.url, capsys, *extra)
        assert code == 1
        assert "keys-catch-all" in out and "'everything'" in out and "matches every" in out, out + err
    assert _keys(redis_server) == keys
    assert _flushes(redis_server) == 0


@pytest.mark.parametrize("pattern", ["*", "**", "?*", "*?", "**?*", "[^]*", "*[^]", "[^]**", "????", "*[^]?"])
def test_matches_every_key(pattern):
    assert matches_every_key(pattern)


@pytest.mark.parametrize("pattern", ["a*", "*a", "tmp:*", "[a-z]*", "\\*", "[^a]*", "*x", "[]*"])
def test_does_not_match_every_key(pattern):
    assert not matches_every_key(pattern)


def test_only_cleanup_classes_are_refused():
    kc = KeyClass("x", "[^]*", Location("p.yaml"), cleanup_always=True)
    idle = KeyClass("z", "*[^]", Location("p.yaml"), cleanup_idle_over=60)
    assert refused((kc, KeyClass("y", "*", Location("p.yaml")), idle)) == (kc, idle)


@pytest.mark.parametrize("pattern", ["[^]*", "*[^]", "[^]**"])
def test_the_stage_refuses_a_catch_all_built_in_code(redis_server, pattern):
    """Whatever the caller checked (a policy built in code skips validation), the stage itself
    refuses before listing or deleting anything."""
    _seed(redis_server, n=3, dbs=(0, 1))
    keys = _keys(redis_server)
    classes = (KeyClass("everything", pattern, Location("p.yaml"), cleanup_always=True),)
    client_for = lambda db: redis_server.client(db=db, decode_responses=False)  # noqa: E731
    with pytest.raises(RedispolicyError, match="matches every key"):
        find_eligible(client_for, classes, [0, 1], keep=True)
    found = Found((), 0, {0: [(k.encode(), "everything") for _, k in keys]})
    with pytest.raises(RedispolicyError, match="nothing was deleted"):
        Deleter(client_for, classes, found).run()
    assert _keys(redis_server) == keys
    assert redis_server.client().info("commandstats").get("cmdstat_unlink") is None


def test_execute_waits_for_the_apply_lock_and_deletes_nothing_without_it(redis_server, tmp_path, capsys):
    d = _write(tmp_path)
    _seed(redis_server, n=5, dbs=(0,))
    c = redis_server.client()
    c.set(
        "redispolicy:apply-lock",
        json.dumps({"token": "t", "user": "someone", "host": "h", "pid": 1, "since": "now"}),
        px=60_000,
    )
    keys = _keys(redis_server)
    code, out, err = _cleanup(d, redis_server.url, capsys, "--execute", "--lock-timeout", "0")
    assert code == 1 and "holds the lock" in err and "someone@h" in err
    assert _keys(redis_server) == keys


def test_idle_classes_under_lfu_stop_before_deleting(redis_server, tmp_path, capsys):
    d = _write(tmp_path)
    _seed(redis_server, n=5, dbs=(0,))
    redis_server.client().config_set("maxmemory-policy", "allkeys-lfu")
    keys = _keys(redis_server)
    code, _, err = _cleanup(d, redis_server.url, capsys, "--execute")
    assert code == 1 and "does not track idle time" in err and "nothing was deleted" in err
    assert _keys(redis_server) == keys


def test_no_cleanup_class_is_nothing_to_do(redis_server, tmp_path, capsys):
    d = _write(tmp_path, "keys:\n  - name: state\n    pattern: 'doc:*'\n    ttl: persistent\n")
    redis_server.client().set("doc:1", "v")
    code, out, _ = _cleanup(d, redis_server.url, capsys, "--execute")
    assert code == 0 and "nothing to clean up" in out
    assert redis_server.client().exists("doc:1") == 1


def test_json_execute_keeps_stdout_for_the_report(redis_server, tmp_path, capsys):
    d = _write(tmp_path)
    _seed(redis_server, n=3, dbs=(0,))
    code, out, err = _cleanup(d, redis_server.url, capsys, "--execute", "-o", "json")
    assert code == 0
    doc = json.loads(out)  # the preview went to stderr
    assert "listed for deletion" in err
    assert doc["mode"] == "execute" and doc["result"] == "done"
    assert doc["summary"]["deleted"] == 3 * 2  # scratch:N and scratch:list:N; doc:*:temp not idle yet
