"""live/keyscan.py against real servers: the fused SCAN + PTTL reader, duplicates, dbs, errors."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import redis
from proxy import Cut, FaultProxy

from redispolicy.live.keyscan import Dedupe, inspect, scan_exact
from redispolicy.live.model import Batch
from redispolicy.main import run


def test_dedupe_passes_each_key_once():
    d = Dedupe()
    assert d.fresh([b"a", b"b"]) == [b"a", b"b"]
    assert d.fresh([b"c", b"a", b"c", b"d"]) == [b"c", b"d"]  # one seen before, one twice in the batch
    assert d.duplicates == 2
    assert d.fresh([]) == [] and d.fresh([b"e"]) == [b"e"]
    assert d.fresh(["e", "f"]) == [b"f"] and d.duplicates == 3  # a decoding client's str keys, the same keys


def test_every_key_of_every_db_once_with_its_ttl(matrix_server):
    c0, c3 = matrix_server.client(db=0), matrix_server.client(db=3)
    c0.mset({f"a:{i}": "v" for i in range(5000)})
    c3.mset({f"b:{i}": "v" for i in range(1200)})
    for i in range(0, 5000, 7):
        c0.pexpire(f"a:{i}", 100_000 + i)
    batches: list[Batch] = []
    stats = scan_exact(
        matrix_server.clients_by_db(), [0, 3], batches.append, want_type=True, rate=0, count=300
    )
    rows = [r for b in batches for r in b.rows()]
    assert stats.scanned == len(rows) == 6200
    assert len({(r.db, r.key) for r in rows}) == 6200  # no key twice
    assert {r.key for r in rows if r.db == 3} == {f"b:{i}".encode() for i in range(1200)}
    for r in rows:
        assert r.type == "string"
        i = int(r.key.split(b":")[1])
        if r.db == 0 and i % 7 == 0:
            assert 0 < r.pttl <= 100_000 + i
        else:
            assert r.pttl == -1
    assert all(len(b.keys) <= 300 * 2 for b in batches)  # COUNT is a hint; batches stay about that size


def test_keys_present_throughout_are_seen_once_while_the_table_grows(redis_server):
    """SCAN's guarantee under a resize (keys written during the scan): every key present from
    start to end is returned, and the audit inspects each one once."""
    c = redis_server.client()
    c.mset({f"old:{i}": "v" for i in range(3000)})
    writer = redis_server.client()
    grown = threading.Event()
    seen: list[bytes] = []

    def on_batch(b: Batch) -> None:
        seen.extend(b.keys)
        if not grown.is_set():
            grown.set()
            pipe = writer.pipeline(transaction=False)
            for i in range(60_000):  # the dict grows (and rehashes) under the scan's cursor
                pipe.set(f"new:{i}", "v")
            pipe.execute()

    stats = scan_exact(redis_server.clients_by_db(), [0], on_batch, rate=0, count=100)
    assert len(seen) == len(set(seen)) == stats.scanned
    assert {f"old:{i}".encode() for i in range(3000)} <= set(seen)


def test_an_error_reply_is_raised_and_the_connection_stays_usable(redis_server):
    admin = redis_server.client()
    admin.set("a:1", "v")
    admin.set("b:1", "v")
    admin.execute_command("ACL", "SETUSER", "narrow", "on", ">pw", "~a:*", "+@all")
    client = redis.Redis(port=redis_server.port, username="narrow", password="pw")
    try:
        assert inspect(client, 0, [b"a:1"], False, False).pttls == [-1]
        with pytest.raises(redis.ResponseError, match="NOPERM"):
            inspect(client, 0, [b"a:1", b"b:1"], False, False)
        assert client.ping() is True  # the whole reply was read: nothing left on the connection
    finally:
        client.close()


POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
keys:
  - name: cache
    pattern: "a:*"
    ttl: {max: 1h}
"""


def _plan(tmp_path: Path, url: str) -> int:
    (tmp_path / "test.yaml").write_text(POLICY)
    return run(
        ["plan", "--policy-dir", str(tmp_path), "-e", "test", "--url", url, "-o", "json", "--max-rate", "0"]
    )


def test_plan_names_a_refused_key_read_without_a_traceback(redis_server, tmp_path, capsys):
    admin = redis_server.client()
    admin.mset({f"a:{i}": "v" for i in range(50)} | {"b:1": "v"})
    admin.execute_command("ACL", "SETUSER", "narrow", "on", ">pw", "~a:*", "+@all")
    url = f"redis://narrow:pw@127.0.0.1:{redis_server.port}/0"
    assert _plan(tmp_path, url) == 1
    err = capsys.readouterr().err
    assert "key audit stopped: the server answered NOPERM" in err and "hint:" in err
    assert "Traceback" not in err and "internal error" not in err and "pw@" not in err


def test_plan_reports_a_connection_cut_mid_scan(redis_server, tmp_path, capsys):
    redis_server.client().mset({f"a:{i}": "v" for i in range(20_000)})
    with FaultProxy(redis_server.port) as proxy:
        proxy.arm(Cut(("SCAN",), nth=3), refuse_for=5.0)
        assert _plan(tmp_path, proxy.url) == 1
    err = capsys.readouterr().err
    assert "key audit stopped: the connection failed mid-scan" in err
    assert "Traceback" not in err and "internal error" not in err


def test_plan_audits_through_the_raw_reader(redis_server, tmp_path, capsys):
    """The JSON plan's counts come from the fused reader (a smoke check of the whole path)."""
    c = redis_server.client()
    c.mset({f"a:{i}": "v" for i in range(2000)})
    for i in range(1500):
        c.expire(f"a:{i}", 600)
    assert _plan(tmp_path, redis_server.url) in (0, 2)
    (cache,) = json.loads(capsys.readouterr().out)["targets"][0]["keys"]["classes"]
    assert (cache["matched"], cache["violations"]["no_ttl"]) == (2000, 500)


def test_a_throttled_audit_uses_small_batches(redis_server):
    """What other clients feel is the longest server stall: at a rate limit the batches
    shrink to rate / 80 keys (never below 100), so each SCAN + PTTL round stays short."""
    redis_server.client().mset({f"a:{i}": "v" for i in range(4000)})
    sizes: list[int] = []
    stats = scan_exact(redis_server.clients_by_db(), [0], lambda b: sizes.append(len(b.keys)), rate=16_000)
    assert stats.scanned == 4000
    assert max(sizes) <= 300  # COUNT 200 (16000 / 80); SCAN returns about COUNT (whole buckets)
    assert stats.seconds >= 4000 / 16_000 * 0.9  # and the rate holds


def test_odd_key_names_are_classified_like_redis_does(matrix_server, tmp_path, capsys):
    """Names with newlines (the batch classifier's separator), non-UTF-8 bytes, the empty name
    and glob metacharacters, in one batch with ordinary names: counted as SCAN MATCH counts them."""
    c = matrix_server.client(decode_responses=False)
    odd = [b"a:line\nbreak", b"a:\xff\xfe", b"a:", b"", b"a:*", b"a:\r\n", b"b:\n", b"\n", b"a:\xc3\xa9"]
    c.mset({f"a:{i}".encode(): b"v" for i in range(300)})
    c.mset({k: b"v" for k in odd})
    c.expire(b"a:line\nbreak", 60)
    expected = {k for k in c.scan_iter(match=b"a:*", count=1000)}
    assert len(expected) == 300 + 6
    (tmp_path / "test.yaml").write_text(POLICY)
    code = run(
        [
            "plan",
            "--policy-dir",
            str(tmp_path),
            "-e",
            "test",
            "--url",
            matrix_server.url,
            "-o",
            "json",
            "--max-rate",
            "0",
        ]
    )
    assert code in (0, 2)
    keys = json.loads(capsys.readouterr().out)["targets"][0]["keys"]
    (cache,) = keys["classes"]
    assert cache["matched"] == len(expected)
    assert cache["violations"]["no_ttl"] == len(expected) - 1  # only a:line\nbreak has a TTL
    assert keys["unclassified"]["matched"] == 3  # "", "b:\n", "\n"
