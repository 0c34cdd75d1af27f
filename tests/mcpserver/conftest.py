"""What the MCP tests share: an isolated environment, a policy for a real server, and the SDK's own
client driving `python -m redispolicy mcp` over stdio.

The folder is ``mcpserver``, not ``mcp``: a test package named ``mcp`` would shadow the SDK.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the MCP SDK is the redispolicy[mcp] extra (the test extra installs it)")

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import Implementation

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Implementation(name="pytest-assistant", version="9.1")
FINGERPRINT_KEY = "mcp-test-key"
# Keys of `temp` are aged past IDLE (RESTORE ... IDLETIME, as tests/apply/test_cleanup.py does).
IDLE_MINUTES = 10
AGE = 3600


def policy_text(url: str) -> str:
    return f"""apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: {url}

config:
  # the limit the pipeline was sized for
  maxmemory: 100mb   # keep: reviewed in PR 12
  maxmemory-policy: allkeys-lru

keys:
  - name: temp
    pattern: "temp:*"
    cleanup: {{idle_over: {IDLE_MINUTES}m}}
  - name: docs
    pattern: "doc:*"
"""


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", FINGERPRINT_KEY)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("REDISPOLICY_DEBUG", raising=False)
    return tmp_path


def write_policy(tmp_path: Path, url: str) -> Path:
    d = tmp_path / "policies"
    d.mkdir(exist_ok=True)
    (d / "test.yaml").write_text(policy_text(url))
    return d


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The server process's whole environment: the SDK passes only a safe default set otherwise."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "REDISPOLICY_FINGERPRINT_KEY": FINGERPRINT_KEY,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


@asynccontextmanager
async def stdio_session(tmp_path: Path, *args: str) -> AsyncIterator[ClientSession]:
    """`python -m redispolicy mcp --policy-dir ... ARGS` over stdio, initialized, as ``pytest-assistant 9.1``."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "redispolicy", "mcp", "--policy-dir", str(tmp_path / "policies"), *args],
        env=server_env(tmp_path),
        cwd=str(tmp_path),
    )
    with (tmp_path / "server.err").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, client_info=CLIENT) as session,
        ):
            await session.initialize()
            yield session


def seed_and_age(client: Any, temp: int, docs: int) -> None:
    """``temp`` keys of class temp and ``docs`` of class docs, all looking unread for AGE seconds."""
    raw = client
    p = raw.pipeline(transaction=False)
    for i in range(temp):
        p.set(f"temp:{i}", "v")
    for i in range(docs):
        p.set(f"doc:{i}", "v")
    p.execute()
    keys = list(raw.scan_iter(count=1000))
    p = raw.pipeline(transaction=False)
    for k in keys:
        p.dump(k)
    dumps = p.execute()
    p = raw.pipeline(transaction=False)
    for k, dumped in zip(keys, dumps, strict=True):
        p.restore(k, 0, dumped, replace=True, idletime=AGE)
    p.execute()
    assert all(raw.object("idletime", k) >= AGE - 5 for k in keys[:3])
