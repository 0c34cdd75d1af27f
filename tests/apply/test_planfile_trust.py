"""A plan file is untrusted input: signed, schema-checked, re-derived from the policy, bound to its server.

Each test starts from a genuine plan (`plan --out`) and does what an attacker or a careless
colleague would do to it; apply must refuse cleanly (exit 1, a message naming the reason,
an audit record) and the server must not change. "Re-signed" cases sign the edited file
with the right key, as someone holding the key (or a buggy tool) would: the signature then
passes and re-derivation from the policy files is what must stop them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redispolicy.main import run
from redispolicy.plan.planfile import sign

from .conftest import BASE, FINGERPRINT_KEY, write_policy

POLICY = BASE + "config:\n  maxmemory: 64mb\n  timeout: 300\n"
SECRET = "Trust-Me-Not-4417"


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the commands run with the default --policy-dir (./policies)
    write_policy(tmp_path, POLICY, header=False)
    return tmp_path


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run([*args, "--color", "never"] if args[0] in ("apply", "plan", "drift") else list(args))
    c = capsys.readouterr()
    return code, c.out, c.err


def _plan(server, capsys) -> Path:
    code, out, err = _cli(
        capsys, "plan", "-e", "test", "--url", server.url, "--out", "test.plan", "--no-keys"
    )
    assert code == 0, out + err
    return Path("test.plan")


def _apply(plan: Path, server, capsys, *extra: str) -> tuple[int, str, str]:
    return _cli(capsys, "apply", str(plan), "--url", server.url, *extra)


def _audit(work: Path) -> list[dict]:
    log = work / "state" / "redispolicy" / "audit.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _config(server) -> dict[str, str]:
    with server.client() as c:
        return c.config_get("*")


def _edit(plan: Path, change, resign: bool) -> None:
    doc = json.loads(plan.read_text())
    change(doc)
    if resign:
        doc = sign(doc, FINGERPRINT_KEY.encode())
    plan.write_text(json.dumps(doc))


def _assert_refused(code: int, out: str, err: str, server, before: dict[str, str]) -> None:
    text = out + err
    assert code == 1, text
    assert "internal error" not in text and "Traceback" not in text, text
    assert _config(server) == before


# -- 1. extra entries: dir + dbfilename, a forged requirepass ---------------------------------------------
@pytest.mark.parametrize("resign", [False, True], ids=["edited", "re-signed"])
def test_dir_and_dbfilename_added_to_a_genuine_plan_are_refused(redis_server_factory, work, capsys, resign):
    server = redis_server_factory.start(extra_args=("--enable-protected-configs", "yes"))
    try:
        plan = _plan(server, capsys)
        before = _config(server)

        def add(doc):
            for name, value in (("dir", str(work)), ("dbfilename", "planted.rdb")):
                doc["changes"].append(
                    {
                        "parameter": name,
                        "action": "set",
                        "source": "policies/test.yaml:4",
                        "sensitive": False,
                        "dangerous": False,
                        "before": before[name],
                        "after": value,
                        "send": value,
                    }
                )
                doc["live"][name] = before[name]

        _edit(plan, add, resign)
        code, out, err = _apply(plan, server, capsys)
        _assert_refused(code, out, err, server, before)
        if resign:
            assert (
                "dir: the policy does not manage it" in out
                and "dbfilename: the policy does not manage it" in out
            )
        else:
            assert "the signature does not match" in err
        assert _audit(work)[-1]["result"] == "refused"
    finally:
        server.stop()


@pytest.mark.parametrize("resign", [False, True], ids=["edited", "re-signed"])
def test_forged_requirepass_entry_never_locks_out_or_prints_the_password(matrix_server, work, capsys, resign):
    plan = _plan(matrix_server, capsys)
    before = _config(matrix_server)

    def forge(doc):
        doc["changes"].append(
            {
                "parameter": "requirepass",
                "action": "set",
                "source": "policies/test.yaml:4",
                "sensitive": False,
                "dangerous": False,
                "before": None,
                "after": SECRET,
                "send": SECRET,
            }
        )
        doc["policy"]["files"] = []

    _edit(plan, forge, resign)
    code, out, err = _apply(plan, matrix_server, capsys)
    _assert_refused(code, out, err, matrix_server, before)
    assert "nothing was changed" in err
    assert SECRET not in out + err
    assert SECRET not in (work / "state" / "redispolicy" / "audit.log").read_text()
    assert matrix_server.client().ping()  # nobody was locked out


def test_requirepass_marked_not_sensitive_in_a_resigned_plan_is_refused(matrix_server, work, capsys):
    write_policy(work, POLICY + "  requirepass: ${TEST_PW}\n", header=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEST_PW", SECRET)
        plan = _plan(matrix_server, capsys)
        before = _config(matrix_server)

        def unmask(doc):
            for c in doc["changes"]:
                if c["parameter"] == "requirepass":
                    c.clear()
                    c.update(
                        parameter="requirepass",
                        action="set",
                        source="policies/test.yaml:6",
                        sensitive=False,
                        dangerous=False,
                        before="",
                        after=SECRET,
                        send=SECRET,
                    )

        _edit(plan, unmask, True)
        code, out, err = _apply(plan, matrix_server, capsys)
    _assert_refused(code, out, err, matrix_server, before)
    assert "requirepass: the plan says sensitive=false, the catalog says true" in out
    assert SECRET not in out + err


# -- 2. malformed files -------------------------------------------------------------------------------
def _unknown_action(doc):
    doc["changes"][0]["action"] = "flushall"


def _no_signature(doc):
    del doc["signature"]


def _wrong_type(doc):
    doc["changes"] = {"maxmemory": "1"}


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        (_unknown_action, "$.changes[0]"),
        (_no_signature, "'signature' is a required property"),
        (_wrong_type, "$.changes"),
    ],
)
def test_malformed_plan_files_are_clean_errors(redis_server, work, capsys, mutate, says):
    plan = _plan(redis_server, capsys)
    before = _config(redis_server)
    _edit(plan, mutate, False)
    code, out, err = _apply(plan, redis_server, capsys)
    _assert_refused(code, out, err, redis_server, before)
    assert says in err, err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"format": "redispolicy-plan", "format": "x"}', "appears twice"),
        (b'{"format": "redispolicy-plan", "format_version": NaN}', "NaN is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\xff\xfe", "not UTF-8"),
        (b" " * (4 * 1024 * 1024 + 1), "too large to be a plan file"),
        (b'{"format": "redispolicy-plan", "format_version": 1}', "older redispolicy"),
    ],
)
def test_hostile_bytes_are_clean_errors(redis_server, work, capsys, content, says):
    plan = work / "hostile.plan"
    plan.write_bytes(content)
    before = _config(redis_server)
    code, out, err = _apply(plan, redis_server, capsys)
    _assert_refused(code, out, err, redis_server, before)
    assert says in err, err


def test_a_plan_signed_with_another_key_names_both_key_ids(redis_server, work, capsys, monkeypatch):
    plan = _plan(redis_server, capsys)
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "someone-elses-key")
    code, out, err = _apply(plan, redis_server, capsys)
    assert code == 1 and "signed with another key" in err and "REDISPOLICY_FINGERPRINT_KEY" in err


# -- 3. re-derivation: the policy files the plan names ----------------------------------------------------
def test_changed_value_in_a_resigned_plan_is_refused(redis_server, work, capsys):
    plan = _plan(redis_server, capsys)
    before = _config(redis_server)

    def bump(doc):
        for c in doc["changes"]:
            if c["parameter"] == "maxmemory":
                c["after"] = c["send"] = "1"

    _edit(plan, bump, True)
    code, out, err = _apply(plan, redis_server, capsys)
    _assert_refused(code, out, err, redis_server, before)
    assert "maxmemory: the plan sends 1, the policy asks for 67108864" in out


def test_plan_naming_a_subset_of_the_policy_files_is_refused(redis_server, work, capsys):
    (work / "policies" / "base.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nconfig:\n  hz: 20\n"
    )
    (work / "policies" / "test.yaml").write_text(
        POLICY.replace("environment: test\n", "environment: test\nextends: [base.yaml]\n")
    )
    plan = _plan(redis_server, capsys)
    before = _config(redis_server)
    _edit(plan, lambda doc: doc["policy"].update(files=doc["policy"]["files"][1:]), True)
    code, out, err = _apply(plan, redis_server, capsys)
    _assert_refused(code, out, err, redis_server, before)
    assert "is made of" in err


def test_plan_naming_a_file_outside_the_policy_dir_is_refused(redis_server, work, capsys):
    plan = _plan(redis_server, capsys)
    before = _config(redis_server)
    outside = work / "elsewhere.yaml"
    outside.write_text(POLICY)

    def point_outside(doc):
        doc["policy"]["files"] = [
            {"path": "policies/../elsewhere.yaml", "sha256": doc["policy"]["files"][0]["sha256"]}
        ]

    _edit(plan, point_outside, True)
    code, out, err = _apply(plan, redis_server, capsys)
    _assert_refused(code, out, err, redis_server, before)
    assert "outside the policy directory" in err


# -- 4. dangerous parameters need the policy's opt-in ----------------------------------------------------
def test_dangerous_parameter_is_applied_only_with_opt_in_and_shown_as_such(
    redis_server_factory, work, capsys
):
    server = redis_server_factory.start(extra_args=("--enable-protected-configs", "yes"))
    try:
        target = work / "rdb"
        target.mkdir()
        body = POLICY + f"  dir: {target}\n"
        (work / "policies" / "test.yaml").write_text(body)
        code, out, err = _cli(capsys, "plan", "-e", "test", "--url", server.url, "--no-keys")
        assert code == 1 and "[config-dangerous]" in out + err and "allow_dangerous: [dir]" in out + err
        (work / "policies" / "test.yaml").write_text(body + "allow_dangerous: [dir]\n")
        code, out, err = _cli(
            capsys, "plan", "-e", "test", "--url", server.url, "--no-keys", "--out", "d.plan"
        )
        assert code == 0 and "⚠ dangerous" in out, out + err
        doc = json.loads(Path("d.plan").read_text())
        assert [c["dangerous"] for c in doc["changes"] if c["parameter"] == "dir"] == [True]
        code, out, err = _apply(Path("d.plan"), server, capsys)
        assert code == 0, out + err
        assert _config(server)["dir"] == str(target)
    finally:
        server.stop()


# -- 5. the audit trail -----------------------------------------------------------------------------------
def test_unwritable_audit_log_refuses_before_changing_anything(redis_server, work, capsys):
    plan = _plan(redis_server, capsys)
    before = _config(redis_server)
    (work / "a-file").write_text("")
    code, out, err = _apply(plan, redis_server, capsys, "--audit-log", str(work / "a-file" / "audit.log"))
    _assert_refused(code, out, err, redis_server, before)
    assert "cannot write the audit log" in err and "nothing was changed" in err


def test_audit_log_failing_after_the_change_exits_3_and_reports_the_change(redis_server, work, capsys):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (a file whose writes fail with ENOSPC)")
    plan = _plan(redis_server, capsys)
    code, out, err = _apply(plan, redis_server, capsys, "--audit-log", "/dev/full", "-o", "json")
    assert code == 3, out + err
    report = json.loads(out)
    assert report["result"] == "applied" and report["exit_code"] == 3
    assert "cannot write the audit log /dev/full" in report["audit_error"]
    assert _config(redis_server)["maxmemory"] == "67108864"


# -- 6. a replica ----------------------------------------------------------------------------------------
def test_apply_against_a_replica_is_a_clean_refusal_with_an_audit_record(redis_server_factory, work, capsys):
    primary = redis_server_factory.start()
    replica = redis_server_factory.start(extra_args=("--replicaof", "127.0.0.1", str(primary.port)))
    try:
        before = _config(replica)
        # A plan of the replica alone (--no-discover): apply changes only the node planned, and a
        # replica's lock and audit stream cannot be written. (With discovery the plan covers the
        # whole deployment and apply rolls it out: tests/apply/test_deployment.py.)
        code, out, err = _cli(
            capsys,
            "plan",
            "-e",
            "test",
            "--url",
            replica.url,
            "--no-discover",
            "--out",
            "r.plan",
            "--no-keys",
        )
        assert code == 0, out + err
        code, out, err = _cli(capsys, "apply", "r.plan", "--url", replica.url)
        _assert_refused(code, out, err, replica, before)
        assert "is a replica" in err and "ReadOnlyError" not in err
        record = _audit(work)[-1]
        assert record["result"] == "refused" and "replica" in record["detail"]
    finally:
        replica.stop()
        primary.stop()


# -- 7. drift --since-plan reads through the same loader ------------------------------------------------
def test_drift_since_plan_refuses_a_tampered_plan(redis_server, work, capsys):
    plan = _plan(redis_server, capsys)
    _edit(plan, lambda doc: doc["target"].update(run_id="0" * 40), False)
    code, out, err = _cli(
        capsys, "drift", "-e", "test", "--url", redis_server.url, "--since-plan", str(plan), "--no-keys"
    )
    assert code == 1 and "the signature does not match" in err, out + err
    assert "Traceback" not in err and "internal error" not in err
