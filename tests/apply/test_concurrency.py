"""Two applies on one target: one applies, the other waits or fails naming the holder.

The lock is the key redispolicy:apply-lock on the server itself. Two real processes race
for it; a lock we hold ourselves makes the refusal, the wait and --no-lock deterministic.
Whatever happens, the server ends in the plan's state and no apply undoes another.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from proxy import Cut, FaultProxy

from redispolicy.apply.lock import LOCK_KEY, ApplyLock
from redispolicy.errors import RedispolicyError
from redispolicy.main import run

from .conftest import audit_entries, make_plan, write_policy

CLI = str(Path(sys.executable).with_name("redispolicy"))
POLICY = """\
config:
  maxmemory: 1gb
  maxmemory-policy: allkeys-lru
  hz: 20
  timeout: 300
  notify-keyspace-events: Ex
"""
PLANNED = {
    "maxmemory": "1073741824",
    "maxmemory-policy": "allkeys-lru",
    "hz": "20",
    "timeout": "300",
    "notify-keyspace-events": "xE",
}
START = {
    "maxmemory": "0",
    "maxmemory-policy": "noeviction",
    "hz": "10",
    "timeout": "0",
    "notify-keyspace-events": "",
}
HOLDER_MSG = "another apply holds the lock on this server: "
STALE_MSG = "The plan is stale: nothing was changed."


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NO_COLOR", "1")  # the subprocesses' output is matched as plain text
    write_policy(tmp_path, POLICY)
    return tmp_path


def _state(client: redis.Redis) -> dict[str, str]:
    return {n: client.config_get(n)[n] for n in PLANNED}


def _reset(client: redis.Redis) -> None:
    for n, v in START.items():
        client.config_set(n, v)
    client.delete(LOCK_KEY)
    assert _state(client) == START


def _plan(work: Path, url: str, capsys: pytest.CaptureFixture[str]) -> Path:
    out = make_plan(work / "policies", url, capsys)
    assert {c["parameter"]: c["after"] for c in json.loads(out.read_text())["changes"]} == PLANNED
    return out


def _spawn(plan: Path, url: str, work: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "apply", str(plan), "--url", url, "--audit-log", str(work / "audit.log"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
        cwd=os.getcwd(),
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _pause_clients(client: redis.Redis, seconds: float) -> None:
    """CLIENT PAUSE: the server holds every client's commands for a while, so two applies that
    connect meanwhile are served together when it ends: they really start at once."""
    client.execute_command("CLIENT", "PAUSE", int(seconds * 1000))


def _me_pattern() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()}) since "


@pytest.mark.slow
def test_two_applies_started_together_one_applies(matrix_server, work, capsys):
    client = matrix_server.client()
    outcomes = []
    for _round in range(3):
        _reset(client)
        plan = _plan(work, matrix_server.url, capsys)
        _pause_clients(client, 1.5)
        procs = [_spawn(plan, matrix_server.url, work, "--lock-timeout", "0") for _ in range(2)]
        results = [_finish(p) for p in procs]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 1], results
        ((_, won_out, won_err),) = [r for r in results if r[0] == 0]
        ((_, lost_out, lost_err),) = [r for r in results if r[0] == 1]
        assert "Applied 5 change(s), verified by reading them back" in won_out, won_out + won_err
        assert "Traceback" not in won_err + lost_err and "internal error" not in won_err + lost_err
        if HOLDER_MSG in lost_err:
            # The loser named the winner: a process on this host, not us.
            assert f"{getpass.getuser()}@{socket.gethostname()} (pid " in lost_err
            assert f"(pid {os.getpid()})" not in lost_err
            outcomes.append("lock")
        else:
            # It ran after the winner: the values it would change had moved, so it changed nothing.
            assert STALE_MSG in lost_out, lost_out + lost_err
            for name in PLANNED:
                assert f"{name}: planned from " in lost_out
            outcomes.append("stale")
        assert _state(client) == PLANNED
        assert client.exists(LOCK_KEY) == 0
    lines = [json.loads(x) for x in (work / "audit.log").read_text().splitlines()]
    assert sorted(e["result"] for e in lines).count("applied") == 3
    print("outcomes of the losing apply:", outcomes)


def test_two_applies_without_blocking_the_server(matrix_server, work, capsys):
    """The same race without the busy server: whoever loses, the server ends in the plan's state."""
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    procs = [_spawn(plan, matrix_server.url, work, "--lock-timeout", "0") for _ in range(2)]
    results = [_finish(p) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    ((_, lost_out, lost_err),) = [r for r in results if r[0] == 1]
    assert HOLDER_MSG in lost_err or STALE_MSG in lost_out, lost_out + lost_err
    assert _state(client) == PLANNED


def test_held_lock_refuses_naming_the_holder_then_applies_after_release(matrix_server, work, capsys):
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    lock = ApplyLock(client)
    lock.acquire(0)
    try:
        start = time.monotonic()
        code = run(["apply", str(plan), "--url", matrix_server.url, "--lock-timeout", "0.5"])
        waited = time.monotonic() - start
        captured = capsys.readouterr()
        assert code == 1
        first = captured.err.splitlines()[0]
        assert first.startswith("redispolicy: error: " + HOLDER_MSG + _me_pattern()), captured.err
        assert "--lock-timeout" in captured.err and LOCK_KEY in captured.err  # how to proceed
        assert waited >= 0.5
        assert _state(client) == START
        assert client.get(LOCK_KEY) == lock.value  # the refused apply did not touch our lock
    finally:
        lock.release()
    assert client.exists(LOCK_KEY) == 0
    code = run(["apply", str(plan), "--url", matrix_server.url, "--lock-timeout", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert _state(client) == PLANNED
    assert client.exists(LOCK_KEY) == 0
    # the audit trail has both attempts: the refusal (nothing changed, why) and the apply
    trail = audit_entries(work)
    assert [e["result"] for e in trail] == ["refused", "applied"]
    assert trail[0]["changes"] == [] and trail[0]["detail"].startswith("another apply holds the lock")
    assert trail[0]["target"] == trail[1]["target"] == matrix_server.address
    assert trail[0]["plan_fingerprint"] == trail[1]["plan_fingerprint"]


def test_apply_waits_for_the_holder_within_lock_timeout(matrix_server, work, capsys):
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    lock = ApplyLock(client)
    lock.acquire(0)
    try:
        start = time.monotonic()
        proc = _spawn(plan, matrix_server.url, work, "--lock-timeout", "20")
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()  # still waiting for us
        assert _state(client) == START
    finally:
        lock.release()
    code, out, err = _finish(proc)
    assert code == 0, out + err
    assert time.monotonic() - start >= 1.5
    assert _state(client) == PLANNED
    assert client.exists(LOCK_KEY) == 0


def test_no_lock_applies_while_the_lock_is_held_and_leaves_it(matrix_server, work, capsys):
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    lock = ApplyLock(client)
    lock.acquire(0)
    try:
        code = run(["apply", str(plan), "--url", matrix_server.url, "--no-lock", "--lock-timeout", "0"])
        captured = capsys.readouterr()
        assert code == 0, captured.out + captured.err
        assert _state(client) == PLANNED
        assert client.get(LOCK_KEY) == lock.value
    finally:
        lock.release()


def test_lock_of_a_crashed_holder_expires(matrix_server, work, capsys):
    """A holder that died leaves its key with a TTL; a later apply gets the lock once it expires."""
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    gone = {
        "token": "dead",
        "user": "someone",
        "host": "elsewhere",
        "pid": 99999,
        "since": "2020-01-01T00:00:00Z",
    }
    client.set(LOCK_KEY, json.dumps(gone), px=700)
    code = run(["apply", str(plan), "--url", matrix_server.url, "--lock-timeout", "0"])
    captured = capsys.readouterr()
    assert code == 1
    assert HOLDER_MSG + "someone@elsewhere (pid 99999) since 2020-01-01T00:00:00Z" in captured.err
    code = run(["apply", str(plan), "--url", matrix_server.url, "--lock-timeout", "5"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert _state(client) == PLANNED


def test_unreadable_lock_value_is_shown_not_crashed_on(matrix_server, work, capsys):
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    client.set(LOCK_KEY, "not json", px=5000)
    code = run(["apply", str(plan), "--url", matrix_server.url, "--lock-timeout", "0"])
    captured = capsys.readouterr()
    assert code == 1
    assert HOLDER_MSG + "an unknown holder" in captured.err and "internal error" not in captured.err
    assert _state(client) == START
    client.delete(LOCK_KEY)


class _RacingClient:
    """SET NX loses, but the holder is gone by the time we GET it: the race seen between two applies."""

    def __init__(self) -> None:
        self.sets = 0
        self.store: dict[str, str] = {}

    def set(self, key: str, value: str, nx: bool, px: int) -> bool:
        self.sets += 1
        if self.sets == 1:
            return False  # somebody held it ...
        self.store[key] = value
        return True

    def get(self, key: str) -> str | None:
        return None  # ... and released it just now

    def eval(self, *args: object) -> int:
        self.store.clear()
        return 1

    def pipeline(self, transaction: bool) -> _RacingClient:
        return self

    def type(self, key: str) -> None:
        pass

    def pttl(self, key: str) -> None:
        pass

    def execute(self) -> list[object]:
        return ["none", -2]


def test_lock_released_between_set_and_get_is_taken_not_reported_as_held():
    client = _RacingClient()
    lock = ApplyLock(client)  # type: ignore[arg-type]
    lock.acquire(0)
    try:
        assert client.sets == 2 and client.store[LOCK_KEY] == lock.value
    finally:
        lock.release()


# -- issue 10: the lock is server-wide, fences the change, and odd lock keys are clean errors --------
SHORT_TTL_APPLY = """\
import sys
from redispolicy.apply import lock
from redispolicy.main import run
init = lock.ApplyLock.__init__
def short(self, *args, **kwargs):
    kwargs["ttl_ms"] = int(sys.argv[1])
    init(self, *args, **kwargs)
lock.ApplyLock.__init__ = short
sys.exit(run(sys.argv[2:]))
"""
NEWER = POLICY.replace("maxmemory: 1gb", "maxmemory: 2gb").replace("hz: 20", "hz: 30")
NEWER_PLANNED = {**PLANNED, "maxmemory": "2147483648", "hz": "30"}
LOST = "the apply lock was lost before the change was sent; nothing was changed"


def _clear_hint(server) -> str:
    return f"redis-cli -h {server.host} -p {server.port} -n 0 DEL {LOCK_KEY}"


def test_stalled_apply_does_not_overwrite_a_newer_one(matrix_server, work, capsys):
    """A's CONFIG SET (and its lock's keep-alive) stall in the network past A's lock TTL; B takes
    the lock and applies; when the network moves again, A's change must not land: the server
    keeps B's values, and A reports a refusal (exit 1), not success."""
    client = matrix_server.client()
    _reset(client)
    newer = work / "newer"
    newer.mkdir()
    with FaultProxy(matrix_server.port) as proxy:
        plan_a = _plan(work, proxy.url, capsys)
        plan_b = make_plan(write_policy(newer, NEWER), matrix_server.url, capsys)
        proxy.arm(Cut(("CONFIG", "SET"), 1, "hold"))
        a = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SHORT_TTL_APPLY,
                "1000",
                "apply",
                str(plan_a),
                "--url",
                proxy.url,
                "--policy-dir",
                str(work / "policies"),
                "--audit-log",
                str(work / "audit.log"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proxy.held.wait(30), proxy.names()
            code_b = run(
                [
                    "apply",
                    str(plan_b),
                    "--url",
                    matrix_server.url,
                    "--policy-dir",
                    str(newer / "policies"),
                    "--lock-timeout",
                    "10",
                    "--audit-log",
                    str(work / "audit.log"),
                ]
            )
            b = capsys.readouterr()
            assert code_b == 0, b.out + b.err
            assert _state(client) == NEWER_PLANNED
        finally:
            proxy.release()
        code_a, out_a, err_a = _finish(a)
    assert _state(client) == NEWER_PLANNED, out_a + err_a  # B's change stands
    assert code_a == 1, out_a + err_a
    assert LOST in out_a + err_a
    assert "Traceback" not in err_a and "internal error" not in err_a
    trail = [json.loads(line) for line in (work / "audit.log").read_text().splitlines()]
    assert sorted(e["result"] for e in trail) == ["applied", "refused"], trail
    assert client.exists(LOCK_KEY) == 0


def _url_db(server, db: int) -> str:
    return f"redis://{server.host}:{server.port}/{db}"


def test_applies_with_different_url_dbs_exclude_each_other(matrix_server, work, capsys):
    """CONFIG is server-wide: the lock an apply through /3 holds keeps an apply through /0 out (and
    the other way round); the lock key is in db 0 whatever the URL says."""
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    for holder_db, apply_db in ((3, 0), (0, 3)):
        lock = ApplyLock(matrix_server.client(db=holder_db))  # what an apply through that URL holds
        lock.acquire(0)
        try:
            assert client.get(LOCK_KEY) == lock.value  # db 0
            with matrix_server.client(db=3) as db3:
                assert db3.exists(LOCK_KEY) == 0
            code = run(["apply", str(plan), "--url", _url_db(matrix_server, apply_db), "--lock-timeout", "0"])
            captured = capsys.readouterr()
            assert code == 1, captured.out + captured.err
            assert HOLDER_MSG + _me_pattern() in captured.err, captured.err
            assert _state(client) == START
        finally:
            lock.release()
    assert client.exists(LOCK_KEY) == 0
    code = run(["apply", str(plan), "--url", _url_db(matrix_server, 3), "--lock-timeout", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert _state(client) == PLANNED


def test_two_applies_through_different_dbs_started_together(matrix_server, work, capsys):
    """Two real processes, /0 and /5, released at once: one applies, the other is kept out by the
    lock or finds the plan stale; never both."""
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    _pause_clients(client, 1.0)
    procs = [_spawn(plan, _url_db(matrix_server, db), work, "--lock-timeout", "0") for db in (0, 5)]
    results = [_finish(p) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    ((_, lost_out, lost_err),) = [r for r in results if r[0] == 1]
    assert HOLDER_MSG in lost_err or STALE_MSG in lost_out, lost_out + lost_err
    assert _state(client) == PLANNED


def test_lock_on_a_db_other_than_0_is_taken_in_db_0(redis_server):
    with redis_server.client(db=5) as db5, redis_server.client() as db0:
        db0.delete(LOCK_KEY)
        lock = ApplyLock(db5)
        lock.acquire(0)
        try:
            assert db0.get(LOCK_KEY) == lock.value and db5.exists(LOCK_KEY) == 0
            with pytest.raises(RedispolicyError, match="another apply holds the lock"):
                ApplyLock(redis_server.client(db=2)).acquire(0)
        finally:
            lock.release()
        assert db0.exists(LOCK_KEY) == 0


@pytest.mark.parametrize("kind", ["hash", "list"])
def test_lock_key_of_another_type_is_a_clean_error(matrix_server, work, capsys, kind):
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    if kind == "hash":
        client.hset(LOCK_KEY, "owner", "another-tool")
    else:
        client.rpush(LOCK_KEY, "x")
    try:
        start = time.monotonic()
        code = run(["apply", str(plan), "--url", matrix_server.url, "--lock-timeout", "5"])
        captured = capsys.readouterr()
        assert code == 1, captured.out + captured.err
        assert time.monotonic() - start < 4  # no point waiting: it is not a lock that expires
        assert "internal error" not in captured.err and "WRONGTYPE" not in captured.err, captured.err
        assert (
            f"redispolicy: error: the apply lock key '{LOCK_KEY}' (db 0) is a {kind}, not a redispolicy lock"
            in captured.err
        ), captured.err
        assert _clear_hint(matrix_server) in captured.err and "nobody is applying" in captured.err
        assert _state(client) == START
        assert client.type(LOCK_KEY) == kind  # not touched
    finally:
        client.delete(LOCK_KEY)


def test_lock_key_without_ttl_and_not_ours_is_refused_at_once(matrix_server, work, capsys):
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    client.set(LOCK_KEY, "set-by-hand")
    try:
        start = time.monotonic()
        code = run(["apply", str(plan), "--url", matrix_server.url, "--lock-timeout", "5"])
        captured = capsys.readouterr()
        assert code == 1
        assert time.monotonic() - start < 4
        assert "holds 'set-by-hand' and never expires: it was set by hand or by another tool" in captured.err
        assert _clear_hint(matrix_server) in captured.err, captured.err
        assert _state(client) == START and client.get(LOCK_KEY) == "set-by-hand"
    finally:
        client.delete(LOCK_KEY)


def test_lock_key_without_ttl_naming_a_holder_is_waited_for_then_explained(matrix_server, work, capsys):
    """A holder's JSON without TTL may still be a running apply (someone PERSISTed its key): that
    apply deletes it when done, so it is waited for; at the deadline the error says it never expires."""
    client = matrix_server.client()
    _reset(client)
    plan = _plan(work, matrix_server.url, capsys)
    stuck = {
        "token": "t",
        "user": "someone",
        "host": "elsewhere",
        "pid": 4242,
        "since": "2020-01-01T00:00:00Z",
    }
    client.set(LOCK_KEY, json.dumps(stuck))
    try:
        start = time.monotonic()
        code = run(["apply", str(plan), "--url", matrix_server.url, "--lock-timeout", "0.5"])
        captured = capsys.readouterr()
        assert code == 1
        assert time.monotonic() - start >= 0.5
        assert (
            "names someone@elsewhere (pid 4242) since 2020-01-01T00:00:00Z but never expires (no TTL)"
            in captured.err
        ), captured.err
        assert _clear_hint(matrix_server) in captured.err
        assert _state(client) == START
    finally:
        client.delete(LOCK_KEY)


def test_lock_key_without_ttl_that_its_holder_deletes_lets_the_apply_in(redis_server):
    with redis_server.client() as client:
        client.set(LOCK_KEY, json.dumps({"token": "t", "user": "u", "host": "h", "pid": 1, "since": "s"}))
        timer = threading.Timer(0.4, client.delete, args=(LOCK_KEY,))
        timer.start()
        lock = ApplyLock(client)
        lock.acquire(5)
        lock.release()
        timer.join()
