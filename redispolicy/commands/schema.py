"""redispolicy schema [policy|report|plan]: print a JSON Schema (for editors and other tools)."""

from __future__ import annotations

from importlib import resources

from redispolicy.commands import Options, Result
from redispolicy.policy.schema import schema_text


def run(opts: Options, which: str = "policy") -> Result:
    if which == "report":
        text = (
            resources.files("redispolicy.render")
            .joinpath("schemas/report-v1.json")
            .read_text(encoding="utf-8")
        )
        return Result(text, 0)
    if which == "plan":
        text = (
            resources.files("redispolicy.plan").joinpath("schemas/plan-v3.json").read_text(encoding="utf-8")
        )
        return Result(text, 0)
    return Result(schema_text(), 0)
