"""SARIF checks shared by the renderer tests and the live drift tests.

``check_official_sarif`` validates against the official SARIF 2.1.0 JSON Schema
(tests/render/sarif-2.1.0-rtm.5.json, see its NOTICE); GitHub's own upload requirements
are ``check_github_sarif`` in tests/render/test_sarif.py, re-exported here.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

RENDER_TESTS = Path(__file__).resolve().parent / "render"
OFFICIAL_SCHEMA = RENDER_TESTS / "sarif-2.1.0-rtm.5.json"

if str(RENDER_TESTS) not in sys.path:
    sys.path.insert(0, str(RENDER_TESTS))

from test_sarif import check_github_sarif  # noqa: E402


@cache
def _validator() -> Any:
    schema = json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def check_official_sarif(doc: dict[str, Any]) -> None:
    errors = sorted(_validator().iter_errors(doc), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors[:20])


def check_sarif(doc: dict[str, Any]) -> None:
    """Both: the official schema and what GitHub code scanning needs."""
    check_official_sarif(doc)
    check_github_sarif(doc)


__all__ = ["check_github_sarif", "check_official_sarif", "check_sarif"]
