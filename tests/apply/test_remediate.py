"""Key remediation against real servers: exactly the keys that lacked a TTL or exceeded max change.

Every test reads every key's PTTL before and after and checks each key against what the
policy allows: keys of `remediate: true` classes without a TTL or above max end within
max; every other key keeps its TTL (minus the time that passed). The counts reported
must equal that truth. Redis 6.0 takes the Lua path, the rest EXPIRE NX / LT.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from redispolicy.apply import remediate as remediate_mod
from redispolicy.apply.remediate import Remediation, remediable
from redispolicy.catalog.features import supports_conditional_expire as conditional_expire
from redispolicy.diagnostics import Location
from redispolicy.errors import RedispolicyError
from redispolicy.main import run
from redispolicy.policy.model import KeyClass

from .conftest import key_classes, write_policy

POLICY = """
keys:
  - name: pinned            # shadows ocr:* for ocr:pinned:* (first match wins): never remediated
    pattern: "ocr:pinned:*"
    ttl: persistent
  - name: ocr
    pattern: "ocr:*"
    ttl: {max: 1h}
    remediate: true
  - name: tmp
    pattern: "tmp:*"
    ttl: {max: 10m}
    remediate: true
  - name: locks             # a ttl rule, but no remediate: reported by plan, never changed
    pattern: "lock:*"
    ttl: {max: 10m}
  - name: state             # remediate on a persistent class means nothing
    pattern: "doc:*:state"
    ttl: persistent
    remediate: true
"""
MAX_MS = {"ocr": 3_600_000, "tmp": 600_000}
SLACK_MS = 60_000  # generous bound on the time a test takes between the two reads


def _write(tmp_path: Path, body: str = POLICY) -> Path:
    return write_policy(tmp_path, body)


def _class_of(key: str) -> str | None:
    if key.startswith("ocr:pinned:"):
        return "pinned"
    for prefix, name in (("ocr:", "ocr"), ("tmp:", "tmp"), ("lock:", "locks")):
        if key.startswith(prefix):
            return name
    if key.startswith("doc:") and key.endswith(":state"):
        return "state"
    return None


def _seed(server, n: int = 40, dbs: tuple[int, ...] = (0, 2)) -> None:
    """Keys without a TTL, above max, within max, in every class, several types, in several dbs."""
    for db in dbs:
        c = server.client(db=db)
        p = c.pipeline(transaction=False)
        for i in range(n):
            for prefix in ("ocr:", "tmp:", "lock:", "ocr:pinned:", "misc:"):
                p.set(f"{prefix}none:{i}", "v")  # no TTL
                p.set(f"{prefix}long:{i}", "v", ex=7 * 86400)  # above every max
                p.set(f"{prefix}short:{i}", "v", ex=60)  # within every max
            p.hset(f"ocr:hash:{i}", "f", "v")  # other types, no TTL
            p.zadd(f"tmp:zset:{i}", {"m": 1.0})
            p.set(f"doc:{i}:state", "v")
            p.set(f"doc:{i}:statex", "v", ex=5 * 86400)  # unclassified
        p.execute()


def _pttls(server) -> dict[tuple[int, str], int]:
    out = {}
    info = server.client().info("keyspace")
    for name in info:
        db = int(name[2:])
        c = server.client(db=db)
        keys = list(c.scan_iter(count=1000))
        p = c.pipeline(transaction=False)
        for k in keys:
            p.pttl(k)
        out.update({(db, k): t for k, t in zip(keys, p.execute(), strict=True)})
    return out


def _truth(before: dict[tuple[int, str], int]) -> dict[str, dict[str, int]]:
    truth = {name: {"no_ttl": 0, "over_max": 0} for name in MAX_MS}
    for (_, key), t in before.items():
        name = _class_of(key)
        if name in MAX_MS:
            if t == -1:
                truth[name]["no_ttl"] += 1
            elif t > MAX_MS[name]:
                truth[name]["over_max"] += 1
    return truth


def _check_changes(before: dict, after: dict) -> None:
    """Each key: changed exactly as the policy allows, or not at all."""
    assert set(before) - {(0, "redispolicy:apply-lock")} == set(after) - {(0, "redispolicy:apply-lock")}
    for (db, key), t0 in before.items():
        if key == "redispolicy:apply-lock":
            continue
        t1 = after[(db, key)]
        name = _class_of(key)
        if name in MAX_MS and (t0 == -1 or t0 > MAX_MS[name]):
            assert 0 < t1 <= MAX_MS[name], (db, key, t0, t1)
            assert t1 > MAX_MS[name] - SLACK_MS, (db, key, t0, t1)  # set to max, not less
        elif t0 == -1:
            assert t1 == -1, (db, key, t0, t1)
        else:
            assert t0 - SLACK_MS <= t1 <= t0, (db, key, t0, t1)


def _by_class(doc: dict) -> dict[str, dict[str, int]]:
    return {c["name"]: {"no_ttl": c["no_ttl"], "over_max": c["over_max"]} for c in doc["classes"]}


def _remediate(d: Path, url: str, capsys, *extra: str) -> tuple[int, dict]:
    code = run(["remediate", "--policy-dir", str(d), "-e", "test", "--url", url, "-o", "json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_dry_run_counts_exactly_and_changes_nothing_then_execute_fixes_exactly_those(
    matrix_server, tmp_path, capsys
):
    d = _write(tmp_path)
    _seed(matrix_server)
    time.sleep(2.1)  # every key now idle >= 2 s: remediation must not reset that on keys it leaves alone
    before = _pttls(matrix_server)
    truth = _truth(before)
    assert (
        truth["ocr"]["no_ttl"] == 2 * 80 and truth["tmp"]["over_max"] == 2 * 40
    )  # the seed is what we think

    code, dry = _remediate(d, matrix_server.url, capsys)
    assert code == 0 and dry["mode"] == "dry_run" and dry["result"] == "dry_run"
    assert _by_class(dry) == truth
    assert dry["summary"]["changed"] == sum(v["no_ttl"] + v["over_max"] for v in truth.values())
    middle = _pttls(matrix_server)
    for k, t0 in before.items():
        assert (t0 == -1 and middle[k] == -1) or t0 - SLACK_MS <= middle[k] <= t0, k

    code, done = _remediate(d, matrix_server.url, capsys, "--execute")
    assert code == 0 and done["result"] == "done" and done["complete"] is True
    expected_method = (
        "expire-nx-lt" if conditional_expire(matrix_server.product, matrix_server.version) else "lua"
    )
    assert done["method"] == expected_method
    assert _by_class(done) == truth
    after = _pttls(matrix_server)
    _check_changes(before, after)

    # Keys it did not change kept their idle time (PTTL and SCAN do not touch keys).
    for db in (0, 2):
        c = matrix_server.client(db=db)
        for key in ("ocr:short:1", "lock:none:1", "misc:none:1", "ocr:pinned:none:1", "doc:1:state"):
            assert c.object("idletime", key) >= 2, (db, key)

    # A second pass finds nothing left to do.
    code, again = _remediate(d, matrix_server.url, capsys, "--execute")
    assert code == 0 and again["summary"]["changed"] == 0

    # The audit log names the command and the exact counts.
    log = (tmp_path / "state" / "redispolicy" / "audit.log").read_text().splitlines()
    entries = [json.loads(line) for line in log]
    assert [e["command"] for e in entries] == ["remediate", "remediate"]
    first = {c["class"]: (c["no_ttl_fixed"], c["over_max_lowered"]) for c in entries[0]["changes"]}
    assert first == {n: (v["no_ttl"], v["over_max"]) for n, v in truth.items()}


def _stage(server, classes, execute: bool, conditional: bool, **kw) -> Remediation:
    clients: dict[int, redis.Redis] = {}

    def client_for(db: int) -> redis.Redis:
        clients[db] = clients.get(db) or server.client(db=db, decode_responses=False)
        return clients[db]

    dbs = sorted(int(n[2:]) for n in server.client().info("keyspace"))
    return Remediation(
        client_for,
        classes,
        dbs,
        execute,
        conditional,
        target=server.address,
        run_id=server.client().info("server")["run_id"],
        **kw,
    )


@pytest.mark.parametrize("conditional", [True, False], ids=["expire-nx-lt", "lua"])
def test_both_methods_change_exactly_the_same_keys(matrix_server, tmp_path, conditional):
    if conditional and not conditional_expire(matrix_server.product, matrix_server.version):
        pytest.skip("EXPIRE NX/LT needs Redis >= 7.0")
    classes = key_classes(_write(tmp_path))
    _seed(matrix_server, n=25, dbs=(0,))
    before = _pttls(matrix_server)
    result = _stage(matrix_server, classes, True, conditional).run()
    assert {c.name: {"no_ttl": c.no_ttl, "over_max": c.over_max} for c in result.classes} == _truth(before)
    assert result.method == ("expire-nx-lt" if conditional else "lua")
    _check_changes(before, _pttls(matrix_server))


def test_race_a_key_changed_after_the_check_is_judged_by_the_server(redis_server, tmp_path, monkeypatch):
    """NX/LT decide on the server: a key that got a short TTL between PTTL and EXPIRE is left alone."""
    classes = key_classes(_write(tmp_path))
    c = redis_server.client()
    c.set("ocr:a", "v")  # no TTL at the PTTL check ...
    c.set("ocr:b", "v", ex=86400)  # above max at the PTTL check ...
    stage = _stage(redis_server, classes, True, True)
    real_inspect = remediate_mod.inspect

    def racing(*args, **kwargs):
        """The stage's PTTL round; right after it, before its EXPIRE round, others change the keys."""
        batch = real_inspect(*args, **kwargs)
        c.expire("ocr:a", 5)  # ... then someone sets a TTL within max
        c.persist("ocr:b")  # ... and someone makes this one persistent
        return batch

    monkeypatch.setattr(remediate_mod, "inspect", racing)
    result = stage.run()
    assert 0 < c.pttl("ocr:a") <= 5000  # not raised to 1 h
    assert 0 < c.pttl("ocr:b") <= 3_600_000  # persistent now: NX gave it the max
    ocr = next(x for x in result.classes if x.name == "ocr")
    assert (ocr.no_ttl, ocr.over_max) == (1, 0)  # what the server did, not what PTTL saw


def test_interrupted_run_resumes_from_its_checkpoint(matrix_server, tmp_path, capsys, monkeypatch):
    d = _write(tmp_path)
    _seed(matrix_server, n=150, dbs=(0, 1))
    before = _pttls(matrix_server)
    truth = _truth(before)
    checkpoint = tmp_path / "ck.json"

    class StopAfterOneBatch(remediate_mod.RateLimiter):
        def take(self, n: int) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(remediate_mod, "RateLimiter", StopAfterOneBatch)
    code, cut = _remediate(d, matrix_server.url, capsys, "--execute", "--checkpoint", str(checkpoint))
    assert code == 130 and cut["result"] == "interrupted" and cut["complete"] is False
    assert cut["checkpoint"] == str(checkpoint) and "--resume" in cut["detail"]
    saved = json.loads(checkpoint.read_text())
    assert saved["dbs"]["0"]["done"] is False and saved["dbs"]["0"]["cursor"] != 0
    assert saved["dbs"]["1"] == {"cursor": 0, "done": False}
    assert 0 < cut["scanned"] < len(before)
    partial = _by_class(cut)
    assert sum(v["no_ttl"] + v["over_max"] for v in partial.values()) < sum(
        v["no_ttl"] + v["over_max"] for v in truth.values()
    )

    monkeypatch.undo()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code, rest = _remediate(
        d, matrix_server.url, capsys, "--execute", "--resume", "--checkpoint", str(checkpoint)
    )
    assert code == 0 and rest["result"] == "done" and rest["resumed"] is True and rest["complete"] is True
    assert _by_class(rest) == truth  # the checkpoint's counts plus the rest: the exact total
    assert not checkpoint.exists()
    _check_changes(before, _pttls(matrix_server))


def test_resume_after_a_server_restart_scans_again_from_the_start(redis_server, tmp_path):
    classes = key_classes(_write(tmp_path))
    _seed(redis_server, n=60, dbs=(0,))
    truth = _truth(_pttls(redis_server))
    checkpoint = tmp_path / "ck.json"
    seen = []

    def stop(n: int) -> None:
        seen.append(n)
        raise KeyboardInterrupt

    stage = _stage(redis_server, classes, True, True, checkpoint=checkpoint, progress=stop, count=50)
    with pytest.raises(KeyboardInterrupt):
        stage.run()
    doc = json.loads(checkpoint.read_text())
    doc["run_id"] = "another-server"  # as if the server restarted: the cursor means nothing now
    checkpoint.write_text(json.dumps(doc))
    result = _stage(redis_server, classes, True, True, checkpoint=checkpoint, resume=True).run()
    assert result.resumed and result.restarted and result.complete
    assert {c.name: {"no_ttl": c.no_ttl, "over_max": c.over_max} for c in result.classes} == truth


def test_a_checkpoint_for_other_classes_is_refused(redis_server, tmp_path):
    classes = key_classes(_write(tmp_path))
    _seed(redis_server, n=60, dbs=(0,))
    checkpoint = tmp_path / "ck.json"

    def stop(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _stage(redis_server, classes, True, True, checkpoint=checkpoint, progress=stop, count=50).run()
    changed = key_classes(_write(tmp_path, POLICY.replace("max: 1h", "max: 2h")))
    with pytest.raises(RedispolicyError, match="another target or other key classes"):
        _stage(redis_server, changed, True, True, checkpoint=checkpoint, resume=True).run()


def test_resume_needs_execute(redis_server, tmp_path, capsys):
    d = _write(tmp_path)
    code = run(["remediate", "--policy-dir", str(d), "-e", "test", "--url", redis_server.url, "--resume"])
    assert code == 64


def test_no_remediate_class_is_nothing_to_do(redis_server, tmp_path, capsys):
    d = _write(tmp_path, "keys:\n  - name: locks\n    pattern: 'lock:*'\n    ttl: {max: 10m}\n")
    redis_server.client().set("lock:1", "v")
    code = run(["remediate", "--policy-dir", str(d), "-e", "test", "--url", redis_server.url, "--execute"])
    out = capsys.readouterr().out
    assert code == 0 and "nothing to remediate" in out
    assert redis_server.client().pttl("lock:1") == -1


def test_plan_shows_what_remediation_would_change(redis_server, tmp_path, capsys):
    d = _write(tmp_path)
    c = redis_server.client()
    c.set("ocr:1", "v")
    c.set("ocr:2", "v", ex=86400)
    c.set("lock:1", "v")  # a violation, but not in a remediate class
    assert run(["plan", "--policy-dir", str(d), "-e", "test", "--url", redis_server.url]) == 0
    out = capsys.readouterr().out
    assert "remediation: 2 keys would get a TTL (1 without one, 1 above max lowered to max)" in out


def test_remediable_never_includes_persistent_or_unremediated_classes(tmp_path):
    classes = {kc.name: remediable(kc) for kc in key_classes(_write(tmp_path))}
    assert classes == {"pinned": False, "ocr": True, "tmp": True, "locks": False, "state": False}


def test_text_output_on_execute(redis_server, tmp_path, capsys):
    d = _write(tmp_path)
    redis_server.client().set("ocr:1", "v")
    code = run(["remediate", "--policy-dir", str(d), "-e", "test", "--url", redis_server.url, "--execute"])
    out = capsys.readouterr().out
    assert code == 0
    assert "✓ Remediated 1 key: 1 got a TTL, 0 had it lowered to max" in out


def test_a_refused_key_read_stops_the_pass_and_changes_nothing_unseen(redis_server, tmp_path, capsys):
    """An ACL user limited to ocr:* cannot read tmp:* keys: the pass stops with the server's
    NOPERM (it used to take such keys for vanished ones and report the pass complete)."""
    d = _write(tmp_path)
    admin = redis_server.client()
    admin.set("tmp:1", "v")
    admin.execute_command("ACL", "SETUSER", "narrow", "on", ">pw", "~ocr:*", "~redispolicy:*", "+@all")
    url = f"redis://narrow:pw@127.0.0.1:{redis_server.port}/0"
    code = run(
        ["remediate", "--policy-dir", str(d), "-e", "test", "--url", url, "--execute", "--max-rate", "0"]
    )
    out = capsys.readouterr()
    assert code == 1
    assert "NOPERM" in out.out + out.err and "pw@" not in out.out + out.err
    assert admin.ttl("tmp:1") == -1


# -- issue 10: a zero TTL is a deletion; a catch-all class is a flush on a delay ---------------------
ZERO_TTL = """
keys:
  - name: ocr
    pattern: "ocr:*"
    ttl: {max: 0s}
    remediate: true
"""
CATCH_ALL = """
keys:
  - name: everything
    pattern: "[^]*"
    ttl: {max: 1h}
    remediate: true
"""


def _no_ttl_keys(server, n: int = 3) -> set[str]:
    c = server.client()
    keys = {f"ocr:{i}" for i in range(n)} | {"other"}
    for k in keys:
        c.set(k, "v")
    return keys


def _untouched(server, keys: set[str]) -> None:
    c = server.client()
    assert {k: c.pttl(k) for k in keys} == dict.fromkeys(keys, -1)  # all there, none given a TTL
    assert not c.info("commandstats").get("cmdstat_expire")


@pytest.mark.parametrize(
    ("body", "rule"),
    [(ZERO_TTL, "keys-ttl-zero"), (CATCH_ALL, "keys-catch-all")],
    ids=["zero-ttl", "catch-all"],
)
def test_the_cli_refuses_a_zero_ttl_and_a_catch_all_and_every_key_survives(
    matrix_server, tmp_path, capsys, body, rule
):
    """`ttl: {max: 0s}` validated, the dry run said "3 keys would get a TTL" and --execute sent
    EXPIRE key 0 NX, deleting every match. validate, remediate (dry run and --execute) and
    apply --remediate-keys now all refuse it before touching a key."""
    d = _write(tmp_path, body)
    keys = _no_ttl_keys(matrix_server)
    assert run(["validate", "--policy-dir", str(d)]) == 1
    assert rule in capsys.readouterr().out
    for extra in ((), ("--execute",)):
        code = run(["remediate", "--policy-dir", str(d), "-e", "test", "--url", matrix_server.url, *extra])
        out = capsys.readouterr()
        assert code == 1 and rule in out.out, out
    code = run(
        [
            "apply",
            "--policy-dir",
            str(d),
            "-e",
            "test",
            "--url",
            matrix_server.url,
            "--auto-approve",
            "--remediate-keys",
        ]
    )
    assert code == 1 and rule in capsys.readouterr().out
    _untouched(matrix_server, keys)


@pytest.mark.parametrize("conditional", [True, False], ids=["expire-nx-lt", "lua"])
def test_the_stage_refuses_the_whole_pass_for_a_policy_built_in_code(matrix_server, conditional):
    """No validation in between: the stage itself refuses, before the first SCAN, dry run included."""
    if conditional and not conditional_expire(matrix_server.product, matrix_server.version):
        pytest.skip("EXPIRE NX/LT needs Redis >= 7.0")
    keys = _no_ttl_keys(matrix_server)
    for pattern, ttl, match in [
        ("ocr:*", 0, "ttl.max 0 s"),
        ("ocr:*", -5, "ttl.max -5 s"),
        ("[^]*", 3600, "matches every key"),
        ("*[^]", 3600, "matches every key"),
        ("[^]**", 3600, "matches every key"),
    ]:
        classes = (
            KeyClass("ok", "ok:*", Location("p.yaml"), ttl_max=60, remediate=True),
            KeyClass("c", pattern, Location("p.yaml"), ttl_max=ttl, remediate=True),
        )
        for execute in (False, True):
            with pytest.raises(RedispolicyError, match=match) as err:
                _stage(matrix_server, classes, execute, conditional).run()
            assert "nothing was changed" in str(err.value)
    _untouched(matrix_server, keys)
    assert not matrix_server.client().info("commandstats").get("cmdstat_scan")


@pytest.mark.parametrize("conditional", [True, False], ids=["expire-nx-lt", "lua"])
def test_no_expire_with_a_ttl_of_zero_is_ever_built(redis_server, conditional):
    """The check where the EXPIRE is built holds even past run()'s own check (a future bug)."""
    keys = _no_ttl_keys(redis_server)
    classes = (KeyClass("ocr", "ocr:*", Location("p.yaml"), ttl_max=0, remediate=True),)
    stage = _stage(redis_server, classes, True, conditional)
    client = redis_server.client(decode_responses=False)
    script = None if conditional else client.register_script(remediate_mod.LUA_REMEDIATE)
    with pytest.raises(RedispolicyError, match="TTL <= 0 deletes the key"):
        stage._batch(client, script, sorted(k.encode() for k in keys))
    _untouched(redis_server, keys)
    with pytest.raises(RedispolicyError):
        remediate_mod.expire_seconds(classes[0])
    assert remediate_mod.expire_seconds(KeyClass("ok", "ok:*", Location("p.yaml"), ttl_max=60)) == 60


def test_the_lua_script_refuses_a_ttl_of_zero_before_any_expire(redis_server):
    """Redis 6 path: the script checks every max before its first EXPIRE."""
    keys = _no_ttl_keys(redis_server)
    client = redis_server.client(decode_responses=False)
    script = client.register_script(remediate_mod.LUA_REMEDIATE)
    with pytest.raises(redis.ResponseError, match="TTL <= 0"):
        script(keys=[b"ocr:0", b"ocr:1"], args=[3600, 0], client=client)
    _untouched(redis_server, keys)


def test_sub_second_and_negative_durations_stay_refused(tmp_path, capsys):
    for text in ("0.5s", "500ms", "-1s", "1.5h"):
        d = _write(tmp_path, ZERO_TTL.replace("0s", text))
        assert run(["validate", "--policy-dir", str(d)]) == 1
        assert "duration-invalid" in capsys.readouterr().out, text
