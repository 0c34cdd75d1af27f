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
    policy_dir: str = ""


def key_id(key: bytes) -> str:
    """Names the fingerprint key without revealing it, so apply can tell 'another key' from 'changed'."""
    return hashlib.sha256(b"redispolicy fingerprint key id\0" + key).hexdigest()[:12]


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
        "policy": {"dir": prov.policy_dir, "files": [{"path": p, "sha256": h} for p, h in prov.files],
                   "git_revision": prov.git_revision},
        "live": touched,
        "changes": changes,
        "fingerprint_key_id": key_id(key),
    }


class PlanFileError(ValueError):
    """The file is not a plan this version can apply."""


@dataclass(frozen=True)
class PlannedChange:
    parameter: str
    action: str
    source: str
    sensitive: bool
    before: str | None = None  # normalized live value at plan time (None: sensitive or absent)
    after: str | None = None
    send: str | None = None  # what CONFIG SET gets (non-sensitive)
    before_fingerprint: str | None = None
    after_fingerprint: str | None = None


@dataclass(frozen=True)
class SavedPlan:
    environment: str | None
    policy_dir: str | None
    target: dict[str, str]
    files: tuple[tuple[str, str], ...]
    changes: tuple[PlannedChange, ...]
    created_at: str
    key_id: str = ""

    @property
    def settable(self) -> tuple[PlannedChange, ...]:
        return tuple(c for c in self.changes if c.action == "set")


def from_document(doc: object) -> SavedPlan:
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise PlanFileError("not a redispolicy plan file")
    if doc.get("format_version") != PLAN_FORMAT_VERSION:
        raise PlanFileError(f"plan format version {doc.get('format_version')!r} is not supported "
                            f"(this redispolicy reads version {PLAN_FORMAT_VERSION})")
    try:
        changes = tuple(PlannedChange(
            parameter=str(c["parameter"]), action=str(c["action"]), source=str(c["source"]),
            sensitive=bool(c["sensitive"]), before=c.get("before"), after=c.get("after"), send=c.get("send"),
            before_fingerprint=c.get("before_fingerprint"), after_fingerprint=c.get("after_fingerprint"),
        ) for c in doc["changes"])
        return SavedPlan(
            environment=doc.get("environment"), policy_dir=doc["policy"].get("dir"),
            target={k: str(v) for k, v in doc["target"].items()},
            files=tuple((str(f["path"]), str(f["sha256"])) for f in doc["policy"]["files"]),
            changes=changes, created_at=str(doc.get("created_at", "")),
            key_id=str(doc.get("fingerprint_key_id", "")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PlanFileError(f"the plan file is incomplete ({exc})") from None


def moved(plan: SavedPlan, run_id: str, live: dict[str, str | Secret], normalized_live: dict[str, str | None],
          key: bytes) -> list[str]:
    """Why the reviewed plan no longer describes the server: one line per thing that moved.

    ``normalized_live`` holds the normalized current value of each non-sensitive parameter
    the plan touches (None: absent); sensitive ones are compared by fingerprint.
    """
    out = []
    if plan.key_id and plan.key_id != key_id(key) and any(c.sensitive for c in plan.changes):
        out.append("the plan was made with another fingerprint key, so its sensitive values cannot be checked: "
                   "use the same REDISPOLICY_FINGERPRINT_KEY (or ~/.config/redispolicy/fingerprint.key) "
                   "for plan and apply")
        return out
    if run_id != plan.target.get("run_id"):
        out.append(f"the server restarted or is another server: run_id was {plan.target.get('run_id')}, "
                   f"now {run_id}")
    for c in plan.changes:
        if c.sensitive:
            now = live.get(c.parameter)
            fp = now.fingerprint(key) if isinstance(now, Secret) else None
            if fp != c.before_fingerprint:
                out.append(f"{c.parameter}: its (sensitive) value changed since the plan")
        elif normalized_live.get(c.parameter) != c.before:
            out.append(f"{c.parameter}: planned from {_show(c.before)}, now {_show(normalized_live.get(c.parameter))}")
    return out


def _show(value: str | None) -> str:
    return "(absent)" if value is None else (value if value != "" else '""')
