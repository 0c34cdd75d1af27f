"""A sensitive parameter is applied, and its value appears nowhere: not in stdout or stderr
(text or json), the plan file, the audit log, or the audit stream on the server.

Every apply writes exactly one JSON line to the audit log (and the same record to the
capped stream), naming the change to requirepass as sensitive, without its value.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .conftest import cli, write_policy

SECRET = "pw-S3cret-7f1c9e"
OTHER = "other-Secret-42ab"  # a second value: out of band, or a changed environment
STREAM = "redispolicy:audit"
RECORD_KEYS = {"time", "user", "host", "environment", "target", "plan_fingerprint", "changes", "result"}


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_PW", SECRET)
    write_policy(
        tmp_path,
        "config:\n  requirepass: ${TEST_PW}\n  maxmemory: 1gb\n"
        f"audit:\n  log: {tmp_path / 'audit' / 'apply.log'}\n"
        f"  stream:\n    key: {STREAM}\n    maxlen: 100\n",
    )
    return tmp_path


class Server:
    """Talks to the test server whatever its password is now (we know it: we set it)."""

    def __init__(self, server) -> None:
        self.server = server
        self.password: str | None = None

    def client(self) -> redis.Redis:
        return self.server.client(password=self.password) if self.password else self.server.client()

    def reset(self) -> None:
        c = self.client()
        c.config_set("requirepass", "")
        c.config_set("maxmemory", "0")
        self.password = None

    def applied(self) -> None:
        """requirepass is now SECRET: new connections without it are refused, with it they work."""
        with pytest.raises(redis.AuthenticationError):
            self.server.client(retry=Retry(NoBackoff(), 0)).ping()  # no retries: it fails on purpose
        self.password = SECRET
        c = self.client()
        assert c.config_get("requirepass")["requirepass"] == SECRET
        assert c.config_get("maxmemory")["maxmemory"] == "1073741824"


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text and OTHER not in text


def test_schema_accepts_the_audit_section(work, capsys):
    code, out, err = cli(capsys, "validate", str(work / "policies"))
    assert code == 0, out + err


def test_secret_is_applied_and_appears_nowhere(matrix_server, work, capsys):
    srv = Server(matrix_server)
    policies = str(work / "policies")
    url = matrix_server.url
    outputs: list[str] = []
    applies = 0
    for fmt in ("text", "json"):
        srv.reset()
        plan = work / f"test-{fmt}.plan"
        code, out, err = cli(
            capsys,
            "plan",
            "--policy-dir",
            policies,
            "-e",
            "test",
            "--url",
            url,
            "--out",
            str(plan),
            "-o",
            fmt,
        )
        assert code == 0, out + err
        outputs += [out, err, plan.read_text()]
        code, out, err = cli(capsys, "apply", str(plan), "--url", url, "-o", fmt, "-v")
        applies += 1
        assert code == 0, out + err
        outputs += [out, err]
        if fmt == "json":
            report = json.loads(out)
            by_name = {c["parameter"]: c for c in report["applied"]}
            assert by_name["requirepass"] == {
                "parameter": "requirepass",
                "before": "(sensitive)",
                "after": "(sensitive)",
                "sensitive": True,
            }
            assert report["now_live"]["requirepass"] == "(sensitive)"
        else:
            assert "requirepass" in out and "(sensitive value changed)" in out
        srv.applied()

        srv.reset()
        code, out, err = cli(
            capsys,
            "apply",
            "--policy-dir",
            policies,
            "-e",
            "test",
            "--url",
            url,
            "--auto-approve",
            "-o",
            fmt,
            "-v",
        )
        applies += 1
        assert code == 0, out + err
        outputs += [out, err]
        srv.applied()

    _no_secret(*outputs)

    log = work / "audit" / "apply.log"
    text = log.read_text()
    _no_secret(text)
    lines = text.splitlines()
    assert len(lines) == applies  # exactly one line per apply
    records = [json.loads(line) for line in lines]
    for rec in records:
        assert set(rec) >= RECORD_KEYS, rec
        assert rec["environment"] == "test" and rec["result"] == "applied"
        assert rec["target"] == matrix_server.address
        assert rec["plan_fingerprint"].startswith("sha256:")
        changes = {c["parameter"]: c for c in rec["changes"]}
        assert changes["requirepass"]["sensitive"] is True
        assert changes["requirepass"]["before"] == changes["requirepass"]["after"] == "(sensitive)"
        assert changes["maxmemory"] == {
            "parameter": "maxmemory",
            "before": "0",
            "after": "1073741824",
            "sensitive": False,
        }

    # The stream holds the same records, capped, and no secret either.
    entries = srv.client().xrange(STREAM)
    assert [json.loads(fields["entry"]) for _, fields in entries] == records
    _no_secret(json.dumps(entries))
    srv.reset()


def test_refusals_about_a_secret_do_not_show_it(matrix_server, work, capsys, monkeypatch):
    """Stale because the environment's value changed, or because the server's did: named, never shown."""
    srv = Server(matrix_server)
    policies = str(work / "policies")
    url = matrix_server.url
    outputs: list[str] = []
    srv.reset()
    plan = work / "test.plan"
    assert (
        cli(capsys, "plan", "--policy-dir", policies, "-e", "test", "--url", url, "--out", str(plan))[0] == 0
    )

    # 1. The environment now holds another value than the one reviewed.
    monkeypatch.setenv("TEST_PW", OTHER)
    for fmt in ("text", "json"):
        code, out, err = cli(capsys, "apply", str(plan), "--url", url, "-o", fmt)
        assert code == 1, out + err
        assert "requirepass: the plan's (sensitive) value is not the policy's" in out
        outputs += [out, err]
    assert srv.client().config_get("requirepass")["requirepass"] == ""
    monkeypatch.setenv("TEST_PW", SECRET)

    # 2. Someone set requirepass out of band: the plan's "before" no longer holds.
    srv.client().config_set("requirepass", OTHER)
    srv.password = OTHER
    authed = url.replace("redis://", f"redis://:{OTHER}@")
    for fmt in ("text", "json"):
        code, out, err = cli(capsys, "apply", str(plan), "--url", authed, "-o", fmt, "-v")
        assert code == 1, out + err
        assert "requirepass: its (sensitive) value changed since the plan" in out
        outputs += [out, err]
    assert srv.client().config_get("requirepass")["requirepass"] == OTHER
    assert srv.client().config_get("maxmemory")["maxmemory"] == "0"

    _no_secret(*outputs)
    log = (work / "audit" / "apply.log").read_text()
    _no_secret(log)
    assert [json.loads(line)["result"] for line in log.splitlines()] == ["refused"] * 2 + ["stale"] * 2
    _no_secret(json.dumps(srv.client().xrange(STREAM)))
    srv.reset()
