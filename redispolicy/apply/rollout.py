"""apply over a whole deployment: every node checked before any node changes, then one node at a time.

CONFIG SET reaches one process, so a deployment is changed node by node, in an order that
keeps it serving: the replicas first (a bad value shows on a node that serves no writes),
then the primary; in a cluster, every replica, then the masters one at a time. After each
changed node the rollout waits until the deployment is healthy again (the replica's link to
its primary up, the primary's replicas connected, ``cluster_state:ok``) and, with
``pause``, waits that long more (a canary) before the next node.

Locks. The lock key can only live on a node that takes writes: the primary, or, in a
cluster, each master serving slots (``apply/cluster.py lock_key_for``: one key per master,
in a slot it serves). Every lock is taken, in address order, before any node changes (two
rollouts cannot each hold a part and wait for the other). A node holding a lock is changed
under that lock's fence, as a single node is; a node without one (a replica, a master with
no slots) is changed right after checking that its primary's lock is still ours. That check
and the change are two servers, so it is not atomic: a rollout that loses the lock in between
(it expired while this process was stopped) changes that one node and then stops.

Failure. The first node that does not end as planned stops the rollout: the nodes after it
are not touched, and the report has one row per node with what it runs now, read back from
it. With ``rollback_on_failure`` the nodes already changed are put back to the values they
had when the rollout read them (the plan's "from" values: the stale check proved they were
still those), last changed first, and read back to prove it.

A stage: it never prints (``notify`` receives progress lines) and never exits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from redispolicy.apply import audit
from redispolicy.apply.cluster import Slots, lock_key_for
from redispolicy.apply.engine import Item, apply_items
from redispolicy.apply.lock import ApplyLock
from redispolicy.apply.report import (
    CHANGED,
    AppliedChange,
    ApplyReport,
    ApplyStatus,
    KeysOutcome,
    NodeOutcome,
    NodeStatus,
)
from redispolicy.apply.stage import ConfigRequest, Ready, before_any_change, change, persist, prepare
from redispolicy.catalog.features import supports_multi_config_set
from redispolicy.catalog.normalize import normalize
from redispolicy.errors import RedispolicyError
from redispolicy.live.call import execute
from redispolicy.live.connect import ConnectOptions, address, connect, for_node
from redispolicy.live.model import Identity
from redispolicy.live.snapshot import identify
from redispolicy.live.topology import ClusterNode, Deployment, Member, node_address, read_cluster_nodes
from redispolicy.plan.planfile import SavedPlan
from redispolicy.policy.model import Policy
from redispolicy.secret import Secret

PRIMARY_ROLES = ("master", "primary")
HEALTH_POLL = 0.1  # seconds between health readings while waiting for a node

Notify = Callable[[str], None]
KeysStep = Callable[
    [ApplyReport], KeysOutcome
]  # --remediate-keys: given the config's report, under the locks


@dataclass(frozen=True)
class Settings:
    """The apply flags the rollout needs, where its audit records go, and the signing key."""

    lock_timeout: float
    no_lock: bool
    audit_path: Path
    plan_fp: str
    key: bytes  # the fingerprint/signing key the plan was checked with
    pause: float = 0.0  # seconds to wait after each changed node, before the next one
    rollback_on_failure: bool = False
    health_timeout: float = 60.0  # 0: do not check health before or wait for it between nodes


@dataclass
class _Node:
    """A connected node of the deployment, its part of the saved plan, and what happened to it."""

    member: Member
    conn: ConnectOptions
    client: redis.Redis
    identity: Identity
    slots: Slots = ()  # a cluster master: the slots it serves
    primary_addr: str = ""  # a replica: its primary's address
    saved: SavedPlan | None = None
    outcome: ApplyReport | Ready | None = None
    ready: Ready | None = None  # what was sent to it (kept to put it back)
    lock: ApplyLock | None = None  # the lock whose key lives on this node (held by this rollout)
    guard: ApplyLock | None = None  # the lock checked right before changing a node without its own
    reached: bool = False  # the rollout tried to change it
    unhealthy: str = ""  # changed, then not healthy within the timeout: why
    restored: ApplyReport | None = None  # the rollback's outcome on this node

    @property
    def primary(self) -> bool:
        return self.identity.role in PRIMARY_ROLES

    @property
    def role(self) -> str:
        return _role(self.identity.role)


def roll_out(
    saved: SavedPlan,
    policy: Policy,
    conn: ConnectOptions,
    deployment: Deployment,
    settings: Settings,
    notify: Notify = lambda _: None,
    keys: KeysStep | None = None,
) -> ApplyReport:
    """Apply ``saved`` to every node of ``deployment`` (found from ``conn``'s node, as plan found it).

    ``keys`` (apply --remediate-keys) runs once every node is as planned, still under every lock the
    rollout holds; after any other ending it is skipped and changes no key.

    Raises RedispolicyError for a refusal before any change (the deployment moved, a lock held,
    NOPERM, an unhealthy deployment), after writing its audit record.
    """
    try:
        with _connected(deployment, conn) as nodes:
            run = _Run(saved, policy, settings, notify, deployment.mode, _order(nodes), keys)
            return run.locked()
    except RedispolicyError as exc:
        _record_refusal(saved, address(conn.url.reveal()), settings, "refused", exc.message)
        raise


@contextlib.contextmanager
def _connected(deployment: Deployment, conn: ConnectOptions) -> Iterator[list[_Node]]:
    """Every member connected (db 0: CONFIG and the lock are server-wide) and identified; closed after.
    A cluster's members also get their slots (masters) and primaries (replicas) from CLUSTER NODES."""
    nodes: list[_Node] = []
    try:
        for m in deployment.members:
            node_conn = dataclasses.replace(conn if m.given else for_node(conn, m.host, m.port), db=0)
            client = connect(node_conn)
            try:
                with before_any_change(m.address, "+info"):
                    identity = identify(client, address(node_conn.url.reveal()))
            except BaseException:
                client.close()
                raise
            nodes.append(_Node(m, node_conn, client, identity))
        if deployment.mode == "cluster":
            _cluster_shape(nodes)
        else:
            primary = next((n.identity.address for n in nodes if n.primary), "")
            for n in nodes:
                n.primary_addr = "" if n.primary else primary
        yield nodes
    finally:
        for n in nodes:
            with contextlib.suppress(redis.RedisError, OSError):
                n.client.close()


def _cluster_shape(nodes: list[_Node]) -> None:
    """Each master's slots and each replica's master, as the given node's CLUSTER NODES says."""
    given = next((n for n in nodes if n.member.given), nodes[0])
    self_host = given.member.host
    with before_any_change(given.identity.address, "+cluster|nodes"):
        listed = read_cluster_nodes(given.client, self_host)
    by_id = {c.id: c for c in listed}

    def addr(c: ClusterNode) -> str:
        return node_address(c.endpoint or (self_host if "myself" in c.flags else ""), c.port)

    by_addr = {addr(c): c for c in listed}
    for n in nodes:
        c = by_addr.get(n.identity.address)
        if c is None:
            continue
        if c.is_master:
            n.slots = c.slots
        elif c.master_id in by_id:
            n.primary_addr = addr(by_id[c.master_id])


def _order(nodes: list[_Node]) -> list[_Node]:
    """Replicas first, then the primaries (a cluster's masters one at a time); address order within each."""
    replicas = sorted((n for n in nodes if not n.primary), key=_by_address)
    return replicas + sorted((n for n in nodes if n.primary), key=_by_address)


def _by_address(n: _Node) -> tuple[str, int]:
    return (n.member.host, n.member.port)


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


@dataclass
class _Run:
    """One rollout: the plan, the nodes in rollout order, and the audit trail's state."""

    saved: SavedPlan
    policy: Policy
    settings: Settings
    notify: Notify
    mode: str
    order: list[_Node]
    keys: KeysStep | None = None
    audit_error: str = ""
    checked: bool = False  # every node passed the checks (the changes began)
    interrupted: str = ""  # Ctrl-C stopped the rollout: where

    def locked(self) -> ApplyReport:
        why = _membership(self.saved, self.order)
        if why:
            # Bound like a single node's plan to its server: another deployment is refused, not "stale".
            raise RedispolicyError(
                "the deployment moved since the plan was made, nothing was changed: " + "; ".join(why),
                "make a new plan with `redispolicy plan -e ENV --out FILE` and review it",
            )
        audit.check_writable(self.settings.audit_path)  # a rollout that cannot leave a trail does not start
        if self.settings.health_timeout > 0 and any(p.settable for p in self.saved.every_node):
            self._require_healthy()  # before the locks: on a cluster that is down, even they cannot be taken
        with contextlib.ExitStack() as held:
            if not self.settings.no_lock:
                self._take_locks(held)
            report = self._check_then_change()
            if self.keys is None:
                return report
            if report.status not in ("applied", "nothing"):
                skipped = KeysOutcome("skipped", detail=f"the config rollout ended '{report.status}'")
                return dataclasses.replace(report, keys=skipped)
            self.notify("every node is as planned: remediating keys (--remediate-keys)")
            return dataclasses.replace(report, keys=self.keys(report))  # still under every lock

    def _take_locks(self, held: contextlib.ExitStack) -> None:
        """The lock on every node that can hold one (the primary; each cluster master serving slots),
        in address order; every other node is guarded by its primary's lock (else the first one)."""
        holders = [n for n in self.order if n.primary and (n.slots or self.mode != "cluster")]
        for n in sorted(holders, key=_by_address):
            lock = ApplyLock(n.client, key=lock_key_for(n.slots)) if n.slots else ApplyLock(n.client)
            try:
                with before_any_change(
                    n.identity.address, "+set +get +eval +type +pttl on the lock key, or pass --no-lock"
                ):
                    lock.acquire(self.settings.lock_timeout)
            except RedispolicyError as exc:
                where = f"{n.identity.address} (lock key '{lock.key}')"
                why = exc.message.removeprefix(f"{n.identity.address}: ")
                raise RedispolicyError(f"{where}: {why}; no node was changed", exc.hint) from None
            held.callback(lock.release)
            n.lock = n.guard = lock
        owners = {n.identity.address: n.lock for n in holders}
        first = next((n.lock for n in sorted(holders, key=_by_address)), None)
        for n in self.order:
            if n.lock is None:
                n.guard = owners.get(n.primary_addr) or first

    def _require_healthy(self) -> None:
        sick = [f"{n.identity.address} ({n.role}): {why}" for n in self.order if (why := self._unhealthy(n))]
        if sick:
            raise RedispolicyError(
                "the deployment is not healthy before the rollout, nothing was changed: " + "; ".join(sick),
                "bring it back to health first (the rollout waits for health after each node), "
                "or pass --health-timeout 0 to roll out without health checks",
            )

    def _request(self, n: _Node) -> ConfigRequest:
        assert n.saved is not None  # _membership matched every node to its plan
        fence = n.lock.fence if n.lock is not None else None
        return ConfigRequest(n.saved, self.policy, n.identity, self.settings.key, fence)

    def _check_then_change(self) -> ApplyReport:
        # Every node first: a plan that no longer describes one of them changes none of them.
        for n in self.order:
            n.outcome = prepare(n.client, self._request(n))
            if isinstance(n.outcome, ApplyReport) and n.outcome.status != "nothing":
                return self._finish(n)
        changing = [n for n in self.order if isinstance(n.outcome, Ready)]
        self.checked = True
        for n in changing:
            try:
                if not self._change_one(n, last=n is changing[-1]):
                    return self._finish(n)
            except KeyboardInterrupt:
                # Ctrl-C (a tired operator during a --pause): stop here, but still say what every
                # node runs, rather than leave them to find out which nodes were changed.
                self._interrupted(n)
                return self._finish(n)
        return self._finish(None)

    def _change_one(self, n: _Node, last: bool) -> bool:
        """Change one node, wait for health, pause: False when the rollout must stop at this node."""
        ready = n.outcome
        assert isinstance(ready, Ready)
        n.reached, n.ready = True, ready
        self.notify(f"{n.identity.address} ({n.role}): applying {len(ready.items)} change(s)")
        if n.lock is None and n.guard is not None and not _still_ours(n.guard):
            n.outcome = self._refused(
                n, "the apply lock is no longer ours: stopped before changing this node"
            )
        else:
            n.outcome = change(n.client, _reconnect(n.conn), self._request(n), ready)
        self._record(n.outcome)
        if n.outcome.status not in ("applied", "nothing"):
            return False
        timeout = self.settings.health_timeout
        if timeout > 0:
            n.unhealthy = self._wait_healthy(n, timeout)
            if n.unhealthy:
                return False
        if self.settings.pause > 0 and not last:
            self.notify(f"pausing {self.settings.pause:g} s before the next node (--pause)")
            time.sleep(self.settings.pause)
        return True

    def _interrupted(self, n: _Node) -> None:
        """Ctrl-C at node ``n``: while it was being changed its outcome is unknown (the table reads it
        back); after its change (waiting for health, pausing) it stays as it ended."""
        self.interrupted = f"interrupted (Ctrl-C) at {n.identity.address}"
        if isinstance(n.outcome, Ready):  # the change was under way
            n.outcome = ApplyReport(
                self.saved.environment,
                n.identity.address,
                "unknown",
                "interrupted (Ctrl-C) while this node was being changed: it may run the old or the new "
                "values (see what it runs now)",
                n.outcome.applied,
                not_applied=n.outcome.not_applied,
            )
            self._record(n.outcome)

    def _refused(self, n: _Node, why: str) -> ApplyReport:
        ready = n.ready
        assert n.saved is not None and ready is not None
        return ApplyReport(
            self.saved.environment, n.identity.address, "refused", why, not_applied=ready.not_applied
        )

    def _record(self, report: ApplyReport) -> None:
        """One audit record per node and step; a log that fails mid-rollout is reported, not raised
        (the change happened: the run must still say what every node runs)."""
        try:
            _record_node(report, self.settings)
        except RedispolicyError as exc:
            self.audit_error = exc.message

    # -- health between nodes ---------------------------------------------------------------------

    def _unhealthy(self, n: _Node) -> str:
        """Why ``n`` is not serving as it should now ("" when it is): a replica's link to its primary
        down, a primary missing replicas the rollout knows of, a cluster node not ``cluster_state:ok``."""
        try:
            if self.mode == "cluster":
                state = _field(execute(n.client, "CLUSTER", "INFO"), "cluster_state")
                if state != "ok":
                    return f"cluster_state is {state or 'unknown'}"
            info: dict[str, Any] = n.client.info("replication")
        except redis.ResponseError as exc:
            return f"its health could not be read: {str(exc).splitlines()[0]}"
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            return f"not reachable ({type(exc).__name__})"
        if not n.primary:
            link = info.get("master_link_status")
            return "" if link == "up" else f"its link to the primary is {link or 'unknown'}"
        want = sum(1 for m in self.order if m.primary_addr == n.identity.address)
        have = int(info.get("connected_slaves", 0) or 0)
        return f"{have} of its {want} replicas connected" if have < want else ""

    def _wait_healthy(self, n: _Node, timeout: float) -> str:
        """Wait until the changed node, its primary and its replicas are healthy: "" or, at the
        deadline, why not."""
        watched = [
            m
            for m in self.order
            if m is n or m.primary_addr == n.identity.address or n.primary_addr == m.identity.address
        ]
        deadline = time.monotonic() + timeout
        while True:
            sick = [f"{m.identity.address}: {why}" for m in watched if (why := self._unhealthy(m))]
            if not sick or time.monotonic() >= deadline:
                return "; ".join(sick)
            time.sleep(HEALTH_POLL)

    # -- the end: rollback, the per-node table, the report ------------------------------------------

    def _finish(self, stopped: _Node | None) -> ApplyReport:
        """The rollout's report; a stop after changes rolls back first, with --rollback-on-failure."""
        rolled = stopped is not None and stopped.reached and self.settings.rollback_on_failure
        if rolled:
            self._roll_back()
        planned = sorted({(c.parameter, c.sensitive) for p in self.saved.every_node for c in p.changes})
        outcomes = tuple(_outcome(n, stopped, self.checked, planned) for n in self.order)
        applied = tuple(c for n in self.order for c in _kept(n))
        primary = next((n for n in reversed(self.order) if n.primary), self.order[-1])
        base = ApplyReport(
            self.saved.environment,
            primary.identity.address,
            "nothing",
            nodes=outcomes,
            audit_error=self.audit_error,
        )
        if stopped is None:
            status: ApplyStatus = "applied" if applied else "nothing"
            return dataclasses.replace(base, status=status, applied=applied, verified=bool(applied))
        bad = stopped.outcome
        assert isinstance(bad, ApplyReport)
        if self.interrupted:
            where = self.interrupted + ("" if bad.status == "applied" else f": {bad.detail or bad.status}")
        else:
            where = f"{stopped.identity.address} ({stopped.role}): " + (
                f"changed, then not healthy within {self.settings.health_timeout:g} s: {stopped.unhealthy}"
                if stopped.unhealthy
                else bad.detail or bad.status
            )
        changed = [o.status in (*CHANGED, "unhealthy") for o in outcomes]
        before = any(c for c, n in zip(changed, self.order, strict=True) if n is not stopped)
        if rolled:
            ok = not any(changed)
            status = "rolled_back" if ok else "partial"
            detail = where + (
                "; --rollback-on-failure put every changed node back to its planned-from values and read them back"
                if ok
                else "; --rollback-on-failure could not put every node back: see the table"
            )
        elif not stopped.reached:  # stopped at the checks: nothing was changed
            status, detail = bad.status, where + "; no node was changed"
        else:
            # changed, then unhealthy; or a failed node after changed ones: partly applied (exit 3)
            stopped_after_change = bool(stopped.unhealthy or self.interrupted) and bad.status in CHANGED
            status = (
                "partial" if stopped_after_change or (before and bad.status not in CHANGED) else bad.status
            )
            detail = where
            if before:
                detail += "; the nodes before it were changed"
            if stopped is not self.order[-1]:
                detail += "; the nodes after it were not reached"
        return dataclasses.replace(
            base,
            status=status,
            detail=detail,
            applied=applied,
            moved=tuple(f"{stopped.identity.address}: {m}" for m in bad.moved),
            mismatches=bad.mismatches,
            now_live=bad.now_live,
        )

    def _roll_back(self) -> None:
        """Every node changed so far (or left between values), last changed first, back to what it ran."""
        for n in reversed([n for n in self.order if n.reached]):
            report = n.outcome
            if not isinstance(report, ApplyReport) or report.status not in CHANGED or n.ready is None:
                continue
            self.notify(f"{n.identity.address} ({n.role}): rolling back (--rollback-on-failure)")
            n.restored = self._restore(n, report, n.ready)
            self._record(n.restored)

    def _restore(self, n: _Node, report: ApplyReport, ready: Ready) -> ApplyReport:
        """Put one node back (atomically, fenced, read back) and, if the plan was persisted, persist that."""
        fence = n.lock.fence if n.lock is not None else None
        if fence is None and n.guard is not None and not _still_ours(n.guard):
            return dataclasses.replace(report, detail="not rolled back: the apply lock is no longer ours")
        multi = supports_multi_config_set(n.identity.product, n.identity.version)
        result = apply_items(
            _reuse_then_reconnect(n), [_inverse(it) for it in ready.items], multi, fence=fence
        )
        if result.status != "applied":
            return dataclasses.replace(report, detail=f"the rollback failed: {result.detail}")
        detail = "rolled back to the planned-from values and read back"
        if report.persisted:  # the planned values went to the config file too: so do the old ones
            status, why, _ = persist(n.client)
            if status != "applied":
                return dataclasses.replace(report, status="not_persisted", detail=f"{detail}; {why}")
        return dataclasses.replace(report, status="rolled_back", detail=detail, now_live=result.now_live)


def _reconnect(conn: ConnectOptions) -> Callable[[], redis.Redis]:
    return lambda: connect(conn)


def _reuse_then_reconnect(n: _Node) -> Callable[[], redis.Redis]:
    """The node's own connection first, a new one after a lost one (the engine reconnects to read back)."""
    used = [False]

    def factory() -> redis.Redis:
        if not used[0]:
            used[0] = True
            return n.client
        return connect(n.conn)

    return factory


def _still_ours(lock: ApplyLock) -> bool:
    """The lock key still holds our value (checked right before changing a node without a lock)."""
    try:
        raw = lock.client.get(lock.key)
    except redis.RedisError:
        return False
    value = raw.decode() if isinstance(raw, bytes) else raw
    return value == lock.value


def _field(reply: Any, name: str) -> str:
    """One ``name:value`` line of an INFO-style text reply (CLUSTER INFO)."""
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


def _kept(n: _Node) -> tuple[AppliedChange, ...]:
    """The changes that stay applied on a node: none unless it was reached, and none once rolled back."""
    report = n.restored or n.outcome
    if not n.reached or not isinstance(report, ApplyReport) or report.status == "rolled_back":
        return ()
    return report.applied if report.status in CHANGED else ()


def _outcome(n: _Node, stopped: _Node | None, checked: bool, planned: list[tuple[str, bool]]) -> NodeOutcome:
    """A node's row: what happened there (a node with nothing to change says so once every node
    was checked; the node the checks stopped at says why), and what it runs now, read back."""
    report = n.restored or (n.outcome if isinstance(n.outcome, ApplyReport) else None)
    shown = n.reached or n is stopped or (checked and report is not None and report.status == "nothing")
    status: NodeStatus = "not_reached"
    detail = ""
    if report is not None and shown:
        status, detail = report.status, report.detail
    if n.unhealthy and n.restored is None:
        status, detail = "unhealthy", f"changed, then not healthy: {n.unhealthy}"
    return NodeOutcome(n.identity.address, n.role, status, detail, _read_back(n.client, planned))


def _inverse(it: Item) -> Item:
    """The item that puts ``it`` back: send what the node ran before, expect it read back."""
    before = it.before
    expect: str | Secret
    if isinstance(before, Secret):
        expect = before
    else:
        try:
            expect = normalize(it.param, before)
        except (ValueError, OverflowError):
            expect = before
    return Item(it.name, it.param, before, expect, it.send)


def _read_back(client: redis.Redis, planned: list[tuple[str, bool]]) -> tuple[tuple[str, str | None], ...]:
    """What the node runs now for each planned parameter, read back from it; secrets never shown."""
    out: list[tuple[str, str | None]] = []
    reachable = True
    for name, sensitive in planned:
        if sensitive:
            out.append((name, "(sensitive)"))
            continue
        value = None
        if reachable:
            try:
                value = client.config_get(name).get(name)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                reachable = False  # a stalled node: one timeout, not one per parameter
            except redis.RedisError:
                value = None
        out.append((name, value if isinstance(value, str) else None))
    return tuple(out)


def _record_node(report: ApplyReport, settings: Settings) -> None:
    entry = audit.record(
        time=_now(),
        environment=report.environment,
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


def _record_refusal(saved: SavedPlan, target: str, settings: Settings, result: str, why: str) -> None:
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
