"""Shared inputs for the renderer tests: ValidationReports built from literals and from real files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.policy.validate import validate_paths
from redispolicy.report import ValidationReport

E, W, N = Severity.ERROR, Severity.WARNING, Severity.NOTE


def literal_report() -> ValidationReport:
    """Every shape a renderer meets: each severity, with and without line/column, related
    locations, a file nobody listed, and text that needs escaping."""
    return ValidationReport(
        files=("policies/base.yaml", "policies/production.yaml", "policies/staging.yaml"),
        environments=("production", "staging"),
        diagnostics=(
            Diagnostic(
                "yaml-duplicate-key",
                E,
                "duplicate key 'maxmemory': first at line 5, again at line 7",
                Location("policies/production.yaml", 7, 3),
                "$.config.maxmemory",
                hint="keep one 'maxmemory'",
                related=(Location("policies/production.yaml", 5, 3),),
            ),
            Diagnostic(
                "config-range",
                E,
                "'maxmemory-samples': '100' is above the maximum 64",
                Location("policies/production.yaml", 9, 22),
                hint="use a value between 1 and 64",
            ),
            Diagnostic(
                "keys-unreachable-class",
                W,
                "class 'b' (ocr:1:*) never matches, 100% covered: by 'a', really",
                Location("policies/base.yaml", 12, 14),
                hint="move 'b' above 'a'\nor narrow 'a'",
                related=(Location("policies/base.yaml", 9, 5),),
            ),
            Diagnostic(
                "env-unresolved", N, "${REDIS_URL} is not set here", Location("policies/staging.yaml", 7, 8)
            ),
            Diagnostic("yaml-too-large", E, "the file is 2000000 bytes", Location("policies/huge.yaml")),
            Diagnostic(
                "extends-not-found", E, "extends 'x.yaml': no such file", Location("policies/staging.yaml", 4)
            ),
        ),
    )


@contextmanager
def chdir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def real_report(tmp_path: Path) -> ValidationReport:
    """A report from validating real files (paths relative to tmp_path, which becomes the cwd)."""
    d = tmp_path / "policies"
    d.mkdir()
    (d / "base.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nconfig:\n  maxmemory: 0\n  maxmemory-policy: allkeys-lru\n"
        "keys:\n  - name: a\n    pattern: 'ocr:*'\n  - name: b\n    pattern: 'ocr:1:*'\n"
    )
    (d / "production.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: production\nextends: [base.yaml]\n"
        "config:\n  maxmemory-samples: 100\n  maxmemory: 1gb\n  maxmemory: 2gb\n"
    )
    (d / "staging.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: staging\nextends: [base.yaml]\n"
        "target:\n  url: ${RP_UNSET_URL}\nconfig:\n  hz: ten\n  databases: 4\n"
    )
    (d / "huge.yaml").write_bytes(b"# x\n" * 300_000)
    with chdir(tmp_path):
        return validate_paths([], Path("policies"), {})
