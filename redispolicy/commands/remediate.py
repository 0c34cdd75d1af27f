"""redispolicy remediate -e ENV [--execute] [--resume]: give keys of `remediate: true` classes their TTL.

A dry run by default: an exact, rate-limited scan counting the keys that would get a
TTL (no TTL) or have it lowered (above max). ``--execute`` changes them (EXPIRE NX/LT,
or an atomic script on Redis 6) under the server's apply lock, reports the exact counts
and appends an audit record. An interrupted ``--execute`` leaves a cursor checkpoint;
``--resume`` continues from it.

Exit 0 (dry run or done), 1 error, 130 interrupted (the checkpoint is kept).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import redis

from redispolicy.apply.remediate import (
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
    Session,
    apply_lock,
    rate_for,
    require_primary,
    require_standalone,
    reserved_keys,
    session,
    state_file,
    write_audit,
)
from redispolicy.commands.output import render_result
from redispolicy.commands.progress import progress_bar
from redispolicy.errors import UsageError
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
        require_standalone(ident, "remediate")
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
    stage = Remediation(
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
