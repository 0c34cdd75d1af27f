"""redispolicy remediate -e ENV [--execute] [--resume]: give keys of `remediate: true` classes their TTL.

A dry run by default: an exact, rate-limited scan counting the keys that would get a
TTL (no TTL) or have it lowered (above max). ``--execute`` changes them (EXPIRE NX/LT,
or an atomic script on Redis 6) under the server's apply lock, reports the exact counts
and appends an audit record. An interrupted ``--execute`` leaves a cursor checkpoint;
``--resume`` continues from it.

On a Redis Cluster (any node's URL, a replica's included) the pass covers every master
serving slots, one after another, under the apply lock of every master, with one
checkpoint holding each master's cursor; the report and the audit record carry each
master's counts beside the totals.

Exit 0 (dry run or done), 1 error, 130 interrupted (the checkpoint is kept).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import redis

from redispolicy.apply.remediate import (
    ClusterRemediation,
    Remediation,
    RemediationReport,
    RemediationResult,
    remediable,
    unsafe,
)
from redispolicy.catalog.features import supports_conditional_expire
from redispolicy.commands import Options, Result
from redispolicy.commands import plan as plan_cmd
from redispolicy.commands.keyops import (
    Cluster,
    Session,
    apply_lock,
    cluster,
    cluster_locks,
    rate_for,
    require_primary,
    reserved_keys,
    session,
    state_file,
    write_audit,
)
from redispolicy.commands.output import render_result
from redispolicy.commands.progress import progress_bar
from redispolicy.errors import UsageError
from redispolicy.live.connect import ConnectOptions
from redispolicy.policy.model import Policy


def default_checkpoint(environ: dict[str, str], env: str, address: str) -> Path:
    return state_file(environ, f"remediate-{env}-{address}.json")


PassStatus = Literal["done", "dry_run", "interrupted", "failed"]


@dataclasses.dataclass(frozen=True)
class RemediateRequest:
    """`redispolicy remediate`'s flags, by name."""

    env: str
    url: str | None = None
    execute: bool = False
    resume: bool = False
    checkpoint: Path | None = None
    max_rate: int | None = None
    lock_timeout: float = 30.0
    audit_log: Path | None = None


def run(opts: Options, req: RemediateRequest) -> Result:
    if req.resume and not req.execute:
        raise UsageError("--resume continues an interrupted --execute", "add --execute")
    policy, failed = plan_cmd.load_policy(opts, req.env, req.url is not None)
    if failed is not None:
        return failed
    assert policy is not None
    refusal = unsafe(policy.keys)
    if refusal is not None:
        raise refusal  # before connecting: nothing can have changed (validate refuses it too)
    conn = plan_cmd.connect_options(policy, req.url)
    with session(conn) as s:
        ident = s.identity
        if not any(remediable(kc) for kc in policy.keys):
            return _render(
                opts,
                RemediationReport(
                    policy.environment,
                    ident.address,
                    "nothing",
                    detail="no key class has `remediate: true` with `ttl: {max: ...}`: there is nothing to remediate",
                ),
            )
        if ident.mode == "cluster":
            return _run_cluster(opts, req, policy, conn, s)
        if req.execute:
            require_primary(ident, "remediate")
        path = req.checkpoint or default_checkpoint(opts.environ, req.env, ident.address)
        with apply_lock(s.client, req.execute, req.lock_timeout):
            status, result, detail = run_pass(s, policy, path, req.execute, req.resume, req.max_rate)
            if req.execute:
                write_audit(
                    opts,
                    policy,
                    req.audit_log,
                    s.client,
                    "remediate",
                    ident.address,
                    audit_changes(result),
                    "applied" if status == "done" else status,
                    detail,
                )
    return _render(opts, RemediationReport(policy.environment, ident.address, status, result, detail))


def _run_cluster(
    opts: Options, req: RemediateRequest, policy: Policy, conn: ConnectOptions, s: Session
) -> Result:
    """Every master of the cluster ``s`` belongs to, under every master's lock."""
    with cluster(conn, s, "remediate") as cl:
        path = req.checkpoint or cluster_checkpoint(opts.environ, req.env, cl, s)
        with cluster_locks(cl, req.execute, req.lock_timeout, "remediate"):
            status, result, detail = run_cluster_pass(cl, policy, path, req.execute, req.resume, req.max_rate)
            if req.execute:
                stream = policy.audit.stream
                write_audit(
                    opts,
                    policy,
                    req.audit_log,
                    s.client if stream is None else cl.client_for_key(stream.key, s.client),
                    "remediate",
                    s.identity.address,
                    audit_changes(result),
                    "applied" if status == "done" else status,
                    detail,
                    nodes=audit_nodes(result),
                )
    return _render(opts, RemediationReport(policy.environment, s.identity.address, status, result, detail))


def cluster_checkpoint(environ: dict[str, str], env: str, cl: Cluster, entry: Session) -> Path:
    """One default checkpoint per cluster, whichever node the URL names: named after the lowest master
    (remediate and apply --remediate-keys share it, so either one resumes the other's pass)."""
    first = cl.masters[0].address if cl.masters else entry.identity.address
    return default_checkpoint(environ, env, f"cluster-{first}")


def run_cluster_pass(
    cl: Cluster,
    policy: Policy,
    checkpoint: Path | None,
    execute: bool,
    resume: bool,
    max_rate: int | None,
    *,
    resume_step: str = "run again with --execute --resume to continue",
    restart_step: str = "run again with --execute",
) -> tuple[PassStatus, RemediationResult, str]:
    """One remediation pass over every master of ``cl`` (the caller holds every master's lock)."""
    bar = progress_bar(
        sum(m.session.info.keys for m in cl.masters), "remediating keys" if execute else "counting keys"
    )
    reserved = cl.reserved(policy)
    stages = [
        Remediation(
            m.session.client_for,
            policy.keys,
            [0],  # a cluster has db 0 only (INFO keyspace lists none on an empty master)
            execute,
            supports_conditional_expire(m.session.identity.product, m.session.identity.version),
            rate_for(policy, max_rate),
            bar,
            None,
            False,
            m.address,
            m.session.identity.run_id,
            reserved=reserved,
            by_slot=True,
        )
        for m in cl.masters
    ]
    stage = ClusterRemediation(stages, execute, checkpoint if execute else None, resume)
    return _drive(stage, bar, checkpoint, execute, resume_step, restart_step)


def run_pass(
    s: Session,
    policy: Policy,
    checkpoint: Path | None,
    execute: bool,
    resume: bool,
    max_rate: int | None,
    *,
    resume_step: str = "run again with --execute --resume to continue",
    restart_step: str = "run again with --execute",
    errors: tuple[type[Exception], ...] = (redis.RedisError, OSError),
) -> tuple[PassStatus, RemediationResult, str]:
    """One remediation pass on the session's server, as `remediate` runs it (the caller holds the lock).

    Returns (status, result, detail): status is done | dry_run | interrupted (Ctrl-C) | failed (one
    of ``errors``); after a cut-off the result holds what was done so far and the detail says how to
    go on (``resume_step`` with a checkpoint, ``restart_step`` without one).
    """
    ident = s.identity
    bar = progress_bar(s.info.keys, "remediating keys" if execute else "counting keys")
    single = Remediation(
        s.client_for,
        policy.keys,
        s.dbs,
        execute,
        supports_conditional_expire(ident.product, ident.version),
        rate_for(policy, max_rate),
        bar,
        checkpoint if execute else None,
        resume,
        ident.address,
        ident.run_id,
        reserved=reserved_keys(policy),
    )
    return _drive(single, bar, checkpoint, execute, resume_step, restart_step, errors)


def _drive(
    stage: Remediation | ClusterRemediation,
    bar: Callable[[int], None] | None,
    checkpoint: Path | None,
    execute: bool,
    resume_step: str = "run again with --execute --resume to continue",
    restart_step: str = "run again with --execute",
    errors: tuple[type[Exception], ...] = (redis.RedisError, OSError),
) -> tuple[PassStatus, RemediationResult, str]:
    """Run a pass; a cut-off (Ctrl-C, one of ``errors``) keeps what was done and says how to go on."""
    status: PassStatus = "done" if execute else "dry_run"
    detail = ""
    try:
        result = stage.run()
    except KeyboardInterrupt:
        result = stage.result(False)
        status, detail = "interrupted", _cut_off("interrupted", result, checkpoint, resume_step, restart_step)
    except errors as exc:
        result = stage.result(False)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        status, detail = (
            "failed",
            _cut_off(f"stopped by an error ({first})", result, checkpoint, resume_step, restart_step),
        )
    finally:
        if bar is not None:
            bar(-1)
    return status, result, detail


def audit_changes(result: RemediationResult) -> list[dict[str, Any]]:
    """Per class, what the audit record keeps: names, pattern, max and counts (never a key)."""
    return [
        {
            "class": c.name,
            "pattern": c.pattern,
            "ttl_max_seconds": c.ttl_max,
            "no_ttl_fixed": c.no_ttl,
            "over_max_lowered": c.over_max,
        }
        for c in result.classes
    ]


def audit_nodes(result: RemediationResult) -> list[dict[str, Any]]:
    """A cluster's audit record: each master's address and counts (never a key)."""
    return [
        {
            "address": n.address,
            "scanned": n.scanned,
            "complete": n.complete,
            "no_ttl_fixed": n.no_ttl,
            "over_max_lowered": n.over_max,
            "classes": [
                {"class": c.name, "no_ttl_fixed": c.no_ttl, "over_max_lowered": c.over_max} for c in n.classes
            ],
        }
        for n in result.nodes
    ]


def _cut_off(
    what: str, result: RemediationResult, path: Path | None, resume_step: str, restart_step: str
) -> str:
    where = (
        f"the cursor is saved in {result.checkpoint}: {resume_step}"
        if result.checkpoint
        else f"no checkpoint was written ({path}): {restart_step}"
    )
    return f"{what} after {result.scanned} keys; {where}"


def _render(opts: Options, report: RemediationReport) -> Result:
    return render_result(opts, "remediation", report, report.exit_code)
