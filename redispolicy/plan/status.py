"""What `status` shows: two readings of a node -> rates over the window between them, judged.

Pure: no I/O. Rates come from INFO's counters (commands, hits, misses, evictions,
expirations) and the slowlog's ids between two readings; a server that restarted in
between (another run_id, or a counter that went down) has no rates for that window rather
than negative ones. The colours are plan/health.py's judgement with the policy's
``health:`` thresholds, the same as drift's. Key-class shares come from a small RANDOMKEY
sample, classified with the key audit's rule (the first matching class wins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redispolicy.live.model import ClassSample, HealthReadings, NodeReading, Reading
from redispolicy.plan.health import HealthCheck, Status, evaluate
from redispolicy.policy.glob import FirstMatch
from redispolicy.policy.model import Health, KeyClass

UNCLASSIFIED = "(unclassified)"


@dataclass(frozen=True)
class ClassShare:
    """One key class's share of a node's sample."""

    name: str  # the class, or UNCLASSIFIED
    draws: int
    keys_percent: float
    memory_percent: float | None  # None: MEMORY USAGE was refused
    estimated_keys: int | None  # keys_percent of the node's dbsize; None: dbsize unknown


@dataclass(frozen=True)
class NodeStatus:
    """One node's figures over one refresh window. None: not available (refused, not reached, or no
    window yet), with the reason in ``unavailable``; never a 0 that was not measured."""

    address: str
    role: str
    window: float | None  # seconds between the two readings
    used_memory: int | None = None
    maxmemory: int | None = None
    memory_percent: float | None = None  # of maxmemory, or of the system's memory when maxmemory is 0
    memory_of: str | None = None  # maxmemory | system
    ops_per_sec: float | None = None
    hit_rate_percent: float | None = None  # None also when the window had no key lookups
    lookups: int | None = None  # key lookups in the window
    evictions_per_sec: float | None = None
    expirations_per_sec: float | None = None
    connected_clients: int | None = None
    blocked_clients: int | None = None
    slowlog_length: int | None = None
    slowlog_growth: int | None = None  # entries logged in the window
    slow_commands: tuple[str, ...] = ()  # the names of those entries (up to the newest 10)
    replication_link: str | None = None  # a replica's master_link_status
    replicas: int | None = None  # a primary's connected replicas
    classes: tuple[ClassShare, ...] | None = None  # None: no sample (a replica, or not sampled yet)
    sample_draws: int | None = None
    sample_age: float | None = None  # seconds since the sample was taken
    status: dict[str, Status] | None = None  # figure -> ok | warning | critical, by the policy's health
    restarted: bool = False  # another run_id than at the window's start: no rates for this window
    unavailable: tuple[tuple[str, str], ...] = ()
    expired_by_class: tuple[tuple[str, int], ...] | None = None  # lock timeouts (not counted yet: None)

    @property
    def overall(self) -> Status:
        levels = {"ok": 0, "warning": 1, "critical": 2}
        found = [s for s in (self.status or {}).values() if s in levels]
        if any(what == "node" for what, _ in self.unavailable):
            return "critical"
        return max(found, key=levels.__getitem__, default="ok")


@dataclass(frozen=True)
class StatusReport:
    """One refresh of `status`: every node of the deployment."""

    environment: str | None
    nodes: tuple[NodeStatus, ...]
    refresh: int = 1  # which refresh this is (1, 2, ...)
    watch: float | None = None  # --watch SECONDS; None: one reading


def _rate(delta: int, seconds: float) -> float:
    return round(delta / seconds, 1) if seconds > 0 else 0.0


def _counters_ok(a: Reading, b: Reading) -> bool:
    return all(
        getattr(b, f) >= getattr(a, f)
        for f in ("keyspace_hits", "keyspace_misses", "evicted_keys", "expired_keys")
    )


def shares(sample: ClassSample, classes: tuple[KeyClass, ...]) -> tuple[ClassShare, ...]:
    """Each class's share of the sample's draws and of their measured memory; classes in policy order,
    UNCLASSIFIED last; a class no draw fell in is listed with 0 (it exists, the sample just missed it)."""
    named = [kc for kc in classes if kc.pattern]
    first = FirstMatch([kc.pattern for kc in named])
    names = [*(kc.name for kc in named), UNCLASSIFIED]
    draws = [0] * len(names)
    memory = [0] * len(names)
    for size, n in zip(sample.memory, first.numbers(list(sample.keys)), strict=True):
        i = n - 1 if n <= len(named) else len(named)
        draws[i] += 1
        memory[i] += size or 0
    total, total_memory = sum(draws), sum(memory)
    out = []
    for name, d, m in zip(names, draws, memory, strict=True):
        if name == UNCLASSIFIED and d == 0:
            continue
        keys_pct = round(100.0 * d / total, 1) if total else 0.0
        mem_pct = round(100.0 * m / total_memory, 1) if total_memory else 0.0
        out.append(
            ClassShare(
                name,
                d,
                keys_pct,
                mem_pct if sample.memory_measured else None,
                None if sample.dbsize is None else round(sample.dbsize * d / total) if total else 0,
            )
        )
    return tuple(out)


def _check(checks: tuple[HealthCheck, ...], name: str) -> HealthCheck | None:
    return next((c for c in checks if c.check == name), None)


def node_status(
    prev: NodeReading | None,
    cur: NodeReading,
    health: Health,
    classes: tuple[KeyClass, ...],
    sample: ClassSample | None = None,
) -> NodeStatus:
    """``cur`` against ``prev`` (the reading one window earlier; None: no window yet, so no rates).
    ``sample``: the node's latest key sample (taken every few refreshes, so maybe older than ``cur``)."""
    unavailable = list(cur.unavailable)
    if restarted_between(prev, cur):
        unavailable.append(
            ("rates", "the server restarted in this window (a new run_id): no rates until the next")
        )
    status: dict[str, Status] = {}
    fields: dict[str, Any] = {"window": None}
    info = cur.info
    if info is not None:
        now = evaluate(HealthReadings(info, None, 0, ()), health)
        memory = _check(now, "memory_used_percent")
        if memory is not None and memory.value is not None:
            fields.update(memory_percent=memory.value, memory_of="maxmemory" if info.maxmemory else "system")
            status["memory"] = memory.status
        clients = _check(now, "connected_clients")
        if clients is not None:
            status["connected_clients"] = clients.status
        link = _check(now, "replication_link")
        if link is not None:
            status["replication_link"] = link.status
        fields.update(
            used_memory=info.used_memory,
            maxmemory=info.maxmemory,
            connected_clients=info.connected_clients,
            blocked_clients=info.blocked_clients,
            replication_link=info.master_link_status,
            replicas=cur.connected_replicas if info.role == "master" else None,
        )
    if cur.slowlog is not None:
        fields["slowlog_length"] = cur.slowlog.length
    restarted = restarted_between(prev, cur)
    if prev is not None and not restarted:
        fields.update(_window(prev, cur, health, status))
    if sample is not None:
        fields.update(
            classes=shares(sample, classes),
            sample_draws=len(sample.keys),
            sample_age=round(max(0.0, cur.at - sample.at), 1),
        )
    return NodeStatus(
        cur.address,
        cur.role,
        **fields,
        status=status,
        restarted=restarted,
        unavailable=tuple(unavailable),
        expired_by_class=cur.expired_by_class,
    )


def restarted_between(prev: NodeReading | None, cur: NodeReading) -> bool:
    return prev is not None and bool(prev.run_id and cur.run_id and prev.run_id != cur.run_id)


def _window(prev: NodeReading, cur: NodeReading, health: Health, status: dict[str, Status]) -> dict[str, Any]:
    """The rates between two readings of one server run; judged by drift's window checks."""
    seconds = cur.at - prev.at
    out: dict[str, Any] = {"window": round(seconds, 2)}
    a, b = prev.info, cur.info
    if a is not None and b is not None and _counters_ok(a, b):
        checks = evaluate(HealthReadings(a, b, 0, ()), health)
        lookups = (b.keyspace_hits - a.keyspace_hits) + (b.keyspace_misses - a.keyspace_misses)
        out.update(
            lookups=lookups,
            evictions_per_sec=_rate(b.evicted_keys - a.evicted_keys, seconds),
            expirations_per_sec=_rate(b.expired_keys - a.expired_keys, seconds),
        )
        hit = _check(checks, "hit_rate_window_percent")
        if hit is not None:
            out["hit_rate_percent"] = hit.value
            status["hit_rate"] = hit.status
        evicted = _check(checks, "evicted_keys_window")
        if evicted is not None:
            status["evictions"] = evicted.status
    if prev.commands_processed is not None and cur.commands_processed is not None:
        done = cur.commands_processed - prev.commands_processed
        if done >= 0:
            out["ops_per_sec"] = _rate(done, seconds)
    if prev.slowlog is not None and cur.slowlog is not None:
        out.update(_slowlog_growth(prev, cur))
    return out


def _slowlog_growth(prev: NodeReading, cur: NodeReading) -> dict[str, Any]:
    """Entries logged in the window, by id (ids keep counting across SLOWLOG RESET and trimming)."""
    assert prev.slowlog is not None and cur.slowlog is not None
    before, after = prev.slowlog.last_id, cur.slowlog.last_id
    if after is None:
        return {"slowlog_growth": 0}
    if before is None:  # the log was empty: everything in it now is new
        fresh = list(cur.slowlog.newest)
        growth = cur.slowlog.length
    else:
        fresh = [e for e in cur.slowlog.newest if e.id > before]
        growth = max(0, after - before)
    return {"slowlog_growth": growth, "slow_commands": tuple(e.command for e in fresh)}


def report(
    environment: str | None,
    prev: dict[str, NodeReading],
    cur: list[NodeReading],
    health: Health,
    classes: tuple[KeyClass, ...],
    samples: dict[str, ClassSample],
    refresh: int = 1,
    watch: float | None = None,
) -> StatusReport:
    """Every node's status for one refresh; ``prev`` and ``samples`` by node address."""
    nodes = tuple(node_status(prev.get(r.address), r, health, classes, samples.get(r.address)) for r in cur)
    return StatusReport(environment, nodes, refresh, watch)


__all__ = ["UNCLASSIFIED", "ClassShare", "NodeStatus", "StatusReport", "node_status", "report", "shares"]
