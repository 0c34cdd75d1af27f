"""Health checks: readings against the policy's thresholds -> ok / warning / critical.

Defaults (docs/policy-format.md, health): memory above 80 % of maxmemory is a warning, above 90 %
critical; a hit rate below 20 % a warning. With maxmemory 0 the share is of system
memory, and the check says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from redispolicy.live.model import ExpiryReading, HealthReadings
from redispolicy.plan.expiry import judged_on, per_hour
from redispolicy.policy.model import ExpiryRule, Health, LowerThreshold, Threshold

ORDER = {"ok": 0, "warning": 1, "critical": 2}
FRAGMENTATION_FLOOR = 10 * 1024 * 1024
SMALL_INSTANCE = 5 * 1024 * 1024


Status = Literal["ok", "warning", "critical", "unknown"]


@dataclass(frozen=True)
class HealthCheck:
    check: str
    value: float | None
    status: Status
    threshold: float | None = None
    detail: str = ""


def _upper(name: str, value: float, rule: Threshold, detail: str = "") -> HealthCheck:
    levels: tuple[tuple[Status, float | None], ...] = (("critical", rule.critical), ("warning", rule.warning))
    for level, limit in levels:
        if limit is not None and value > limit:
            return HealthCheck(name, value, level, limit, detail)
    return HealthCheck(name, value, "ok", rule.warning if rule.warning is not None else rule.critical, detail)


def _lower(name: str, value: float, rule: LowerThreshold, detail: str = "") -> HealthCheck:
    levels: tuple[tuple[Status, float | None], ...] = (
        ("critical", rule.critical_below),
        ("warning", rule.warning_below),
    )
    for level, limit in levels:
        if limit is not None and value < limit:
            return HealthCheck(name, value, level, limit, detail)
    below = rule.warning_below if rule.warning_below is not None else rule.critical_below
    return HealthCheck(name, value, "ok", below, detail)


def evaluate(readings: HealthReadings, rules: Health) -> tuple[HealthCheck, ...]:
    r, w = readings.first, readings.second
    out: list[HealthCheck] = []
    if r.maxmemory:
        pct = 100.0 * r.used_memory / r.maxmemory
        out.append(
            _upper(
                "memory_used_percent",
                round(pct, 1),
                rules.memory_used_percent,
                f"{r.used_memory} of maxmemory {r.maxmemory} bytes",
            )
        )
    elif r.total_system_memory:
        pct = 100.0 * r.used_memory / r.total_system_memory
        out.append(
            _upper(
                "memory_used_percent",
                round(pct, 1),
                rules.memory_used_percent,
                f"maxmemory is 0 (no limit): {r.used_memory} of the system's {r.total_system_memory} bytes",
            )
        )
    lookups = r.keyspace_hits + r.keyspace_misses
    if lookups:
        out.append(
            _lower(
                "hit_rate_percent",
                round(100.0 * r.keyspace_hits / lookups, 1),
                rules.hit_rate_percent,
                f"over the server's lifetime ({lookups} lookups)",
            )
        )
    else:
        out.append(HealthCheck("hit_rate_percent", None, "ok", None, "no key lookups yet"))
    if w is not None:
        wl = (w.keyspace_hits - r.keyspace_hits) + (w.keyspace_misses - r.keyspace_misses)
        secs = w.at - r.at
        if wl > 0:
            out.append(
                _lower(
                    "hit_rate_window_percent",
                    round(100.0 * (w.keyspace_hits - r.keyspace_hits) / wl, 1),
                    rules.hit_rate_percent,
                    f"over the last {secs:.0f} s ({wl} lookups)",
                )
            )
        out.append(
            _upper(
                "evicted_keys_window",
                float(w.evicted_keys - r.evicted_keys),
                rules.evicted_keys,
                f"evicted in the last {secs:.0f} s",
            )
        )
        out.append(
            HealthCheck(
                "expired_keys_window",
                float(w.expired_keys - r.expired_keys),
                "ok",
                None,
                f"expired in the last {secs:.0f} s",
            )
        )
    else:
        out.append(
            _upper(
                "evicted_keys",
                float(r.evicted_keys),
                rules.evicted_keys,
                "since the server started (or CONFIG RESETSTAT)",
            )
        )
    if r.used_memory < SMALL_INSTANCE or abs(r.fragmentation_bytes) < FRAGMENTATION_FLOOR:
        # MEMORY DOCTOR's own rules (object.c): below 5 MB used, or with RSS within 10 MB of it,
        # a high ratio is the allocator's baseline, not fragmentation worth acting on.
        why = (
            "not meaningful for an instance this small"
            if r.used_memory < SMALL_INSTANCE
            else f"not meaningful: RSS is within {FRAGMENTATION_FLOOR // (1024 * 1024)} MB of used memory"
        )
        out.append(HealthCheck("fragmentation_ratio", r.fragmentation_ratio, "ok", None, why))
    else:
        out.append(_upper("fragmentation_ratio", r.fragmentation_ratio, rules.fragmentation_ratio))
    out.append(_upper("rejected_connections", float(r.rejected_connections), rules.rejected_connections))
    out.append(_upper("connected_clients", float(r.connected_clients), rules.connected_clients))
    out.append(HealthCheck("blocked_clients", float(r.blocked_clients), "ok"))
    out.append(
        HealthCheck(
            "slowlog_length",
            float(readings.slowlog_len),
            "ok",
            None,
            ", ".join(f"{e.command} {e.duration_us} µs" for e in readings.slowest),
        )
    )
    if r.master_link_status is not None:
        out.append(
            HealthCheck(
                "replication_link",
                None,
                "ok" if r.master_link_status == "up" else "critical",
                None,
                f"master_link_status:{r.master_link_status}",
            )
        )
    out.append(
        HealthCheck(
            "last_save",
            None,
            "ok" if r.rdb_last_bgsave_status == "ok" else "critical",
            None,
            f"rdb_last_bgsave_status:{r.rdb_last_bgsave_status}",
        )
    )
    if r.aof_enabled:
        out.append(
            HealthCheck(
                "aof",
                None,
                "ok" if r.aof_last_write_status == "ok" else "critical",
                None,
                f"aof_last_write_status:{r.aof_last_write_status}",
            )
        )
    return tuple(out)


EXPIRED_PER_HOUR = "expired_per_hour"
NEEDS_WINDOW = "not counted: drift counts expirations only during --window SECONDS (e.g. --window 60)"


def expiry_check(rule: ExpiryRule, reading: ExpiryReading | None, pattern: str = "") -> HealthCheck:
    """``health.expired_per_hour`` against what the window counted. No reading (no --window) or an
    unavailable one (notifications off, PSUBSCRIBE refused) is ``unknown``, never 0 or ok: the
    caller reports the unavailable one as not checked."""
    what = f"class {rule.key_class}" + (f" ({pattern})" if pattern else "")
    if reading is None:
        return HealthCheck(EXPIRED_PER_HOUR, None, "unknown", None, f"{what}: {NEEDS_WINDOW}")
    if not reading.available:
        return HealthCheck(
            EXPIRED_PER_HOUR, None, "unknown", None, f"{what}: unavailable: {reading.unavailable}"
        )
    count = reading.count(rule.key_class)
    detail = f"{what}: {count} expired (not deleted) in {reading.seconds:.1f} s; judged on {judged_on(reading.seconds)}"
    return _upper(
        EXPIRED_PER_HOUR, per_hour(count, reading.seconds), Threshold(rule.warning, rule.critical), detail
    )


def overall(checks: tuple[HealthCheck, ...]) -> str:
    return max((c.status for c in checks if c.status in ORDER), key=ORDER.__getitem__, default="ok")
