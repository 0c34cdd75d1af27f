"""The key audit as plan and drift run it: pre-flight, choose the mode, scan or sample, judge.

Modes (policy ``sampling.mode``):

* ``exact``: one full SCAN of every db; every count is the truth.
* ``sample``: ``sampling.keys`` (default 10000) uniform RANDOMKEY draws spread over the
  dbs, then a full ``SCAN MATCH`` pass for each class seen fewer than 300 times in the
  sample (those classes come out exact); the others are estimated with 95 % intervals.
* ``auto`` (default): exact when the keyspace fits ``sampling.time_budget`` (default 60 s)
  at the rate limit, else sample.

On a Redis Cluster node the audit covers the whole cluster: every master serving slots
(``CLUSTER NODES``, live/topology.py) is audited where a standalone server's dbs would be,
and ``KeyFindings.nodes`` names them. Replicas are never read. Both modes read the masters
concurrently (one thread and connection each, keyscan.read_partitions): the exact SCAN, the
sample's RANDOMKEY draws (each master still gets its share in proportion to its key count)
and each rare class's SCAN MATCH pass; all under one rate limiter, so ``--max-rate`` is the
total over the cluster, not a rate per master.

``memory=True`` (``--memory``) adds ``MEMORY USAGE key SAMPLES 5`` for every class (not
only those with ``max_size``) and sets each ``capacity.workloads`` entry's observed size
next to the policy's estimate (``KeyFindings.capacity``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from urllib.parse import urlsplit

import redis

from redispolicy.commands.progress import progress_bar
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions, connect, for_node
from redispolicy.live.keysample import match_pass, sample_keys
from redispolicy.live.keyscan import RateLimiter, keyspace_info, scan_exact
from redispolicy.live.model import Batch, KeyspaceInfo
from redispolicy.live.snapshot import server_mode
from redispolicy.live.topology import cluster_masters, node_address
from redispolicy.plan.keys import MATCH_FLOOR, KeyFindings, KeyJudge, capacity_observations
from redispolicy.policy.model import Policy


def choose_mode(mode: str, keys: int, rate: int, budget: float) -> str:
    """auto -> exact when keys / rate fits the time budget (rate 0 = unlimited), else sample."""
    if mode != "auto":
        return mode
    return "exact" if rate <= 0 or keys / rate <= budget else "sample"


def audit_keys(
    policy: Policy,
    conn: ConnectOptions,
    rate: int | None = None,
    mode: str | None = None,
    progress: bool = False,
    memory: bool = False,
) -> KeyFindings | None:
    if not policy.keys:
        return None
    findings = _audit(policy, conn, rate, mode, progress, memory)
    if memory and policy.capacity is not None and policy.capacity.workloads:
        findings = dataclasses.replace(
            findings, capacity=capacity_observations(findings, policy.capacity.workloads, policy.keys)
        )
    return findings


def _audit(
    policy: Policy, conn: ConnectOptions, rate: int | None, mode: str | None, progress: bool, memory: bool
) -> KeyFindings:
    try:
        return _run(policy, conn, rate, mode, progress, memory)
    except redis.ResponseError as exc:
        # e.g. a user limited to some key patterns: SCAN lists every key, PTTL on the others is refused
        reason = str(exc).splitlines()[0]
        raise RedispolicyError(
            f"key audit stopped: the server answered {reason}",
            "audit with a user allowed INFO, SCAN, PTTL, TYPE and MEMORY USAGE on every key (~* or %R~*); "
            "the audit only reads",
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RedispolicyError(
            f"key audit stopped: the connection failed mid-scan ({reason})",
            "check the server and rerun; the audit only reads, so nothing changed",
        ) from None


def _run(
    policy: Policy, conn: ConnectOptions, rate: int | None, mode: str | None, progress: bool, memory: bool
) -> KeyFindings:
    sampling = policy.sampling
    rate = rate if rate is not None else sampling.max_rate
    raw = dataclasses.replace(conn, decode_responses=False)
    clients: dict[int, redis.Redis] = {}  # per partition: a db, or a cluster master (its db 0)
    try:
        info, client_for, nodes = _keyspace(raw, clients)
        mode = choose_mode(mode or sampling.mode, info.keys, rate, float(sampling.time_budget))
        judge = KeyJudge(policy.keys, memory=memory)
        dbs = sorted(info.dbs)
        if mode == "sample":
            n = sampling.keys
            findings = _sample(judge, client_for, info.dbs, dbs, n, rate, info.keys, progress, bool(nodes))
        else:
            bar = progress_bar(info.keys, "auditing keys") if progress else None
            try:
                stats = scan_exact(
                    client_for,
                    dbs,
                    judge.add,
                    judge.needs_type,
                    judge.needs_memory,
                    rate,
                    progress=bar,
                    concurrent=bool(nodes),  # a cluster's masters are read at once, under one rate budget
                )
            finally:
                if bar is not None:
                    bar(-1)
            findings = judge.finish("exact", info.keys, stats.scanned, stats.duplicates)
        return dataclasses.replace(findings, nodes=nodes) if nodes else findings
    finally:
        for c in clients.values():
            c.close()


def _keyspace(
    raw: ConnectOptions, clients: dict[int, redis.Redis]
) -> tuple[KeyspaceInfo, Callable[[int], redis.Redis], tuple[str, ...]]:
    """The pre-flight: the keyspace's partitions, a client per partition, and the cluster masters.

    Standalone, a partition is a db (INFO keyspace). On a cluster node SCAN, RANDOMKEY and
    INFO keyspace see only that node's slots, so every master serving slots is a partition
    (its db 0, the only one a cluster has) and the pre-flight sums their INFO keyspace;
    replicas hold copies and are skipped. ``clients`` collects the connections to close.
    """
    client = connect(raw)
    try:
        if server_mode(client.info("server")) != "cluster":

            def client_for(db: int) -> redis.Redis:
                if db not in clients:
                    clients[db] = connect(dataclasses.replace(raw, db=db))
                return clients[db]

            return keyspace_info(client), client_for, ()
        masters = cluster_masters(client, self_host=urlsplit(raw.url.reveal()).hostname or "")
    finally:
        client.close()
    sizes: dict[int, tuple[int, int]] = {}
    for i, (host, port) in enumerate(masters):
        clients[i] = _connect_master(
            dataclasses.replace(for_node(raw, host, port), db=0), node_address(host, port)
        )
        size = keyspace_info(clients[i]).dbs.get(0)
        if size is not None:  # INFO keyspace lists no db0 on an empty master
            sizes[i] = size
    return KeyspaceInfo(sizes), clients.__getitem__, tuple(node_address(h, p) for h, p in masters)


def _connect_master(opts: ConnectOptions, where: str) -> redis.Redis:
    try:
        return connect(opts)
    except RedispolicyError as exc:
        raise RedispolicyError(
            f"key audit: cannot reach cluster master {where} (as CLUSTER NODES announces it): {exc.message}",
            "every master must be reachable from here with the target's credentials and TLS settings "
            "(check cluster-announce-ip / cluster-announce-port behind NAT or containers)",
        ) from None


def _sample(
    judge: KeyJudge,
    client_for: Callable[[int], redis.Redis],
    sizes: dict[int, tuple[int, int]],
    dbs: list[int],
    n: int,
    rate: int,
    dbsize: int,
    progress: bool,
    concurrent: bool,
) -> KeyFindings:
    """``concurrent``: the dbs are a cluster's masters, each its own server, read at once."""
    limiter = RateLimiter(rate)  # one budget for the draws and the MATCH passes, over every master
    bar = progress_bar(n, "auditing keys") if progress else None
    try:
        stats = sample_keys(
            client_for,
            {db: keys for db, (keys, _) in sizes.items()},
            n,
            judge.add,
            judge.needs_type,
            judge.needs_memory,
            limiter,
            progress=bar,
            concurrent=concurrent,
        )
    finally:
        if bar is not None:
            bar(-1)
    scanned = stats.distinct
    for i in judge.rare_classes(MATCH_FLOOR):
        judge.add_exact(i, Batch.of([]))  # a class with no key at all still comes out exact (0 keys)
        passed = match_pass(
            client_for,
            dbs,
            judge.accs[i].kc.pattern,
            functools.partial(judge.add_exact, i),
            keep=functools.partial(judge.owns, i),
            want_type=judge.needs_type,
            want_memory=judge.needs_memory,
            limiter=limiter,
            concurrent=concurrent,
        )
        scanned += passed.inspected
    return judge.finish("sample", dbsize, scanned, stats.duplicates)
