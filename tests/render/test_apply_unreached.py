"""Issue 11, item 1: what an apply did not reach is data (ApplyReport.unreached), worded by the
renderers. JSON carries the data (``not_reached``), never the English sentence it used to
(``scope_note``); text says it as before."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from redis_servers import HOST, RedisServerFactory

from redispolicy.apply.report import AppliedChange, ApplyReport, Unreached
from redispolicy.main import run
from redispolicy.render import renderer
from redispolicy.render.style import Style

APPLIED = (AppliedChange("maxmemory-policy", "noeviction", "allkeys-lru", False),)


def _report(unreached: Unreached | None) -> ApplyReport:
    return ApplyReport(
        "test", "127.0.0.1:6379", "applied", applied=APPLIED, verified=True, unreached=unreached
    )


def test_unreached_is_only_what_a_change_on_one_node_leaves_out() -> None:
    assert Unreached.of("standalone", 0) is None
    assert Unreached.of("standalone", 2) == Unreached("standalone", 2)
    assert Unreached.of("cluster", 0) == Unreached("cluster", 0)


@pytest.mark.parametrize(
    ("unreached", "data", "words"),
    [
        (
            Unreached("standalone", 2),
            {"replicas": 2},
            "note: this primary has 2 replica(s), which a CONFIG SET here does not reach: this apply covers this node "
            "only; `redispolicy drift` checks every node",
        ),
        (
            Unreached("cluster", 1),
            {"mode": "cluster"},
            "note: a cluster node: this apply covers this node only (CONFIG SET reaches no other node); "
            "`redispolicy drift` checks every node",
        ),
    ],
)
def test_json_carries_the_data_and_text_the_words(
    unreached: Unreached, data: dict[str, object], words: str
) -> None:
    text = renderer("json", "apply")(_report(unreached), Style())
    doc = json.loads(text)
    assert doc["not_reached"] == data
    assert "scope_note" not in doc and "covers this node" not in text  # no English sentence in the JSON
    assert words in renderer("text", "apply")(_report(unreached), Style())


def test_nothing_unreached_says_nothing() -> None:
    assert "not_reached" not in json.loads(renderer("json", "apply")(_report(None), Style()))
    assert "note:" not in renderer("text", "apply")(_report(None), Style())


POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${URL}
config:
  maxmemory-policy: allkeys-lru
"""


def test_apply_json_names_the_replicas_it_did_not_reach(
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """End to end: commands/apply.py records the primary's replicas as data, and -o json says so."""
    primary = redis_server_factory.start()
    replica = redis_server_factory.start(extra_args=("--replicaof", HOST, str(primary.port)))
    try:
        deadline = time.monotonic() + 15
        while primary.client().info("replication").get("connected_slaves", 0) < 1:
            assert time.monotonic() < deadline, "the replica did not connect"
            time.sleep(0.05)
        (tmp_path / "policies").mkdir()
        # topology: standalone: apply changes the URL's node alone (with discovery it rolls the plan
        # out to the replicas too: tests/apply/test_deployment.py), and says which nodes it left out
        (tmp_path / "policies" / "test.yaml").write_text(
            POLICY.replace("${URL}\n", "${URL}\n  topology: standalone\n")
        )
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("URL", primary.url)
        monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "test-key")
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        primary.client().config_set("maxmemory-policy", "noeviction")
        code = run(["apply", "-e", "test", "--auto-approve", "--no-lock", "-o", "json"])
        out, err = capsys.readouterr()
        assert code == 0, out + err
        doc = json.loads(out)
        assert doc["result"] == "applied" and doc["not_reached"] == {"replicas": 1}
        assert "scope_note" not in doc
    finally:
        replica.stop()
        primary.stop()
