"""remediate and cleanup on a real Redis Cluster (3 masters + 3 replicas): every master, exact counts.

A key lives on the master serving its slot; these tests seed keys over every slot through a
cluster-aware client, read every key's PTTL directly on each master before and after, and
require: each master's reported counts equal what that master held, the totals their sum,
every key changed exactly as the policy allows (once) and no other key touched; a dry run
changes nothing; the apply lock is held on EVERY master while keys change; a cut-off run
resumes from one checkpoint holding each master's cursor. Redis 6.0 takes the Lua path
(one script call per slot), the rest EXPIRE NX / LT.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

import redispolicy.commands.remediate as remediate_cmd
from redispolicy.apply import remediate as remediate_mod
from redispolicy.apply.cluster import lock_key_for, serves
from redispolicy.apply.lock import LOCK_KEY
from redispolicy.main import run

from .conftest import write_policy

POLICY = """
audit:
  log: {log}
keys:
  - name: ocr
    pattern: "ocr:*"
    ttl: {{max: 1h}}
    remediate: true
  - name: tmp
    pattern: "tmp:*"
    cleanup: {{always: true}}
  - name: locks             # a ttl rule without remediate: never changed
    pattern: "lock:*"
    ttl: {{max: 10m}}
"""
MAX_MS = 3_600_000
SLACK_MS = 60_000
N = 200  # keys per kind: 3 masters, every master gets a share


def _seed(cluster: Any) -> None:
    c = cluster.client()
    for i in range(N):
        c.set(f"ocr:none:{i}", "v")  # no TTL: gets 1h
        c.set(f"ocr:long:{i}", "v", ex=7 * 86400)  # above max: lowered to 1h
        c.set(f"ocr:short:{i}", "v", ex=60)  # within max: untouched
        c.set(f"tmp:{i}", "v")  # cleanup: always
        c.set(f"lock:{i}", "v")  # no remediate: untouched
        c.set(f"misc:{i}", "v", ex=86400)  # unclassified: untouched


def _pttls(cluster: Any) -> dict[str, dict[str, int]]:
    """Per master (address), every key's PTTL, read on that master itself."""
    out = {}
    for node in cluster.masters:
        c = node.client()
        keys = [k for k in c.scan_iter(count=1000) if not k.startswith(LOCK_KEY)]
        p = c.pipeline(transaction=False)
        for k in keys:
            p.pttl(k)
        out[node.address] = dict(zip(keys, p.execute(), strict=True))
    return out


def _truth(before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    out = {}
    for address, keys in before.items():
        ocr = {k: t for k, t in keys.items() if k.startswith("ocr:")}
        out[address] = {
            "no_ttl": sum(t == -1 for t in ocr.values()),
            "over_max": sum(t > MAX_MS for t in ocr.values()),
            "tmp": sum(k.startswith("tmp:") for k in keys),
        }
    return out


def _cli(
    d: Path, verb: str, url: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict, str]:
    code = run([verb, "--policy-dir", str(d), "-e", "test", "--url", url, "-o", "json", *extra])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def _policy(tmp_path: Path) -> Path:
    return write_policy(tmp_path, POLICY.format(log=tmp_path / "audit.log"))


def _audit(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]


def test_remediate_on_every_master_exact_counts_per_node_every_ttl_checked(matrix_cluster, tmp_path, capsys):
    d = _policy(tmp_path)
    _seed(matrix_cluster)
    before = _pttls(matrix_cluster)
    truth = _truth(before)
    assert sum(t["no_ttl"] for t in truth.values()) == N and all(t["no_ttl"] > N // 5 for t in truth.values())
    url = matrix_cluster.replicas[1].url  # from a replica: the masters come from CLUSTER NODES

    code, dry, _ = _cli(d, "remediate", url, capsys)
    assert code == 0 and dry["result"] == "dry_run"
    assert {n["address"]: n["summary"]["no_ttl"] for n in dry["nodes"]} == {
        a: t["no_ttl"] for a, t in truth.items()
    }
    assert dry["summary"] == {"no_ttl": N, "over_max": N, "changed": 2 * N}
    unchanged = _pttls(matrix_cluster)
    for address, keys in before.items():  # a dry run changes nothing
        for k, t in keys.items():
            assert (t == -1 and unchanged[address][k] == -1) or t - SLACK_MS <= unchanged[address][k] <= t, k

    code, done, _ = _cli(d, "remediate", url, capsys, "--execute")
    assert code == 0 and done["result"] == "done", done
    major = int(matrix_cluster.masters[0].client().info("server")["redis_version"].split(".")[0])
    assert done["method"] == ("lua" if major < 7 else "expire-nx-lt")  # Redis 6: one script call per slot
    assert sorted(n["address"] for n in done["nodes"]) == sorted(m.address for m in matrix_cluster.masters)
    for n in done["nodes"]:
        t = truth[n["address"]]
        assert n["summary"] == {
            "no_ttl": t["no_ttl"],
            "over_max": t["over_max"],
            "changed": t["no_ttl"] + t["over_max"],
        }
        assert n["complete"] is True
    assert done["summary"] == {"no_ttl": N, "over_max": N, "changed": 2 * N}  # the totals: the sums
    # SCAN lists every key once, the three lock keys held during the run included (never changed)
    assert done["scanned"] == sum(len(k) for k in before.values()) + 3
    after = _pttls(matrix_cluster)
    assert {a: set(k) for a, k in after.items()} == {
        a: set(k) for a, k in before.items()
    }  # nothing moved or went
    for address, keys in before.items():
        for k, t0 in keys.items():
            t1 = after[address][k]
            if k.startswith("ocr:") and (t0 == -1 or t0 > MAX_MS):
                assert MAX_MS - SLACK_MS < t1 <= MAX_MS, (k, t0, t1)
            elif t0 == -1:
                assert t1 == -1, k
            else:
                assert t0 - SLACK_MS <= t1 <= t0, (k, t0, t1)
    # no key changed twice: a second pass finds nothing left to change on any master
    code, again, _ = _cli(d, "remediate", url, capsys, "--execute")
    assert code == 0 and again["summary"]["changed"] == 0
    (record, _) = [r for r in _audit(tmp_path) if r["command"] == "remediate"]
    assert {n["address"]: n["no_ttl_fixed"] for n in record["nodes"]} == {
        a: t["no_ttl"] for a, t in truth.items()
    }
    assert sum(c["no_ttl_fixed"] for c in record["changes"]) == N


def test_cleanup_on_every_master_deletes_exactly_the_eligible_keys(matrix_cluster, tmp_path, capsys):
    d = _policy(tmp_path)
    _seed(matrix_cluster)
    before = _pttls(matrix_cluster)
    truth = _truth(before)
    url = matrix_cluster.masters[2].url
    code, dry, _ = _cli(d, "cleanup", url, capsys)
    assert code == 0 and dry["summary"]["eligible"] == N
    assert {n["address"]: n["summary"]["eligible"] for n in dry["nodes"]} == {
        a: t["tmp"] for a, t in truth.items()
    }
    assert _pttls(matrix_cluster).keys() == before.keys() and all(
        set(v) == set(before[a]) for a, v in _pttls(matrix_cluster).items()
    )  # a dry run deletes nothing

    code, done, err = _cli(d, "cleanup", url, capsys, "--execute")
    assert code == 0 and done["result"] == "done", done
    assert done["summary"] == {"eligible": N, "deleted": N, "skipped": 0}
    assert {n["address"]: n["summary"]["deleted"] for n in done["nodes"]} == {
        a: t["tmp"] for a, t in truth.items()
    }
    after = _pttls(matrix_cluster)
    for address, keys in before.items():
        for k, t0 in keys.items():
            if k.startswith("tmp:"):
                assert k not in after[address], k
            else:
                t1 = after[address][k]
                assert (t0 == -1 and t1 == -1) or t0 - SLACK_MS <= t1 <= t0, (k, t0, t1)
    (record,) = [r for r in _audit(tmp_path) if r["command"] == "cleanup"]
    assert sum(n["classes"][0]["deleted"] for n in record["nodes"]) == N


def test_the_lock_is_held_on_every_master_and_a_second_run_refuses(
    redis_cluster, tmp_path, capsys, monkeypatch
):
    d = _policy(tmp_path)
    _seed(redis_cluster)
    seen: dict[str, Any] = {}
    real = remediate_cmd.run_cluster_pass

    def during(cl: Any, *args: Any, **kwargs: Any) -> Any:
        # every master holds its own lock key, in a slot it serves
        seen["held"] = {m.address: m.session.client.get(m.lock_key) is not None for m in cl.masters}
        seen["keys"] = {m.address: m.lock_key for m in cl.masters}
        seen["second"] = run(
            [
                "remediate",
                "--policy-dir",
                str(d),
                "-e",
                "test",
                "--url",
                redis_cluster.masters[1].url,
                "--execute",
                "--lock-timeout",
                "0",
            ]
        )
        seen["err"] = capsys.readouterr().err
        return real(cl, *args, **kwargs)

    monkeypatch.setattr(remediate_cmd, "run_cluster_pass", during)
    code, done, _ = _cli(d, "remediate", redis_cluster.masters[0].url, capsys, "--execute")
    assert code == 0 and done["summary"]["changed"] == 2 * N
    assert seen["held"] == {m.address: True for m in redis_cluster.masters}
    assert len(set(seen["keys"].values())) == 3 and LOCK_KEY in seen["keys"].values()
    assert seen["second"] == 1
    assert "another apply holds the lock on this server" in seen["err"]
    assert "no key was changed on any master" in seen["err"]
    for m in redis_cluster.masters:  # released on every master
        assert not [k for k in m.client().scan_iter(match="redispolicy:*")]


def test_a_held_lock_on_one_master_changes_no_key_anywhere(redis_cluster, tmp_path, capsys):
    d = _policy(tmp_path)
    _seed(redis_cluster)
    before = _pttls(redis_cluster)
    last = redis_cluster.masters[-1]
    slots = tuple(
        (int(a), int(b or a))
        for line in last.client().execute_command("CLUSTER", "NODES").splitlines()
        if "myself" in line.split()[2]
        for a, _, b in (tok.partition("-") for tok in line.split()[8:] if not tok.startswith("["))
    )
    last.client().set(
        lock_key_for(slots), '{"token": "x", "user": "u", "host": "h", "pid": 1, "since": "s"}', px=30000
    )
    code = run(
        [
            "remediate",
            "--policy-dir",
            str(d),
            "-e",
            "test",
            "--url",
            redis_cluster.masters[0].url,
            "--execute",
            "--lock-timeout",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and f"cluster master {last.address}" in err and "u@h (pid 1)" in err
    after = _pttls(redis_cluster)
    assert all(after[a][k] == -1 for a, keys in before.items() for k, t in keys.items() if t == -1)
    for m in redis_cluster.masters[:-1]:  # the locks already taken were released
        assert not [k for k in m.client().scan_iter(match="redispolicy:*")]


def test_interrupted_cluster_run_resumes_per_master_with_exact_totals(
    redis_cluster, tmp_path, capsys, monkeypatch
):
    d = _policy(tmp_path)
    _seed(redis_cluster)
    truth = _truth(_pttls(redis_cluster))
    checkpoint = tmp_path / "ck.json"
    calls = {"n": 0}

    class StopOnSecondMaster(remediate_mod.RateLimiter):
        def take(self, n: int) -> None:
            calls["n"] += 1
            if calls["n"] == 2:  # the first master's only batch done, the second's first batch done
                raise KeyboardInterrupt

    monkeypatch.setattr(remediate_mod, "RateLimiter", StopOnSecondMaster)
    code, cut, _ = _cli(
        d, "remediate", redis_cluster.masters[0].url, capsys, "--execute", "--checkpoint", str(checkpoint)
    )
    assert code == 130 and cut["result"] == "interrupted" and cut["checkpoint"] == str(checkpoint)
    saved = json.loads(checkpoint.read_text())
    assert sorted(saved["nodes"]) == sorted(m.address for m in redis_cluster.masters)
    states = [saved["nodes"][a]["dbs"]["0"]["done"] for a in sorted(saved["nodes"])]
    assert states.count(True) == 2 and states.count(False) == 1  # per-master cursors
    monkeypatch.undo()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code, rest, _ = _cli(
        d,
        "remediate",
        redis_cluster.replicas[0].url,
        capsys,
        "--execute",
        "--resume",
        "--checkpoint",
        str(checkpoint),
    )
    assert code == 0 and rest["resumed"] is True and rest["complete"] is True
    assert rest["summary"] == {"no_ttl": N, "over_max": N, "changed": 2 * N}  # checkpoint + rest: exact
    assert {n["address"]: n["summary"]["no_ttl"] for n in rest["nodes"]} == {
        a: t["no_ttl"] for a, t in truth.items()
    }
    assert not checkpoint.exists()


def test_a_catch_all_class_is_still_refused_on_a_cluster(redis_cluster, tmp_path, capsys):
    d = write_policy(tmp_path, 'keys:\n  - name: all\n    pattern: "*"\n    cleanup: {always: true}\n')
    redis_cluster.client().set("a:1", "x")
    code = run(
        ["cleanup", "--policy-dir", str(d), "-e", "test", "--url", redis_cluster.masters[0].url, "--execute"]
    )
    assert code == 1
    assert redis_cluster.client().get("a:1") == "x"
    capsys.readouterr()


@pytest.mark.parametrize(
    "slots",
    [
        ((0, 5460),),
        ((5461, 10922),),
        ((10923, 16383),),
        ((16383, 16383),),
        ((0, 0),),
        ((100, 100), (9000, 9100)),
    ],
)
def test_each_master_gets_a_lock_key_in_a_slot_it_serves(slots):
    key = lock_key_for(slots)
    assert serves(slots, key_slot(key.encode()))
    assert key == LOCK_KEY or key.startswith(LOCK_KEY + "{")
    assert lock_key_for(slots) == key  # the same slot map, the same key: two runs exclude each other
