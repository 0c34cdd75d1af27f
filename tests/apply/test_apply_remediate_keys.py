"""apply --remediate-keys against real servers: config first, then exactly the keys remediation fixes.

The key seed and the per-key checks are those of test_remediate.py: every key's PTTL is read
before and after, keys of `remediate: true` classes without a TTL or above max must end at max,
every other key (other classes, persistent classes, unclassified) must keep its TTL. The
counts apply reports (text and JSON) and records in the audit log must equal that truth.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import redis

from redispolicy.apply import remediate as remediate_mod
from redispolicy.catalog.features import supports_conditional_expire as conditional_expire
from redispolicy.commands import Options
from redispolicy.commands import apply as apply_cmd
from redispolicy.commands.remediate import default_checkpoint
from redispolicy.main import run
from redispolicy.render.style import Style

from .conftest import audit_entries, cli, make_plan
from .test_remediate import (  # the same seed and checks as remediate's
    POLICY,
    SLACK_MS,
    _check_changes,
    _pttls,
    _seed,
    _truth,
    _write,
)

LOCK = "redispolicy:apply-lock"
CONFIG = "config:\n  maxmemory: 1gb\n"
GIB = "1073741824"


def _apply_env(d: Path, url: str, capsys, *extra: str) -> tuple[int, str, str]:
    return cli(capsys, "apply", "--policy-dir", str(d), "-e", "test", "--url", url, "--auto-approve", *extra)


def _by_class(keys: dict) -> dict[str, dict[str, int]]:
    return {c["name"]: {"no_ttl": c["no_ttl"], "over_max": c["over_max"]} for c in keys["classes"]}


def _audited(keys: dict) -> dict[str, dict[str, int]]:
    return {
        c["class"]: {"no_ttl": c["no_ttl_fixed"], "over_max": c["over_max_lowered"]} for c in keys["classes"]
    }


def _totals(truth: dict[str, dict[str, int]]) -> tuple[int, int, int]:
    no_ttl = sum(v["no_ttl"] for v in truth.values())
    over = sum(v["over_max"] for v in truth.values())
    return no_ttl + over, no_ttl, over


def _unchanged(before: dict, after: dict) -> None:
    """No key changed: same keys, a key without a TTL still has none, the others only aged."""
    assert set(before) - {(0, LOCK)} == set(after) - {(0, LOCK)}
    for k, t0 in before.items():
        if k == (0, LOCK):
            continue
        t1 = after[k]
        assert (t0 == -1 and t1 == -1) or t0 - SLACK_MS <= t1 <= t0, (k, t0, t1)


def _maxmemory(server) -> str:
    return str(server.client().config_get("maxmemory")["maxmemory"])


def test_reports_the_exact_counts_and_changes_exactly_those_keys(matrix_server, tmp_path, capsys):
    d = _write(tmp_path)
    _seed(matrix_server)
    before = _pttls(matrix_server)
    truth = _truth(before)
    assert (
        truth["ocr"]["no_ttl"] == 2 * 80 and truth["tmp"]["over_max"] == 2 * 40
    )  # the seed is what we think

    code, out, err = _apply_env(d, matrix_server.url, capsys, "--remediate-keys", "-o", "json")
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["result"] == "nothing" and doc["exit_code"] == 0  # no config in this policy
    keys = doc["keys"]
    assert keys["result"] == "done" and keys["complete"] is True
    assert keys["method"] == (
        "expire-nx-lt" if conditional_expire(matrix_server.product, matrix_server.version) else "lua"
    )
    assert _by_class(keys) == truth
    total, no_ttl, over = _totals(truth)
    assert keys["summary"] == {"no_ttl": no_ttl, "over_max": over, "changed": total}
    assert keys["scanned"] == len(before) + 1  # every key, and the apply lock held meanwhile
    _check_changes(before, _pttls(matrix_server))
    assert matrix_server.client().exists(LOCK) == 0  # released
    (entry,) = audit_entries(tmp_path)
    assert entry["result"] == "nothing" and entry["keys"]["result"] == "done"
    assert _audited(entry["keys"]) == truth

    # The text report, on a fresh keyspace of another size: the same truth, in words.
    for db in (0, 2):
        matrix_server.client(db=db).flushdb()
    _seed(matrix_server, n=7, dbs=(0,))
    before = _pttls(matrix_server)
    truth = _truth(before)
    total, no_ttl, over = _totals(truth)
    code, out, err = _apply_env(d, matrix_server.url, capsys, "--remediate-keys")
    assert code == 0, out + err
    assert "No config changes to apply." in out
    assert (
        f"✓ Keys: {total} keys got a TTL ({no_ttl} without one, {over} above max lowered to max) in 2 classes"
    ) in out
    report = out[out.index("redispolicy apply ·") :]  # the report, after the plan and the keys notice
    for name, v in truth.items():
        (row,) = [line for line in report.splitlines() if line.strip().startswith(f"~ {name} ")]
        assert f"{v['no_ttl']} got a TTL, {v['over_max']} lowered to max" in row
    _check_changes(before, _pttls(matrix_server))


def test_config_change_and_keys_in_one_apply_and_one_audit_record(matrix_server, tmp_path, capsys):
    d = _write(tmp_path, CONFIG + POLICY)
    _seed(matrix_server, n=20, dbs=(0, 3))
    before = _pttls(matrix_server)
    truth = _truth(before)
    code, out, err = _apply_env(d, matrix_server.url, capsys, "--remediate-keys", "-o", "json")
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["result"] == "applied" and doc["verified"] is True
    assert [c["parameter"] for c in doc["applied"]] == ["maxmemory"]
    assert doc["keys"]["result"] == "done" and _by_class(doc["keys"]) == truth
    assert _maxmemory(matrix_server) == GIB
    _check_changes(before, _pttls(matrix_server))
    (entry,) = audit_entries(tmp_path)
    assert entry["result"] == "applied"
    assert entry["changes"] == [{"parameter": "maxmemory", "before": "0", "after": GIB, "sensitive": False}]
    assert entry["keys"]["result"] == "done" and _audited(entry["keys"]) == truth
    total, no_ttl, over = _totals(truth)
    assert (entry["keys"]["no_ttl_fixed"], entry["keys"]["over_max_lowered"]) == (no_ttl, over)
    assert "ocr:none" not in json.dumps(entry)  # counts, never key names


def test_saved_plan_then_apply_file_remediates_keys(redis_server, tmp_path, capsys):
    d = _write(tmp_path, CONFIG + POLICY)
    _seed(redis_server, n=15, dbs=(0,))
    plan = tmp_path / "test.plan"
    assert (
        run(["plan", "--policy-dir", str(d), "-e", "test", "--url", redis_server.url, "--out", str(plan)])
        == 0
    )
    shown = capsys.readouterr().out
    assert "`redispolicy apply --remediate-keys`" in shown  # the plan's hint names the flag
    before = _pttls(redis_server)
    truth = _truth(before)
    code = run(["apply", str(plan), "--url", redis_server.url, "--remediate-keys", "-o", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["result"] == "applied" and doc["keys"]["result"] == "done"
    assert _by_class(doc["keys"]) == truth
    assert _maxmemory(redis_server) == GIB
    _check_changes(before, _pttls(redis_server))


@pytest.mark.parametrize("why", ["server", "policy"])
def test_stale_saved_plan_changes_no_key(redis_server, tmp_path, capsys, why):
    d = _write(tmp_path, CONFIG + POLICY)
    _seed(redis_server, n=15, dbs=(0,))
    plan = make_plan(d, redis_server.url, capsys)
    if why == "server":
        redis_server.client().config_set("maxmemory", "536870912")  # out of band, after the review
    else:
        _write(tmp_path, CONFIG + POLICY.replace("max: 1h", "max: 2h"))
    before = _pttls(redis_server)
    code = run(["apply", str(plan), "--url", redis_server.url, "--remediate-keys"])
    out = capsys.readouterr().out
    assert code == 1
    assert "stale" in out and "Keys: not remediated" in out and "no key was changed" in out
    _unchanged(before, _pttls(redis_server))
    assert _maxmemory(redis_server) == ("536870912" if why == "server" else "0")
    code = run(["apply", str(plan), "--url", redis_server.url, "--remediate-keys", "-o", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["result"] == "stale" and doc["keys"]["result"] == "skipped"
    _unchanged(before, _pttls(redis_server))


def test_without_the_flag_apply_changes_no_key(matrix_server, tmp_path, capsys):
    d = _write(tmp_path, CONFIG + POLICY)
    _seed(matrix_server, n=15, dbs=(0,))
    before = _pttls(matrix_server)
    code, out, err = _apply_env(d, matrix_server.url, capsys, "-o", "json")
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["result"] == "applied" and "keys" not in doc
    assert _maxmemory(matrix_server) == GIB
    _unchanged(before, _pttls(matrix_server))
    (entry,) = audit_entries(tmp_path)
    assert "keys" not in entry
    # Nothing left to apply to the config: without the flag that is the end of it, keys untouched.
    code, out, err = _apply_env(d, matrix_server.url, capsys)
    assert code == 0 and "No changes" in out and "Keys" not in out
    _unchanged(before, _pttls(matrix_server))


@pytest.mark.parametrize("config", ["", CONFIG], ids=["no-config", "with-config"])
def test_no_remediable_class_is_nothing_to_remediate(redis_server, tmp_path, capsys, config):
    d = _write(tmp_path, config + "keys:\n  - name: locks\n    pattern: 'lock:*'\n    ttl: {max: 10m}\n")
    c = redis_server.client()
    c.set("lock:1", "v")
    c.set("lock:2", "v", ex=86400)
    code, out, err = _apply_env(d, redis_server.url, capsys, "--remediate-keys")
    assert code == 0, out + err
    assert "nothing to remediate" in out
    assert c.pttl("lock:1") == -1 and c.pttl("lock:2") > 3_600_000
    assert _maxmemory(redis_server) == (GIB if config else "0")
    code, out, err = _apply_env(d, redis_server.url, capsys, "--remediate-keys", "-o", "json")
    doc = json.loads(out)
    assert code == 0 and doc["keys"]["result"] == "nothing" and doc["exit_code"] == 0


def test_interrupted_remediation_after_config_is_exit_3_and_remediate_resume_finishes(
    redis_server, tmp_path, capsys, monkeypatch
):
    d = _write(tmp_path, CONFIG + POLICY)
    _seed(redis_server, n=150, dbs=(0, 1))
    before = _pttls(redis_server)
    truth = _truth(before)

    class StopAfterOneBatch(remediate_mod.RateLimiter):
        def take(self, n: int) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(remediate_mod, "RateLimiter", StopAfterOneBatch)
    code, out, err = _apply_env(d, redis_server.url, capsys, "--remediate-keys", "-o", "json")
    assert code == 3, out + err
    doc = json.loads(out)
    assert doc["result"] == "applied" and doc["exit_code"] == 3 and _maxmemory(redis_server) == GIB
    keys = doc["keys"]
    assert keys["result"] == "interrupted" and keys["complete"] is False
    checkpoint = default_checkpoint(dict(os.environ), "test", redis_server.address)
    assert keys["checkpoint"] == str(checkpoint) and checkpoint.exists()
    assert "1 config change(s) applied" in keys["detail"]
    assert f"redispolicy remediate -e test --policy-dir {d} --url URL --execute --resume" in keys["detail"]
    partial = sum(c["changed"] for c in keys["classes"])
    assert keys["summary"]["changed"] == partial < _totals(truth)[0]
    assert redis_server.client().exists(LOCK) == 0  # released
    (entry,) = audit_entries(tmp_path)
    assert entry["result"] == "applied" and entry["keys"]["result"] == "interrupted"
    assert _audited(entry["keys"]) == _by_class(keys)

    monkeypatch.undo()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code = run(
        [
            "remediate",
            "--policy-dir",
            str(d),
            "-e",
            "test",
            "--url",
            redis_server.url,
            "--execute",
            "--resume",
            "-o",
            "json",
        ]
    )
    rest = json.loads(capsys.readouterr().out)
    assert code == 0 and rest["resumed"] is True and rest["complete"] is True
    assert _by_class(rest) == truth  # apply's counts plus the rest: the exact total
    assert not checkpoint.exists()
    _check_changes(before, _pttls(redis_server))


def test_text_report_of_an_interrupted_run_names_the_resume_command(
    redis_server, tmp_path, capsys, monkeypatch
):
    d = _write(tmp_path)
    _seed(redis_server, n=150, dbs=(0,))

    class StopAfterOneBatch(remediate_mod.RateLimiter):
        def take(self, n: int) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(remediate_mod, "RateLimiter", StopAfterOneBatch)
    code, out, _ = _apply_env(d, redis_server.url, capsys, "--remediate-keys")
    assert code == 3
    assert "⚠ Keys: Interrupted:" in out and "PARTIALLY APPLIED" in out
    assert "--execute --resume` to continue" in out


def test_a_redis_error_in_the_key_pass_is_exit_3_with_the_config_applied_and_audited(
    redis_server, tmp_path, capsys, monkeypatch
):
    d = _write(tmp_path, CONFIG + POLICY)
    _seed(redis_server, n=150, dbs=(0,))
    real = remediate_mod.Remediation._batch
    calls = []

    def second_batch_fails(self, client, script, keys):
        calls.append(len(keys))
        if len(calls) == 2:  # what redis-py raises when the server drops the connection mid-pass
            raise redis.ConnectionError("Connection closed by server.")
        real(self, client, script, keys)

    monkeypatch.setattr(remediate_mod.Remediation, "_batch", second_batch_fails)
    code, out, err = _apply_env(d, redis_server.url, capsys, "--remediate-keys", "-o", "json")
    assert code == 3, out + err
    doc = json.loads(out)
    assert doc["result"] == "applied" and _maxmemory(redis_server) == GIB
    assert (
        doc["keys"]["result"] == "failed"
        and "stopped by an error (Connection closed by server.)" in doc["keys"]["detail"]
    )
    assert "--execute --resume` to continue" in doc["keys"]["detail"]
    (entry,) = audit_entries(tmp_path)
    assert entry["result"] == "applied" and entry["keys"]["result"] == "failed"
    assert redis_server.client().exists(LOCK) == 0


def test_config_setting_requirepass_does_not_lock_the_key_step_out(
    redis_server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("TEST_PW", "pw-4c1d")
    d = _write(tmp_path, "config:\n  requirepass: ${TEST_PW}\n" + POLICY)
    _seed(redis_server, n=10, dbs=(0, 1))
    before = _pttls(redis_server)
    truth = _truth(before)
    code, out, err = _apply_env(d, redis_server.url, capsys, "--remediate-keys", "-o", "json")
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["result"] == "applied" and doc["keys"]["result"] == "done" and _by_class(doc["keys"]) == truth
    assert "pw-4c1d" not in out + err + json.dumps(audit_entries(tmp_path))
    redis_server.client(password="pw-4c1d").config_set("requirepass", "")
    _check_changes(before, _pttls(redis_server))


def _run_env(d: Path, url: str, answer: bool) -> tuple[list[str], int, str]:
    asked: list[str] = []
    opts = Options(d, dict(os.environ), "text", (), Style(color=False))
    req = apply_cmd.ApplyRequest(url=url, lock_timeout=0, remediate_keys=True, interactive=True)
    result = apply_cmd.run_env(opts, "test", req, lambda shown: asked.append(shown) or answer)
    return asked, result.exit_code, result.stdout


def test_confirmation_names_the_classes_whose_keys_get_a_ttl(redis_server, tmp_path):
    d = _write(tmp_path)  # no config: only the keys are pending, and they still need a yes
    _seed(redis_server, n=10, dbs=(0,))
    before = _pttls(redis_server)

    asked, code, out = _run_env(d, redis_server.url, answer=False)
    assert code == 1 and "Apply cancelled: nothing was changed." in out
    (shown,) = asked
    assert "No changes. The server matches the policy." in shown  # the config plan ...
    assert "keys of ocr, tmp will get TTLs" in shown  # ... and the key classes to be remediated
    for name, pattern in (("ocr", "ocr:*"), ("tmp", "tmp:*")):
        assert any(
            line.split()[1:3] == [name, pattern] for line in shown.splitlines() if line.startswith("  ~")
        )
    assert "locks" not in shown and "pinned" not in shown  # not remediated: not named
    _unchanged(before, _pttls(redis_server))
    assert audit_entries(tmp_path) == []

    asked, code, out = _run_env(d, redis_server.url, answer=True)
    assert code == 0 and len(asked) == 1
    total, _, _ = _totals(_truth(before))
    assert f"✓ Keys: {total} keys got a TTL" in out
    _check_changes(before, _pttls(redis_server))


def test_max_rate_needs_the_flag(tmp_path, capsys):
    assert run(["apply", "-e", "test", "--max-rate", "10"]) == 64
    assert "--remediate-keys" in capsys.readouterr().err
