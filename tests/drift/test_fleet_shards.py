"""drift --shard K/N and merge-reports on a real 12-server fleet (issue 12, deliverable 5).

Shards 1/3, 2/3 and 3/3 cover every target exactly once, and merge-reports of their
`-o json` reports is the unsharded run's report (the servers' live health readings aside),
in JSON, in the other formats and in the exit code: 2 with drift, 1 once a server is down.
A missing shard, and reports that cannot be one run's, are refused or reported, never
merged into "in sync".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from redis_servers import RedisServer, RedisServerFactory

from redispolicy.commands.fleet import Shard, select, shard_of
from redispolicy.main import run

FLEET = 12
PASSWORD = "fleet-Secret-9"
POLICY_HEAD = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: fleet
config:
  maxmemory-policy: allkeys-lru
  masterauth: ${FLEET_PW}  # sensitive: a Secret in every result, which forked workers must not pickle
keys:
  - name: cache
    pattern: "cache:*"
    ttl: {max: 30d}
targets:
"""


def _policy(servers: list[RedisServer]) -> str:
    return POLICY_HEAD + "".join(
        f'  - {{name: cache-{i:02d}, url: "{s.url}"}}\n' for i, s in enumerate(servers)
    )


@pytest.fixture(scope="module")
def fleet(redis_server_factory: RedisServerFactory) -> list[RedisServer]:
    servers = [redis_server_factory.start() for _ in range(FLEET)]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture
def workdir(fleet: list[RedisServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for i, s in enumerate(fleet):
        c = s.client()
        c.flushall()
        c.config_set("maxmemory-policy", "allkeys-lru" if i % 4 else "noeviction")  # 3 of 12 drifted
        if i % 5 == 0:
            c.set("cache:no-ttl", "x")  # a key-class violation on 3 of them
        c.set("cache:ok", "x", ex=20 * 86400)  # shown as 2.9w by two runs a few seconds apart
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "fleet.yaml").write_text(_policy(fleet), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEET_PW", PASSWORD)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _stable(doc: dict[str, Any]) -> dict[str, Any]:
    """The report without what two runs a moment apart may read differently from a live server: health
    readings (memory, clients, the hit rate: judged against a threshold only once there were enough
    reads, which the previous run's audit just made)."""
    doc = json.loads(json.dumps(doc))
    for t in doc["targets"]:
        for h in t.get("health", []):
            h["value"] = h["detail"] = h["threshold"] = None
    return doc


def _shards(capsys: pytest.CaptureFixture[str], n: int) -> tuple[list[int], list[Path]]:
    codes, files = [], []
    for k in range(1, n + 1):
        code, out, _ = cli(capsys, "drift", "-e", "fleet", "--shard", f"{k}/{n}", "-o", "json")
        path = Path(f"shard-{k}.json")
        path.write_text(out, encoding="utf-8")
        codes.append(code)
        files.append(path)
    return codes, files


def test_shards_cover_the_fleet_once_and_merge_into_the_unsharded_report(
    workdir: Path, fleet: list[RedisServer], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "drift", "-e", "fleet", "-o", "json")
    assert code == 2
    whole = json.loads(out)
    assert "shard" not in whole and len(whole["targets"]) == FLEET and whole["summary"]["errors"] == 0
    assert PASSWORD not in out
    assert all(any(c["sensitive"] for c in t["config"]) for t in whole["targets"])

    codes, files = _shards(capsys, 3)
    names = [[t["name"] for t in json.loads(f.read_text())["targets"]] for f in files]
    every = [f"cache-{i:02d}" for i in range(FLEET)]
    assert sorted(n for part in names for n in part) == every  # each target exactly once
    for k, part in enumerate(names, 1):
        assert part == [n for n in every if shard_of(n, 3) == k]  # in the policy's order
        doc = json.loads(files[k - 1].read_text())
        assert doc["shard"] == {"index": k, "count": 3, "fleet": every, "policy_file": "policies/fleet.yaml"}

    code, merged, _ = cli(capsys, "merge-reports", *map(str, files), "-o", "json")
    assert code == 2 and code == max(codes)
    assert _stable(json.loads(merged)) == _stable(whole)
    # Reversed order of files, same report.
    code, again, _ = cli(capsys, "merge-reports", *map(str, reversed(files)), "-o", "json")
    assert code == 2 and json.loads(again) == json.loads(merged)

    # Every other format comes out of drift's own renderers: the same as the unsharded run.
    for fmt in ("junit", "sarif", "github", "prometheus", "markdown", "text"):
        c1, unsharded, _ = cli(capsys, "drift", "-e", "fleet", "-o", fmt, "--color", "never")
        c2, joined, _ = cli(capsys, "merge-reports", *map(str, files), "-o", fmt, "--color", "never")
        assert (c1, _no_health(joined)) == (c2, _no_health(unsharded)), fmt


def _no_health(text: str) -> str:
    """Lines of a rendered report that quote live health readings (memory, fragmentation, clients, the
    slowlog: a loaded machine can log a slow CONFIG GET in one run and not the other) or the
    time of rendering (prometheus' last-success timestamp) dropped."""
    live = re.compile(
        r"memory|fragmentation|clients|hit_rate|evicted|used_|slowlog|health|timestamp", re.IGNORECASE
    )
    return "\n".join(line for line in text.splitlines() if not live.search(line))


def test_a_server_down_fails_the_merged_run_as_it_fails_the_unsharded_one(
    workdir: Path,
    fleet: list[RedisServer],
    redis_server_factory: RedisServerFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = redis_server_factory.start()
    policy = _policy([*fleet, extra])
    (workdir / "policies" / "fleet.yaml").write_text(policy, encoding="utf-8")
    extra.stop()  # cache-12: unreachable
    code, out, _ = cli(capsys, "drift", "-e", "fleet", "-o", "json")
    assert code == 1
    codes, files = _shards(capsys, 3)
    code, merged, _ = cli(capsys, "merge-reports", *map(str, files), "-o", "json")
    assert code == 1 and 1 in codes
    doc = json.loads(merged)
    assert doc["summary"]["errors"] == 1 and _stable(doc) == _stable(json.loads(out))

    # A shard whose report is missing: its targets are not checked (exit 1), named, never "in sync".
    lost = 3 if shard_of("cache-12", 3) != 3 else 2
    kept = [f for k, f in enumerate(files, 1) if k != lost]
    code, merged, _ = cli(capsys, "merge-reports", *map(str, kept), "-o", "json")
    assert code == 1
    missing = [
        t
        for t in json.loads(merged)["targets"]
        if f"no report of shard {lost}/3 was merged" in t.get("error", "")
    ]
    assert [t["name"] for t in missing] == [
        f"cache-{i:02d}" for i in range(FLEET + 1) if shard_of(f"cache-{i:02d}", 3) == lost
    ]
    assert all(
        t["checks"] == {"config": "not_checked", "keys": "not_checked", "health": "not_checked"}
        for t in missing
    )


def test_merge_refuses_reports_that_are_not_one_run(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, files = _shards(capsys, 2)
    one, two = files
    code, _, err = cli(capsys, "merge-reports", str(one), str(one))
    assert code == 1 and "is in both shard-1.json and shard-1.json" in err and "target cache-" in err

    doc = json.loads(two.read_text())
    doc["environment"] = "staging"
    Path("other-env.json").write_text(json.dumps(doc))
    code, _, err = cli(capsys, "merge-reports", str(one), "other-env.json")
    assert code == 1 and "shard-1.json and other-env.json are reports of different environments" in err
    assert "'fleet' and 'staging'" in err

    doc = json.loads(two.read_text())
    doc["format_version"] = "2"
    Path("v2.json").write_text(json.dumps(doc))
    code, _, err = cli(capsys, "merge-reports", str(one), "v2.json")
    assert code == 1 and "v2.json has format_version '2'" in err and "hint:" in err

    doc = json.loads(two.read_text())
    doc["shard"]["count"] = 3
    Path("n3.json").write_text(json.dumps(doc))
    code, _, err = cli(capsys, "merge-reports", str(one), "n3.json")
    assert code == 1 and "different shard counts" in err

    del doc["shard"]
    Path("plain.json").write_text(json.dumps(doc))
    code, _, err = cli(capsys, "merge-reports", str(one), "plain.json")
    assert code == 1 and "shard-1.json is a shard of a fleet (drift --shard) but plain.json is not" in err

    # Hostile or truncated input: refused by the report schema, naming the place, never half-rendered.
    doc = json.loads(one.read_text())
    doc["targets"][0]["findings"] = [{"kind": "value_drift", "subject": 7}]
    Path("edited.json").write_text(json.dumps(doc))
    code, _, err = cli(capsys, "merge-reports", "edited.json", "-o", "sarif")
    assert code == 1 and "edited.json is not a valid drift report: $.targets[0].findings[0]" in err
    Path("cut.json").write_text(one.read_text()[:200])
    code, _, err = cli(capsys, "merge-reports", "cut.json")
    assert code == 1 and "cut.json is not a JSON report" in err and "Traceback" not in err

    Path("plan.json").write_text(json.dumps({"format_version": "1", "command": "plan", "targets": []}))
    for bad, says in (
        ("plan.json", "is not a drift report (it is a plan report)"),
        ("nope.json", "cannot read"),
    ):
        code, _, err = cli(capsys, "merge-reports", str(one), bad)
        assert code == 1 and says in err and "Traceback" not in err


@pytest.mark.parametrize("shard", ["0/3", "4/3", "3/0", "1/-2", "a/b", "2", "1/3/4", ""])
def test_shard_out_of_range_is_a_usage_error(
    shard: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no policy, no server: refused while parsing
    code, _, err = cli(capsys, "drift", "-e", "fleet", "--shard", shard)
    assert code == 64 and "--shard" in err and "K/N" in err


def test_shard_needs_a_fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "one.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: one\n"
        'target: {url: "redis://127.0.0.1:1"}\nconfig: {maxmemory-policy: allkeys-lru}\n'
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "drift", "-e", "one", "--shard", "1/2")
    assert code == 64 and "has no `targets:` fleet to shard" in err


def test_sharding_is_stable_and_a_partition() -> None:
    names = [f"redis-{i}" for i in range(500)]
    for n in (1, 2, 3, 7):
        parts = [select_names(names, Shard(k, n)) for k in range(1, n + 1)]
        assert sorted(x for p in parts for x in p) == sorted(names)
        assert sum(map(len, parts)) == len(names)
        # depends on the name only: not on the order of the list
        assert [select_names(list(reversed(names)), Shard(k, n)) for k in range(1, n + 1)] == [
            list(reversed(p)) for p in parts
        ]
    # fixed by sha256, the same on every runner and Python version
    assert [shard_of(f"cache-{i:02d}", 3) for i in range(8)] == [1, 3, 2, 2, 3, 3, 2, 3]
    assert shard_of("cache-00", 1) == 1
    assert Shard.parse(" 2 / 5 ") == Shard(2, 5)


def select_names(names: list[str], shard: Shard) -> list[str]:
    class T:
        def __init__(self, name: str) -> None:
            self.name = name

    return [t.name for t in select([T(n) for n in names], shard)]  # type: ignore[arg-type,misc]
