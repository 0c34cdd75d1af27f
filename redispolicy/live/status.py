"""Readings for `status`: one node's INFO, SLOWLOG and (every few refreshes) a small key sample.

Read-only: INFO, SLOWLOG LEN / GET, RANDOMKEY, PTTL and MEMORY USAGE, nothing else. The
sample's connections ask for CLIENT NO-TOUCH (Redis >= 7.2), as the key audit does, so
watching a server does not refresh the LRU clocks its eviction policy goes by. A command
the server refuses (an ACL without +info or +slowlog) leaves its figures None with the
reason, never 0; a node that drops is reconnected on the next refresh.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import redis

from redispolicy.errors import RedispolicyError
from redispolicy.live.call import execute
from redispolicy.live.connect import ConnectOptions, connect
from redispolicy.live.health import reading_from
from redispolicy.live.keysample import sample_keys
from redispolicy.live.keyscan import no_touch
from redispolicy.live.model import Batch, ClassSample, NodeReading, SlowEntry, SlowlogState

SAMPLE_DRAWS = 200  # RANDOMKEY draws per node and sample: enough for shares to a few percent
SLOWLOG_NEWEST = 10  # newest entries read per refresh (their names name the slowlog's growth)


def _why(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _int(info: dict[str, Any], key: str) -> int | None:
    try:
        return int(info[key])
    except (KeyError, TypeError, ValueError):
        return None


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def parse_slowlog(length: int, entries: list[Any]) -> SlowlogState:
    """SLOWLOG GET's raw reply (newest first) as ids, durations and command *names* only: the arguments
    (which may be a password or a key) are dropped here, before anything else can see them."""
    newest = []
    for entry in entries:
        args = entry[3] if len(entry) > 3 and isinstance(entry[3], list) else []
        name = _text(args[0]).split(" ", 1)[0].upper() if args else "?"
        newest.append(SlowEntry(int(entry[0]), int(entry[2]), name))
    return SlowlogState(length, newest[0].id if newest else None, tuple(newest))


class NodeWatch:
    """One node of the deployment, kept connected across refreshes (reconnected after a drop)."""

    def __init__(
        self, opts: ConnectOptions, address: str, role: str, notes: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.opts = opts
        self.address = address
        self.role = role
        self.notes = notes  # shown with every reading (e.g. why the deployment could not be discovered)
        self.client: redis.Redis | None = None
        self._info: dict[str, Any] = {}  # the last INFO reply (the sample's dbs come from its keyspace)

    def read(self, sample_draws: int = 0) -> tuple[NodeReading, NodeReading]:
        """INFO and SLOWLOG now; with ``sample_draws`` also a key sample (masters only: a replica holds
        its primary's keys). Returns the reading, and the one the next window starts from: after a
        sample, INFO is read again, so the sample's own RANDOMKEY and MEMORY USAGE calls count in no
        window's ops/s or hit rate."""
        reading = self._safely(lambda client: self._read(client))
        reading = dataclasses.replace(reading, unavailable=(*self.notes, *reading.unavailable))
        reached = all(what != "node" for what, _ in reading.unavailable)
        if not sample_draws or self.role != "master" or not reached:
            return reading, reading
        sample, why = sample_classes(self.opts, sample_draws, self._info)
        reading = dataclasses.replace(reading, sample=sample, unavailable=(*reading.unavailable, *why))
        return reading, self._safely(lambda client: self._read(client))

    def _safely(self, read: Callable[[redis.Redis], NodeReading]) -> NodeReading:
        now = time.monotonic()
        try:
            if self.client is None:
                self.client = connect(self.opts)
            return read(self.client)
        except RedispolicyError as exc:
            return NodeReading(self.address, self.role, now, unavailable=(("node", exc.message),))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self.close()  # the next refresh connects again
            return NodeReading(
                self.address, self.role, now, unavailable=(("node", f"connection lost: {_why(exc)}"),)
            )

    def _read(self, client: redis.Redis) -> NodeReading:
        unavailable: list[tuple[str, str]] = []
        reading = NodeReading(self.address, self.role, time.monotonic())
        self._info = {}
        try:
            self._info = client.info()
        except redis.ResponseError as exc:
            unavailable.append(("info", f"INFO refused ({_why(exc)}); grant +info"))
        else:
            info = self._info
            self.role = str(info.get("role", self.role))
            reading = dataclasses.replace(
                reading,
                role=self.role,
                info=reading_from(info),
                run_id=str(info.get("run_id", "")),
                commands_processed=_int(info, "total_commands_processed"),
                connected_replicas=_int(info, "connected_slaves"),
            )
        try:
            length = int(execute(client, "SLOWLOG", "LEN"))
            slowlog = parse_slowlog(length, execute(client, "SLOWLOG", "GET", SLOWLOG_NEWEST))
            reading = dataclasses.replace(reading, slowlog=slowlog)
        except redis.ResponseError as exc:
            unavailable.append(("slowlog", f"SLOWLOG refused ({_why(exc)}); grant +slowlog"))
        return dataclasses.replace(reading, unavailable=tuple(unavailable))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def _sizes(info: dict[str, Any]) -> dict[int, int]:
    """Keys per db from INFO keyspace (``db0: {keys: .., expires: ..}``)."""
    return {
        int(name[2:]): int(value.get("keys", 0))
        for name, value in info.items()
        if name.startswith("db") and name[2:].isdigit() and isinstance(value, dict)
    }


def sample_classes(
    opts: ConnectOptions, draws: int, info: dict[str, Any]
) -> tuple[ClassSample | None, list[tuple[str, str]]]:
    """``draws`` RANDOMKEY draws over the node's dbs (in proportion to their sizes), each with its
    MEMORY USAGE (SAMPLES 5); refused MEMORY USAGE: key shares only; refused RANDOMKEY: no sample."""
    # INFO refused: the sizes are unknown, so every draw goes to the connection's own db.
    sizes = _sizes(info) if info else {opts.db or 0: 1}
    clients: dict[int, redis.Redis] = {}
    raw = dataclasses.replace(opts, decode_responses=False)

    def client_for(db: int) -> redis.Redis:
        if db not in clients:
            clients[db] = connect(dataclasses.replace(raw, db=db))
            no_touch(clients[db])
        return clients[db]

    def draw(want_memory: bool) -> ClassSample:
        batches: list[Batch] = []
        sample_keys(client_for, sizes, draws, batches.append, want_memory=want_memory)
        keys = tuple(k for b in batches for k in b.keys)
        memory = tuple(m for b in batches for m in (b.memory or [None] * len(b.keys)))
        dbsize = sum(sizes.values()) if info else None
        return ClassSample(keys, memory, dbsize, want_memory, time.monotonic())

    try:
        try:
            return draw(True), []
        except redis.ResponseError as exc:
            refused = ("memory", f"MEMORY USAGE refused ({_why(exc)}); grant +memory for memory shares")
        try:
            return draw(False), [refused]
        except redis.ResponseError as exc:
            return None, [("keys", f"the key sample was refused ({_why(exc)}); grant +randomkey +pttl")]
    except RedispolicyError as exc:
        return None, [("keys", exc.message)]
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        return None, [("keys", f"the key sample failed: {_why(exc)}")]
    finally:
        for c in clients.values():
            c.close()
