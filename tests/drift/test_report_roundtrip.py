"""merge-reports reads a drift -o json report back into the report it was rendered from: rendered to JSON
again it is the very same document, for a server with every kind of finding (config drift incl. a
sensitive and a restart-only parameter, an ignored one, key violations and unclassified keys, memory
measured against a capacity workload, a failing health check), in exact and in sample mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis_servers import RedisServer

from redispolicy.commands.merge import WITHHELD, merge
from redispolicy.main import run
from redispolicy.render.json_ import render_drift
from redispolicy.render.style import Style

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${URL}
config:
  maxmemory: 64mb
  maxmemory-policy: allkeys-lru
  databases: 32
  hz: 11
  requirepass: ${TEST_PW}
keys:
  - name: cache
    pattern: "cache:*"
    ttl: {max: 1h}
  - name: blob
    pattern: "blob:*"
    ttl: persistent
sampling: {mode: MODE, keys: 500}
capacity:
  workloads:
    - {class: cache, items: 100, item_size: 1kb}
unclassified: warn
health:
  connected_clients: {warning: 0}
ignore:
  - {parameter: hz, reason: tuned elsewhere}
"""


@pytest.mark.parametrize("mode", ["exact", "sample"])
def test_drift_json_reads_back_into_the_same_report(
    mode: str,
    redis_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = redis_server.client()
    c.flushall()
    for i in range(40):
        c.set(f"cache:{i}", "x" * 100, ex=60 if i % 4 else None)  # 10 without a TTL
        c.set(f"blob:{i}", "y", ex=600 if i % 10 == 0 else None)  # 4 with a TTL they must not have
        c.set(f"other:{i}", "z")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.yaml").write_text(POLICY.replace("MODE", mode))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("URL", redis_server.url)
    monkeypatch.setenv("TEST_PW", "not-the-server-password")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    for flags in ((), ("-v",), ("--examples",)):
        capsys.readouterr()
        code = run(["drift", "-e", "test", "--memory", "--no-discover", "-o", "json", *flags])
        out = capsys.readouterr().out
        assert code == 2, out
        doc = json.loads(out)
        kinds = {f["kind"] for f in doc["targets"][0]["findings"]}
        assert {"value_drift", "restart_pending", "ttl_policy", "unclassified_keys", "health"} <= kinds
        report = merge([(Path("r.json"), doc)])
        style = Style(color=False, verbose=1 if "-v" in flags else 0, key_names="--examples" in flags)
        assert json.loads(render_drift(report, style)) == doc, (mode, flags)
        examples = [e for cls in report.targets[0].keys.classes for e in cls.examples]  # type: ignore[union-attr]
        assert (WITHHELD in examples) == ("--examples" not in flags)  # and never a key name without it
        assert not any(e.startswith("cache:") for e in examples) or "--examples" in flags
