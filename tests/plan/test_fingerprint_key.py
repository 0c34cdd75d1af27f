"""The per-user fingerprint key file (issue 10, defect 8): created atomically, never used half-written.

Concurrent first runs (threads held at the moment they generate their key, and real
processes) all end up with the one key on disk; an empty or cut-off key file is a clean
error naming the file and the fix, never a key used forever.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from redispolicy.commands.plan import fingerprint_key
from redispolicy.errors import RedispolicyError
from redispolicy.main import run


def _environ(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


def _key_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "redispolicy" / "fingerprint.key"


def test_first_run_creates_a_private_key_and_later_runs_reuse_it(tmp_path):
    key = fingerprint_key(_environ(tmp_path))
    path = _key_file(tmp_path)
    assert path.read_bytes() == key and len(key) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fingerprint_key(_environ(tmp_path)) == key
    assert [p.name for p in path.parent.iterdir()] == ["fingerprint.key"]  # no temporary file left


def test_concurrent_first_runs_agree_on_one_key(tmp_path, monkeypatch):
    """Every thread has found no key file and is making its own when they all go on together:
    one key wins, every thread gets it, none fails."""
    racers = 6
    barrier = threading.Barrier(racers, timeout=10)
    real = secrets.token_hex

    def token_hex_at_once(n: int | None = None) -> str:
        barrier.wait()
        return real(n)

    monkeypatch.setattr(secrets, "token_hex", token_hex_at_once)
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def first_run() -> None:
        try:
            keys.append(fingerprint_key(_environ(tmp_path)))
        except BaseException as exc:  # what the race raised is the finding
            errors.append(exc)

    threads = [threading.Thread(target=first_run) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == [], errors
    assert len(keys) == racers and len(set(keys)) == 1, keys
    assert _key_file(tmp_path).read_bytes() == keys[0]


def test_concurrent_first_runs_in_processes(tmp_path):
    code = (
        "import sys; from redispolicy.commands.plan import fingerprint_key; "
        "sys.stdout.write(fingerprint_key({'XDG_CONFIG_HOME': sys.argv[1]}).decode())"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "config")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert len({out for out, _ in results}) == 1, results
    assert _key_file(tmp_path).read_text() == results[0][0]


@pytest.mark.parametrize("content", [b"", b"\n", b"0123456789abcdef"], ids=["empty", "newline", "short"])
def test_empty_or_cut_off_key_file_is_a_clean_error(tmp_path, content):
    path = _key_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(RedispolicyError) as err:
        fingerprint_key(_environ(tmp_path))
    assert str(path) in err.value.message
    assert "empty" in err.value.message or "too short" in err.value.message
    assert "delete it" in err.value.hint and "plans made with the old key" in err.value.hint
    assert path.read_bytes() == content  # not replaced behind the user's back


def test_plan_with_an_empty_key_file_says_so(tmp_path, redis_server, monkeypatch, capsys):
    monkeypatch.delenv("REDISPOLICY_FINGERPRINT_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = _key_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\nconfig:\n  hz: 20\n"
    )
    code = run(
        [
            "plan",
            "--policy-dir",
            str(tmp_path / "policies"),
            "-e",
            "test",
            "--url",
            redis_server.url,
            "--out",
            str(tmp_path / "test.plan"),
            "--no-keys",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"redispolicy: error: the fingerprint key file {path} is empty" in err, err
    assert "internal error" not in err and "Traceback" not in err
    assert not (tmp_path / "test.plan").exists()


def test_a_failed_write_leaves_no_key_file(tmp_path, monkeypatch):
    """A crash between creating and filling the key (here: fsync fails) must not leave a key
    file behind that every later run would use."""

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    path = _key_file(tmp_path)
    with pytest.raises(RedispolicyError) as err:
        fingerprint_key(_environ(tmp_path))
    assert str(path) in err.value.message and "Input/output error" in err.value.message
    assert not path.exists()
    monkeypatch.undo()
    assert len(fingerprint_key(_environ(tmp_path))) == 64
