"""Cold start of `redispolicy validate` on the shipped policies, whole process, against a peer.

The peer is check-jsonschema (pre-commit's schema validator for YAML), run on the
same four files with the same JSON Schema: it does the schema part only, so it is
a floor for "parse YAML + validate a schema" in a fresh Python process.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/cold_start.py [--runs 21]

Prints the median and spread of each, in milliseconds, in one run on this machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)  # warm the page cache once
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
        out.append((time.perf_counter() - start) * 1000)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd[0]} failed: {proc.stderr.decode()[-500:]}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    policies = sorted(str(p) for p in (ROOT / "policies").glob("*.yaml"))
    candidates = {
        "redispolicy validate (schema + Redis checks)": [str(BIN / "redispolicy"), "validate", "-q"],
        "check-jsonschema (schema only)": [
            str(BIN / "check-jsonschema"),
            "--schemafile",
            str(ROOT / "redispolicy/policy/schema.json"),
            *policies,
        ],
    }
    print(f"{'command':48} {'median ms':>10} {'min':>7} {'max':>7}  runs={args.runs}")
    for name, cmd in candidates.items():
        if not shutil.which(cmd[0]):
            print(f"{name:48} missing: pip install -e '.[bench]'")
            continue
        samples = timed(cmd, args.runs)
        print(f"{name:48} {statistics.median(samples):10.1f} {min(samples):7.1f} {max(samples):7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
