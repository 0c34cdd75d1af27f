"""redispolicy drift -e ENV: config, keys and health against the policy, for every target.

A single target (or --url) is every node of its deployment: a primary and its replicas,
or every cluster node, each checked for config and health (CONFIG SET reaches no other
node); the key audit runs once. ``target.topology: standalone`` or --no-discover checks
the node the URL names alone. A pinned ``target.topology`` that the URL's node contradicts
(a standalone server pinned ``cluster``, plan/topology.py) is a ``topology`` finding. A
``targets:`` fleet is checked entry by entry (commands/fleet.py: concurrently, over forked
workers for a larger fleet; --shard K/N checks a stable part of it).

Exit 0 in sync, 2 drift or failing health (critical; --fail-on warning includes
warnings), 1 error: a target could not be checked, or a check could not run on it
(CONFIG, the key audit or INFO refused) unless the policy expects it
(``target: {config: unavailable}``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from redispolicy.commands import Options, Result, fleet
from redispolicy.commands import plan as plan_cmd
from redispolicy.commands.fleet import Shard
from redispolicy.commands.keyaudit import audit_keys
from redispolicy.commands.output import render_result
from redispolicy.errors import RedispolicyError, UsageError
from redispolicy.live.connect import ConnectOptions, address, connect, for_node
from redispolicy.live.expiry import ExpiryWatch
from redispolicy.live.health import read_health
from redispolicy.live.model import Identity
from redispolicy.live.sentinel import ask
from redispolicy.live.sentinel import deployment as sentinel_deployment
from redispolicy.live.snapshot import config_snapshot, identify, with_exact
from redispolicy.live.topology import Deployment, Member, discover
from redispolicy.plan.compare import compare, hidden_names
from redispolicy.plan.drift import (
    DriftReport,
    Finding,
    NotChecked,
    ShardInfo,
    TargetDrift,
    apply_ignores,
    declared_config,
    findings_for,
    stale_declaration,
)
from redispolicy.plan.expiry import ExpiryClassifier
from redispolicy.plan.health import HealthCheck, evaluate, expiry_check
from redispolicy.plan.keys import KeyFindings
from redispolicy.plan.model import Plan
from redispolicy.plan.planfile import PlanFileError, read_plan
from redispolicy.plan.sentinel import sentinel_checks, sentinel_findings
from redispolicy.plan.topology import topology_finding
from redispolicy.policy.model import Policy, Target
from redispolicy.policy.nodes import key_location
from redispolicy.render import renderer
from redispolicy.render.style import Style

MAX_PARALLEL = 8  # nodes of one deployment checked at once (a `targets:` fleet: commands/fleet.py)


def _check(
    policy: Policy,
    target: Target | None,
    url: str | None,
    keys: bool,
    window: float,
    max_rate: int | None,
    since: tuple[str, str] | None,
    today: datetime.date,
    memory: bool = False,
    node: Member | None = None,
) -> TargetDrift:
    """One node: config, health and (when ``keys``) the key audit. ``node`` is a discovered node
    of the target's deployment: its own connection (same credentials and TLS) and its role."""
    name = target.name if target is not None and not url else ""
    role = "unknown"
    try:
        conn = plan_cmd.connect_options(policy, url, target)
        if node is not None:
            role = node.role
            if not node.given:
                conn = for_node(conn, node.host, node.port)
        where = address(conn.url.reveal())
    except RedispolicyError as exc:
        ident = Identity("unknown", "", "", "unknown", "unknown", name or "(no address)")
        return TargetDrift(
            ident, Plan(policy.environment, ident, ()), None, (), (), error=exc.message, name=name
        )
    # Every managed parameter is compared, ignored ones too: an ignore rule hides a finding
    # (it is still counted and shown as ignored), and an expired rule hides nothing.
    managed = dataclasses.replace(policy, ignore=())
    unchecked: list[NotChecked] = []
    try:
        client = connect(conn)
        try:
            identity = identify(client, where)
            snapshot = with_exact(client, config_snapshot(client), hidden_names(policy, identity))
            # A replica expires no key itself (its primary's DEL reaches it): its lock timeouts are the primary's.
            counts_expiry = identity.role in ("master", "primary")
            health = _health(client, window, policy, unchecked, conn if counts_expiry else None)
        finally:
            client.close()
        plan = dataclasses.replace(
            compare(managed, identity, snapshot), config_declared=declared_config(policy, target)
        )
        findings_keys = _keys(policy, conn, max_rate, memory, unchecked) if keys else None
    except RedispolicyError as exc:
        return _failed(policy, where, name, exc.message + _found_by_discovery(node), role)
    except Exception as exc:  # e.g. the connection dropped mid-check: this target fails, the others go on
        if os.environ.get("REDISPOLICY_DEBUG"):
            raise
        return _failed(
            policy,
            where,
            name,
            f"the check of {where} failed: {type(exc).__name__}" + _found_by_discovery(node),
            role,
        )
    # --since-plan: the plan's server (in a fleet, the target at the plan's address) has a new run_id
    restarted = None
    if since is not None and (target is None or not policy.targets or since[0] == where):
        restarted = since[1] if since[1] != identity.run_id else None
    found = findings_for(plan, findings_keys, health, restarted, policy)
    found = apply_ignores(found, policy.ignore, today)
    if node is None or node.given:  # the URL's node speaks for its deployment: judged once, not per node
        found += _pinned_topology(policy, target, identity)
    if url is None and (node is None or node.given):  # the node the sentinels named: it carries their view
        extra, more = sentinel_view(target or policy.target, conn)
        health, found = (*health, *extra), [*found, *more]
    notes = tuple(n for n in (stale_declaration(plan), _expiry_note(policy, window)) if n)
    return TargetDrift(
        identity,
        plan,
        findings_keys,
        health,
        tuple(found),
        name=name,
        not_checked=tuple(unchecked),
        notes=notes,
    )


def _pinned_topology(policy: Policy, target: Target | None, identity: Identity) -> list[Finding]:
    """A ``topology`` finding when the target (a fleet entry, else the single target; a --url on a fleet's
    policy names none) pins a topology the node given contradicts; anchored at the pin's line."""
    pinned_by = target or policy.target
    if pinned_by is None or not pinned_by.topology:
        return []
    if pinned_by in policy.targets:
        path: tuple[str | int, ...] = ("targets", policy.targets.index(pinned_by), "topology")
    else:
        path = ("target", "topology")
    finding = topology_finding(pinned_by.topology, identity, key_location(policy.tree, path))
    return [finding] if finding is not None else []


def _health(
    client: redis.Redis,
    window: float,
    policy: Policy,
    unchecked: list[NotChecked],
    conn: ConnectOptions | None = None,
) -> tuple[HealthCheck, ...]:
    """The INFO health checks; refused (ACL, a renamed INFO): not checked, never "ok".

    With a ``health.expired_per_hour`` rule and a --window, expired-key events are counted per class
    over the same window as the two INFO readings (no rule: no subscription). ``conn`` None (a
    replica): the rule is not judged on this node, as a replica's count would always be 0."""
    rule = policy.health.expired_per_hour
    watch = None
    if rule is not None and window > 0 and conn is not None:
        classify = ExpiryClassifier(policy.keys)
        watch = ExpiryWatch(conn, classify, classify.names)
        watch.start()
    try:
        checks = evaluate(read_health(client, window), policy.health)
    except redis.ResponseError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        unchecked.append(
            NotChecked(
                "health", f"the server refused INFO ({reason}); grant the drift user +info to check health"
            )
        )
        checks = ()
    finally:
        expired = watch.stop() if watch is not None else None
    if rule is None or conn is None:
        return checks
    pattern = next((kc.pattern for kc in policy.keys if kc.name == rule.key_class), "")
    check = expiry_check(rule, expired, pattern)
    if expired is not None and not expired.available:  # never a pass: the run is incomplete (exit 1)
        why = f"expired_per_hour (class {rule.key_class}) could not be counted: {expired.unavailable}"
        _merge_unchecked(unchecked, NotChecked("health", why))
    return (*checks, check)


def _expiry_note(policy: Policy, window: float) -> str:
    """A rule drift cannot judge in this run: expirations are counted only during a window."""
    rule = policy.health.expired_per_hour
    if rule is None or window > 0:
        return ""
    return (
        f"health.expired_per_hour (class {rule.key_class}) was not counted: expirations are counted only "
        "during a window; run drift with --window SECONDS (e.g. --window 60)"
    )


def _merge_unchecked(unchecked: list[NotChecked], more: NotChecked) -> None:
    """One reason per check (reports key them by check): a second one for the same check joins the first."""
    for i, known in enumerate(unchecked):
        if known.check == more.check:
            unchecked[i] = dataclasses.replace(known, reason=f"{known.reason}; {more.reason}")
            return
    unchecked.append(more)


def _keys(
    policy: Policy, conn: ConnectOptions, max_rate: int | None, memory: bool, unchecked: list[NotChecked]
) -> KeyFindings | None:
    """The key audit; one that could not run (a refused SCAN or PTTL) is not checked, never "no violations"."""
    try:
        return audit_keys(policy, conn, max_rate, memory=memory)
    except RedispolicyError as exc:
        unchecked.append(NotChecked("keys", f"{exc.message}; {exc.hint}" if exc.hint else exc.message))
        return None


def _found_by_discovery(node: Member | None) -> str:
    """For a node the URL did not name: where it came from, and how to check the URL's node alone."""
    if node is None or node.given:
        return ""
    return (
        f" ({node.role} found by discovery; if it is not reachable from here by design, "
        "`topology: standalone` or --no-discover checks only the URL's node)"
    )


def _failed(policy: Policy, where: str, name: str, message: str, role: str = "unknown") -> TargetDrift:
    ident = Identity("unknown", "", "", role, "unknown", where)
    return TargetDrift(ident, Plan(policy.environment, ident, ()), None, (), (), error=message, name=name)


@dataclasses.dataclass(frozen=True)
class DriftRequest:
    """`redispolicy drift`'s flags, by name."""

    env: str
    url: str | None = None
    keys: bool = True
    window: float = 0.0  # seconds between two INFO readings
    max_rate: int | None = None
    fail_on: str = "critical"  # warning | critical
    since_plan: Path | None = None
    textfile_dir: Path | None = None
    memory: bool = False
    discover_nodes: bool = True
    examples: bool = False
    shard: Shard | None = None  # --shard K/N: a stable part of a `targets:` fleet


def run(opts: Options, req: DriftRequest) -> Result:
    policy, failed = plan_cmd.load_policy(opts, req.env, req.url is not None)
    if failed is not None:
        return failed
    assert policy is not None
    shard = _shard_info(policy, req)  # before any server is contacted
    since = None
    if req.since_plan is not None:
        # The same validated, signature-checked loader as apply: a plan file is never read loosely.
        try:
            saved = read_plan(req.since_plan, plan_cmd.fingerprint_key(opts.environ))
        except OSError as exc:
            raise RedispolicyError(
                f"cannot read the plan {req.since_plan}: {exc.strerror}", "check the path"
            ) from None
        except PlanFileError as exc:
            raise RedispolicyError(
                f"{req.since_plan}: {exc}",
                "pass a plan file made by `redispolicy plan --out` with the same fingerprint key",
            ) from None
        since = (saved.target["address"], saved.target["run_id"])
    today = datetime.date.today()
    if req.url or not policy.targets:
        results = _check_deployment(
            policy, req.url, req.keys, req.window, req.max_rate, since, today, req.memory, req.discover_nodes
        )
    else:
        results = fleet.check_all(
            fleet.select(policy.targets, req.shard),
            lambda t: _check(
                policy, t, req.url, req.keys, req.window, req.max_rate, since, today, req.memory
            ),
        )
    report = DriftReport(policy.environment, tuple(results), policy.file, req.fail_on, shard)
    if req.textfile_dir is not None:  # counts only: prometheus never carries a key name
        write_textfile(req.textfile_dir, req.env, renderer("prometheus", "drift")(report, Style(color=False)))
    # A shard's report lists the parameters already in line too (as -v does): merge-reports rebuilds the
    # report from it, and JUnit has a passing case per parameter checked.
    verbose = max(1, opts.style.verbose) if shard is not None else None
    return render_result(opts, "drift", report, exit_code(report), verbose=verbose, examples=req.examples)


def _shard_info(policy: Policy, req: DriftRequest) -> ShardInfo | None:
    """What a sharded report records for merge-reports; --shard is for a `targets:` fleet only."""
    shard = req.shard
    if shard is None:
        return None
    if req.url:
        raise UsageError(
            f"--shard {shard} with --url: --url checks one server, there is no fleet to shard",
            "drop --url to check this shard of the policy's `targets:`, or drop --shard",
        )
    if not policy.targets:
        raise UsageError(
            f"--shard {shard}: environment {policy.environment} has no `targets:` fleet to shard",
            "drop --shard (a single target is checked whole), or list the servers under `targets:`",
        )
    return ShardInfo(shard.index, shard.count, tuple(t.name for t in policy.targets), policy.file)


def exit_code(report: DriftReport) -> int:
    """1 when a target or a check could not be checked (never "in sync"), 2 on failing findings, else 0."""
    if report.errors or report.incomplete:
        return 1
    return 2 if report.failing() else 0


def _check_deployment(
    policy: Policy,
    url: str | None,
    keys: bool,
    window: float,
    max_rate: int | None,
    since: tuple[str, str] | None,
    today: datetime.date,
    memory: bool,
    discover_nodes: bool,
) -> list[TargetDrift]:
    """The single target (or --url): every node of its deployment, unless ``topology: standalone``
    (or ``sentinel``: left as one node for now) or --no-discover.

    A primary's replicas, a replica's primary and its replicas, and every node of a cluster
    are each a target: config and health are per node (CONFIG SET reaches no other node).
    The key audit runs once, on the primary (on a cluster, from the node given: it covers
    every master), so key findings are not repeated per node. --since-plan compares the
    node the plan was made of (the node given, or the one at the plan's address).
    """

    def single() -> list[TargetDrift]:
        return [_check(policy, None, url, keys, window, max_rate, since, today, memory)]

    topology = policy.target.topology if policy.target is not None else None
    if not discover_nodes or topology in ("standalone", "sentinel"):
        return single()
    try:
        conn = plan_cmd.connect_options(policy, url, None)
        client = connect(conn)
    except RedispolicyError:
        return single()  # the check reports why, exactly as for one node
    try:
        deployment = _sentinel_deployment(policy.target, conn) if url is None else None
        deployment = deployment or discover(client, conn)
    except RedispolicyError as exc:  # e.g. CLUSTER NODES refused: the way out (--no-discover) is part of it
        return [
            _failed(
                policy,
                address(conn.url.reveal()),
                "",
                f"{exc.message}; {exc.hint}" if exc.hint else exc.message,
            )
        ]
    except Exception as exc:  # the connection dropped while asking
        if os.environ.get("REDISPOLICY_DEBUG"):
            raise
        return [
            _failed(
                policy,
                address(conn.url.reveal()),
                "",
                f"discovering the nodes of {address(conn.url.reveal())} failed: {type(exc).__name__}",
            )
        ]
    finally:
        client.close()
    if len(deployment.members) == 1:
        return single()

    def one(i: int) -> TargetDrift:
        member = deployment.members[i]
        mine = since if since is not None and (member.given or member.address == since[0]) else None
        return _check(
            policy, None, url, keys and i == deployment.audited, window, max_rate, mine, today, memory, member
        )

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(deployment.members))) as pool:
        results = list(pool.map(one, range(len(deployment.members))))
    return _once_per_server(results, deployment.members)


def sentinel_view(
    target: Target | None, conn: ConnectOptions
) -> tuple[tuple[HealthCheck, ...], list[Finding]]:
    """For a ``target.sentinel``: the sentinels' view as health checks, and findings when no quorum of them is
    reachable or they disagree on the primary. Nothing for other targets."""
    if target is None or target.sentinel is None:
        return (), []
    checks = sentinel_checks(ask(plan_cmd.sentinel_spec(target.sentinel), conn, quorum=True))
    return checks, sentinel_findings(checks, target.sentinel.location)


def _sentinel_deployment(target: Target | None, conn: ConnectOptions) -> Deployment | None:
    """A sentinel target's nodes: the primary the sentinels name and the replicas SENTINEL REPLICAS lists
    (a replica that is down is still listed, and fails its own check); None for other targets."""
    if target is None or target.sentinel is None:
        return None
    return sentinel_deployment(plan_cmd.sentinel_spec(target.sentinel), conn)


def _once_per_server(results: list[TargetDrift], members: tuple[Member, ...]) -> list[TargetDrift]:
    """A server reached under two addresses (the URL's hostname, the IP its primary lists) is reported once:
    as the node given, else at its first address."""
    keep: dict[str, int] = {}
    for i, (t, m) in enumerate(zip(results, members, strict=True)):
        run_id = t.identity.run_id
        if not run_id or t.error:
            continue
        if run_id not in keep or (m.given and results[keep[run_id]].keys is None):
            keep[run_id] = i
    drop = {
        i
        for i, t in enumerate(results)
        if t.identity.run_id and not t.error and keep.get(t.identity.run_id) != i
    }
    return [t for i, t in enumerate(results) if i not in drop]


def write_textfile(directory: Path, env: str, content: str) -> Path:
    """node_exporter's textfile collector reads *.prom: write a temp file beside it, then rename.

    The temp name does not end in .prom, so the collector never reads a half-written file,
    and it is removed again when writing fails.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".redispolicy_", suffix=".tmp")
    except OSError as exc:
        raise RedispolicyError(
            f"cannot write to the textfile directory {directory}: {exc.strerror}",
            "check that --textfile-dir exists and is writable",
        ) from None
    final = directory / f"redispolicy_{env}.prom"
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise RedispolicyError(
            f"cannot write {final}: {exc.strerror}", "check that --textfile-dir is writable"
        ) from None
    return final


__all__ = ["run"]
