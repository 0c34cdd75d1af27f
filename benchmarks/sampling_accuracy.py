"""Sampling accuracy: do the sample mode's 95 % intervals cover the truth 95 % of the time?

    .venv/bin/python benchmarks/sampling_accuracy.py [--keys 200000] [--runs 40] [--draws 2000]
                                                     [--server redis-server]

Starts its own redis-server on 127.0.0.1 (a free port, a temp dir), seeds a keyspace with
known violation rates per class (DEBUG POPULATE, then one Lua pass that sets the TTLs by
key index), checks that truth once with redispolicy's exact audit, then runs the sample
mode's code path (``sample_keys``: pipelined RANDOMKEY draws, judged by ``KeyJudge``,
``finish("sample")`` with continuity-corrected Wilson 95 % intervals) ``--runs`` times with ``--draws`` draws
each, and counts per class and violation kind how many intervals contain the true count.
Every class here is common enough to be sampled; the rare-class SCAN MATCH pass of
``audit_keys`` (classes expected < 300 times) is left out, since it is exact by
construction.

Peer, for context: the raw-proportion approach of redis-sampler / redis-audit, which
prints k/n as a point estimate with no interval. Its point estimate is the same number;
what it lacks is any statement of how far off it may be. The table reports how often
that point estimate lands within ±20 % of the truth, and how often it says "0" for a
kind that exists (where redispolicy reports an upper bound instead).
It stops the server it started and nothing else.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throwaway import throwaway_server  # noqa: E402

from redispolicy.diagnostics import Location  # noqa: E402
from redispolicy.live.connect import ConnectOptions, connect  # noqa: E402
from redispolicy.live.keysample import sample_keys  # noqa: E402
from redispolicy.live.keyscan import scan_exact  # noqa: E402
from redispolicy.plan.keys import KeyJudge  # noqa: E402
from redispolicy.plan.stats import wilson  # noqa: E402
from redispolicy.policy.model import KeyClass  # noqa: E402
from redispolicy.secret import Secret  # noqa: E402

MIN = 60
# class, share of keys, ttl.max (s), % of keys without a TTL, % with a TTL above max
MIX = [
    ("ocr", 0.40, 3 * 86400, 2, 3),
    ("chunks", 0.30, 86400, 5, 1),
    ("locks", 0.20, 10 * MIN, 10, 2),
    ("sessions", 0.10, 30 * MIN, 10, 1),
]
KINDS = ("no_ttl", "ttl_over_max")
NAIVE_TOLERANCE = 0.20  # the peer's point estimate "close enough": within ±20 % of the true count
TARGET = 36  # of 40: the bar for 95 % intervals


SET_TTLS = """
local n, max_ms, no_ttl, over = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 0, n - 1 do
  local r = i % 100
  if r >= no_ttl then
    local t = math.floor(max_ms / 2) + (i % 997) * math.floor(max_ms / 4000)  -- max/2 .. 3/4 max
    if r < no_ttl + over then t = max_ms * 2 end
    redis.call('PEXPIRE', ARGV[1] .. ':' .. i, t)
  end
end"""


def seed(client: redis.Redis, total: int) -> dict[str, dict[str, int]]:
    """The keyspace, and its truth per class: keys, no_ttl, ttl_over_max (from the index rule)."""
    truth = {}
    for name, share, ttl, no_ttl, over in MIX:
        n = int(total * share)
        client.execute_command("DEBUG", "POPULATE", n, name, 32)
        client.eval(SET_TTLS, 0, name, n, ttl * 1000, no_ttl, over)
        residues = [i % 100 for i in range(n)]
        truth[name] = {
            "keys": n,
            "no_ttl": sum(r < no_ttl for r in residues),
            "ttl_over_max": sum(no_ttl <= r < no_ttl + over for r in residues),
        }
    return truth


def classes() -> tuple[KeyClass, ...]:
    return tuple(KeyClass(name, f"{name}:*", Location("bench"), ttl_max=ttl) for name, _, ttl, _, _ in MIX)


Row = tuple[str, str]


def repeat(
    raw: redis.Redis, dbsize: int, truth: dict[str, dict[str, int]], rows: list[Row], runs: int, draws: int
) -> tuple[dict[Row, int], dict[Row, int], dict[Row, int], dict[Row, float], int, float]:
    """``runs`` independent samples of ``draws`` keys: per row, intervals covering the truth, the
    peer's point estimate within ±20 %, the peer saying 0, and the mean interval width."""
    covered = dict.fromkeys(rows, 0)
    naive_close = dict.fromkeys(rows, 0)
    naive_zero = dict.fromkeys(rows, 0)
    widths = dict.fromkeys(rows, 0.0)
    judged = 0
    seconds = 0.0
    for _ in range(runs):
        judge = KeyJudge(classes())
        stats = sample_keys(lambda db: raw, {0: dbsize}, draws, judge.add)
        seconds += stats.seconds
        found = judge.finish("sample", dbsize, stats.distinct, stats.duplicates)
        judged += found.sample_size
        by_name = {c.name: c for c in found.classes}
        for name, kind in rows:
            c = by_name[name]
            est = c.matched_estimate() if kind == "keys" else c.violation_estimates()[kind]
            true = truth[name][kind]
            covered[(name, kind)] += est.contains(true)
            widths[(name, kind)] += (est.high - est.low) / runs
            naive_close[(name, kind)] += abs(est.value - true) <= NAIVE_TOLERANCE * true
            seen = c.matched if kind == "keys" else c.violations[kind]
            naive_zero[(name, kind)] += seen == 0
    return covered, naive_close, naive_zero, widths, judged, seconds


def _prob_below(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) < k)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k))


def _coverage(k: int, n: int) -> str:
    e = wilson(k, n)
    return f"{k / n:.1%} ({e.low:.1%}-{e.high:.1%})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument(
        "--long-runs",
        type=int,
        default=1000,
        help="further runs that measure each row's coverage precisely (0 = skip)",
    )
    ap.add_argument("--server", default="redis-server")
    args = ap.parse_args()
    started = time.monotonic()
    with throwaway_server(args.server) as (port, client):
        version = client.info("server")["redis_version"]
        truth = seed(client, args.keys)
        dbsize = int(client.dbsize())
        conn = ConnectOptions(Secret(f"redis://127.0.0.1:{port}/0"), decode_responses=False)
        raw = connect(conn)

        # The truth, checked once by the exact audit (every key, SCAN + PTTL).
        judge = KeyJudge(classes())
        scan_exact(lambda db: raw, [0], judge.add, rate=0)
        exact = {c.name: c for c in judge.finish("exact", dbsize, dbsize).classes}
        for name, t in truth.items():
            got = {"keys": exact[name].matched, **{k: exact[name].violations[k] for k in KINDS}}
            assert got == t, (name, got, t)

        rows = [(name, kind) for name, *_ in MIX for kind in ("keys", *KINDS) if truth[name][kind]]
        covered, naive_close, naive_zero, widths, draws_total, sample_secs = repeat(
            raw, dbsize, truth, rows, args.runs, args.draws
        )
        long_covered = (
            repeat(raw, dbsize, truth, rows, args.long_runs, args.draws)[0] if args.long_runs else {}
        )
        raw.close()

        print(
            f"server: {args.server} {version} on 127.0.0.1, {dbsize} keys (truth checked by an exact audit)"
        )
        print(
            f"sample mode: {args.runs} runs x {args.draws} RANDOMKEY draws "
            f"({draws_total / args.runs:.0f} judged per run, {sample_secs / args.runs * 1000:.0f} ms per run); "
            "continuity-corrected Wilson 95 % intervals on counts"
        )
        print(
            f"{'class':9} {'estimate':13} {'true count':>10} {'rate':>6} {'mean CI width':>13} "
            f"{'CI covers truth':>15} {'>= ' + str(TARGET * args.runs // 40) + '?':>6} "
            f"{'naive ±20 %':>11} {'naive says 0':>12}"
            + (f" {'coverage over ' + str(args.long_runs) + ' runs (95 % CI)':>34}" if long_covered else "")
        )
        for name, kind in rows:
            true = truth[name][kind]
            ok = covered[(name, kind)] * 40 >= TARGET * args.runs
            print(
                f"{name:9} {kind:13} {true:10} {true / dbsize:6.1%} {widths[(name, kind)]:13.0f} "
                f"{covered[(name, kind)]:>9}/{args.runs:<5} {'yes' if ok else 'NO':>6} "
                f"{naive_close[(name, kind)]:>5}/{args.runs:<5} {naive_zero[(name, kind)]:>6}/{args.runs:<5}"
                + (f" {_coverage(long_covered[(name, kind)], args.long_runs):>34}" if long_covered else "")
            )
        total_cov = sum(covered.values())
        print(
            f"overall: {total_cov}/{len(rows) * args.runs} intervals covered the truth "
            f"({total_cov / (len(rows) * args.runs):.1%}); every row >= {TARGET}/40: "
            f"{'yes' if all(v * 40 >= TARGET * args.runs for v in covered.values()) else 'NO'}"
        )
        below = _prob_below(TARGET * args.runs // 40, args.runs, 0.95)
        print(
            f"for scale: a row whose intervals cover exactly 95 % scores < {TARGET * args.runs // 40}/{args.runs} "
            f"with probability {below:.0%}; at least one of {len(rows)} such rows does with probability "
            f"{1 - (1 - below) ** len(rows):.0%}"
        )
        if long_covered:
            lc = sum(long_covered.values())
            print(
                f"over {args.long_runs} further runs: {lc}/{len(rows) * args.long_runs} covered "
                f"({lc / (len(rows) * args.long_runs):.1%})"
            )
        print(f"wall time {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
