"""redispolicy schema: print the policy JSON Schema (for editors and other tools)."""

from __future__ import annotations

from redispolicy.commands import Options, Result
from redispolicy.policy.schema import schema_text


def run(opts: Options) -> Result:
    return Result(schema_text(), 0)
