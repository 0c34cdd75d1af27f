"""Round trip on every matrix server: policy spelling -> normalize -> CONFIG SET -> CONFIG GET -> normalize.

For every runtime-settable parameter the server lists, the value a policy would write
(upper-case enums, `true` for yes, sizes with units, sloppy spacing in lists) must
normalize to exactly what the server reads back; otherwise plan would show false drift
or miss real drift. Where possible the value differs from the live one, so the server
really applies it.
"""

from __future__ import annotations

import contextlib

import pytest
import redis

from redispolicy.catalog.normalize import normalize
from redispolicy.catalog.params import Param, catalog
from redispolicy.plan.compare import _merge_cobl

# Changing these would cut the test's own connection or the server's footing.
UNSAFE = {
    "port",
    "tls-port",
    "bind",
    "unixsocket",
    "requirepass",
    "replicaof",
    "slaveof",
    "watchdog-period",
    "maxclients",
    "cluster-announce-ip",
    "rdma-bind",
    "rdma-port",
    "tls-cert-file",
    "tls-key-file",
    "tls-ca-cert-file",
    "tls-ca-cert-dir",
    "tls-dh-params-file",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-key-file-pass",
    "tls-client-key-file-pass",
    "masteruser",
    "primaryuser",  # harmless, but their value must be a known ACL user for replicas
}
# Policy spellings chosen for what they exercise (units, percent, synonyms, spacing, flags).
SPELLINGS = {
    "maxmemory": "1GB",
    "maxmemory-clients": "10%",
    "save": "60  1000   300 10",
    "notify-keyspace-events": "KEA",
    "oom-score-adj": "relative",
    "oom-score-adj-values": "0  200 800",
    "client-output-buffer-limit": "replica 256MB 64mb 60",
    "latency-tracking-info-percentiles": "50 99.0 99.9",
    "shutdown-on-sigterm": "SAVE now",
    "maxmemory-policy": "ALLKEYS-LRU",
}


def _spelled(p: Param, live: str) -> list[str]:
    """Candidate policy spellings, preferred first; the last is always the live value re-spelled."""
    if p.name in SPELLINGS:
        return [SPELLINGS[p.name], live]
    if p.kind == "bool":
        flipped = "no" if live == "yes" else "yes"
        return [{"yes": "True", "no": "NO"}[flipped], {"yes": "YES", "no": "false"}[live]]
    if p.kind == "enum":
        other = next((e for e in reversed(p.enum) if e != live), live)
        return [other.upper(), live.upper()]
    if p.kind in ("memory", "memory_or_percent") and live.isdigit():
        n = int(live)
        want = n * 2 if n else 1024 * 1024
        if p.max is not None and want > p.max:
            want = n
        return [f"{want // 1024}kb" if want % 1024 == 0 else str(want), live]
    if p.kind == "integer" and live.lstrip("-").isdigit():
        n = int(live)
        want = n + 1 if p.max is None or n + 1 <= p.max else n - 1
        return [str(want), live]
    return [live]


def _settable(server) -> list[tuple[str, Param]]:
    client = server.client()
    info = client.info("server")
    product = "valkey" if info.get("server_name") == "valkey" else "redis"
    version = str(info.get("valkey_version") or info["redis_version"])
    sc = catalog().for_server(product, version)
    listed = set(client.config_get("*"))  # builds without TLS lack the tls-* names
    out = []
    for name in sorted(sc.names() & listed):
        look = sc.lookup(name)
        # tls-*: the test servers run without certificates; applying TLS settings makes
        # the server reload its (absent) TLS context and exit.
        if look is None or look.canonical != name or name in UNSAFE or name.startswith("tls-"):
            continue
        p = look.param
        if p.mutable and not p.protected and p.kind not in ("octal",):
            out.append((name, p))
    return out


def _readback_equal(p: Param, policy_norm: str, got: str) -> bool:
    live_norm = normalize(p, got)
    if p.name == "client-output-buffer-limit":
        merged, _ = _merge_cobl(live_norm, policy_norm)
        return merged == live_norm
    return live_norm == policy_norm


def test_policy_spellings_round_trip(matrix_server):
    client = matrix_server.client()
    params = _settable(matrix_server)
    assert len(params) > 80  # the table really covers the server (91 on Redis 6.0, 150+ on 8.x)
    applied_new = 0
    failures = []
    original = {name: client.config_get(name)[name] for name, _ in params}
    for name, p in params:
        live = original[name]
        for spelling in _spelled(p, live):
            try:
                policy_norm = normalize(p, spelling)
            except (ValueError, OverflowError) as exc:
                failures.append(f"{name}: policy spelling {spelling!r} rejected: {exc}")
                break
            try:
                client.config_set(name, policy_norm)
            except redis.ResponseError:
                continue  # e.g. activedefrag needs jemalloc: try the next (live) spelling
            got = client.config_get(name)[name]
            if not _readback_equal(p, policy_norm, got):
                failures.append(f"{name}: sent {policy_norm!r} (from {spelling!r}), read back {got!r}")
            elif normalize(p, got) != normalize(p, live):
                applied_new += 1
            break
        else:
            failures.append(f"{name}: the server refused even its own live value {live!r}")
    for name in reversed(list(original)):  # leave the server as found, so it shuts down promptly
        with contextlib.suppress(redis.ResponseError):
            client.config_set(name, original[name])
    assert not failures, "\n".join(failures)
    assert applied_new > len(params) // 2  # most parameters really changed on the server


@pytest.mark.parametrize("flags", ["KEA", "AKE", "Ex", "xE", "KEg$lshzxetd"])
def test_keyspace_event_spellings_compare_equal(redis_server, flags):
    client = redis_server.client()
    p = catalog().params["notify-keyspace-events"]
    client.config_set("notify-keyspace-events", normalize(p, flags))
    assert normalize(p, client.config_get("notify-keyspace-events")["notify-keyspace-events"]) == normalize(
        p, flags
    )


def test_keyspace_new_key_flag_is_lossy_next_to_A(redis_server):
    """Redis prints 'A' without 'n' even when n is on: n is unobservable beside A, so it is not compared."""
    client = redis_server.client()
    p = catalog().params["notify-keyspace-events"]
    client.config_set("notify-keyspace-events", "AKEn")
    got = client.config_get("notify-keyspace-events")["notify-keyspace-events"]
    assert "n" not in got  # the server's own lossy rendering
    assert normalize(p, got) == normalize(p, "AKEn")
    client.config_set("notify-keyspace-events", "Kn")
    assert normalize(p, client.config_get("notify-keyspace-events")["notify-keyspace-events"]) == normalize(
        p, "Kn"
    )
