"""The saved plan (``plan --out FILE``): its own versioned JSON, read back by ``apply FILE``.

It records what the review saw: the target's identity (address, run_id, product,
version), the normalized live value of every parameter it touches, the policy files'
hashes and git revision, the tool version and the time. It holds no secret values:
a sensitive parameter carries keyed fingerprints (HMAC-SHA256 with a key that is not
in the file), which show whether the value changes without disclosing it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from redispolicy.plan.model import Plan
from redispolicy.secret import Secret

PLAN_FORMAT = "redispolicy-plan"
PLAN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Provenance:
    files: tuple[tuple[str, str], ...]  # (path, sha256 of its bytes)
    git_revision: str | None
    tool_version: str
    created_at: str  # ISO 8601, UTC


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def to_document(plan: Plan, prov: Provenance, live: dict[str, str | Secret], key: bytes) -> dict[str, Any]:
    ident = plan.identity
    changes = []
    touched: dict[str, Any] = {}
    for c in plan.pending:
        entry: dict[str, Any] = {"parameter": c.parameter, "action": c.action, "source": c.source.short,
                                 "sensitive": c.sensitive}
        live_value = live.get(c.parameter)
        if c.sensitive:
            send = c.send if isinstance(c.send, Secret) else Secret(c.send)
            entry["after_fingerprint"] = send.fingerprint(key)
            if isinstance(live_value, Secret):
                entry["before_fingerprint"] = live_value.fingerprint(key)
                touched[c.parameter] = {"fingerprint": live_value.fingerprint(key)}
        else:
            entry.update(before=c.before, after=c.after, send=str(c.send))
            touched[c.parameter] = None if c.before is None else c.before
        changes.append(entry)
    return {
        "format": PLAN_FORMAT,
        "format_version": PLAN_FORMAT_VERSION,
        "tool_version": prov.tool_version,
        "created_at": prov.created_at,
        "environment": plan.environment,
        "target": {"address": ident.address, "run_id": ident.run_id, "product": ident.product,
                   "version": ident.version, "role": ident.role},
        "policy": {"files": [{"path": p, "sha256": h} for p, h in prov.files],
                   "git_revision": prov.git_revision},
        "live": touched,
        "changes": changes,
    }
