"""Exact TTL audit on 1,000,000 keys against its peers, in one run, on one throwaway server.

    .venv/bin/python benchmarks/key_audit.py [--keys 1000000] [--server redis-server]

Starts its own redis-server on 127.0.0.1 (a free port, a temp dir), seeds a document-
pipeline keyspace with DEBUG POPULATE and a Lua pass that gives most keys a TTL, then
measures, each on the same data:
  1. redispolicy's exact audit, PTTL only (no rate limit), keys/s;
  2. the same with MEMORY USAGE (a class with max_size), keys/s;
  3. redis-cli --memkeys and --bigkeys (the usual peers), keys/s;
  4. redis-benchmark -P 64 PTTL: the server's own ceiling for the per-key command;
  5. server impact: p99 latency of a concurrent client's PING while redispolicy audits
     at its default rate, against the same PING loop on the idle server.
It stops the server it started and nothing else.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throwaway import throwaway_server  # noqa: E402

from redispolicy.diagnostics import Location  # noqa: E402
from redispolicy.live.connect import ConnectOptions, connect  # noqa: E402
from redispolicy.live.keyscan import scan_exact  # noqa: E402
from redispolicy.live.model import DEFAULT_RATE  # noqa: E402
from redispolicy.plan.keys import KeyJudge  # noqa: E402
from redispolicy.policy.model import KeyClass  # noqa: E402
from redispolicy.secret import Secret  # noqa: E402

# namespace, share of keys, TTL rule (seconds) -- the document pipeline of policies/
MIX = [
    ("ocr", 0.30, 3 * 86400),
    ("entities", 0.20, 12 * 3600),
    ("chunks", 0.40, 86400),
    ("lock", 0.05, 600),
    ("misc", 0.05, None),
]


def seed(client: redis.Redis, total: int) -> None:
    for name, share, ttl in MIX:
        n = int(total * share)
        client.execute_command("DEBUG", "POPULATE", n, name, 64)
        if ttl:
            # 90 % get a TTL (a tenth of those above the rule), 10 % none: violations to find.
            client.eval(
                """
                local n, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
                for i = 0, n - 1 do
                  if i % 10 ~= 0 then
                    local t = ttl * 500 + (i % 997)
                    if i % 100 == 1 then t = ttl * 2000 end
                    redis.call('PEXPIRE', ARGV[1] .. ':' .. i, t)
                  end
                end""",
                0,
                name,
                n,
                ttl,
            )


def audit(url: str, memory: bool, rate: int) -> tuple[int, float]:
    classes = tuple(
        KeyClass(
            name,
            f"{name}:*",
            Location("bench"),
            ttl_max=ttl,
            max_size=1 << 20 if memory and name == "ocr" else None,
        )
        for name, _, ttl in MIX
        if ttl
    )
    judge = KeyJudge(classes)
    conn = ConnectOptions(Secret(url), decode_responses=False)
    stats = scan_exact(lambda db: connect(conn), [0], judge.add, want_memory=memory, rate=rate)
    return stats.scanned, stats.seconds


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


PINGER = """
import sys, time, statistics, redis
c = redis.Redis(port=int(sys.argv[1])); end = time.monotonic() + float(sys.argv[2]); s = []
while time.monotonic() < end:
    t = time.perf_counter(); c.ping(); s.append((time.perf_counter() - t) * 1000); time.sleep(0.001)
print(statistics.quantiles(s, n=100)[98], len(s))
"""


def ping_p99(port: int, seconds: float) -> tuple[float, int]:
    """PING p99 (ms) from a separate process, so our own threads do not colour the reading."""
    out = subprocess.run(
        [sys.executable, "-c", PINGER, str(port), str(seconds)], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--server", default="redis-server")
    args = ap.parse_args()
    cli = shutil.which("redis-cli")
    bench = shutil.which("redis-benchmark")
    with throwaway_server(args.server) as (port, client):
        version = client.info("server")["redis_version"]
        seed(client, args.keys)
        n = client.dbsize()
        url = f"redis://127.0.0.1:{port}/0"
        print(
            f"server: {args.server} {version}, {n} keys, loopback, {shutil.which('nproc') and ''}"
            f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores"
        )
        print(f"{'measurement':58} {'seconds':>8} {'keys/s':>10}")
        scanned, secs = audit(url, memory=False, rate=0)
        print(f"{'redispolicy exact audit, PTTL (unthrottled)':58} {secs:8.2f} {scanned / secs:10,.0f}")
        scanned, secs = audit(url, memory=True, rate=0)
        print(
            f"{'redispolicy exact audit, PTTL + MEMORY USAGE (unthrottled)':58} {secs:8.2f} "
            f"{scanned / secs:10,.0f}"
        )
        if cli:
            for flag in ("--memkeys", "--bigkeys"):
                secs = timed([cli, "-p", str(port), flag])
                print(f"{'redis-cli ' + flag:58} {secs:8.2f} {n / secs:10,.0f}")
        if bench:
            out = subprocess.run(
                [bench, "-p", str(port), "-n", str(n), "-P", "64", "-q", "PTTL", "ocr:1"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            rps = float(re.findall(r"([0-9][0-9.,]*) requests per second", out)[-1].replace(",", ""))
            print(f"{'redis-benchmark -P 64 PTTL (server ceiling, 1 key)':58} {n / rps:8.2f} {rps:10,.0f}")
        idle, n_idle = ping_p99(port, 10.0)
        result: list[tuple[int, float]] = []
        t = threading.Thread(target=lambda: result.append(audit(url, memory=False, rate=DEFAULT_RATE)))
        t.start()
        busy, n_busy = ping_p99(port, 10.0)  # the first 10 s of a ~50 s default-rate audit
        t.join()
        print(
            f"PING p99 from another process: idle {idle:.3f} ms ({n_idle} pings); during a default-rate "
            f"audit ({DEFAULT_RATE} keys/s) {busy:.3f} ms ({n_busy} pings): +{busy - idle:.3f} ms"
        )
        print(f"default-rate audit: {result[0][0]} keys in {result[0][1]:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
