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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from redispolicy import __version__
from redispolicy.apply import audit, rollout
from redispolicy.apply.lock import ApplyLock
from redispolicy.apply.remediate import RemediationResult, remediable, unsafe
from redispolicy.apply.report import ApplyReport, KeysOutcome, Unreached
from redispolicy.apply.stage import (
    ConfigRequest,
    apply_config,
    before_any_change,
    config_unavailable_expected,
)
from redispolicy.commands import Options, Result
from redispolicy.commands import plan as plan_cmd
from redispolicy.commands.keyops import (
    Session,
    attach,
    default_audit_log,
    require_primary,
    require_standalone,
)
from redispolicy.commands.keyops import cluster as keyops_cluster
from redispolicy.commands.keyops import session as keyops_session
from redispolicy.commands.output import render_result
from redispolicy.commands.progress import progress_line
from redispolicy.commands.remediate import (
    PassStatus,
    audit_changes,
    cluster_checkpoint,
    default_checkpoint,
    run_cluster_pass,
    run_pass,
)
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions, address, connect
from redispolicy.live.model import Identity
from redispolicy.live.snapshot import identify
from redispolicy.live.topology import Deployment
from redispolicy.plan.planfile import (
    MAX_PLAN_BYTES,
    PlanFileError,
    Provenance,
    SavedPlan,
    file_digest,
    parse_document,
    parse_plan,
    read_bounded,
    to_document,
)
from redispolicy.policy.model import Policy
from redispolicy.policy.resolve import display_path
from redispolicy.policy.yamlload import MAX_FILE_BYTES
from redispolicy.render import renderer
from redispolicy.render.text.apply import remediate_keys_notice

Confirm = Callable[[str], bool]

NOTHING_TO_REMEDIATE = (
    "no key class has `remediate: true` with `ttl: {max: ...}`: there is nothing to remediate"
)


@dataclasses.dataclass(frozen=True)
class KeyStep:
    """--remediate-keys: what the key step needs besides the policy."""

    env: str  # the -e name: it names the checkpoint file `remediate -e ENV` uses
    max_rate: int | None
    command: str  # `redispolicy remediate -e ENV ...` as the user would type it, without --execute

    @property
    def hints(self) -> dict[str, str]:
        """How a cut-off key pass says to go on: with remediate, whose checkpoint it shares."""
        return {
            "resume_step": f"run `{self.command} --execute --resume` to continue",
            "restart_step": f"run `{self.command} --execute`",
        }

    @classmethod
    def make(cls, env: str, max_rate: int | None, policy_dir: Path, url: str | None) -> KeyStep:
        cmd = f"redispolicy remediate -e {shlex.quote(env)}"
        if policy_dir != Path("policies"):
            cmd += f" --policy-dir {shlex.quote(str(policy_dir))}"
        if url is not None:
            cmd += " --url URL"  # a placeholder: the URL may carry a password
        return cls(env, max_rate, cmd)


@dataclasses.dataclass(frozen=True)
class ApplyRequest:
    """`redispolicy apply`'s flags, by name (the same for `apply FILE` and `apply -e ENV`)."""

    url: str | None = None
    lock_timeout: float = 30.0
    no_lock: bool = False
    audit_log: Path | None = None
    remediate_keys: bool = False
    max_rate: int | None = None
    auto_approve: bool = False  # -e only: apply the fresh plan without asking
    interactive: bool = False  # -e only: there is a terminal to ask on
    pause: float = 0.0  # a deployment: seconds to wait after each changed node
    rollback_on_failure: bool = False  # a deployment: put changed nodes back when one fails
    health_timeout: float = 60.0  # a deployment: how long to wait for health after each node (0: no checks)


def run_file(opts: Options, plan_path: Path, req: ApplyRequest) -> Result:
    key = plan_cmd.fingerprint_key(opts.environ)
    try:
        data = read_bounded(plan_path, MAX_PLAN_BYTES, "a plan file")
        plan_fp = _fingerprint(data)
        saved = parse_plan(data, key)
    except OSError as exc:
        raise RedispolicyError(
            f"cannot read the plan {plan_path}: {exc.strerror}", "check the path"
        ) from None
    except PlanFileError as exc:
        # A plan file that is not what `plan --out` wrote is a security event: it goes in the trail.
        _audit(
            opts,
            None,
            req.audit_log,
            None,
            str(plan_path),
            "(unverified)",
            "refused",
            f"plan file refused: {exc}",
        )
        raise RedispolicyError(
            f"{plan_path}: refused, nothing was changed: {exc}",
            "make a new plan with `redispolicy plan -e ENV --out FILE`, review it and apply that file",
        ) from None
    policy_dir = Path(saved.policy_dir or opts.policy_dir)
    changed = _changed_files(saved, policy_dir)
    if changed:
        return _stale_policy(opts, saved, changed, req.remediate_keys)
    policy_opts = Options(policy_dir, opts.environ, opts.output, opts.reports, opts.style)
    policy, failed = plan_cmd.load_policy(policy_opts, saved.environment, req.url is not None)
    if failed is not None:
        return failed
    assert policy is not None
    planned = {Path(p).resolve() for p, _ in saved.files}
    loaded = {Path(p).resolve() for p in policy.files}
    if planned != loaded:
        why = (
            f"the plan names the policy files {', '.join(sorted(p for p, _ in saved.files))}, but environment "
            f"'{saved.environment}' is made of {', '.join(policy.files)}"
        )
        _audit(
            opts, policy, req.audit_log, saved.environment, saved.target["address"], plan_fp, "refused", why
        )
        raise RedispolicyError(
            f"{plan_path}: refused, nothing was changed: {why}",
            "make a new plan with `redispolicy plan -e ENV --out FILE`",
        )
    conn = plan_cmd.connect_options(policy, req.url)
    step = (
        KeyStep.make(saved.environment, req.max_rate, policy_opts.policy_dir, req.url)
        if req.remediate_keys
        else None
    )
    return _execute(opts, saved, policy, conn, req, plan_fp, key, step)


def _changed_files(saved: SavedPlan, policy_dir: Path) -> list[str]:
    """The plan's policy files that changed since the plan (or are gone). Refuses a file outside the
    policy directory, and reads each with the policy size bound: the plan file chose these paths."""
    root = policy_dir.resolve()
    changed = []
    for p, digest in saved.files:
        path = Path(p)
        if not path.resolve().is_relative_to(root):
            raise RedispolicyError(
                f"the plan names {p}, which is outside the policy directory {policy_dir}; "
                "nothing was changed",
                "make a new plan with `redispolicy plan -e ENV --out FILE`",
            )
        try:
            data = read_bounded(path, MAX_FILE_BYTES, "a policy file")
        except FileNotFoundError:
            changed.append(p)
            continue
        except (OSError, PlanFileError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise RedispolicyError(
                f"cannot read the policy file {p} the plan names: {why}; nothing was changed",
                "check the file, or make a new plan",
            ) from None
        if file_digest(data) != digest:
            changed.append(p)
    return changed


def run_env(opts: Options, env: str, req: ApplyRequest, confirm: Confirm) -> Result:
    policy, failed = plan_cmd.load_policy(opts, env, req.url is not None)
    if failed is not None:
        return failed
    assert policy is not None
    conn = plan_cmd.connect_options(policy, req.url)
    plan, lives = plan_cmd.plan_deployment(policy, conn)
    identity = plan.identity
    unchecked = next((n for n in plan.all_nodes if not n.config_available), None)
    if unchecked is not None and not config_unavailable_expected(policy):
        why = (
            f"config could not be checked on {unchecked.identity.address}, so nothing was changed: "
            f"{unchecked.config_reason}"
        )
        _audit(opts, policy, req.audit_log, env, identity.address, "(no plan)", "refused", why)
        raise RedispolicyError(
            why,
            "grant the apply user +config|get and +config|set; for a managed service whose "
            "config is changed elsewhere, declare `target: {config: unavailable}`",
        )
    shown = renderer("text", "plan")(plan, opts.style)
    step = KeyStep.make(env, req.max_rate, opts.policy_dir, req.url) if req.remediate_keys else None
    classes = [kc for kc in policy.keys if remediable(kc)] if step is not None else []
    if step is not None:  # the keys are part of what is confirmed
        shown += remediate_keys_notice(
            [(kc.name, kc.pattern, kc.ttl_max or 0) for kc in classes], step.command, opts.style
        )
    if not plan.pending_anywhere and not classes:
        if step is None:  # the plan says it all on a terminal; other formats get the apply report
            result = _render(opts, ApplyReport(env, identity.address, "nothing"))
            return Result(shown if opts.output == "text" else result.stdout, result.exit_code, result.files)
        report = ApplyReport(
            env, identity.address, "nothing", keys=KeysOutcome("nothing", detail=NOTHING_TO_REMEDIATE)
        )
        result = _render(opts, report)
        prefix = shown + "\n" if opts.output == "text" else ""
        return Result(prefix + result.stdout, result.exit_code, result.files)
    if not req.auto_approve:
        if not req.interactive:
            raise RedispolicyError(
                "apply needs confirmation and there is no terminal to ask on",
                "review the plan and pass --auto-approve, or save it with `plan --out FILE` and run `apply FILE`",
            )
        if not confirm(shown):
            keys = None if step is None else KeysOutcome("skipped", detail="apply was cancelled")
            return _render(opts, ApplyReport(env, identity.address, "declined", keys=keys))
    prov = Provenance(
        files=tuple((display_path(Path(f)), file_digest(Path(f).read_bytes())) for f in policy.files),
        git_revision=None,
        tool_version=__version__,
        created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        policy_dir=display_path(opts.policy_dir),
    )
    key = plan_cmd.fingerprint_key(opts.environ)
    doc = to_document(plan, prov, lives, key)
    saved = parse_document(doc, key)
    result = _execute(
        opts, saved, policy, conn, req, _fingerprint(json.dumps(doc, sort_keys=True).encode()), key, step
    )
    prefix = shown + "\n" if req.auto_approve and opts.output == "text" else ""
    return Result(prefix + result.stdout, result.exit_code, result.files, result.step_summary)


def _fingerprint(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _stale_policy(opts: Options, saved: SavedPlan, changed: list[str], remediate_keys: bool) -> Result:
    keys = KeysOutcome("skipped", detail="the plan is stale") if remediate_keys else None
    report = ApplyReport(
        saved.environment,
        saved.target.get("address", "?"),
        "stale",
        "the policy files changed since the plan was made",
        moved=tuple(f"{p}: changed since the plan" for p in changed),
        keys=keys,
    )
    return _render(opts, report)


def _render(opts: Options, report: ApplyReport) -> Result:
    return render_result(opts, "apply", report, report.exit_code)


def _execute(
    opts: Options,
    saved: SavedPlan,
    policy: Policy,
    conn: ConnectOptions,
    req: ApplyRequest,
    plan_fp: str,
    key: bytes,
    step: KeyStep | None = None,
) -> Result:
    lock_timeout, no_lock, audit_log = req.lock_timeout, req.no_lock, req.audit_log
    if saved.discovered:
        report = _deployment(opts, saved, policy, conn, req, plan_fp, key, step)
        if report is not None:
            return _render(opts, report)
    remediating = step is not None and any(remediable(kc) for kc in policy.keys)
    addr = address(conn.url.reveal())
    # CONFIG is server-wide and so is the lock: both on db 0, whatever database the URL names.
    client = connect(dataclasses.replace(conn, db=0))
    try:
        with before_any_change(addr, "+info"):
            identity = identify(client, addr)
        _require_planned_target(saved, identity)
        if identity.role not in ("master", "primary"):
            raise RedispolicyError(
                f"{identity.address} is a replica ({identity.role}): apply changes the node the plan was made "
                "for, and a replica's lock and audit stream cannot be written; nothing was changed",
                "make the plan and apply it against the primary (plan and apply do not cover replicas yet)",
            )
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
            with before_any_change(
                identity.address, "+set +get +eval +type +pttl on the lock key, or pass --no-lock"
            ):
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
            with before_any_change(identity.address, "+info"):
                keyspace = attach(conn, client, identity)
                for db in keyspace.dbs:
                    keyspace.client_for(db)
        request = ConfigRequest(
            saved,
            policy,
            identity,
            key,
            None if lock is None else lock.fence,
        )
        report = apply_config(client, lambda: connect(dataclasses.replace(conn, db=0)), request)
        if step is not None:  # still under the same lock
            report = dataclasses.replace(report, keys=_remediate_keys(opts, policy, keyspace, report, step))
        if report.applied:
            report = dataclasses.replace(report, unreached=Unreached.of(identity.mode, identity.replicas))
        entry = audit.record(
            time=_now(),
            environment=saved.environment,
            target=identity.address,
            plan_fingerprint=plan_fp,
            changes=[
                {"parameter": c.parameter, "before": c.before, "after": c.after, "sensitive": c.sensitive}
                for c in report.applied
            ],
            result=report.status,
            detail=report.detail,
            keys=None if report.keys is None else _audit_keys(report.keys),
        )
        try:
            audit.append_file(audit_path, entry)
        except RedispolicyError as exc:  # checked writable above; a full disk can still say no
            report = dataclasses.replace(report, audit_error=exc.message)
        stream = policy.audit.stream
        if stream is not None:
            with contextlib.suppress(redis.RedisError):  # the file entry stands; the stream is a copy
                audit.append_stream(client, stream.key, stream.maxlen, entry)
    finally:
        if keyspace is not None:
            keyspace.close_dbs()
        if lock is not None:
            lock.release()
        client.close()
    return _render(opts, report)


def _deployment(
    opts: Options,
    saved: SavedPlan,
    policy: Policy,
    conn: ConnectOptions,
    req: ApplyRequest,
    plan_fp: str,
    key: bytes,
    step: KeyStep | None,
) -> ApplyReport | None:
    """A plan made over a deployment, rolled out node by node (apply/rollout.py); None when plan and
    deployment are one node (the single-node apply runs). With --remediate-keys the key step runs
    once every node is as planned, under the rollout's locks, and gets its own audit record."""
    audit_path = req.audit_log or _policy_audit_path(policy) or default_audit_log(opts.environ)
    settings = rollout.Settings(
        req.lock_timeout,
        req.no_lock,
        audit_path,
        plan_fp,
        key,
        pause=req.pause,
        rollback_on_failure=req.rollback_on_failure,
        health_timeout=req.health_timeout,
    )
    where = address(conn.url.reveal())
    try:
        found = plan_cmd.find_deployment(conn)
        if len(found.members) == 1 and not saved.nodes:
            return None
        if step is not None:
            refusal = unsafe(policy.keys)  # refused before anything changes, config included
            if refusal is not None:
                raise refusal
    except RedispolicyError as exc:
        _audit(opts, policy, req.audit_log, saved.environment, where, plan_fp, "refused", exc.message)
        raise
    keys = None if step is None else _deployment_keys(opts, policy, conn, found, step)
    report = rollout.roll_out(saved, policy, conn, found, settings, notify=progress_line, keys=keys)
    if report.keys is not None and report.keys.status != "skipped":
        entry = audit.record(
            time=_now(),
            environment=saved.environment,
            target=report.address,
            plan_fingerprint=plan_fp,
            changes=[],
            result="applied" if report.keys.status == "done" else report.keys.status,
            detail="apply --remediate-keys: " + (report.keys.detail or report.keys.status),
            keys=_audit_keys(report.keys),
        )
        try:
            audit.append_file(audit_path, entry)
        except RedispolicyError as exc:
            report = dataclasses.replace(report, audit_error=exc.message)
    return report


def _require_planned_target(saved: SavedPlan, identity: Identity) -> None:
    """A plan is bound to the server it was made for: its address here, and (checked with the values)
    its run_id. A plan for another server is refused before the lock, not reported as stale."""
    if saved.target["address"] != identity.address:
        raise RedispolicyError(
            f"the plan was made for {saved.target['address']}, but this run reaches "
            f"{identity.address}; nothing was changed",
            "apply it with the URL it was planned with, or make a new plan for this server",
        )
    if (saved.target["product"], saved.target["version"]) != (identity.product, identity.version):
        raise RedispolicyError(
            f"the plan was made for {saved.target['product']} {saved.target['version']} at "
            f"{identity.address}, which now runs {identity.product} {identity.version}; "
            "nothing was changed",
            "make a new plan",
        )


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _audit(
    opts: Options,
    policy: Policy | None,
    audit_log: Path | None,
    environment: str | None,
    target: str,
    plan_fp: str,
    result: str,
    why: str,
) -> None:
    """The audit record of an apply that stopped before changing anything (file only: the
    server may be the reason). A log that cannot be written does not hide the refusal itself."""
    entry = audit.record(
        time=_now(),
        environment=environment,
        target=target,
        plan_fingerprint=plan_fp,
        changes=[],
        result=result,
        detail=why,
    )
    path = (
        audit_log
        or (_policy_audit_path(policy) if policy is not None else None)
        or default_audit_log(opts.environ)
    )
    with contextlib.suppress(RedispolicyError):
        audit.append_file(path, entry)


def _remediate_keys(
    opts: Options, policy: Policy, keyspace: Session | None, config: ApplyReport, step: KeyStep
) -> KeysOutcome:
    """The key step of --remediate-keys: only once the config is as planned, never after anything else."""
    if config.status not in ("applied", "nothing"):
        return KeysOutcome("skipped", detail=f"the config step ended '{config.status}'")
    if keyspace is None:
        return KeysOutcome("nothing", detail=NOTHING_TO_REMEDIATE)
    path = default_checkpoint(opts.environ, step.env, keyspace.identity.address)
    status, result, detail = run_pass(
        keyspace, policy, path, True, False, step.max_rate, **step.hints, errors=KEY_STEP_ERRORS
    )
    return _keys_outcome(status, result, detail, config)


KEY_STEP_ERRORS = (redis.RedisError, OSError, RedispolicyError)


def _keys_outcome(
    status: PassStatus, result: RemediationResult, detail: str, config: ApplyReport
) -> KeysOutcome:
    """A finished or cut-off key pass as the apply report words it."""
    if status == "done":
        return KeysOutcome("done", result)
    assert status != "dry_run"  # the pass was asked to execute
    done = (
        f"{len(config.applied)} config change(s) applied"
        if config.status == "applied"
        else "the config was already as planned"
    )
    return KeysOutcome(
        status, result, f"{done}; {result.changed} key(s) got a TTL, then key remediation was {detail}"
    )


def _deployment_keys(
    opts: Options, policy: Policy, conn: ConnectOptions, found: Deployment, step: KeyStep
) -> rollout.KeysStep:
    """--remediate-keys over a deployment, run by the rollout under its locks once every node is as
    planned: the primary's keys (its replicas copy what it changes), or every cluster master's."""
    entry = next((m for m in found.members if m.given), found.members[0])
    if found.mode != "cluster":
        entry = found.members[0]  # the primary: discovery lists it first

    def run(config: ApplyReport) -> KeysOutcome:
        if not any(remediable(kc) for kc in policy.keys):
            return KeysOutcome("nothing", detail=NOTHING_TO_REMEDIATE)
        try:
            with keyops_session(plan_cmd.node_options(conn, entry)) as s:
                if s.identity.mode != "cluster":
                    return _remediate_keys(opts, policy, s, config, step)
                with keyops_cluster(conn, s, "apply --remediate-keys") as cl:
                    path = cluster_checkpoint(opts.environ, step.env, cl, s)
                    status, result, detail = run_cluster_pass(
                        cl, policy, path, True, False, step.max_rate, **step.hints
                    )
        except RedispolicyError as exc:  # reaching the keys failed: no key was changed
            return KeysOutcome("skipped", detail=f"the keys could not be reached: {exc.message}")
        return _keys_outcome(status, result, detail, config)

    return run


def _audit_keys(keys: KeysOutcome) -> dict[str, Any]:
    """The audit record's `keys`: the outcome and the counts per class; never a key name or value."""
    entry: dict[str, Any] = {"result": keys.status, "detail": keys.detail}
    r = keys.result
    if r is not None:
        entry.update(
            method=r.method,
            complete=r.complete,
            scanned=r.scanned,
            classes=audit_changes(r),
            no_ttl_fixed=r.no_ttl,
            over_max_lowered=r.over_max,
        )
    return entry


def _policy_audit_path(policy: Policy) -> Path | None:
    return Path(policy.audit.log) if policy.audit.log else None
