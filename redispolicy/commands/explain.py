"""redispolicy explain -e ENV [PARAM]: effective values, normalized, with provenance."""

from __future__ import annotations

from redispolicy.commands import Options, Result
from redispolicy.commands.output import render_result
from redispolicy.diagnostics import Severity
from redispolicy.errors import PolicyError
from redispolicy.policy.explain import explain
from redispolicy.policy.resolve import PolicySet
from redispolicy.render import renderer
from redispolicy.report import ValidationReport


def run(opts: Options, env: str, param: str | None) -> Result:
    pset = PolicySet(opts.policy_dir, opts.environ)
    path = pset.env_file(env)
    resolution = pset.resolve(path)
    if resolution.policy is None:
        errors = tuple(d for d in resolution.diagnostics if d.severity == Severity.ERROR)
        report = ValidationReport((str(path),), (env,), errors)
        return Result(renderer("text", "validation")(report, opts.style), 1)
    explanation = explain(resolution.policy, param)
    if param and not explanation.entries:
        raise PolicyError(
            f"'{param}' is not set in environment '{env}'",
            f"run `redispolicy explain -e {env}` to list every effective value",
        )
    return render_result(opts, "explanation", explanation, 0)
