"""What every apply-stage test shares: an isolated environment, and writing and running policies.

The ``isolated`` fixture is autouse: an apply test must never read the developer's signing
key, append to their audit log (``$XDG_STATE_HOME``), pick up their config, write a GitHub
step summary or print a debug traceback because the calling shell happened to set one.

The helpers are plain functions (modules import them with ``from .conftest import ...``), so a
call reads the same as the module-private helper it replaced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from redispolicy.main import run
from redispolicy.policy.model import KeyClass
from redispolicy.policy.resolve import PolicySet

# The signing key of every plan file written here; tests that sign an edited plan themselves use it too.
FINGERPRINT_KEY = "apply-test-key"
BASE = "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\n"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", FINGERPRINT_KEY)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # Set in CI and by developers chasing a bug: either changes what the commands write.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("REDISPOLICY_DEBUG", raising=False)
    return tmp_path


def write_policy(root: Path, body: str, *, header: bool = True) -> Path:
    """``root/policies/test.yaml`` (environment ``test``) holding ``body``; returns the policy dir.

    ``header`` prepends the apiVersion/kind/environment lines, which most bodies leave out.
    """
    d = root / "policies"
    d.mkdir(exist_ok=True)
    (d / "test.yaml").write_text((BASE if header else "") + body)
    return d


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run redispolicy in-process: (exit code, stdout, stderr)."""
    code = run(list(argv))
    c = capsys.readouterr()
    return code, c.out, c.err


def make_plan(policy_dir: Path, url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> Path:
    """``plan --out`` next to the policy dir; the plan must succeed (its output is discarded)."""
    out = policy_dir.parent / "test.plan"
    code, stdout, stderr = cli(
        capsys, "plan", "--policy-dir", str(policy_dir), "-e", "test", "--url", url, "--out", str(out), *extra
    )
    assert code == 0, stdout + stderr
    return out


def audit_entries(root: Path) -> list[dict[str, Any]]:
    """The records of the default audit log under ``root`` (the isolated state dir); [] if none."""
    log = root / "state" / "redispolicy" / "audit.log"
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []


def key_classes(policy_dir: Path) -> tuple[KeyClass, ...]:
    """The key classes of environment ``test``, resolved as a connecting command does."""
    pset = PolicySet(policy_dir, {}, connecting=True)
    res = pset.resolve(pset.env_file("test"))
    assert res.policy is not None
    return res.policy.keys


def too_many_clients() -> str:
    """A ``maxclients`` every server refuses, quickly: just above the kernel's ceiling on open files.

    The server raises its open-files limit to fit ``maxclients`` and, when the kernel says no, tries
    again 16 lower each time, one setrlimit(2) per try, before it refuses. Even a server running as
    root cannot pass ``fs.nr_open``, so a value just above it is refused after a few dozen tries;
    100000000 costs the server millions of tries (seconds, longer than a loaded CI's socket timeout).
    """
    try:
        ceiling = int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):  # not Linux: the kernels we know cap open files lower than this
        ceiling = 1 << 20
    return str(ceiling + 1024)
