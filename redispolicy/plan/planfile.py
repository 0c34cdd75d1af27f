"""The saved plan (``plan --out FILE``): its own versioned, signed JSON, read back by ``apply FILE``.

It records what the review saw, for every node of the deployment (the primary at the top
level, the other nodes under ``nodes``): each node's identity (address, run_id, product,
version, role), the normalized live value of every parameter it touches, the policy
files' hashes and git revision, the tool version and the time. It holds no secret
values: a sensitive parameter carries keyed fingerprints (HMAC-SHA256 with a key that
is not in the file), which show whether the value changes without disclosing it.

A plan file travels (pull-request artifacts, CI caches), so apply trusts it for one
thing only: *which* reviewed changes to make, on *which* server. It is

* validated against ``schemas/plan-v3.json`` before anything reads a field of it;
* signed: HMAC-SHA256, with the same per-user/CI key as the fingerprints, over its
  canonical JSON; a file changed after ``plan --out`` wrote it is refused;
* re-derived: apply rebuilds every change from the policy files the plan names (which
  must hash the same) and refuses an entry the policy does not ask for (``rederive``);
  what is sent to the server comes from the policy, never from the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from redispolicy.plan.model import Change, Plan
from redispolicy.policy.schema import document_errors
from redispolicy.secret import Secret

PLAN_FORMAT = "redispolicy-plan"
PLAN_FORMAT_VERSION = 3  # 3: every node of the deployment (issue 12)
MAX_PLAN_BYTES = 4 * 1024 * 1024  # a real plan is a few KiB; a bigger file is not one of ours
SIGNATURE_ALGORITHM = "hmac-sha256"
_SIGNING_CONTEXT = b"redispolicy plan signature v2\0"  # the v2 construction; the version is signed inside  # keeps a plan MAC from ever equalling a fingerprint


@dataclass(frozen=True)
class Provenance:
    files: tuple[tuple[str, str], ...]  # (path, sha256 of its bytes)
    git_revision: str | None
    tool_version: str
    created_at: str  # ISO 8601, UTC
    policy_dir: str = ""


class PlanFileError(ValueError):
    """The file is not a plan this version can apply (malformed, unsigned, tampered, too large)."""


def key_id(key: bytes) -> str:
    """Names the fingerprint key without revealing it, so apply can tell 'another key' from 'changed'."""
    return hashlib.sha256(b"redispolicy fingerprint key id\0" + key).hexdigest()[:12]


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=1)
def plan_schema() -> dict[str, Any]:
    text = resources.files("redispolicy.plan").joinpath("schemas/plan-v3.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


def _canonical(doc: dict[str, Any]) -> bytes:
    """The signed bytes: every field but the signature, in one spelling (sorted keys, no spaces, ASCII)."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(doc: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, _SIGNING_CONTEXT + _canonical(doc), hashlib.sha256).hexdigest()


def _node_document(plan: Plan, live: dict[str, str | Secret], key: bytes) -> dict[str, Any]:
    """One node's part: who it is, the live value of each parameter it touches, and its changes."""
    ident = plan.identity
    changes = []
    touched: dict[str, Any] = {}
    for c in plan.pending:
        entry: dict[str, Any] = {
            "parameter": c.parameter,
            "action": c.action,
            "source": c.source.short,
            "sensitive": c.sensitive,
            "dangerous": c.dangerous,
        }
        live_value = live.get(c.parameter)
        if c.sensitive:
            send = c.send if isinstance(c.send, Secret) else Secret(c.send)
            entry["after_fingerprint"] = send.fingerprint(key)
            if isinstance(live_value, Secret):
                entry["before_fingerprint"] = live_value.fingerprint(key)
                touched[c.parameter] = {"fingerprint": live_value.fingerprint(key)}
        else:
            entry.update(before=c.before, after=c.after, send=str(c.send))
            touched[c.parameter] = c.before
        changes.append(entry)
    return {
        "target": {
            "address": ident.address,
            "run_id": ident.run_id,
            "product": ident.product,
            "version": ident.version,
            "role": ident.role,
        },
        "live": touched,
        "changes": changes,
    }


def to_document(
    plan: Plan, prov: Provenance, lives: dict[str, dict[str, str | Secret]], key: bytes
) -> dict[str, Any]:
    """The signed plan file. ``lives``: every planned node's live values, by address.

    The top level's target/live/changes are the primary's (the node whose lock guards the
    rollout); ``nodes`` holds every other node of the deployment in the same shape.
    """
    first = _node_document(plan, lives.get(plan.identity.address, {}), key)
    doc: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "format_version": PLAN_FORMAT_VERSION,
        "tool_version": prov.tool_version,
        "created_at": prov.created_at,
        "environment": plan.environment,
        "target": first["target"],
        "policy": {
            "dir": prov.policy_dir,
            "files": [{"path": p, "sha256": h} for p, h in prov.files],
            "git_revision": prov.git_revision,
        },
        "live": first["live"],
        "changes": first["changes"],
        "deployment": {"mode": plan.mode, "discovered": plan.discovered},
        "nodes": [_node_document(n.plan, lives.get(n.plan.identity.address, {}), key) for n in plan.nodes],
        "fingerprint_key_id": key_id(key),
    }
    return sign(doc, key)


def sign(doc: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The document with its signature (replacing any): what `plan --out` writes."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    return {
        **body,
        "signature": {"algorithm": SIGNATURE_ALGORITHM, "key_id": key_id(key), "value": _mac(body, key)},
    }


@dataclass(frozen=True)
class PlannedChange:
    parameter: str
    action: str
    source: str
    sensitive: bool
    dangerous: bool = False
    before: str | None = None  # normalized live value at plan time (None: sensitive or absent)
    after: str | None = None
    send: str | None = None  # what CONFIG SET got in the review (non-sensitive); apply sends the policy's
    before_fingerprint: str | None = None
    after_fingerprint: str | None = None


@dataclass(frozen=True)
class SavedPlan:
    environment: str
    policy_dir: str
    target: dict[str, str]
    files: tuple[tuple[str, str], ...]
    changes: tuple[PlannedChange, ...]
    created_at: str
    key_id: str = ""
    nodes: tuple[SavedPlan, ...] = ()  # the deployment's other nodes, each with its target and changes
    discovered: bool = False  # plan discovered the deployment: apply discovers it again
    mode: str = "standalone"

    @property
    def every_node(self) -> tuple[SavedPlan, ...]:
        """The primary's plan (without ``nodes``), then every other node's."""
        return (dataclasses.replace(self, nodes=()), *self.nodes)

    @property
    def settable(self) -> tuple[PlannedChange, ...]:
        return tuple(c for c in self.changes if c.action == "set")


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """A file's bytes, refusing one larger than ``limit`` without reading it all. Raises OSError, PlanFileError."""
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise PlanFileError(f"{path} is larger than {limit // 1024} KiB, too large to be {what}")
    return data


def read_plan(path: Path, key: bytes) -> SavedPlan:
    """A plan file, read with a size bound, validated, its signature checked. Raises PlanFileError or OSError."""
    return parse_plan(read_bounded(path, MAX_PLAN_BYTES, "a plan file"), key)


def parse_plan(data: bytes, key: bytes) -> SavedPlan:
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise PlanFileError("the file is not UTF-8 text") from None
    except RecursionError:
        raise PlanFileError("the file is nested too deeply to be a plan file") from None
    except ValueError as exc:  # json.JSONDecodeError and the hooks' refusals
        raise PlanFileError(f"the file is not valid JSON ({_printable(str(exc))})") from None
    return parse_document(doc, key)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key {k!r} appears twice in one object")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _printable(text: str) -> str:
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 200 else text[:197] + "..."


def parse_document(doc: object, key: bytes) -> SavedPlan:
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise PlanFileError("not a redispolicy plan file")
    version = doc.get("format_version")
    if version == 1:
        raise PlanFileError("the plan was made by an older redispolicy, whose plan files are not signed")
    if version == 2:
        # v2 recorded one node: applying it now would leave the replicas it never saw unchecked.
        raise PlanFileError("the plan was made by an older redispolicy: make a new plan")
    if version != PLAN_FORMAT_VERSION:
        raise PlanFileError(
            f"plan format version {_printable(repr(version))} is not supported "
            f"(this redispolicy reads version {PLAN_FORMAT_VERSION})"
        )
    errors = document_errors(plan_schema(), doc)
    if errors:
        raise PlanFileError("the file does not have the plan file's shape: " + "; ".join(errors))
    sig = doc["signature"]
    mine = key_id(key)
    if sig["key_id"] != mine or doc["fingerprint_key_id"] != mine:
        raise PlanFileError(
            f"the plan is signed with another key (key id {sig['key_id']}; this run's key is {mine}): "
            "plan and apply must use the same REDISPOLICY_FINGERPRINT_KEY "
            "(or ~/.config/redispolicy/fingerprint.key)"
        )
    if not hmac.compare_digest(sig["value"], _mac(doc, key)):
        raise PlanFileError(
            "the signature does not match: the file was changed after `redispolicy plan --out` wrote it"
        )
    first = _saved_node(doc, doc)
    nodes = tuple(_saved_node(doc, n) for n in doc["nodes"])
    addresses = [n.target["address"] for n in (first, *nodes)]
    if len(set(addresses)) != len(addresses):
        raise PlanFileError("the plan names a node twice")
    deployment = doc["deployment"]
    return dataclasses.replace(
        first, nodes=nodes, discovered=deployment["discovered"], mode=deployment["mode"]
    )


def _saved_node(doc: dict[str, Any], node: dict[str, Any]) -> SavedPlan:
    """One node's SavedPlan: the document's policy and provenance, the node's target and changes."""
    changes = tuple(
        PlannedChange(
            parameter=c["parameter"],
            action=c["action"],
            source=c["source"],
            sensitive=c["sensitive"],
            dangerous=c["dangerous"],
            before=c.get("before"),
            after=c.get("after"),
            send=c.get("send"),
            before_fingerprint=c.get("before_fingerprint"),
            after_fingerprint=c.get("after_fingerprint"),
        )
        for c in node["changes"]
    )
    names = [c.parameter for c in changes]
    if len(set(names)) != len(names):
        raise PlanFileError("the plan names a parameter twice")
    return SavedPlan(
        environment=doc["environment"],
        policy_dir=doc["policy"]["dir"],
        target={k: str(v) for k, v in node["target"].items()},
        files=tuple((f["path"], f["sha256"]) for f in doc["policy"]["files"]),
        changes=changes,
        created_at=doc["created_at"],
        key_id=doc["fingerprint_key_id"],
    )


def moved(
    plan: SavedPlan,
    run_id: str,
    live: dict[str, str | Secret],
    normalized_live: dict[str, str | None],
    key: bytes,
) -> list[str]:
    """Why the reviewed plan no longer describes the server: one line per thing that moved.

    ``normalized_live`` holds the normalized current value of each non-sensitive parameter
    the plan touches (None: absent); sensitive ones are compared by fingerprint.
    """
    out = []
    if run_id != plan.target.get("run_id"):
        out.append(
            f"the server restarted or is another server: run_id was {plan.target.get('run_id')}, now {run_id}"
        )
    for c in plan.changes:
        if c.sensitive:
            now = live.get(c.parameter)
            fp = now.fingerprint(key) if isinstance(now, Secret) else None
            if fp != c.before_fingerprint:
                out.append(f"{c.parameter}: its (sensitive) value changed since the plan")
        elif normalized_live.get(c.parameter) != c.before:
            out.append(
                f"{c.parameter}: planned from {show(c.before)}, now {show(normalized_live.get(c.parameter))}"
            )
    return out


def rederive(plan: SavedPlan, fresh: Plan, key: bytes, static: bool = False) -> list[str]:
    """Entries of the saved plan that the policy, compared with the server now, does not ask for.

    ``fresh`` is ``compare(policy, identity, snapshot)`` at apply time. Every saved entry must
    be one of its changes, with the same value, action, sensitivity and danger: anything
    else was not derived from the reviewed policy (a hand-edited or forged entry).
    ``static``: only what does not depend on the server's current values (whether the policy
    manages the parameter, its sensitivity and danger, the value sent and, unless the server
    already has it, the action), so a forged entry is named as such even when the server moved.
    """
    by_name: dict[str, Change] = {c.parameter: c for c in fresh.changes}
    out = []
    for c in plan.changes:
        want = by_name.get(c.parameter)
        if want is None:
            out.append(f"{c.parameter}: the policy does not manage it")
        elif c.sensitive != want.sensitive:
            out.append(
                f"{c.parameter}: the plan says sensitive={str(c.sensitive).lower()}, the catalog says "
                f"{str(want.sensitive).lower()}"
            )
        elif c.dangerous != want.dangerous:
            out.append(
                f"{c.parameter}: the plan says dangerous={str(c.dangerous).lower()}, the catalog says "
                f"{str(want.dangerous).lower()}"
            )
        elif want.sensitive and c.after_fingerprint != _fingerprint(want.send, key):
            out.append(f"{c.parameter}: the plan's (sensitive) value is not the policy's")
        elif not want.sensitive and c.send != str(want.send):
            out.append(
                f"{c.parameter}: the plan sends {show(c.send)}, the policy asks for {show(str(want.send))}"
            )
        elif want.action != "noop" and c.action != want.action:
            out.append(
                f"{c.parameter}: the plan says '{c.action}', the catalog and the server say '{want.action}'"
            )
        elif static:
            continue
        elif want.action == "noop":
            out.append(f"{c.parameter}: the server already has the policy's value")
        elif not want.sensitive and c.after != want.after:
            out.append(
                f"{c.parameter}: the plan sets {show(c.after)}, the policy asks for {show(want.after)}"
            )
    return out


def _fingerprint(value: str | Secret, key: bytes) -> str:
    return (value if isinstance(value, Secret) else Secret(value)).fingerprint(key)


def show(value: str | None) -> str:
    if value is None:
        return "(absent)"
    if value == "":
        return '""'
    # Values come from the server and from hand-edited files: never let one print a fake line.
    return _printable(value)
