"""drift on a target.sentinel: every node the sentinels name, and the sentinels' own view.

Real processes on 127.0.0.1 per matrix server: a primary, one replica, three sentinels
(quorum 2, down-after 1 s). The primary's health carries the view: how many sentinels
answered, whether a quorum is reachable (SENTINEL CKQUORUM) and whether they agree on the
primary. One sentinel stopped leaves a quorum (no finding); two stopped is a critical
finding, in the JSON report (schema-checked) and the other formats.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from redis_servers import RedisServerFactory, configured_servers

from redispolicy.main import run

SPECS = configured_servers()

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  sentinel:
    addresses: [{addresses}]
    service: mymaster
config:
  maxmemory-policy: allkeys-lru
"""


def drift_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = run(["drift", "--policy-dir", "policies", "-e", "test", "-o", "json", "--no-keys", *args])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    schema = json.loads(resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    return code, doc


def view(doc: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """The primary's sentinel checks: check -> (status, value)."""
    (primary,) = [t for t in doc["targets"] if t["role"] == "master"]
    return {h["check"]: (h["status"], h["value"]) for h in primary["health"] if "sentinel" in h["check"]}


def sentinel_findings(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (f["subject"], f["severity"])
        for t in doc["targets"]
        for f in t["findings"]
        if "sentinel" in f["subject"]
    ]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_drift_reports_the_sentinels_view_and_a_lost_quorum(
    spec: Any,
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = redis_server_factory.start_sentinels(spec)
    try:
        for node in group.data:
            node.client().config_set("maxmemory-policy", "allkeys-lru")
        (tmp_path / "policies").mkdir()
        listed = ", ".join(f'"{a}"' for a in group.addresses)
        (tmp_path / "policies" / "test.yaml").write_text(POLICY.format(addresses=listed))
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)

        code, doc = drift_json(capsys)
        assert code == 0, doc
        # every node the sentinels name: the primary, then the replica SENTINEL REPLICAS lists
        assert [(t["address"], t["role"]) for t in doc["targets"]] == [
            (group.data[0].address, "master"),
            (group.data[1].address, "slave"),
        ]
        assert view(doc) == {
            "sentinels_answered": ("ok", 3),
            "sentinel_quorum": ("ok", 3),
            "sentinel_primary_agreement": ("ok", 1),
        }

        group.sentinels[0].stop()  # one of three gone: two still make the quorum of 2
        code, doc = drift_json(capsys)
        assert code == 0, doc
        assert view(doc)["sentinels_answered"] == ("ok", 2) and view(doc)["sentinel_quorum"][0] == "ok"
        assert sentinel_findings(doc) == []

        group.sentinels[1].stop()  # two gone: the last one sees no quorum once it marks them down (1 s)
        deadline = time.monotonic() + 20
        while True:
            code, doc = drift_json(capsys)
            if view(doc)["sentinel_quorum"][0] == "critical" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert view(doc)["sentinel_quorum"] == ("critical", 0), doc
        assert sentinel_findings(doc) == [("sentinel_quorum", "critical")]
        assert code == 2
        (finding,) = [f for t in doc["targets"] for f in t["findings"] if f["subject"] == "sentinel_quorum"]
        assert finding["kind"] == "health" and finding["source"].startswith("policies/test.yaml:")
        assert "NOQUORUM" in finding["message"] and group.addresses[2] in finding["message"]

        # the same finding in the other formats, through the same machinery
        for fmt in ("text", "markdown", "github", "sarif", "junit", "prometheus"):
            code = run(
                [
                    "drift",
                    "--policy-dir",
                    "policies",
                    "-e",
                    "test",
                    "--no-keys",
                    "-o",
                    fmt,
                    "--color",
                    "never",
                ]
            )
            out = capsys.readouterr().out
            assert code == 2, fmt
            assert "sentinel_quorum" in out, (fmt, out)
    finally:
        group.stop()
