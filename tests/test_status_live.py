"""Issue 13 item 1: `redispolicy status [--watch SECONDS]` against real servers.

One reading as JSON has the documented fields and the server's real figures (the maxmemory
set here, the key counts seeded per class); --watch in a pseudo-terminal redraws while a load
generator writes keys, and Ctrl-C ends it with exit 0, no traceback, the cursor restored;
off a terminal it writes a line per node per refresh, and with -o json one JSON object per
line; a server that refuses INFO or SLOWLOG shows those figures as not available (never 0);
neither the URL's password nor the slowlog's arguments are ever printed; status writes nothing.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_servers import RedisServer, RedisServerFactory

from redispolicy.main import run

ROOT = Path(__file__).resolve().parents[1]

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${{STATUS_URL}}
  connect_timeout: 2s
  read_timeout: 2s
keys:
  - name: session
    pattern: "session:*"
    ttl: {{max: 1h}}
  - name: cache
    pattern: "cache:*"
    ttl: {{max: 1d}}
{extra}"""

NODE_FIELDS = {
    "address",
    "role",
    "status",
    "window_seconds",
    "memory",
    "ops_per_sec",
    "hit_rate_percent",
    "lookups",
    "evictions_per_sec",
    "expirations_per_sec",
    "clients",
    "slowlog",
    "replication",
    "checks",
    "key_classes",
    "lock_timeouts",
    "restarted",
    "unavailable",
}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.yaml").write_text(POLICY.format(extra=""))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDISPOLICY_DEBUG", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def seed(server: RedisServer, sessions: int = 300, caches: int = 100) -> None:
    c = server.client()
    pipe = c.pipeline(transaction=False)
    for i in range(sessions):
        pipe.set(f"session:{i}", "s", ex=3600)
    for i in range(caches):
        pipe.set(f"cache:{i}", "c" * 2000, ex=3600)
    pipe.execute()


def config_snapshot(server: RedisServer) -> tuple[dict[str, str], int]:
    c = server.client()
    return dict(c.config_get("*")), int(c.dbsize())


def test_one_reading_as_json_has_the_documented_fields_and_the_servers_figures(
    redis_server: RedisServer, here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    c = redis_server.client()
    c.config_set("maxmemory", str(64 * 1024 * 1024))
    seed(redis_server)
    before = config_snapshot(redis_server)
    monkeypatch.setenv("STATUS_URL", redis_server.url)
    code = run(["status", "-e", "test", "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["format_version"], doc["command"], doc["environment"]) == ("1", "status", "test")
    assert doc["watch_seconds"] is None and doc["refresh"] == 1
    [node] = doc["nodes"]
    assert set(node) == NODE_FIELDS
    docs = (ROOT / "docs" / "json-format.md").read_text(encoding="utf-8")
    row = next(line for line in docs.splitlines() if line.startswith("| `status` |"))
    assert all(f"`{f}`" in row for f in NODE_FIELDS), "docs/json-format.md names every status field"
    assert node["address"] == redis_server.address and node["role"] == "master"
    assert node["memory"]["maxmemory_bytes"] == 64 * 1024 * 1024
    assert node["memory"]["used_bytes"] > 0 and node["memory"]["percent_of"] == "maxmemory"
    assert 0 < node["memory"]["used_percent"] < 80
    assert node["window_seconds"] >= 0.9 and node["ops_per_sec"] is not None
    assert node["clients"]["connected"] >= 1 and node["clients"]["blocked"] == 0
    assert node["replication"] == {"link": None, "replicas": 0}
    assert node["slowlog"]["length"] is not None and node["unavailable"] == {}
    sample = node["key_classes"]
    assert sample["draws"] == 200
    shares = {c["name"]: c for c in sample["classes"]}
    assert set(shares) == {"session", "cache"}  # nothing unclassified was seeded
    assert 60 <= shares["session"]["keys_percent"] <= 90  # 300 of 400 keys, from 200 draws
    assert shares["cache"]["memory_percent"] > shares["session"]["memory_percent"]  # 2000-byte values
    assert shares["session"]["estimated_keys"] + shares["cache"]["estimated_keys"] == 400
    # the sample's own RANDOMKEY / MEMORY USAGE calls are not in the window's lookups
    assert node["lookups"] == 0 and node["hit_rate_percent"] is None
    assert config_snapshot(redis_server) == before  # read-only: no CONFIG SET, no writes


def test_a_server_refusing_info_and_slowlog_shows_them_unavailable_and_no_secret_leaks(
    redis_server: RedisServer, here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    c = redis_server.client()
    c.execute_command(
        "ACL", "SETUSER", "watcher", "on", ">pw-Zq81-secret", "~*", "+@all", "-info", "-slowlog"
    )
    seed(redis_server, 20, 5)
    url = redis_server.url.replace("redis://", "redis://watcher:pw-Zq81-secret@")
    monkeypatch.setenv("STATUS_URL", url)
    code = run(["status", "-e", "test", "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    [node] = json.loads(out)["nodes"]
    assert set(node["unavailable"]) >= {"info", "slowlog"}
    assert "+info" in node["unavailable"]["info"] and "+slowlog" in node["unavailable"]["slowlog"]
    for figure in (node["ops_per_sec"], node["hit_rate_percent"], node["evictions_per_sec"], node["lookups"]):
        assert figure is None
    assert node["memory"]["used_bytes"] is None and node["clients"]["connected"] is None
    assert node["slowlog"]["length"] is None
    code = run(["status", "-e", "test", "--color", "never"])
    text, err = capsys.readouterr()
    assert code == 0
    first = text.splitlines()[2]  # the node's row
    assert first.split()[2:4] == ["n/a", "n/a"], text  # memory and ops/s: not available, not 0
    assert "info not available" in text and "slowlog not available" in text
    assert "pw-Zq81-secret" not in out + text + err


def test_slowlog_arguments_are_never_shown(
    redis_server_factory: RedisServerFactory,
    here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = redis_server_factory.start(extra_args=["--slowlog-log-slower-than", "0"])
    monkeypatch.setenv("STATUS_URL", server.url)
    stop = threading.Event()

    def load() -> None:
        c = server.client()
        while not stop.is_set():
            c.set("session:token-Xy7", "secret-arg-Qw3", ex=60)
            time.sleep(0.01)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    try:
        code = run(["status", "-e", "test", "-o", "json"])
        out, err = capsys.readouterr()
        code_text = run(["status", "-e", "test", "--color", "never"])
        text, err_text = capsys.readouterr()
    finally:
        stop.set()
        t.join()
    assert code == 0 and code_text == 0
    [node] = json.loads(out)["nodes"]
    assert node["slowlog"]["growth"] > 0 and "SET" in node["slowlog"]["commands"]
    for shown in (out, err, text, err_text):
        assert "secret-arg-Qw3" not in shown and "token-Xy7" not in shown


def _spawn(args: list[str], env: dict[str, str], tty: bool) -> tuple[subprocess.Popen[bytes], int | None]:
    if not tty:
        proc = subprocess.Popen(
            [sys.executable, "-m", "redispolicy", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        return proc, None
    parent, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "redispolicy", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env={**env, "TERM": "xterm", "COLUMNS": "200", "LINES": "40"},
        start_new_session=True,
    )
    os.close(child)
    return proc, parent


def _read_pty(fd: int, seconds: float) -> bytes:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.fixture
def load(redis_server: RedisServer) -> Iterator[RedisServer]:
    """A load generator: ~1000 writes/s of growing values while the test watches."""
    stop = threading.Event()

    def write() -> None:
        c = redis_server.client()
        i = 0
        while not stop.is_set():
            pipe = c.pipeline(transaction=False)
            for _ in range(50):
                pipe.set(f"cache:{i}", "v" * 4096, ex=600)
                pipe.get(f"session:{i % 7}")
                i += 1
            pipe.execute()
            time.sleep(0.05)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    yield redis_server
    stop.set()
    t.join()


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "REDISPOLICY_DEBUG")}
    return {**env, "STATUS_URL": url, "PYTHONPATH": str(ROOT)}


def test_watch_in_a_terminal_redraws_changing_figures_and_ctrl_c_exits_0(
    load: RedisServer, here: Path
) -> None:
    proc, fd = _spawn(
        ["status", "-e", "test", "--watch", "0.3", "--color", "never"], _env(load.url), tty=True
    )
    assert fd is not None
    try:
        screen = _read_pty(fd, 3.0)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal sends it to the foreground group
        code = proc.wait(10)
        screen += _read_pty(fd, 0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(fd)
    text = screen.decode("utf-8", "replace")
    assert code == 0, text
    assert "Traceback" not in text and "interrupted" not in text
    frames = re.findall(r"refresh (\d+)", text)
    assert len(set(frames)) >= 4, text  # several refreshes in 3 s at 0.3 s
    memory = re.findall(r"(\d+\.\d+ [KMG]iB) / no limit", text)
    assert len(set(memory)) >= 2, f"memory never changed across frames: {memory}"
    hidden = text.rfind("\x1b[?25l")
    assert hidden >= 0 and text.rfind("\x1b[?25h") > hidden, "the cursor is shown again when the view stops"


def test_watch_off_a_terminal_writes_a_line_per_refresh_and_json_lines(load: RedisServer, here: Path) -> None:
    env = _env(load.url)
    text_proc, _ = _spawn(["status", "-e", "test", "--watch", "0.3"], env, tty=False)
    json_proc, _ = _spawn(["status", "-e", "test", "--watch", "0.3", "-o", "json"], env, tty=False)
    time.sleep(2.5)
    for proc in (text_proc, json_proc):
        proc.send_signal(signal.SIGINT)
    text_out, text_err = text_proc.communicate(timeout=10)
    json_out, json_err = json_proc.communicate(timeout=10)
    assert text_proc.returncode == 0 and json_proc.returncode == 0, (text_err, json_err)
    assert b"Traceback" not in text_err + json_err
    lines = text_out.decode().splitlines()
    assert len(lines) >= 3 and all(
        line.startswith(f"refresh {i + 1} {load.address} master") for i, line in enumerate(lines)
    )
    assert "\x1b[" not in text_out.decode()  # a pipe gets no colour and no cursor movement
    readings = [json.loads(line) for line in json_out.decode().splitlines()]
    assert len(readings) >= 3
    assert [r["refresh"] for r in readings] == list(range(1, len(readings) + 1))
    assert all(r["command"] == "status" and r["watch_seconds"] == 0.3 for r in readings)
    ops = [r["nodes"][0]["ops_per_sec"] for r in readings]
    assert all(o is not None and o > 0 for o in ops)
    used = {r["nodes"][0]["memory"]["used_bytes"] for r in readings}
    assert len(used) >= 2  # the load generator's writes show


@pytest.mark.parametrize("value", ["0", "-1", "nan", "0.1", "inf"])
def test_watch_refuses_a_refresh_that_is_not_a_positive_number_of_seconds(
    value: str, here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATUS_URL", "redis://127.0.0.1:1/0")  # never contacted
    assert run(["status", "-e", "test", "--watch", value]) == 64
    assert "--watch" in capsys.readouterr().err


def test_status_refuses_report_files_with_watch(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATUS_URL", "redis://127.0.0.1:1/0")
    assert run(["status", "-e", "test", "--watch", "1", "--report", f"json={here / 'r.json'}"]) == 64
    assert not (here / "r.json").exists()


def test_an_unreachable_node_is_exit_1_and_named(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATUS_URL", "redis://127.0.0.1:1/0")
    assert run(["status", "-e", "test", "--no-discover", "-o", "json"]) == 1
    [node] = json.loads(capsys.readouterr().out)["nodes"]
    assert "node" in node["unavailable"] and node["memory"]["used_bytes"] is None
