"""redispolicy validate [PATH...]: schema and Redis checks, no server. Exit 0 valid, 1 invalid."""

from __future__ import annotations

from pathlib import Path

from redispolicy.commands import Options, Result
from redispolicy.policy.validate import validate_paths
from redispolicy.render import renderer
from redispolicy.render.style import Style


def run(opts: Options, paths: tuple[Path, ...], strict_env: bool) -> Result:
    report = validate_paths(list(paths), opts.policy_dir, opts.environ, strict_env=strict_env)
    stdout = renderer(opts.output, "validation")(report, opts.style)
    plain = Style(color=False, verbose=opts.style.verbose)
    files = {path: renderer(fmt, "validation")(report, plain) for fmt, path in opts.reports}
    summary = renderer("markdown", "validation")(report, plain) if opts.environ.get("GITHUB_STEP_SUMMARY") else ""
    return Result(stdout, 0 if report.valid else 1, files, summary)
