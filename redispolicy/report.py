"""What validate found: the input every validate renderer takes."""

from __future__ import annotations

from dataclasses import dataclass

from redispolicy.diagnostics import Diagnostic, Severity


@dataclass(frozen=True)
class ValidationReport:
    files: tuple[str, ...]  # every policy file checked
    environments: tuple[str, ...]  # environments resolved
    diagnostics: tuple[Diagnostic, ...]

    def count(self, severity: Severity) -> int:
        return sum(1 for d in self.diagnostics if d.severity == severity)

    @property
    def valid(self) -> bool:
        return self.count(Severity.ERROR) == 0
