"""redispolicy apply FILE | apply -e ENV: exactly the reviewed plan, atomically, or nothing.

With ``--remediate-keys``, once the config is as planned (applied, or nothing to change)
and under the same apply lock, the keys of ``remediate: true`` classes get their TTL as
``remediate --execute`` gives it (same stage, same checkpoint file, so ``remediate
--execute --resume`` continues a cut-off pass). The audit record holds both steps.

Exit 0 applied (or nothing to do), 1 nothing changed (stale, refused, declined, rolled
back), 3 partially applied / not persisted / unknown outcome, or config applied and the
key remediation cut off (interrupted or failed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from redispolicy import __version__
from redispolicy.apply import audit
from redispolicy.apply.engine import EngineResult, Item, apply_items
from redispolicy.apply.lock import ApplyLock
from redispolicy.apply.remediate import remediable
from redispolicy.apply.report import AppliedChange, ApplyReport, KeysOutcome
from redispolicy.catalog.normalize import normalize
from redispolicy.catalog.params import catalog
from redispolicy.commands import Options, Result
from redispolicy.commands import plan as plan_cmd
from redispolicy.commands.keyops import (
    Session,
    attach,
    default_audit_log,
    require_primary,
    require_standalone,
)
from redispolicy.commands.remediate import audit_changes, default_checkpoint, run_pass
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions, address, connect
from redispolicy.live.snapshot import identify
from redispolicy.plan.compare import compare as compare_plan
from redispolicy.plan.planfile import (
    PlanFileError,
    Provenance,
    SavedPlan,
    file_digest,
    from_document,
    moved,
    to_document,
)
from redispolicy.policy.model import Policy
from redispolicy.policy.resolve import display_path
from redispolicy.render import renderer
from redispolicy.render.style import Style
from redispolicy.render.text import remediate_keys_notice, this_node_only
from redispolicy.secret import Secret

Confirm = Callable[[str], bool]

NOTHING_TO_REMEDIATE = ("no key class has `remediate: true` with `ttl: {max: ...}`: there is nothing to "
                        "remediate")


@dataclasses.dataclass(frozen=True)
class KeyStep:
    """--remediate-keys: what the key step needs besides the policy."""

    env: str  # the -e name: it names the checkpoint file `remediate -e ENV` uses
    max_rate: int | None
    command: str  # `redispolicy remediate -e ENV ...` as the user would type it, without --execute

    @classmethod
    def make(cls, env: str, max_rate: int | None, policy_dir: Path, url: str | None) -> KeyStep:
        cmd = f"redispolicy remediate -e {shlex.quote(env)}"
        if policy_dir != Path("policies"):
            cmd += f" --policy-dir {shlex.quote(str(policy_dir))}"
        if url is not None:
            cmd += " --url URL"  # a placeholder: the URL may carry a password
        return cls(env, max_rate, cmd)


def run_file(opts: Options, plan_path: Path, url: str | None, lock_timeout: float, no_lock: bool,
             audit_log: Path | None, remediate_keys: bool = False, max_rate: int | None = None) -> Result:
    try:
        saved = from_document(json.loads(plan_path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise RedispolicyError(f"cannot read the plan {plan_path}: {exc.strerror}", "check the path") from None
    except (ValueError, PlanFileError) as exc:
        raise RedispolicyError(f"{plan_path}: {exc}", "make a new plan with `redispolicy plan --out FILE`") from None
    changed = [p for p, digest in saved.files if not Path(p).is_file() or file_digest(Path(p).read_bytes()) != digest]
    if changed:
        return _stale_policy(opts, saved, changed, remediate_keys)
    if saved.environment is None:
        raise RedispolicyError(f"{plan_path} names no environment", "make a new plan with -e ENV")
    policy_opts = Options(Path(saved.policy_dir or opts.policy_dir), opts.environ, opts.output, opts.reports,
                          opts.style)
    policy, failed = plan_cmd.load_policy(policy_opts, saved.environment, url is not None)
    if failed is not None:
        return failed
    assert policy is not None
    conn = plan_cmd.connect_options(policy, url)
    step = KeyStep.make(saved.environment, max_rate, policy_opts.policy_dir, url) if remediate_keys else None
    return _execute(opts, saved, policy, conn, lock_timeout, no_lock, audit_log, _fingerprint(plan_path.read_bytes()),
                    step)


def run_env(opts: Options, env: str, url: str | None, auto_approve: bool, interactive: bool, confirm: Confirm,
            lock_timeout: float, no_lock: bool, audit_log: Path | None, remediate_keys: bool = False,
            max_rate: int | None = None) -> Result:
    policy, failed = plan_cmd.load_policy(opts, env, url is not None)
    if failed is not None:
        return failed
    assert policy is not None
    conn = plan_cmd.connect_options(policy, url)
    identity, snapshot = plan_cmd.observe(policy, conn)
    plan = compare_plan(policy, identity, snapshot)
    shown = renderer("text", "plan")(plan, opts.style)
    step = KeyStep.make(env, max_rate, opts.policy_dir, url) if remediate_keys else None
    classes = [kc for kc in policy.keys if remediable(kc)] if step is not None else []
    if step is not None:  # the keys are part of what is confirmed
        shown += remediate_keys_notice([(kc.name, kc.pattern, kc.ttl_max or 0) for kc in classes], step.command,
                                       opts.style)
    if not plan.pending and not classes:
        if step is None:
            return Result(shown, 0)
        report = ApplyReport(env, identity.address, "nothing",
                             keys=KeysOutcome("nothing", detail=NOTHING_TO_REMEDIATE))
        result = _render(opts, report)
        prefix = shown + "\n" if opts.output == "text" else ""
        return Result(prefix + result.stdout, result.exit_code, result.files)
    if not auto_approve:
        if not interactive:
            raise RedispolicyError(
                "apply needs confirmation and there is no terminal to ask on",
                "review the plan and pass --auto-approve, or save it with `plan --out FILE` and run `apply FILE`")
        if not confirm(shown):
            keys = None if step is None else KeysOutcome("skipped", detail="apply was cancelled")
            report = ApplyReport(env, identity.address, "declined", keys=keys)
            return Result(renderer("text", "apply")(report, opts.style), report.exit_code)
    prov = Provenance(files=tuple((display_path(Path(f)), file_digest(Path(f).read_bytes())) for f in policy.files),
                      git_revision=None, tool_version=__version__,
                      created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                      policy_dir=display_path(opts.policy_dir))
    key = plan_cmd.fingerprint_key(opts.environ)
    doc = to_document(plan, prov, snapshot.values, key)
    saved = from_document(doc)
    result = _execute(opts, saved, policy, conn, lock_timeout, no_lock, audit_log,
                      _fingerprint(json.dumps(doc, sort_keys=True).encode()), step)
    prefix = shown + "\n" if auto_approve and opts.output == "text" else ""
    return Result(prefix + result.stdout, result.exit_code, result.files, result.step_summary)


def _fingerprint(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _stale_policy(opts: Options, saved: SavedPlan, changed: list[str], remediate_keys: bool) -> Result:
    keys = KeysOutcome("skipped", detail="the plan is stale") if remediate_keys else None
    report = ApplyReport(saved.environment, saved.target.get("address", "?"), "stale",
                         "the policy files changed since the plan was made",
                         moved=tuple(f"{p}: changed since the plan" for p in changed), keys=keys)
    return _render(opts, report)


def _render(opts: Options, report: ApplyReport) -> Result:
    fmt = opts.output if opts.output in ("text", "json") else "text"
    plain = Style(color=False, verbose=opts.style.verbose)
    files = {path: renderer(f if f in ("text", "json") else "text", "apply")(report, plain)
             for f, path in opts.reports}
    return Result(renderer(fmt, "apply")(report, opts.style), report.exit_code, files)


def _secret_for(policy: Policy, parameter: str, identity_product: str, identity_version: str) -> Secret | None:
    """The policy's value for a sensitive parameter, found by the name the server uses."""
    sc = catalog().for_server(identity_product, identity_version)
    for s in policy.config:
        look = sc.lookup(s.name) if sc.covered else catalog().lookup(s.name)
        if look is not None and look.canonical == parameter and isinstance(s.value.value, Secret):
            return s.value.value
    return None


def _execute(opts: Options, saved: SavedPlan, policy: Policy, conn: ConnectOptions, lock_timeout: float,
             no_lock: bool, audit_log: Path | None, plan_fp: str, step: KeyStep | None = None) -> Result:
    remediating = step is not None and any(remediable(kc) for kc in policy.keys)
    client = connect(conn)
    try:
        with _before_any_change(address(conn.url.reveal()), "+info"):
            identity = identify(client, address(conn.url.reveal()))
        if remediating:  # refused before anything changes, config included
            require_standalone(identity, "apply --remediate-keys")
            require_primary(identity, "apply --remediate-keys")
        lock = None if no_lock else ApplyLock(client)
        if lock is not None:
            with _before_any_change(identity.address, "+set and +eval on the lock key, or pass --no-lock"):
                lock.acquire(lock_timeout)
    except RedispolicyError as exc:
        # Refused before any change (lock held, NOPERM, a cluster or replica with --remediate-keys):
        # the trail still says who tried to apply which plan where, and why it stopped.
        client.close()
        _audit_refusal(opts, saved, policy, audit_log, address(conn.url.reveal()), plan_fp, exc.message)
        raise
    except BaseException:
        client.close()
        raise
    keyspace: Session | None = None
    try:
        if remediating:
            # The per-db connections are opened before the config step: a requirepass it sets
            # does not lock the key step out of the server.
            with _before_any_change(identity.address, "+info"):
                keyspace = attach(conn, client, identity)
                for db in keyspace.dbs:
                    keyspace.client_for(db)
        report = _apply_locked(saved, policy, conn, client, identity.run_id, identity.product, identity.version,
                               identity.address, plan_cmd.fingerprint_key(opts.environ))
        if step is not None:  # still under the same lock
            report = dataclasses.replace(report, keys=_remediate_keys(opts, policy, keyspace, report, step))
        if report.applied:
            report = dataclasses.replace(report, scope_note=this_node_only(identity, "apply"))
        audit_path = audit_log or _policy_audit_path(policy) or default_audit_log(opts.environ)
        entry = audit.record(
            time=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            environment=saved.environment, target=identity.address, plan_fingerprint=plan_fp,
            changes=[{"parameter": c.parameter, "before": c.before, "after": c.after, "sensitive": c.sensitive}
                     for c in report.applied],
            result=report.status, detail=report.detail,
            keys=None if report.keys is None else _audit_keys(report.keys))
        audit.append_file(audit_path, entry)
        stream = _policy_audit_stream(policy)
        if stream is not None:
            with contextlib.suppress(redis.RedisError):  # the file entry stands; the stream is a copy
                audit.append_stream(client, stream[0], stream[1], entry)
    finally:
        if keyspace is not None:
            keyspace.close_dbs()
        if lock is not None:
            lock.release()
        client.close()
    return _render(opts, report)


def _audit_refusal(opts: Options, saved: SavedPlan, policy: Policy, audit_log: Path | None, target: str,
                   plan_fp: str, why: str) -> None:
    """The audit record of an apply that stopped before changing anything (file only: the
    server may be the reason). A log that cannot be written does not hide the refusal itself."""
    entry = audit.record(
        time=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        environment=saved.environment, target=target, plan_fingerprint=plan_fp, changes=[],
        result="refused", detail=why)
    with contextlib.suppress(RedispolicyError):
        audit.append_file(audit_log or _policy_audit_path(policy) or default_audit_log(opts.environ), entry)


def _remediate_keys(opts: Options, policy: Policy, keyspace: Session | None, config: ApplyReport,
                    step: KeyStep) -> KeysOutcome:
    """The key step of --remediate-keys: only once the config is as planned, never after anything else."""
    if config.status not in ("applied", "nothing"):
        return KeysOutcome("skipped", detail=f"the config step ended '{config.status}'")
    if keyspace is None:
        return KeysOutcome("nothing", detail=NOTHING_TO_REMEDIATE)
    path = default_checkpoint(opts.environ, step.env, keyspace.identity.address)
    status, result, detail = run_pass(
        keyspace, policy, path, True, False, step.max_rate,
        resume_step=f"run `{step.command} --execute --resume` to continue",
        restart_step=f"run `{step.command} --execute`",
        errors=(redis.RedisError, OSError, RedispolicyError))
    if status == "done":
        return KeysOutcome(status, result)
    done = (f"{len(config.applied)} config change(s) applied" if config.status == "applied"
            else "the config was already as planned")
    return KeysOutcome(status, result, f"{done}; {result.changed} key(s) got a TTL, then key remediation was "
                                       f"{detail}")


def _audit_keys(keys: KeysOutcome) -> dict[str, Any]:
    """The audit record's `keys`: the outcome and the counts per class; never a key name or value."""
    entry: dict[str, Any] = {"result": keys.status, "detail": keys.detail}
    r = keys.result
    if r is not None:
        entry.update(method=r.method, complete=r.complete, scanned=r.scanned, classes=audit_changes(r),
                     no_ttl_fixed=r.no_ttl, over_max_lowered=r.over_max)
    return entry


@contextlib.contextmanager
def _before_any_change(addr: str, grant: str) -> Iterator[None]:
    """Errors met before anything was sent that changes the server: a clean message, exit 1."""
    try:
        yield
    except redis.exceptions.NoPermissionError as exc:
        raise RedispolicyError(f"{addr}: the ACL user may not do what apply needs, nothing was changed: "
                               f"NOPERM {str(exc).splitlines()[0]}", f"grant the apply user {grant}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise RedispolicyError(f"lost the connection to {addr} before changing anything, nothing was changed "
                               f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                               "check the server and the network, then run apply again") from None


def _policy_audit_path(policy: Policy) -> Path | None:
    log = policy.audit.get("log")
    return Path(log) if isinstance(log, str) and log else None


def _policy_audit_stream(policy: Policy) -> tuple[str, int] | None:
    stream = policy.audit.get("stream")
    if not isinstance(stream, dict):
        return None
    return str(stream.get("key", "redispolicy:audit")), int(stream.get("maxlen", 1000))


def _apply_locked(saved: SavedPlan, policy: Policy, conn: ConnectOptions, client: redis.Redis, run_id: str,
                  product: str, version: str, addr: str, key: bytes) -> ApplyReport:
    cat = catalog()
    not_applied = tuple((c.parameter, c.action) for c in saved.changes if c.action != "set")
    touched = [c.parameter for c in saved.changes]
    raw_now: dict[str, str | Secret] = {}
    normalized_now: dict[str, str | None] = {}
    for name in touched:
        with _before_any_change(addr, "+config|get and +config|set"):
            reply = client.config_get(name)
        value = reply.get(name, next(iter(reply.values()), None)) if reply else None
        look = cat.lookup(name)
        if value is None:
            normalized_now[name] = None
            continue
        if look and look.param.sensitive:
            raw_now[name] = Secret(str(value))
            continue
        raw_now[name] = str(value)
        try:
            normalized_now[name] = normalize(look.param, str(value)) if look else str(value)
        except (ValueError, OverflowError):
            normalized_now[name] = str(value)
    why = moved(saved, run_id, raw_now, normalized_now, key)
    if why:
        return ApplyReport(saved.environment, addr, "stale", "the server moved since the plan was made",
                           moved=tuple(why), not_applied=not_applied)
    items: list[Item] = []
    applied: list[AppliedChange] = []
    for c in saved.settable:
        look = cat.lookup(c.parameter)
        if look is None:
            raise RedispolicyError(f"the plan names '{c.parameter}', which this redispolicy does not know",
                                   "make a new plan with this version of redispolicy")
        if c.sensitive:
            secret = _secret_for(policy, c.parameter, product, version)
            if secret is None or secret.fingerprint(key) != c.after_fingerprint:
                return ApplyReport(saved.environment, addr, "stale",
                                   f"the value of {c.parameter} in the environment is not the one planned",
                                   moved=(f"{c.parameter}: the (sensitive) policy value differs from the plan",),
                                   not_applied=not_applied)
            items.append(Item(c.parameter, look.param, secret, secret, raw_now.get(c.parameter, "")))
            applied.append(AppliedChange(c.parameter, "(sensitive)", "(sensitive)", True))
        else:
            assert c.send is not None and c.after is not None
            items.append(Item(c.parameter, look.param, c.send, c.after, raw_now.get(c.parameter, "")))
            applied.append(AppliedChange(c.parameter, c.before, c.after, False))
    if not items:
        return ApplyReport(saved.environment, addr, "nothing", not_applied=not_applied)
    multi = product == "valkey" or int(version.split(".")[0]) >= 7

    extra: list[redis.Redis] = []  # reconnections after a lost connection, closed below
    first = True

    def reuse_then_reconnect() -> redis.Redis:
        nonlocal first
        if first:
            first = False
            return client
        extra.append(connect(conn))
        return extra[-1]

    try:
        result: EngineResult = apply_items(reuse_then_reconnect, items, multi)
    finally:
        for again in extra:
            with contextlib.suppress(redis.RedisError, OSError):
                again.close()
    if result.status != "applied":
        return ApplyReport(saved.environment, addr, result.status, result.detail, tuple(applied),
                           not_applied=not_applied, mismatches=result.mismatches, now_live=result.now_live)
    persisted: bool | None = None
    status, detail = "applied", ""
    if policy.persist:
        try:
            client.execute_command("CONFIG", "REWRITE")
            persisted = True
        except redis.ResponseError as exc:
            persisted = False
            status, detail = "not_persisted", f"applied at runtime, not persisted: {str(exc).splitlines()[0]}"
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            persisted = False
            status, detail = "not_persisted", f"applied at runtime, not persisted: {type(exc).__name__}"
    return ApplyReport(saved.environment, addr, status, detail, tuple(applied), verified=True,
                       persisted=persisted, not_applied=not_applied, now_live=result.now_live)


