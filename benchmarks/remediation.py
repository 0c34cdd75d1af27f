"""Key remediation on 1,000,000 keys against the usual shell one-liner, in one run, on one throwaway server.

    .venv/bin/python benchmarks/remediation.py [--keys 1000000] [--server redis-server]

Starts its own redis-server on 127.0.0.1 (a free port, a temp dir) and seeds the same
document-pipeline keyspace as key_audit.py (10 % of the keys of each TTL class without a
TTL, 1 % above the rule). Then, on the same data:
  1. redispolicy's remediation, dry run (exact counts, nothing changed), keys/s;
  2. the peer: for each class, ``redis-cli --scan --pattern P | awk | redis-cli --pipe``
     sending ``EXPIRE key max NX`` for every key of the class (no LT, so keys above max
     are not lowered, and no counts of what changed), keys/s of the keyspace;
  3. redispolicy's remediation, --execute equivalent (EXPIRE NX + LT), on a fresh seed,
     keys/s, with the counts it reports checked against the dry run's.
Unthrottled (rate 0), Redis >= 7 (EXPIRE NX/LT). It stops the server it started and nothing else.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from key_audit import MIX, seed  # noqa: E402
from throwaway import throwaway_server  # noqa: E402

from redispolicy.apply.remediate import Remediation  # noqa: E402
from redispolicy.diagnostics import Location  # noqa: E402
from redispolicy.policy.model import KeyClass  # noqa: E402


def remediate(port: int, execute: bool) -> tuple[int, int, float]:
    classes = tuple(
        KeyClass(n, f"{n}:*", Location("bench"), ttl_max=t, remediate=True) for n, _, t in MIX if t
    )
    client = redis.Redis(port=port)
    try:
        result = Remediation(lambda db: client, classes, [0], execute, True, 0).run()
    finally:
        client.close()
    return result.scanned, result.changed, result.seconds


def peer(port: int) -> tuple[float, int]:
    """The one-liner per class; returns the seconds and the replies --pipe counted (one per key sent)."""
    start = time.perf_counter()
    replies = 0
    for name, _, ttl in MIX:
        if not ttl:
            continue
        out = subprocess.run(
            f"set -o pipefail; redis-cli -p {port} --scan --pattern '{name}:*'"
            f' | awk \'{{print "EXPIRE " $0 " {ttl} NX"}}\' | redis-cli -p {port} --pipe',
            shell=True,
            executable="/bin/bash",
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        replies += int(re.findall(r"replies: (\d+)", out)[-1])
    return time.perf_counter() - start, replies


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--server", default="redis-server")
    args = ap.parse_args()
    with throwaway_server(args.server) as (port, client):
        version = client.info("server")["redis_version"]
        seed(client, args.keys)
        n = int(client.dbsize())
        print(f"server: {args.server} {version}, {n} keys, loopback")
        print(f"{'measurement':62} {'seconds':>8} {'keys/s':>10}  changed")
        scanned, would, secs = remediate(port, execute=False)
        print(
            f"{'redispolicy remediate (dry run: exact counts)':62} {secs:8.2f} {scanned / secs:10,.0f}  "
            f"{would} would"
        )
        secs, sent = peer(port)
        print(
            f"{'redis-cli --scan | awk | redis-cli --pipe (EXPIRE NX only)':62} {secs:8.2f} {n / secs:10,.0f}  "
            f"not reported ({sent} EXPIREs sent)"
        )
        client.flushall()
        seed(client, args.keys)
        scanned, changed, secs = remediate(port, execute=True)
        print(
            f"{'redispolicy remediate --execute (EXPIRE NX + LT)':62} {secs:8.2f} {scanned / secs:10,.0f}  "
            f"{changed} changed{'' if changed == would else ' (dry run said ' + str(would) + ')'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
