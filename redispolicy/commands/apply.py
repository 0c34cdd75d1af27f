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
from redispolicy.apply.lock import ApplyLock, Fence
from redispolicy.apply.remediate import remediable, unsafe
from redispolicy.apply.report import AppliedChange, ApplyReport, KeysOutcome
from redispolicy.catalog.features import supports_multi_config_set
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
from redispolicy.live.snapshot import Identity, config_snapshot, identify, with_exact
from redispolicy.plan.compare import compare as compare_plan
from redispolicy.plan.compare import hidden_names
from redispolicy.plan.planfile import (
    MAX_PLAN_BYTES,
    PlanFileError,
    Provenance,
    SavedPlan,
    file_digest,
    moved,
    parse_document,
    parse_plan,
    read_bounded,
    rederive,
    to_document,
)
from redispolicy.policy.model import Policy
from redispolicy.policy.resolve import display_path
from redispolicy.policy.yamlload import MAX_FILE_BYTES
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
    key = plan_cmd.fingerprint_key(opts.environ)
    try:
        data = read_bounded(plan_path, MAX_PLAN_BYTES, "a plan file")
        plan_fp = _fingerprint(data)
        saved = parse_plan(data, key)
    except OSError as exc:
        raise RedispolicyError(f"cannot read the plan {plan_path}: {exc.strerror}", "check the path") from None
    except PlanFileError as exc:
        # A plan file that is not what `plan --out` wrote is a security event: it goes in the trail.
        _audit(opts, None, audit_log, None, str(plan_path), "(unverified)", "refused", f"plan file refused: {exc}")
        raise RedispolicyError(f"{plan_path}: refused, nothing was changed: {exc}",
                               "make a new plan with `redispolicy plan -e ENV --out FILE`, review it and apply "
                               "that file") from None
    policy_dir = Path(saved.policy_dir or opts.policy_dir)
    changed = _changed_files(saved, policy_dir)
    if changed:
        return _stale_policy(opts, saved, changed, remediate_keys)
    policy_opts = Options(policy_dir, opts.environ, opts.output, opts.reports, opts.style)
    policy, failed = plan_cmd.load_policy(policy_opts, saved.environment, url is not None)
    if failed is not None:
        return failed
    assert policy is not None
    planned = {Path(p).resolve() for p, _ in saved.files}
    loaded = {Path(p).resolve() for p in policy.files}
    if planned != loaded:
        why = (f"the plan names the policy files {', '.join(sorted(p for p, _ in saved.files))}, but environment "
               f"'{saved.environment}' is made of {', '.join(policy.files)}")
        _audit(opts, policy, audit_log, saved.environment, saved.target["address"], plan_fp, "refused", why)
        raise RedispolicyError(f"{plan_path}: refused, nothing was changed: {why}",
                               "make a new plan with `redispolicy plan -e ENV --out FILE`")
    conn = plan_cmd.connect_options(policy, url)
    step = KeyStep.make(saved.environment, max_rate, policy_opts.policy_dir, url) if remediate_keys else None
    return _execute(opts, saved, policy, conn, lock_timeout, no_lock, audit_log, plan_fp, step)


def _changed_files(saved: SavedPlan, policy_dir: Path) -> list[str]:
    """The plan's policy files that changed since the plan (or are gone). Refuses a file outside the
    policy directory, and reads each with the policy size bound: the plan file chose these paths."""
    root = policy_dir.resolve()
    changed = []
    for p, digest in saved.files:
        path = Path(p)
        if not path.resolve().is_relative_to(root):
            raise RedispolicyError(f"the plan names {p}, which is outside the policy directory {policy_dir}; "
                                   "nothing was changed", "make a new plan with `redispolicy plan -e ENV --out FILE`")
        try:
            data = read_bounded(path, MAX_FILE_BYTES, "a policy file")
        except FileNotFoundError:
            changed.append(p)
            continue
        except (OSError, PlanFileError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise RedispolicyError(f"cannot read the policy file {p} the plan names: {why}; nothing was changed",
                                   "check the file, or make a new plan") from None
        if file_digest(data) != digest:
            changed.append(p)
    return changed


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
    if not plan.config_available and not _config_unavailable_expected(policy):
        why = f"config could not be checked on {identity.address}, so nothing was changed: {plan.config_reason}"
        _audit(opts, policy, audit_log, env, identity.address, "(no plan)", "refused", why)
        raise RedispolicyError(why, "grant the apply user +config|get and +config|set; for a managed service whose "
                                    "config is changed elsewhere, declare `target: {config: unavailable}`")
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
    saved = parse_document(doc, key)
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
    addr = address(conn.url.reveal())
    # CONFIG is server-wide and so is the lock: both on db 0, whatever database the URL names.
    client = connect(dataclasses.replace(conn, db=0))
    try:
        with _before_any_change(addr, "+info"):
            identity = identify(client, addr)
        _require_planned_target(saved, identity)
        if identity.role not in ("master", "primary"):
            raise RedispolicyError(
                f"{identity.address} is a replica ({identity.role}): apply changes the node the plan was made "
                "for, and a replica's lock and audit stream cannot be written; nothing was changed",
                "make the plan and apply it against the primary (plan and apply do not cover replicas yet)")
        if remediating:  # refused before anything changes, config included
            require_standalone(identity, "apply --remediate-keys")
            require_primary(identity, "apply --remediate-keys")
            refusal = unsafe(policy.keys)
            if refusal is not None:
                raise refusal
        audit_path = audit_log or _policy_audit_path(policy) or default_audit_log(opts.environ)
        audit.check_writable(audit_path)  # an apply that cannot leave a trail does not start
        lock = None if no_lock else ApplyLock(client)
        if lock is not None:
            with _before_any_change(identity.address, "+set +get +eval +type +pttl on the lock key, or pass --no-lock"):
                lock.acquire(lock_timeout)
    except RedispolicyError as exc:
        # Refused before any change (lock held, NOPERM, a replica, another server, a cluster with
        # --remediate-keys): the trail still says who tried to apply which plan where, and why it stopped.
        client.close()
        _audit(opts, policy, audit_log, saved.environment, addr, plan_fp, "refused", exc.message)
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
        report = _apply_locked(saved, policy, conn, client, identity, plan_cmd.fingerprint_key(opts.environ),
                               fence=None if lock is None else lock.fence)
        if step is not None:  # still under the same lock
            report = dataclasses.replace(report, keys=_remediate_keys(opts, policy, keyspace, report, step))
        if report.applied:
            report = dataclasses.replace(report, scope_note=this_node_only(identity, "apply"))
        entry = audit.record(
            time=_now(), environment=saved.environment, target=identity.address, plan_fingerprint=plan_fp,
            changes=[{"parameter": c.parameter, "before": c.before, "after": c.after, "sensitive": c.sensitive}
                     for c in report.applied],
            result=report.status, detail=report.detail,
            keys=None if report.keys is None else _audit_keys(report.keys))
        try:
            audit.append_file(audit_path, entry)
        except RedispolicyError as exc:  # checked writable above; a full disk can still say no
            report = dataclasses.replace(report, audit_error=exc.message)
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


def _require_planned_target(saved: SavedPlan, identity: Identity) -> None:
    """A plan is bound to the server it was made for: its address here, and (checked with the values)
    its run_id. A plan for another server is refused before the lock, not reported as stale."""
    if saved.target["address"] != identity.address:
        raise RedispolicyError(f"the plan was made for {saved.target['address']}, but this run reaches "
                               f"{identity.address}; nothing was changed",
                               "apply it with the URL it was planned with, or make a new plan for this server")
    if (saved.target["product"], saved.target["version"]) != (identity.product, identity.version):
        raise RedispolicyError(f"the plan was made for {saved.target['product']} {saved.target['version']} at "
                               f"{identity.address}, which now runs {identity.product} {identity.version}; "
                               "nothing was changed", "make a new plan")


def _config_unavailable_expected(policy: Policy) -> bool:
    """`target: {config: unavailable}`: a managed service whose CONFIG is blocked by design."""
    return policy.target is not None and policy.target.config == "unavailable"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _audit(opts: Options, policy: Policy | None, audit_log: Path | None, environment: str | None, target: str,
           plan_fp: str, result: str, why: str) -> None:
    """The audit record of an apply that stopped before changing anything (file only: the
    server may be the reason). A log that cannot be written does not hide the refusal itself."""
    entry = audit.record(time=_now(), environment=environment, target=target, plan_fingerprint=plan_fp,
                         changes=[], result=result, detail=why)
    path = audit_log or (_policy_audit_path(policy) if policy is not None else None) or default_audit_log(opts.environ)
    with contextlib.suppress(RedispolicyError):
        audit.append_file(path, entry)


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


def _apply_locked(saved: SavedPlan, policy: Policy, conn: ConnectOptions, client: redis.Redis,
                  identity: Identity, key: bytes, fence: Fence | None = None) -> ApplyReport:
    """Under the lock: read the server, check the plan still describes it and is the policy's, apply.

    What is sent comes from the policy compared with the server now (``fresh``), never from
    the file: the file only selects which of the policy's changes were reviewed.
    """
    env, addr = saved.environment, identity.address
    not_applied = tuple((c.parameter, c.action) for c in saved.changes if c.action != "set")
    with _before_any_change(addr, "+config|get and +config|set"):
        snapshot = with_exact(client, config_snapshot(client), hidden_names(policy, identity))
    if not snapshot.available:
        if _config_unavailable_expected(policy) and not saved.changes:
            return ApplyReport(env, addr, "nothing", "config not checked here (expected: target.config: "
                                                     "unavailable)")
        return ApplyReport(env, addr, "refused", f"config could not be checked, so nothing was changed: "
                                                 f"{snapshot.reason}", not_applied=not_applied)
    fresh = compare_plan(policy, identity, snapshot)
    raw_now: dict[str, str | Secret] = {}
    normalized_now: dict[str, str | None] = {}
    by_name = {c.parameter: c for c in fresh.changes}
    for c in saved.changes:
        value = snapshot.values.get(c.parameter)
        if value is None:
            normalized_now[c.parameter] = None
            continue
        raw_now[c.parameter] = value
        if not isinstance(value, Secret):
            want = by_name.get(c.parameter)
            # compare() normalized the live value the same way when it made `before`
            normalized_now[c.parameter] = want.before if want is not None else value
    # Forged entries first (what does not depend on the server's values), then staleness, then the rest.
    forged = rederive(saved, fresh, key, static=True)
    why = [] if forged else moved(saved, identity.run_id, raw_now, normalized_now, key)
    if why:
        return ApplyReport(env, addr, "stale", "the server moved since the plan was made",
                           moved=tuple(why), not_applied=not_applied)
    forged = forged or rederive(saved, fresh, key)
    if forged:
        return ApplyReport(env, addr, "refused", "the plan asks for changes the policy does not: it was not made "
                                                 "from these policy files, or was edited", moved=tuple(forged),
                           not_applied=not_applied)
    cat = catalog()
    items: list[Item] = []
    applied: list[AppliedChange] = []
    for c in saved.settable:
        want = by_name[c.parameter]
        look = cat.lookup(c.parameter)
        assert look is not None  # compare() only makes changes for parameters the catalog knows
        before = raw_now.get(c.parameter, "")
        if want.sensitive:
            secret = _secret_for(policy, c.parameter, identity.product, identity.version)
            if secret is None:
                return ApplyReport(env, addr, "stale", f"the value of {c.parameter} in the environment is not "
                                                       "the one planned", not_applied=not_applied)
            items.append(Item(c.parameter, look.param, secret, secret, before))
            applied.append(AppliedChange(c.parameter, "(sensitive)", "(sensitive)", True))
        else:
            items.append(Item(c.parameter, look.param, str(want.send), want.after, before))
            applied.append(AppliedChange(c.parameter, want.before, want.after, False))
    if not items:
        return ApplyReport(env, addr, "nothing", not_applied=not_applied)
    multi = supports_multi_config_set(identity.product, identity.version)

    extra: list[redis.Redis] = []  # reconnections after a lost connection, closed below
    first = True

    def reuse_then_reconnect() -> redis.Redis:
        nonlocal first
        if first:
            first = False
            return client
        extra.append(connect(dataclasses.replace(conn, db=0)))
        return extra[-1]

    try:
        # Fenced: the change takes effect only while this apply still holds the lock.
        result: EngineResult = apply_items(reuse_then_reconnect, items, multi, fence=fence)
    finally:
        for again in extra:
            with contextlib.suppress(redis.RedisError, OSError):
                again.close()
    if result.status != "applied":
        return ApplyReport(env, addr, result.status, result.detail, tuple(applied),
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
    return ApplyReport(env, addr, status, detail, tuple(applied), verified=True,
                       persisted=persisted, not_applied=not_applied, now_live=result.now_live)
