"""`redispolicy mcp --http`: the SDK's streamable HTTP client with the bearer token works; a request
without it, or with a wrong one, is refused with 401; the server will not start without a token, on a
non-loopback address, or with a short token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from redis_servers import free_port

from redispolicy.main import run

from .conftest import CLIENT, server_env, write_policy

TOKEN = "t0k3n-for-the-mcp-http-test-0123456789"


def _wait_listening(proc: subprocess.Popen[bytes], port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {proc.stderr.read()!r}")  # type: ignore[union-attr]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the server did not start listening")


def _post(url: str, headers: dict[str, str]) -> int:
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}'
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_http_needs_the_bearer_token(redis_server, tmp_path):
    write_policy(tmp_path, redis_server.url)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "redispolicy",
            "mcp",
            "--policy-dir",
            str(tmp_path / "policies"),
            "--http",
            f"127.0.0.1:{port}",
        ],
        env=server_env(tmp_path, REDISPOLICY_MCP_TOKEN=TOKEN),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(proc, port)
        url = f"http://127.0.0.1:{port}/mcp"
        assert _post(url, {}) == 401
        assert _post(url, {"authorization": "Bearer wrong-token-of-the-same-length-000000"}) == 401
        assert _post(url, {"authorization": TOKEN}) == 401  # the scheme is part of it

        async def session() -> tuple[list[str], dict]:
            headers = {"authorization": f"Bearer {TOKEN}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30) as http,
                streamable_http_client(url, http_client=http) as (read, write),
                ClientSession(read, write, client_info=CLIENT) as s,
            ):
                await s.initialize()
                names = [t.name for t in (await s.list_tools()).tools]
                mem = await s.call_tool("monitor_memory_usage", {"environment": "test"})
                return names, mem.structured_content

        names, memory = anyio.run(session)
        assert "monitor_memory_usage" in names and "set_memory_limit" in names
        assert memory["maxmemory"] == int(redis_server.client().config_get("maxmemory")["maxmemory"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert TOKEN not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "env", "code", "said"),
    [
        (["--http", "127.0.0.1:8765"], {}, 1, "REDISPOLICY_MCP_TOKEN, which is not set"),
        (["--http", "127.0.0.1:8765"], {"REDISPOLICY_MCP_TOKEN": "short"}, 1, "shorter than 16"),
        (["--http", "0.0.0.0:8765"], {"REDISPOLICY_MCP_TOKEN": TOKEN}, 64, "not a loopback address"),
        (["--http", "127.0.0.1:0"], {"REDISPOLICY_MCP_TOKEN": TOKEN}, 64, "port from 1 to 65535"),
        (["--tools", "plan,flushall"], {}, 64, "unknown tool 'flushall'"),
        (["--tools", ","], {}, 64, "no tool named"),
        (["--no-write", "--allow-apply"], {}, 64, "--no-write and --allow-apply"),
    ],
)
def test_refused_before_serving(args, env, code, said, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("REDISPOLICY_MCP_TOKEN", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert run(["mcp", "--policy-dir", str(tmp_path), *args]) == code
    captured = capsys.readouterr()
    assert said in captured.err and "Traceback" not in captured.err
    assert TOKEN not in captured.err


def test_without_the_extra_it_names_the_install_command(tmp_path: Path):
    # The SDK made unimportable, as on an install without redispolicy[mcp].
    code = "import sys; sys.modules['mcp'] = None; from redispolicy.main import run; raise SystemExit(run(['mcp']))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=server_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "pip install 'redispolicy[mcp]'" in proc.stderr and "Traceback" not in proc.stderr


def test_the_token_guard_closes_websockets_and_lets_only_the_right_token_through() -> None:
    from redispolicy.mcpserver.server import BearerAuth

    reached: list[str] = []

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        reached.append(scope["type"])

    async def call(scope: dict[str, object]) -> list[dict[str, object]]:
        sent: list[dict[str, object]] = []

        async def send(message) -> None:  # type: ignore[no-untyped-def]
            sent.append(message)

        async def receive() -> dict[str, object]:
            return {}

        await BearerAuth(app, "t" * 32)(scope, receive, send)
        return sent

    right = [(b"authorization", b"Bearer " + b"t" * 32)]
    sent = anyio.run(call, {"type": "websocket", "headers": right})
    assert sent == [{"type": "websocket.close", "code": 1008}] and reached == []  # even with the token
    sent = anyio.run(call, {"type": "http", "headers": [(b"authorization", b"Bearer wrong")]})
    assert sent[0]["status"] == 401 and reached == []
    assert anyio.run(call, {"type": "http", "headers": right}) == [] and reached == ["http"]
    assert anyio.run(call, {"type": "lifespan"}) == [] and reached == ["http", "lifespan"]
