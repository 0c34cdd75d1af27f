"""redispolicy cleanup -e ENV [--execute]: delete the keys of classes with `cleanup:`.

A dry run by default: lists per class how many keys are eligible, with examples, and
deletes nothing. ``--execute`` takes the server's apply lock, lists the same way, shows
that list (``announce``) and then UNLINKs the listed keys in chunks of at most 500,
each key checked again atomically right before its deletion; it reports exact counts
and appends an audit record. A class whose pattern matches every key is refused before
connecting. Never FLUSHDB or FLUSHALL.

On a Redis Cluster (any node's URL, a replica's included) both steps cover every master
serving slots, one after another, under the apply lock of every master; the report and the
audit record carry each master's counts beside the totals.

Exit 0 (dry run or done), 1 refused or error, 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import redis

from redispolicy.apply.cleanup import (
    ClassCleanup,
    CleanupReport,
    CleanupStatus,
    Deleter,
    Found,
    NodeCleanup,
    combine,
    find_eligible,
    has_cleanup,
    refused,
)
from redispolicy.commands import Options, Result
from redispolicy.commands import plan as plan_cmd
from redispolicy.commands.keyops import (
    Session,
    apply_lock,
    cluster,
    cluster_locks,
    rate_for,
    require_primary,
    reserved_keys,
    session,
    write_audit,
)
from redispolicy.commands.output import render_result
from redispolicy.commands.progress import progress_bar
from redispolicy.live.connect import ConnectOptions
from redispolicy.policy.model import KeyClass, Policy
from redispolicy.render import renderer

Announce = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class CleanupRequest:
    """`redispolicy cleanup`'s flags, by name."""

    env: str
    url: str | None = None
    execute: bool = False
    max_rate: int | None = None
    lock_timeout: float = 30.0
    audit_log: Path | None = None
    examples: bool = False
    # `redispolicy mcp`'s cleanup_old_cache: narrows the loaded policy (one class, a longer idle time)
    scope: Callable[[Policy], Policy] | None = None


def run(opts: Options, req: CleanupRequest, announce: Announce) -> Result:
    policy, failed = plan_cmd.load_policy(opts, req.env, req.url is not None)
    if failed is not None:
        return failed
    assert policy is not None
    if req.scope is not None:
        policy = req.scope(policy)
    bad = refused(policy.keys)
    if bad:
        # Refused before connecting: nothing can have been deleted.
        return _render(
            opts,
            CleanupReport(
                policy.environment,
                "",
                "refused",
                execute=req.execute,
                refused=tuple((kc.name, kc.pattern) for kc in bad),
            ),
        )
    conn = plan_cmd.connect_options(policy, req.url)
    rate = rate_for(policy, req.max_rate)
    with session(conn) as s:
        ident = s.identity
        if not any(has_cleanup(kc) for kc in policy.keys):
            return _render(
                opts,
                CleanupReport(
                    policy.environment,
                    ident.address,
                    "nothing",
                    execute=req.execute,
                    detail="no key class has `cleanup:`: there is nothing to clean up",
                ),
            )
        if ident.mode == "cluster":
            return _run_cluster(opts, req, policy, conn, s, announce)
        if req.execute:
            require_primary(ident, "cleanup --execute")
        with apply_lock(s.client, req.execute, req.lock_timeout):
            start = time.monotonic()
            found = _find(
                s.client_for, policy.keys, s.dbs, s.info.keys, rate, req.execute, reserved_keys(policy)
            )
            if not req.execute:
                return _render(
                    opts, _report(policy.environment, ident.address, "dry_run", found), req.examples
                )
            if found.eligible:
                # The list before deleting goes to the operator's terminal: key names included.
                announce(
                    renderer("text", "cleanup")(
                        _report(policy.environment, ident.address, "preview", found),
                        dataclasses.replace(opts.style, key_names=True),
                    )
                )
            bar = progress_bar(found.eligible, "deleting keys")
            deleter = Deleter(s.client_for, policy.keys, found, rate, bar)
            status, detail = _delete([deleter], bar)
            report = CleanupReport(
                policy.environment,
                ident.address,
                status,
                deleter.result(),
                found.scanned,
                detail=detail,
                seconds=time.monotonic() - start,
                execute=True,
            )
            changes = _changes(report.classes)
            write_audit(
                opts,
                policy,
                req.audit_log,
                s.client,
                "cleanup",
                ident.address,
                changes,
                "applied" if status == "done" else status,
                detail,
            )
    return _render(opts, report, req.examples)


def _run_cluster(
    opts: Options, req: CleanupRequest, policy: Policy, conn: ConnectOptions, s: Session, announce: Announce
) -> Result:
    """Every master of the cluster ``s`` belongs to, under every master's lock: list on each, then delete."""
    rate = rate_for(policy, req.max_rate)
    env, where = policy.environment, s.identity.address
    with cluster(conn, s, "cleanup") as cl, cluster_locks(cl, req.execute, req.lock_timeout, "cleanup"):
        start = time.monotonic()
        reserved = cl.reserved(policy)
        # A key belongs to the master serving its slot, and a master's SCAN lists exactly those keys.
        founds = [
            _find(m.session.client_for, policy.keys, [0], m.session.info.keys, rate, req.execute, reserved)
            for m in cl.masters
        ]
        addresses = [m.address for m in cl.masters]
        scanned = sum(f.scanned for f in founds)

        def report(
            status: CleanupStatus, parts: list[tuple[ClassCleanup, ...]], detail: str = ""
        ) -> CleanupReport:
            nodes = tuple(
                NodeCleanup(a, f.scanned, p) for a, f, p in zip(addresses, founds, parts, strict=True)
            )
            return CleanupReport(
                env,
                where,
                status,
                combine(parts),
                scanned,
                detail=detail,
                seconds=time.monotonic() - start,
                execute=status != "dry_run",
                nodes=nodes,
            )

        listed = [f.classes for f in founds]
        if not req.execute:
            return _render(opts, report("dry_run", listed), req.examples)
        if any(f.eligible for f in founds):
            # The list before deleting goes to the operator's terminal: key names included.
            announce(
                renderer("text", "cleanup")(
                    report("preview", listed), dataclasses.replace(opts.style, key_names=True)
                )
            )
        bar = progress_bar(sum(f.eligible for f in founds), "deleting keys")
        deleters = [
            Deleter(m.session.client_for, policy.keys, f, rate, bar, by_slot=True)
            for m, f in zip(cl.masters, founds, strict=True)
        ]
        status, detail = _delete(deleters, bar)
        done = report(status, [d.result() for d in deleters], detail)
        stream = policy.audit.stream
        write_audit(
            opts,
            policy,
            req.audit_log,
            s.client if stream is None else cl.client_for_key(stream.key, s.client),
            "cleanup",
            where,
            _changes(done.classes),
            "applied" if status == "done" else status,
            detail,
            nodes=[
                {"address": n.address, "scanned": n.scanned, "classes": _changes(n.classes)}
                for n in done.nodes
            ],
        )
    return _render(opts, done, req.examples)


def _changes(classes: tuple[ClassCleanup, ...]) -> list[dict[str, object]]:
    """Per class, what the audit record keeps: name, pattern and counts (never a key)."""
    return [
        {
            "class": c.name,
            "pattern": c.pattern,
            "eligible": c.eligible,
            "deleted": c.deleted,
            "skipped": c.skipped,
        }
        for c in classes
    ]


def _delete(deleters: list[Deleter], bar: Callable[[int], None] | None) -> tuple[CleanupStatus, str]:
    """Run the deleters one after another (on a cluster, one master after another: the rate is that of
    the whole run) and say how it ended: done, interrupted (Ctrl-C) or failed (a server error)."""
    try:
        for deleter in deleters:
            deleter.run()
    except KeyboardInterrupt:
        return "interrupted", "interrupted: " + _unknown_chunk()
    except (redis.RedisError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return "failed", f"stopped by an error ({first}): " + _unknown_chunk()
    finally:
        if bar is not None:
            bar(-1)
    return "done", ""


def _unknown_chunk() -> str:
    return (
        "the counts cover the chunks that completed; the chunk in flight (at most 500 keys) may or may not "
        "have been deleted. Run cleanup again: it lists what is still eligible"
    )


def _find(
    client_for: Callable[[int], redis.Redis],
    classes: tuple[KeyClass, ...],
    dbs: list[int],
    total: int,
    rate: int,
    keep: bool,
    reserved: frozenset[bytes],
) -> Found:
    bar = progress_bar(total, "listing keys")
    try:
        return find_eligible(client_for, classes, dbs, rate=rate, progress=bar, keep=keep, reserved=reserved)
    finally:
        if bar is not None:
            bar(-1)


def _report(environment: str | None, address: str, status: CleanupStatus, found: Found) -> CleanupReport:
    return CleanupReport(
        environment,
        address,
        status,
        found.classes,
        found.scanned,
        seconds=found.seconds,
        execute=status != "dry_run",
    )


def _render(opts: Options, report: CleanupReport, examples: bool = False) -> Result:
    return render_result(opts, "cleanup", report, report.exit_code, examples=examples)
