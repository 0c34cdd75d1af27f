"""One module per verb: compose stages, render once, return a Result (never print or exit)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from redispolicy.render.style import Style


@dataclass(frozen=True)
class Options:
    """What every command may use; built by main.py from flags and the environment."""

    policy_dir: Path
    environ: dict[str, str]
    output: str = "text"
    reports: tuple[tuple[str, Path], ...] = ()
    style: Style = field(default_factory=Style)

    @classmethod
    def default(cls) -> Options:
        return cls(Path("policies"), dict(os.environ))


@dataclass(frozen=True)
class Result:
    stdout: str
    exit_code: int
    files: dict[Path, str] = field(default_factory=dict)  # --report outputs
    step_summary: str = ""  # Markdown appended to $GITHUB_STEP_SUMMARY when set
