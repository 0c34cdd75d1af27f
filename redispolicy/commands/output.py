"""The one way a command turns its report into output: stdout, every --report file, the step summary.

main.py has already refused a format the report kind does not have (exit 64, before
anything ran), so every pair asked for here is in the registry; ``renderer`` raising
UnsupportedFormat (also exit 64) is only a safety net for callers that skip main.py.
"""

from __future__ import annotations

import dataclasses

from redispolicy.commands import Options, Result
from redispolicy.render import formats, renderer
from redispolicy.render.style import Style


def render_result(
    opts: Options,
    kind: str,
    report: object,
    exit_code: int,
    *,
    verbose: int | None = None,
    examples: bool = False,
) -> Result:
    """``report`` (of ``kind``, e.g. 'plan') on stdout in ``opts.output``, in every --report FORMAT=PATH,
    and, for a kind with markdown, as markdown for $GITHUB_STEP_SUMMARY when that is set.

    Key names (examples, suggested patterns) hold tokens and personal data: only text on
    stdout (the operator's own terminal) shows them, every other output only with
    ``examples`` (--examples). Files and the summary never have colour. ``verbose``
    overrides -v (plan --show-unchanged).
    """
    level = opts.style.verbose if verbose is None else verbose
    style = dataclasses.replace(opts.style, verbose=level, key_names=examples or opts.output == "text")
    plain = Style(color=False, verbose=level, key_names=examples)
    stdout = renderer(opts.output, kind)(report, style)
    files = {path: renderer(fmt, kind)(report, plain) for fmt, path in opts.reports}
    summary = ""
    if "markdown" in formats(kind) and opts.environ.get("GITHUB_STEP_SUMMARY"):
        summary = renderer("markdown", kind)(report, plain)
    return Result(stdout, exit_code, files, summary)


__all__ = ["render_result"]
