"""Health readings from INFO (and SLOWLOG): numbers only, read in one round trip per reading.

Counters (hits, misses, evictions, expirations) are also read a second time after
``--window`` seconds, so the report can say what happened in that window and not only
over the server's lifetime.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from redispolicy.live.model import HealthReadings, Reading, SlowEntry

SLOWLOG_SHOWN = 3


def _int(info: dict[str, Any], key: str) -> int:
    try:
        return int(info.get(key, 0) or 0)
    except (TypeError, ValueError):
        return 0


def reading(client: redis.Redis) -> Reading:
    return reading_from(client.info("all"))


def reading_from(info: dict[str, Any]) -> Reading:
    """A Reading from a parsed INFO reply (``status`` reads INFO once for this and its own counters)."""
    return Reading(
        at=time.monotonic(),
        used_memory=_int(info, "used_memory"),
        maxmemory=_int(info, "maxmemory"),
        total_system_memory=_int(info, "total_system_memory"),
        keyspace_hits=_int(info, "keyspace_hits"),
        keyspace_misses=_int(info, "keyspace_misses"),
        evicted_keys=_int(info, "evicted_keys"),
        expired_keys=_int(info, "expired_keys"),
        fragmentation_ratio=float(info.get("mem_fragmentation_ratio", 0) or 0),
        fragmentation_bytes=_int(info, "mem_fragmentation_bytes"),
        rejected_connections=_int(info, "rejected_connections"),
        blocked_clients=_int(info, "blocked_clients"),
        connected_clients=_int(info, "connected_clients"),
        role=str(info.get("role", "master")),
        master_link_status=str(info["master_link_status"]) if "master_link_status" in info else None,
        rdb_last_bgsave_status=str(info.get("rdb_last_bgsave_status", "ok")),
        aof_enabled=bool(_int(info, "aof_enabled")),
        aof_last_write_status=str(info.get("aof_last_write_status", "ok")),
        loading=bool(_int(info, "loading")),
    )


def slowlog(client: redis.Redis) -> tuple[int, tuple[SlowEntry, ...]]:
    try:
        length = int(client.slowlog_len())
        entries = client.slowlog_get(64)
    except redis.ResponseError:  # blocked on some managed services
        return 0, ()
    slowest = sorted(entries, key=lambda e: -int(e.get("duration", 0)))[:SLOWLOG_SHOWN]
    out = []
    for e in slowest:
        cmd = e.get("command", b"")
        name = (cmd.decode("utf-8", "replace") if isinstance(cmd, bytes) else str(cmd)).split(" ", 1)[0]
        out.append(SlowEntry(int(e.get("id", 0)), int(e.get("duration", 0)), name.upper()))
    return length, tuple(out)


def read_health(client: redis.Redis, window: float = 0.0) -> HealthReadings:
    first = reading(client)
    second = None
    if window > 0:
        time.sleep(window)
        second = reading(client)
    length, slowest = slowlog(client)
    return HealthReadings(first, second, length, slowest)
