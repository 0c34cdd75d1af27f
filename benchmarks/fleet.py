"""A fleet of 50 local servers drift-checked against one server, whole process, in one run (issue #12).

Starts ``--servers`` throwaway redis-servers on 127.0.0.1 (benchmarks/throwaway.py), each with
a few hundred keys, and writes two policies with the shipped base's config and key classes:
one whose ``target:`` is the first server, one whose ``targets:`` fleet is all of them. Then
times ``redispolicy drift -e ENV`` (text on stdout, as an operator or a cron job runs it) as a
subprocess for each, alternating, and prints the median, the spread and the ratio fleet / one.
Both are first run once with ``-o json`` to check that every target was reached. Python
writes and reuses bytecode as an installed tool does (PYTHONDONTWRITEBYTECODE is dropped for
the timed runs; the warm-up run writes it).

    .venv/bin/python benchmarks/fleet.py [--servers 50] [--runs 9]

Nothing but the servers it started is stopped; the policies live in a temp dir.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throwaway import throwaway_server

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BASE = (ROOT / "policies" / "base.yaml").read_text(encoding="utf-8")


def policy(env: str, ports: list[int]) -> str:
    """The shipped base with one target (a single port) or a fleet, as one environment file."""
    if len(ports) == 1:
        where = f'target: {{url: "redis://127.0.0.1:{ports[0]}"}}\n'
    else:
        where = "targets:\n" + "".join(
            f'  - {{name: cache-{i:02d}, url: "redis://127.0.0.1:{p}"}}\n' for i, p in enumerate(ports)
        )
    return f"{BASE}\nenvironment: {env}\n{where}"


def seed(client: object, n: int) -> None:
    """n keys spread over the classes (some without their TTL, some unclassified)."""
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for i in range(n):
        kind = i % 4
        if kind == 0:
            pipe.set(f"ocr:{i}", "x", ex=3600)
        elif kind == 1:
            pipe.set(f"chunks:{i}", "x")
        elif kind == 2:
            pipe.set(f"lock:{i}", "x", ex=60)
        else:
            pipe.set(f"misc:{i}", "x")
    pipe.execute()


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path) -> tuple[float, bytes]:
    """Seconds for one whole run; exit 0 (in sync) or 2 (drift: the seeded keys) expected."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, env=ENV)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-800:]}")
    return seconds, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=50)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--keys", type=int, default=400, help="keys per server")
    ap.add_argument("--binary", default="redis-server")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        servers = [stack.enter_context(throwaway_server(args.binary)) for _ in range(args.servers)]
        for _, client in servers:
            seed(client, args.keys)
        ports = [port for port, _ in servers]
        work = Path(tmp)
        (work / "policies").mkdir()
        (work / "policies" / "one.yaml").write_text(policy("one", ports[:1]), encoding="utf-8")
        (work / "policies" / "fleet.yaml").write_text(policy("fleet", ports), encoding="utf-8")
        exe = str(BIN / "redispolicy")
        cmds = {"one": [exe, "drift", "-e", "one"], "fleet": [exe, "drift", "-e", "fleet"]}
        for name, cmd in cmds.items():  # warm the page cache and bytecode; every target reached?
            doc = json.loads(timed([*cmd, "-o", "json"], work)[1])
            if doc["summary"]["errors"] or len(doc["targets"]) != (1 if name == "one" else args.servers):
                raise SystemExit(f"{name}: not every target was checked: {doc['summary']}")
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(args.runs):
            for name, cmd in cmds.items():
                samples[name].append(timed(cmd, work)[0] * 1000)
        print(
            f"servers: {args.servers} x {args.binary} on 127.0.0.1, {args.keys} keys each, runs={args.runs}"
        )
        print(f"{'command':58} {'median ms':>10} {'min':>7} {'max':>7}")
        for name in cmds:
            s = samples[name]
            label = (
                f"redispolicy drift -e {name} ({'1 target' if name == 'one' else f'{args.servers} targets'})"
            )
            print(f"{label:58} {statistics.median(s):10.1f} {min(s):7.1f} {max(s):7.1f}")
        ratio = statistics.median(samples["fleet"]) / statistics.median(samples["one"])
        print(f"ratio fleet / one (medians): {ratio:.2f}x (target <= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
