"""What each MCP tool does, without the SDK: the same commands and stages the CLI runs.

Every tool returns a ``ToolOutput``: the JSON document ``-o json`` would print (the renderer
registry's own JSON, key names left out: a tool result leaves the machine, to the model's
provider) and the plain text of the same report. server.py turns it into an MCP result;
keeping it here keeps the SDK in one module and these functions testable on their own.

The safety model (docs/mcp.md) lives here too: ``cleanup_old_cache`` deletes only with
``allow_cleanup`` and only what the reviewed policy already lets ``cleanup`` delete;
``set_memory_limit`` edits the policy file and saves a signed plan, and applies it only with
``allow_apply``, through ``apply FILE``'s own code (stale check, lock, audit record naming the
MCP client).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, get_args

import redis

from redispolicy.apply import audit
from redispolicy.apply.cleanup import has_cleanup
from redispolicy.catalog.units import human_bytes
from redispolicy.commands import Options, Result
from redispolicy.commands import apply as apply_cmd
from redispolicy.commands import cleanup as cleanup_cmd
from redispolicy.commands import drift as drift_cmd
from redispolicy.commands import explain as explain_cmd
from redispolicy.commands import plan as plan_cmd
from redispolicy.commands import validate as validate_cmd
from redispolicy.commands.keyaudit import audit_keys
from redispolicy.commands.keyops import state_file
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import address, connect
from redispolicy.live.health import reading
from redispolicy.live.model import HealthReadings
from redispolicy.live.snapshot import identify
from redispolicy.mcpserver.policyedit import set_config
from redispolicy.plan.health import evaluate
from redispolicy.policy.model import Policy
from redispolicy.policy.resolve import PolicySet, display_path
from redispolicy.render.json_ import keys_dict
from redispolicy.render.style import Style

TOOLS = (
    "validate_policies",
    "explain",
    "plan",
    "drift_report",
    "monitor_memory_usage",
    "cleanup_old_cache",
    "set_memory_limit",
)
FORMAT_VERSION = 1  # of the documents the MCP-only tools (monitor_memory_usage, set_memory_limit) return
MAX_MEMORY_MB = 16 * 1024 * 1024  # 16 TiB: anything above is a typo, not a server
# The maxmemory-policy values set_memory_limit offers (the tool's schema lists them for the model).
Eviction = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]
EVICTION_POLICIES: tuple[str, ...] = get_args(Eviction)
MAX_HOURS = 24 * 366 * 10  # ten years: OBJECT IDLETIME never gets there
# The text rendering rides along as a --report file that is never written: one run of the command
# gives both the JSON and the text of the same report.
_TEXT = Path("/dev/null/redispolicy-mcp-text")
# set_memory_limit edits a file: two calls at once must not interleave their edit, plan and rollback.
_EDITS = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Settings:
    """How `redispolicy mcp` was started: what every tool may do (docs/mcp.md, the safety table)."""

    policy_dir: Path
    environ: dict[str, str]
    plan_dir: Path  # where set_memory_limit saves plan and patch files
    allow_cleanup: bool = False  # cleanup_old_cache may delete (dry_run: false)
    allow_apply: bool = False  # set_memory_limit may apply the plan it made
    no_write: bool = False  # set_memory_limit writes a patch file instead of editing the policy
    audit_log: Path | None = None


@dataclasses.dataclass(frozen=True)
class ToolOutput:
    data: dict[str, Any] | None  # the structured result (None: an error)
    text: str
    error: bool = False


def default_plan_dir(environ: dict[str, str]) -> Path:
    return state_file(environ, "mcp-plans")


def client_name(name: str | None, version: str | None) -> str:
    """The MCP client as the audit record names it: what it said in ``initialize`` (self-declared,
    so only printable, bounded text), prefixed with ``mcp:`` so a record says how the change came."""
    shown = " ".join(p for p in (name, version) if p) or "unnamed client"
    return "mcp:" + re.sub(r"[^\w .@/+:-]", "?", shown)[:100]


# -- the commands the CLI has ------------------------------------------------------------------


def validate_policies(s: Settings) -> ToolOutput:
    return _command(s, lambda o: validate_cmd.run(o, (), False))


def explain(s: Settings, environment: str, parameter: str | None = None) -> ToolOutput:
    return _command(s, lambda o: explain_cmd.run(o, environment, parameter or None))


def plan(s: Settings, environment: str, keys: bool = True) -> ToolOutput:
    return _command(s, lambda o: plan_cmd.run(o, plan_cmd.PlanRequest(env=environment, keys=keys)))


def drift_report(s: Settings, environment: str, keys: bool = True) -> ToolOutput:
    return _command(s, lambda o: drift_cmd.run(o, drift_cmd.DriftRequest(env=environment, keys=keys)))


def _options(s: Settings) -> Options:
    return Options(s.policy_dir, s.environ, "json", (("text", _TEXT),), Style(color=False))


def _command(s: Settings, run: Callable[[Options], Result]) -> ToolOutput:
    """Run a command as `-o json --report text=...` would: the JSON is the data, the text the summary."""
    try:
        result = run(_options(s))
    except RedispolicyError as exc:
        return failure(exc)
    return _output(result)


def _output(result: Result) -> ToolOutput:
    try:
        data = json.loads(result.stdout)
    except ValueError:  # a policy that does not load: the command's answer is its validation text
        return ToolOutput(None, result.stdout.strip(), True)
    if not isinstance(data, dict):
        return ToolOutput(None, result.stdout.strip(), True)
    return ToolOutput(data, result.files.get(_TEXT, "").strip())


def failure(exc: RedispolicyError) -> ToolOutput:
    return ToolOutput(None, f"error: {exc}", True)


# -- monitor_memory_usage ----------------------------------------------------------------------


def monitor_memory_usage(s: Settings, environment: str, detailed: bool = False) -> ToolOutput:
    """INFO memory and stats of the environment's server (the node its target URL names), judged by
    the policy's health rules; ``detailed`` adds the key audit's per-class counts and memory."""
    try:
        policy = _policy(s, environment)
        conn = plan_cmd.connect_options(policy, None)
        where = address(conn.url.reveal())
        client = connect(conn)
        try:
            identity = identify(client, where)
            r = reading(client)
        except redis.RedisError as exc:
            raise RedispolicyError(
                f"reading INFO from {where} failed ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                "check that the server is up and the policy's credentials may run INFO",
            ) from None
        finally:
            client.close()
        checks = evaluate(HealthReadings(r, None, 0, ()), policy.health)
        data: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "command": "monitor_memory_usage",
            "environment": policy.environment,
            "target": identity.address,
            "server": f"{identity.product} {identity.version}",
            "role": r.role,
            "used_memory": r.used_memory,
            "maxmemory": r.maxmemory,
            "memory_used_percent": _percent(r.used_memory, r.maxmemory),
            "evicted_keys": r.evicted_keys,
            "expired_keys": r.expired_keys,
            "keyspace_hits": r.keyspace_hits,
            "keyspace_misses": r.keyspace_misses,
            "hit_rate_percent": _percent(r.keyspace_hits, r.keyspace_hits + r.keyspace_misses),
            "fragmentation_ratio": r.fragmentation_ratio,
            "connected_clients": r.connected_clients,
            "health": [
                {"check": c.check, "status": c.status, "value": c.value, "threshold": c.threshold}
                for c in checks
            ],
        }
        if detailed:
            findings = audit_keys(policy, conn, memory=True)
            data["keys"] = keys_dict(findings) if findings is not None else None
    except RedispolicyError as exc:
        return failure(exc)
    return ToolOutput(data, _memory_text(data))


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _memory_text(d: dict[str, Any]) -> str:
    limit = human_bytes(d["maxmemory"]) if d["maxmemory"] else "no limit"
    pct = f" ({d['memory_used_percent']} %)" if d["memory_used_percent"] is not None else ""
    hits = f"{d['hit_rate_percent']} %" if d["hit_rate_percent"] is not None else "n/a (no reads yet)"
    bad = [f"{c['check']} {c['status']}" for c in d["health"] if c["status"] in ("warning", "critical")]
    return (
        f"{d['environment']} at {d['target']} ({d['server']}): memory {human_bytes(d['used_memory'])} of "
        f"{limit}{pct}; hit rate {hits}; {d['evicted_keys']} evicted, {d['expired_keys']} expired keys"
        f" since start; health: {', '.join(bad) if bad else 'ok'}"
    )


def _policy(s: Settings, environment: str) -> Policy:
    policy, failed = plan_cmd.load_policy(_options(s), environment, False)
    if failed is not None:
        raise RedispolicyError(
            f"the policy of environment '{environment}' is not valid:\n{failed.stdout.strip()}",
            "fix it (`redispolicy validate` shows the same), then ask again",
        )
    assert policy is not None
    return policy


# -- cleanup_old_cache -------------------------------------------------------------------------


def cleanup_old_cache(
    s: Settings,
    environment: str,
    key_class: str,
    older_than_hours: float | None = None,
    dry_run: bool = True,
    actor: str = "mcp:unnamed client",
) -> ToolOutput:
    """`redispolicy cleanup` for one key class, which the policy must already allow to be cleaned
    up; ``older_than_hours`` can only narrow it (a longer idle time), never widen it."""
    if older_than_hours is not None and not (0 < older_than_hours <= MAX_HOURS):
        # nan fails both comparisons; 0 or less would make every key of the class 'old'
        return ToolOutput(
            None,
            f"error: older_than_hours must be a number of hours above 0 and at most {MAX_HOURS}, "
            f"not {older_than_hours}\n  hint: leave it out to use the class's own cleanup rule",
            True,
        )
    execute = not dry_run and s.allow_cleanup
    notes: list[str] = []

    def scope(policy: Policy) -> Policy:
        return scoped(policy, key_class, older_than_hours, notes)

    req = cleanup_cmd.CleanupRequest(env=environment, execute=execute, audit_log=s.audit_log, scope=scope)
    with acting_as(actor):
        out = _command(s, lambda o: cleanup_cmd.run(o, req, lambda _preview: None))
    if out.error or out.data is None:
        return out
    if not dry_run and not s.allow_cleanup:
        notes.append(
            "dry_run: false was refused, nothing was deleted: this server was started without "
            "--allow-cleanup. These keys would be deleted; to delete them, run `redispolicy cleanup "
            f"-e {environment} --execute` yourself, or restart `redispolicy mcp` with --allow-cleanup"
        )
        out.data["refused_execute"] = True
    out.data["notes"] = notes
    return dataclasses.replace(out, text="\n".join([out.text, *notes]))


def scoped(policy: Policy, name: str, older_than_hours: float | None, notes: list[str]) -> Policy:
    """``policy`` whose only cleanup class is ``name``, its rule narrowed to ``older_than_hours``.

    The other classes stay (first match wins: a class before it still shadows its keys) without
    their ``cleanup:``. A class the policy does not let cleanup delete is refused: that decision
    belongs in a reviewed policy change, not in a tool call.
    """
    kc = next((k for k in policy.keys if k.name == name), None)
    allowed = ", ".join(k.name for k in policy.keys if has_cleanup(k)) or "none"
    if kc is None:
        raise RedispolicyError(
            f"environment '{policy.environment}' has no key class '{name}'",
            f"key classes with cleanup: {allowed}",
        )
    if not has_cleanup(kc):
        raise RedispolicyError(
            f"key class '{name}' ({kc.location.short}) has no cleanup: rule, so the policy does not let "
            "its keys be deleted; nothing was deleted",
            f"add `cleanup: {{idle_over: 24h}}` to the class in a reviewed policy change; classes with "
            f"cleanup: {allowed}",
        )
    idle = kc.cleanup_idle_over
    if older_than_hours is not None:
        wanted = math.ceil(older_than_hours * 3600)
        if idle is not None and wanted < idle:
            notes.append(
                f"older_than_hours {older_than_hours:g} is shorter than the policy's idle_over for "
                f"'{name}' ({idle} s): the policy's {idle} s is used"
            )
        idle = max(idle or 0, wanted)
    keys = tuple(
        dataclasses.replace(k, cleanup_always=idle is None, cleanup_idle_over=idle)
        if k is kc
        else dataclasses.replace(k, cleanup_always=False, cleanup_idle_over=None)
        for k in policy.keys
    )
    return dataclasses.replace(policy, keys=keys)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    token = audit.ACTOR.set(actor)
    try:
        yield
    finally:
        audit.ACTOR.reset(token)


# -- set_memory_limit --------------------------------------------------------------------------


def set_memory_limit(
    s: Settings,
    environment: str,
    max_memory_mb: int,
    eviction_policy: str | None = None,
    actor: str = "mcp:unnamed client",
) -> ToolOutput:
    """Propose a new maxmemory (and maxmemory-policy): edit the environment's policy file, validate it,
    save a signed plan. Applies it only when the server was started with --allow-apply."""
    if not (isinstance(max_memory_mb, int) and 1 <= max_memory_mb <= MAX_MEMORY_MB):
        # 0 would mean "no limit" to Redis: never a memory limit an assistant should propose
        return ToolOutput(
            None,
            f"error: max_memory_mb must be a whole number of MiB from 1 to {MAX_MEMORY_MB}, not "
            f"{max_memory_mb}\n  hint: 0 (no limit) is not proposed here; edit the policy by hand for that",
            True,
        )
    if eviction_policy is not None and eviction_policy not in EVICTION_POLICIES:
        return ToolOutput(
            None,
            f"error: unknown eviction policy {eviction_policy!r}\n  hint: one of {', '.join(EVICTION_POLICIES)}",
            True,
        )
    values = {"maxmemory": f"{max_memory_mb}mb"}
    if eviction_policy:
        values["maxmemory-policy"] = eviction_policy
    try:
        with _EDITS:
            if s.no_write:
                return _propose_patch(s, environment, values)
            return _propose_and_plan(s, environment, values, actor)
    except RedispolicyError as exc:
        return failure(exc)


def _stamp(environment: str) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', environment)}-maxmemory-{now}"


def _editable_file(s: Settings, environment: str) -> Path:
    """The environment's own policy file, if it may be edited: a regular file inside the policy
    directory (a symbolic link would be replaced by a copy of whatever it points to)."""
    path = PolicySet(s.policy_dir, s.environ, connecting=True).env_file(environment)
    if path.is_symlink() or not path.resolve().is_relative_to(s.policy_dir.resolve()):
        raise RedispolicyError(
            f"{display_path(path)} is a symbolic link; set_memory_limit edits only regular policy files",
            "edit the file it points to by hand, or replace the link with the file",
        )
    return path


def _propose_and_plan(s: Settings, environment: str, values: dict[str, str], actor: str) -> ToolOutput:
    path = _editable_file(s, environment)
    shown = display_path(path)
    original = path.read_text(encoding="utf-8")
    edit = set_config(shown, original, values)
    plan_path = s.plan_dir / f"{_stamp(environment)}.plan"
    if edit.changed:
        _write_atomic(path, edit.after)
    try:
        _check_effective(s, environment, values, path)
        made = plan_cmd.run(_options(s), plan_cmd.PlanRequest(env=environment, keys=False, out=plan_path))
        planned = _output(made)
        if planned.error or plan_path not in made.files:
            raise RedispolicyError(
                f"the plan for environment '{environment}' could not be made:\n{planned.text}",
                "fix what it says, then ask again",
            )
        _write_private(plan_path, made.files[plan_path])
    except BaseException:
        if edit.changed:  # all or nothing: no edited policy without its plan
            _write_atomic(path, original)
        raise
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "command": "set_memory_limit",
        "environment": environment,
        "policy_file": shown,
        "policy_changed": edit.changed,
        "diff": edit.diff(),
        "plan_file": str(plan_path),
        "patch_file": None,
        "plan": planned.data,
        "apply": None,
    }
    texts = [
        f"Edited {shown}:" if edit.changed else f"{shown} already says this; nothing edited.",
        edit.diff().rstrip(),
        planned.text,
        f"Saved the plan to {plan_path}.",
    ]
    if not s.allow_apply:
        data["next_step"] = f"review the diff and the plan, then run `redispolicy apply {plan_path}`"
        texts.append(f"Nothing was applied. Next: {data['next_step']}.")
        return ToolOutput(data, "\n".join(t for t in texts if t))
    with acting_as(actor):
        applied = _command(
            s, lambda o: apply_cmd.run_file(o, plan_path, apply_cmd.ApplyRequest(audit_log=s.audit_log))
        )
    if applied.error:
        return ToolOutput(None, "\n".join([*texts, "Applying it failed:", applied.text]), True)
    data["apply"] = applied.data
    return ToolOutput(data, "\n".join([*(t for t in texts if t), applied.text]))


def _check_effective(s: Settings, environment: str, values: dict[str, str], path: Path) -> None:
    """The edited policy is valid and says what was asked, from the edited file (a later file in the
    chain cannot override the environment's own, but a second mapping in it could)."""
    policy = _policy(s, environment)
    for name, value in values.items():
        setting = policy.setting(name)
        where = Path(setting.value.source.file).resolve() if setting is not None else None
        if setting is None or setting.value.raw != value or where != path.resolve():
            raise RedispolicyError(
                f"after the edit, {display_path(path)} does not set {name} to {value}; it was put back",
                "make the change by hand",
            )


def _propose_patch(s: Settings, environment: str, values: dict[str, str]) -> ToolOutput:
    """--no-write: the edit as a patch file, validated and planned on a copy of the policy directory.

    No plan file: a plan is bound to the policy files as they are on disk, and these are not edited.
    """
    path = _editable_file(s, environment)
    shown = display_path(path)
    edit = set_config(shown, path.read_text(encoding="utf-8"), values)
    root = s.policy_dir.resolve()
    with tempfile.TemporaryDirectory(prefix="redispolicy-mcp-") as tmp:
        copy = Path(tmp) / "policies"
        shutil.copytree(root, copy, symlinks=True)
        copied = copy / path.resolve().relative_to(root)
        copied.write_text(edit.after, encoding="utf-8")
        scratch = dataclasses.replace(s, policy_dir=copy)
        _check_effective(scratch, environment, values, copied)
        planned = _command(
            scratch, lambda o: plan_cmd.run(o, plan_cmd.PlanRequest(env=environment, keys=False))
        )
    if planned.error:
        return planned
    patch_path = s.plan_dir / f"{_stamp(environment)}.patch"
    _write_private(patch_path, edit.diff())
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "command": "set_memory_limit",
        "environment": environment,
        "policy_file": shown,
        "policy_changed": False,
        "diff": edit.diff(),
        "plan_file": None,
        "patch_file": str(patch_path),
        "plan": planned.data,
        "apply": None,
        "next_step": f"apply the patch to {shown} (`git apply {patch_path}`), get it reviewed, then "
        f"`redispolicy plan -e {environment} --out FILE` and `redispolicy apply FILE`",
    }
    text = "\n".join(
        [
            f"Wrote the change to {shown} as a patch (the policy file is unchanged): {patch_path}",
            edit.diff().rstrip(),
            planned.text,
            f"Nothing was applied. Next: {data['next_step']}.",
        ]
    )
    return ToolOutput(data, text)


def _write_atomic(path: Path, text: str) -> None:
    """Replace the policy file whole (a reader sees the old or the new file), keeping its mode."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_private(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise RedispolicyError(
            f"cannot write {path}: {exc.strerror}",
            "start `redispolicy mcp` with --plan-dir pointing at a writable directory",
        ) from None
