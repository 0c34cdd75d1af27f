"""redispolicy validate [PATH...]: schema and Redis checks, no server. Exit 0 valid, 1 invalid."""

from __future__ import annotations

from pathlib import Path

from redispolicy.commands import Options, Result
from redispolicy.commands.output import render_result
from redispolicy.policy.validate import validate_paths


def run(opts: Options, paths: tuple[Path, ...], strict_env: bool) -> Result:
    report = validate_paths(list(paths), opts.policy_dir, opts.environ, strict_env=strict_env)
    return render_result(opts, "validation", report, 0 if report.valid else 1)
