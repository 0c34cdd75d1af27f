"""What the deployment rollout tests share (a primary with replicas, a 3+3 cluster): the policy,
running the CLI in-process or as a process, and reading a node's values back from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from redis_servers import HOST, RedisServer

from .conftest import BASE, cli, write_policy

POLICY = "config:\n  maxmemory: 64mb\n  timeout: 300\n"
WANT = {"maxmemory": "67108864", "timeout": "300"}
DEFAULT = {"maxmemory": "0", "timeout": "0"}


def enter_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``tmp_path`` the working directory, holding policies/test.yaml with POLICY."""
    monkeypatch.chdir(tmp_path)
    write_policy(tmp_path, BASE + POLICY, header=False)
    return tmp_path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return cli(capsys, *args, "--color", "never")


def plan(capsys: pytest.CaptureFixture[str], url: str, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "plan", "-e", "test", "--url", url, "--no-keys", *extra)


def spawn(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """redispolicy as its own process (for signals, stalls and two runs at once)."""
    return subprocess.Popen(
        [sys.executable, "-m", "redispolicy", *args, "--color", "never"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def values(server: RedisServer) -> dict[str, str]:
    """What the node runs for the planned parameters, read from it directly."""
    with server.client() as c:
        return {k: c.config_get(k)[k] for k in WANT}


def addr(server: RedisServer) -> str:
    return f"{HOST}:{server.port}"
