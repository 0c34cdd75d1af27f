"""The audit trail: one JSON line per apply, to a file and optionally a capped stream.

The record names what changed but never a secret value: sensitive parameters appear
with their name and "(sensitive)". ``apply --remediate-keys`` adds a ``keys`` object: the
remediation's result and its counts per class (class names and patterns, never a key).
A change made through `redispolicy mcp` adds ``actor``: the MCP client that asked for it.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import redis

from redispolicy.errors import RedispolicyError

# Who asked for the change besides the local user: set by the MCP server around a tool's apply or
# cleanup (``mcp:<client name> <version>``). A context variable, not a parameter, because every
# path that writes a record (one node, a rollout, a refusal, cleanup) must carry it.
ACTOR: ContextVar[str | None] = ContextVar("redispolicy_audit_actor", default=None)


def record(
    *,
    time: str,
    environment: str | None,
    target: str,
    plan_fingerprint: str,
    changes: list[dict[str, Any]],
    result: str,
    detail: str,
    keys: dict[str, Any] | None = None,
) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    entry: dict[str, Any] = {
        "time": time,
        "user": user,
        "host": socket.gethostname(),
        "environment": environment,
        "target": target,
        "plan_fingerprint": plan_fingerprint,
        "changes": changes,
        "result": result,
        "detail": detail,
    }
    if keys is not None:
        entry["keys"] = keys
    actor = ACTOR.get()
    if actor is not None:
        entry["actor"] = actor
    return entry


def append_file(path: Path, entry: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: concurrent appliers on one host interleave whole lines, not bytes.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
    except OSError as exc:
        raise RedispolicyError(
            f"cannot write the audit log {path}: {exc.strerror}", "pass --audit-log PATH to a writable file"
        ) from None


def check_writable(path: Path) -> None:
    """Refuse to start an apply whose trail cannot be written (opens for append, writes nothing)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError as exc:
        raise RedispolicyError(
            f"cannot write the audit log {path}: {exc.strerror}; nothing was changed",
            "pass --audit-log PATH to a writable file",
        ) from None


def append_stream(client: redis.Redis, key: str, maxlen: int, entry: dict[str, Any]) -> None:
    client.xadd(key, {"entry": json.dumps(entry, sort_keys=True)}, maxlen=maxlen, approximate=True)
