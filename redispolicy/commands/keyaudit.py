"""The key audit as plan and drift run it: pre-flight, choose the mode, scan, judge."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable

import redis

from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions, connect
from redispolicy.live.keyscan import DEFAULT_RATE, keyspace_info, scan_exact
from redispolicy.plan.keys import KeyFindings, KeyJudge
from redispolicy.policy.model import Policy

DEFAULT_TIME_BUDGET = 60.0  # seconds an automatic exact audit may take at the rate limit


def audit_keys(policy: Policy, conn: ConnectOptions, rate: int | None = None, mode: str | None = None,
               progress: bool = False) -> KeyFindings | None:
    if not policy.keys:
        return None
    sampling = policy.sampling
    rate = rate if rate is not None else int(sampling.get("max_rate", DEFAULT_RATE))
    mode = mode or str(sampling.get("mode", "auto"))
    raw = dataclasses.replace(conn, decode_responses=False)
    client = connect(raw)
    try:
        info = keyspace_info(client)
    finally:
        client.close()
    if mode == "auto":
        budget = _seconds(sampling.get("time_budget"), DEFAULT_TIME_BUDGET)
        mode = "exact" if rate <= 0 or info.keys / rate <= budget else "sample"
    if mode == "sample":
        raise RedispolicyError(
            f"the keyspace ({info.keys} keys) does not fit an exact audit in the time budget, and sample "
            "mode is not available yet", "raise sampling.time_budget or --max-rate, or set sampling.mode: exact")
    judge = KeyJudge(policy.keys)
    clients: dict[int, redis.Redis] = {}

    def client_for(db: int) -> redis.Redis:
        c = connect(dataclasses.replace(raw, db=db))
        clients[db] = c
        return c

    bar = _progress(info.keys) if progress else None
    try:
        stats = scan_exact(client_for, sorted(info.dbs), judge.add, judge.needs_type, judge.needs_memory,
                           rate, progress=bar)
    finally:
        for c in clients.values():
            c.close()
        if bar is not None:
            bar(-1)
    return judge.finish("exact", info.keys, stats.scanned, stats.duplicates)


def _seconds(value: object, default: float) -> float:
    if isinstance(value, str) and value:
        from redispolicy.catalog.units import parse_duration
        return float(parse_duration(value))
    return default


def _progress(total: int) -> Callable[[int], None] | None:
    """A rich progress bar on stderr, only on a terminal (stdout carries the report alone)."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    prog = Progress(transient=True, console=Console(stderr=True))
    prog.start()
    task = prog.add_task("auditing keys", total=total or None)

    def step(n: int) -> None:
        if n < 0:
            prog.stop()
        else:
            prog.advance(task, n)
    return step
