"""plan/drift --memory against real servers: MEMORY USAGE per class and the capacity comparison.

The keyspace has values of known sizes; the test reads ``MEMORY USAGE key SAMPLES 5`` of
every key itself and holds the audit's per-class totals to those sums. The policy's
capacity workloads must come back with the policy's own arithmetic
(items x item_size; arrivals_per_day x ttl.max days x item_size).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis

from redispolicy.main import run
from redispolicy.plan.keys import sampled_total

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
config:
  maxmemory-policy: noeviction
unclassified: warn
{sampling}
keys:
  - name: ocr-cache
    pattern: "ocr:*"
    ttl: {{max: 3d}}
  - name: chunks
    pattern: "chunk:*"
    ttl: {{max: 1d}}
  - name: locks
    pattern: "lock:*"
    ttl: {{max: 10m}}
  - name: sessions
    pattern: "session:*"
    ttl: {{max: 30m}}
capacity:
  workloads:
    - class: ocr-cache
      arrivals_per_day: 100
      item_size: 10kb
    - class: chunks
      items: 500
      item_size: 1kb
    - class: sessions
      items: 10
      item_size: 2kb
"""

OCR_ESTIMATE = 100 * 3 * 10 * 1024  # arrivals/day x ttl.max days x item_size
CHUNKS_ESTIMATE = 500 * 1024
SESSIONS_ESTIMATE = 10 * 2 * 1024
PREFIX = {"ocr-cache": b"ocr:", "chunks": b"chunk:", "locks": b"lock:", "sessions": b"session:"}


def _seed(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """Known value sizes; returns per class (keys, summed MEMORY USAGE ... SAMPLES 5) read directly."""
    pipe = client.pipeline(transaction=False)
    for i in range(300):  # 8-12 KB documents, one day left
        pipe.set(f"ocr:{i}", b"x" * (8000 + (i % 5) * 1000), px=86_400_000)
    for i in range(500):
        pipe.set(f"chunk:{i}", b"c" * 1000, px=3_600_000)
    for i in range(200):
        pipe.set(f"lock:{i}", b"1", px=300_000)
    for i in range(150):
        pipe.set(f"other:{i}", b"o" * 50)  # unclassified
    pipe.execute()
    truth: dict[str, tuple[int, int]] = {}
    for name, prefix in PREFIX.items():
        keys = list(client.scan_iter(match=prefix + b"*", count=1000))
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.memory_usage(k, samples=5)
        truth[name] = (len(keys), sum(int(m) for m in pipe.execute()))
    return truth


def _audit(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str], *extra: str, sampling: str = ""
) -> tuple[int, str]:
    (tmp_path / "test.yaml").write_text(POLICY.format(sampling=sampling))
    code = run(["plan", "--policy-dir", str(tmp_path), "-e", "test", "--url", url, "--max-rate", "0", *extra])
    return code, capsys.readouterr().out


def _keys(out: str) -> dict[str, Any]:
    doc = json.loads(out)
    schema = json.loads(resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)  # memory and capacity are part of the contract
    keys: dict[str, Any] = doc["targets"][0]["keys"]
    return keys


def test_exact_memory_per_class_and_capacity(matrix_server, tmp_path, capsys):
    truth = _seed(matrix_server.client(decode_responses=False))
    code, out = _audit(tmp_path, matrix_server.url, capsys, "--memory", "-o", "json")
    assert code == 0, out
    keys = _keys(out)
    assert keys["mode"] == "exact"
    classes = {c["name"]: c for c in keys["classes"]}
    for name, (n, total) in truth.items():
        c = classes[name]
        assert c["matched"] == n, name
        assert c["memory_bytes"] == pytest.approx(total, rel=0.01), name
        mem = c["memory"]
        assert mem["method"] == "sum"
        assert mem["total_bytes"] == mem["low_bytes"] == mem["high_bytes"] == c["memory_bytes"]
        if n:
            assert mem["mean_bytes"] == pytest.approx(total / n, rel=0.01), name
    assert truth["sessions"] == (0, 0)
    assert classes["sessions"]["memory_bytes"] == 0  # measured, and nothing there: 0, not null
    assert classes["ocr-cache"]["memory_bytes"] > 300 * 8000  # the values really are in there

    capacity = {e["class"]: e for e in keys["capacity"]}
    assert [e["class"] for e in keys["capacity"]] == ["ocr-cache", "chunks", "sessions"]
    assert capacity["ocr-cache"]["estimate_bytes"] == OCR_ESTIMATE
    assert capacity["chunks"]["estimate_bytes"] == CHUNKS_ESTIMATE
    assert capacity["sessions"]["estimate_bytes"] == SESSIONS_ESTIMATE
    for name in capacity:
        n, total = truth[name]
        assert capacity[name]["observed_keys"] == n
        assert capacity[name]["observed_bytes"] == classes[name]["memory_bytes"]
        assert capacity[name]["exact"] is True


def test_without_memory_only_max_size_classes_are_measured(redis_server, tmp_path, capsys):
    _seed(redis_server.client(decode_responses=False))
    code, out = _audit(tmp_path, redis_server.url, capsys, "-o", "json")
    assert code == 0, out
    keys = _keys(out)
    assert "capacity" not in keys
    assert all(c["memory_bytes"] is None and "memory" not in c for c in keys["classes"])


def test_text_report_shows_memory_and_capacity(redis_server, tmp_path, capsys):
    from redispolicy.catalog.units import human_bytes

    truth = _seed(redis_server.client(decode_responses=False))
    code, out = _audit(tmp_path, redis_server.url, capsys, "--memory", "--color", "never")
    assert code == 0, out
    assert "capacity (observed MEMORY USAGE vs the policy's estimate):" in out
    assert (
        f"ocr-cache: observed {human_bytes(truth['ocr-cache'][1])} (300 keys) vs policy estimate 2.93 MiB"
        in out
    )
    assert f"chunks: observed {human_bytes(truth['chunks'][1])} (500 keys) vs policy estimate 500 KiB" in out
    assert "sessions: observed 0 B (0 keys) vs policy estimate 20 KiB" in out
    assert f"memory {human_bytes(truth['chunks'][1])}" in out


def test_sampled_memory_is_an_estimate_with_an_interval(redis_server, tmp_path, capsys):
    truth = _seed(redis_server.client(decode_responses=False))
    code, out = _audit(
        tmp_path,
        redis_server.url,
        capsys,
        "--memory",
        "-o",
        "json",
        sampling="sampling: {mode: sample, keys: 4000}",
    )
    assert code == 0, out
    keys = _keys(out)
    assert keys["mode"] == "sample"
    classes = {c["name"]: c for c in keys["classes"]}
    for name in ("ocr-cache", "chunks"):  # 26 % and 43 % of the keyspace: sampled, not SCAN MATCH
        c, (_, total) = classes[name], truth[name]
        assert c["exact"] is False, name
        mem = c["memory"]
        assert mem["method"] == "sample_estimate"
        assert mem["low_bytes"] < mem["total_bytes"] < mem["high_bytes"]
        # 4000 draws: the relative standard error is ~2-3 %; 20 % is many standard errors away
        assert mem["total_bytes"] == pytest.approx(total, rel=0.2), name
        cap = next(e for e in keys["capacity"] if e["class"] == name)
        assert cap["exact"] is False and cap["observed_bytes"] == mem["total_bytes"]
        assert cap["observed_bytes_interval"] == {"low": mem["low_bytes"], "high": mem["high_bytes"]}
    # sessions has no key: counted exactly by SCAN MATCH, 0 bytes
    assert classes["sessions"]["exact"] is True and classes["sessions"]["memory_bytes"] == 0


def test_drift_memory_shows_capacity(redis_server, tmp_path, capsys):
    truth = _seed(redis_server.client(decode_responses=False))
    (tmp_path / "test.yaml").write_text(POLICY.format(sampling=""))
    run(
        [
            "drift",
            "--policy-dir",
            str(tmp_path),
            "-e",
            "test",
            "--url",
            redis_server.url,
            "--max-rate",
            "0",
            "--memory",
            "-o",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    capacity = {e["class"]: e for e in doc["targets"][0]["keys"]["capacity"]}
    assert capacity["chunks"]["observed_keys"] == 500
    assert capacity["chunks"]["observed_bytes"] == pytest.approx(truth["chunks"][1], rel=0.01)
    run(
        [
            "drift",
            "--policy-dir",
            str(tmp_path),
            "-e",
            "test",
            "--url",
            redis_server.url,
            "--max-rate",
            "0",
            "--memory",
            "--color",
            "never",
        ]
    )
    assert "chunks: observed" in capsys.readouterr().out


def test_sampled_total_arithmetic():
    # 10 draws, 4 in the class at 100 B each: total = 1000 x 40 = 40000 B
    e = sampled_total(400, 4 * 100 * 100, 10, 1000)
    assert e.value == pytest.approx(40_000)
    sd = (((4 * 100**2) - 10 * 40**2) / 9) ** 0.5
    assert e.high - e.value == pytest.approx(1.959963984540054 * 1000 * sd / 10**0.5)
    assert e.low == pytest.approx(e.value - (e.high - e.value))
    assert sampled_total(1, 10**10, 1000, 1000).low == 0  # one huge key: the low end stops at 0
    assert sampled_total(0, 0, 0, 1000) == (0, 0, 0)
