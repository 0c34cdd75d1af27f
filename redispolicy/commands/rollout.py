"""apply over a primary and its replicas: every node checked before any node changes, then the
replicas (address order), the primary last, under the apply lock on the primary.

CONFIG SET reaches one node, so a deployment is changed node by node. The lock key lives on
the primary (replicas are read-only): the primary's own change is fenced by it as a single
node's is; before each replica's change the lock is checked to still be ours. That check and
the replica's change are two servers, so it is not atomic: an apply that loses the lock in
between (it expired while this process was stopped) changes that one replica and then stops.

A cluster is refused here (rolling a cluster out is the next slice); ``plan`` still shows it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from redispolicy.apply import audit
from redispolicy.apply.lock import ApplyLock
from redispolicy.apply.report import CHANGED, AppliedChange, ApplyReport, ApplyStatus, NodeOutcome
from redispolicy.apply.stage import ConfigRequest, Ready, before_any_change, change, prepare
from redispolicy.commands import Options
from redispolicy.commands import plan as plan_cmd
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions, address, connect
from redispolicy.live.model import Identity
from redispolicy.live.snapshot import identify
from redispolicy.live.topology import Member
from redispolicy.plan.planfile import SavedPlan
from redispolicy.policy.model import Policy

PRIMARY_ROLES = ("master", "primary")


@dataclass(frozen=True)
class Settings:
    """The apply flags the rollout needs, and where its audit records go."""

    lock_timeout: float
    no_lock: bool
    audit_path: Path
    plan_fp: str
    remediate_keys: bool


@dataclass
class _Node:
    """A connected node of the deployment and its part of the saved plan."""

    member: Member
    conn: ConnectOptions
    client: redis.Redis
    identity: Identity
    saved: SavedPlan | None = None
    outcome: ApplyReport | Ready | None = None

    @property
    def primary(self) -> bool:
        return self.identity.role in PRIMARY_ROLES


def execute(
    opts: Options, saved: SavedPlan, policy: Policy, conn: ConnectOptions, settings: Settings
) -> ApplyReport | None:
    """The rollout's report; None when plan and deployment are one node (the single-node apply runs).

    Raises RedispolicyError for a refusal before any change (a cluster, the lock held, NOPERM),
    after writing its audit record."""
    where = address(conn.url.reveal())
    try:
        found = plan_cmd.find_deployment(conn)
        if found.mode == "cluster":
            raise RedispolicyError(
                f"{where} is a cluster node: apply does not roll a plan out over a cluster yet; nothing was changed",
                "apply the plan node by node with `target.topology: standalone` plans, or wait for cluster "
                "rollout (plan still shows every node)",
            )
        if len(found.members) == 1 and not saved.nodes:
            return None
        if settings.remediate_keys:
            raise RedispolicyError(
                "apply --remediate-keys changes one node's keys; this plan covers "
                f"{len(saved.nodes) + 1} nodes; nothing was changed",
                "apply the plan without --remediate-keys, then run `redispolicy remediate -e ENV --execute`",
            )
    except RedispolicyError as exc:
        _record(saved, where, settings, "refused", exc.message)
        raise
    with _connected(found.members, conn) as nodes:
        return _rollout(opts, saved, policy, nodes, settings)


@contextlib.contextmanager
def _connected(members: tuple[Member, ...], conn: ConnectOptions) -> Iterator[list[_Node]]:
    """Every member connected (db 0: CONFIG and the lock are server-wide) and identified; closed after."""
    nodes: list[_Node] = []
    try:
        for m in members:
            node_conn = dataclasses.replace(plan_cmd.node_options(conn, m), db=0)
            client = connect(node_conn)
            try:
                with before_any_change(m.address, "+info"):
                    identity = identify(client, address(node_conn.url.reveal()))
            except BaseException:
                client.close()
                raise
            nodes.append(_Node(m, node_conn, client, identity))
        yield nodes
    finally:
        for n in nodes:
            with contextlib.suppress(redis.RedisError, OSError):
                n.client.close()


def _rollout(
    opts: Options, saved: SavedPlan, policy: Policy, nodes: list[_Node], settings: Settings
) -> ApplyReport:
    primary_addr = next((n.identity.address for n in nodes if n.primary), nodes[0].identity.address)
    why = _membership(saved, nodes)
    if why:
        # Bound like a single node's plan to its server: another deployment is refused, not "stale".
        message = "the deployment moved since the plan was made, nothing was changed: " + "; ".join(why)
        _record(saved, primary_addr, settings, "refused", message)
        raise RedispolicyError(
            message, "make a new plan with `redispolicy plan -e ENV --out FILE` and review it"
        )
    primary = next(n for n in nodes if n.primary)
    audit.check_writable(settings.audit_path)  # a rollout that cannot leave a trail does not start
    lock = None if settings.no_lock else ApplyLock(primary.client)
    if lock is not None:
        try:
            with before_any_change(
                primary.identity.address, "+set +get +eval +type +pttl on the lock key, or pass --no-lock"
            ):
                lock.acquire(settings.lock_timeout)
        except RedispolicyError as exc:
            _record(saved, primary_addr, settings, "refused", exc.message)
            raise
    try:
        order = sorted((n for n in nodes if not n.primary), key=lambda n: (n.member.host, n.member.port))
        order.append(primary)
        key = plan_cmd.fingerprint_key(opts.environ)
        return _check_then_change(opts, saved, policy, order, lock, key, settings)
    finally:
        if lock is not None:
            lock.release()


def _membership(saved: SavedPlan, nodes: list[_Node]) -> list[str]:
    """What moved in the deployment since the plan: nodes gone or added, roles (a failover), restarts."""
    planned = {p.target["address"]: p for p in saved.every_node}
    live = {n.identity.address: n for n in nodes}
    out = []
    for addr in sorted(planned.keys() - live.keys()):
        out.append(f"{addr}: in the plan ({_role(planned[addr].target['role'])}), not in the deployment now")
    for addr in sorted(live.keys() - planned.keys()):
        out.append(f"{addr}: a {_role(live[addr].identity.role)} now, not in the plan")
    for addr in sorted(planned.keys() & live.keys()):
        was, now = planned[addr].target, live[addr].identity
        live[addr].saved = planned[addr]
        if was["role"] != now.role:
            out.append(f"{addr}: {_role(was['role'])} in the plan, {_role(now.role)} now (a failover?)")
        elif was["run_id"] != now.run_id:
            out.append(
                f"{addr}: the server restarted or is another server: run_id was {was['run_id']}, now {now.run_id}"
            )
        elif (was["product"], was["version"]) != (now.product, now.version):
            out.append(
                f"{addr}: planned on {was['product']} {was['version']}, now runs {now.product} {now.version}"
            )
    return out


def _role(role: str) -> str:
    return {"master": "primary", "slave": "replica"}.get(role, role)


def _check_then_change(
    opts: Options,
    saved: SavedPlan,
    policy: Policy,
    order: list[_Node],
    lock: ApplyLock | None,
    key: bytes,
    settings: Settings,
) -> ApplyReport:
    def request(n: _Node) -> ConfigRequest:
        assert n.saved is not None  # _membership matched every node to its plan
        fence = lock.fence if lock is not None and n.primary else None
        return ConfigRequest(n.saved, policy, n.identity, key, fence)

    # Every node first: a plan that no longer describes one of them changes none of them.
    for n in order:
        n.outcome = prepare(n.client, request(n))
        if isinstance(n.outcome, ApplyReport) and n.outcome.status != "nothing":
            return _finish(saved, order, n, changing=False)
    for n in order:
        ready = n.outcome
        if isinstance(ready, Ready):
            if not n.primary and lock is not None and not _still_ours(lock):
                n.outcome = ApplyReport(
                    saved.environment,
                    n.identity.address,
                    "refused",
                    "the apply lock on the primary is no longer ours: stopped before changing this node",
                    not_applied=ready.not_applied,
                )
            else:
                n.outcome = change(n.client, _reconnect(n.conn), request(n), ready)
        assert isinstance(n.outcome, ApplyReport)
        _record_node(saved, n.outcome, settings)
        if n.outcome.status not in ("applied", "nothing"):
            return _finish(saved, order, n, changing=True)
    return _finish(saved, order, None, changing=True)


def _reconnect(conn: ConnectOptions) -> Callable[[], redis.Redis]:
    return lambda: connect(conn)


def _still_ours(lock: ApplyLock) -> bool:
    """The lock key on the primary still holds our value (checked right before a replica's change)."""
    try:
        raw = lock.client.get(lock.key)
    except redis.RedisError:
        return False
    value = raw.decode() if isinstance(raw, bytes) else raw
    return value == lock.value


def _finish(saved: SavedPlan, order: list[_Node], stopped: _Node | None, changing: bool) -> ApplyReport:
    """The rollout's report: the node it stopped at decides the status; a change before it makes it
    partial. ``changing``: it stopped while changing nodes (else at the checks: nothing changed)."""
    planned = sorted({(c.parameter, c.sensitive) for p in saved.every_node for c in p.changes})
    outcomes: list[NodeOutcome] = []
    applied: list[AppliedChange] = []
    for i, n in enumerate(order):
        report = n.outcome if isinstance(n.outcome, ApplyReport) else None
        reached = n is stopped or (changing and (stopped is None or i < order.index(stopped)))
        outcomes.append(
            NodeOutcome(
                n.identity.address,
                _role(n.identity.role),
                report.status if report is not None and reached else "not_reached",
                report.detail if report is not None and reached else "",
                _read_back(n.client, planned),
            )
        )
        if report is not None and reached and report.status in CHANGED:
            applied.extend(report.applied)
    primary_addr = order[-1].identity.address
    if stopped is None:
        return ApplyReport(
            saved.environment,
            primary_addr,
            "applied" if applied else "nothing",
            "",
            tuple(applied),
            verified=bool(applied),
            nodes=tuple(outcomes),
        )
    bad = stopped.outcome
    assert isinstance(bad, ApplyReport)
    earlier = any(o.status in CHANGED for o in outcomes[: order.index(stopped)])
    status: ApplyStatus = "partial" if earlier and bad.status not in CHANGED else bad.status

    detail = f"{stopped.identity.address} ({_role(stopped.identity.role)}): {bad.detail or bad.status}"
    if earlier:
        detail += "; the nodes before it were changed, the nodes after it were not reached"
    elif not changing:
        detail += "; no node was changed"
    return ApplyReport(
        saved.environment,
        primary_addr,
        status,
        detail,
        tuple(applied),
        moved=tuple(f"{stopped.identity.address}: {m}" for m in bad.moved),
        mismatches=bad.mismatches,
        now_live=bad.now_live,
        nodes=tuple(outcomes),
    )


def _read_back(client: redis.Redis, planned: list[tuple[str, bool]]) -> tuple[tuple[str, str | None], ...]:
    """What the node runs now for each planned parameter, read back from it; secrets never shown."""
    out: list[tuple[str, str | None]] = []
    for name, sensitive in planned:
        if sensitive:
            out.append((name, "(sensitive)"))
            continue
        try:
            value = client.config_get(name).get(name)
        except (redis.RedisError, OSError):
            value = None
        out.append((name, value if isinstance(value, str) else None))
    return tuple(out)


def _record_node(saved: SavedPlan, report: ApplyReport, settings: Settings) -> None:
    entry = audit.record(
        time=_now(),
        environment=saved.environment,
        target=report.address,
        plan_fingerprint=settings.plan_fp,
        changes=[
            {"parameter": c.parameter, "before": c.before, "after": c.after, "sensitive": c.sensitive}
            for c in report.applied
        ],
        result=report.status,
        detail=report.detail,
    )
    audit.append_file(settings.audit_path, entry)


def _record(saved: SavedPlan, target: str, settings: Settings, result: str, why: str) -> None:
    """A refusal before any change: the trail says who tried which plan where (a log that cannot
    be written does not hide the refusal itself)."""
    entry = audit.record(
        time=_now(),
        environment=saved.environment,
        target=target,
        plan_fingerprint=settings.plan_fp,
        changes=[],
        result=result,
        detail=why,
    )
    with contextlib.suppress(RedispolicyError):
        audit.append_file(settings.audit_path, entry)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
