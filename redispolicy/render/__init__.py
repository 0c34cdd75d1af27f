"""HOW IT'S SHOWN: pure renderers, one module per format, registered by name.

A renderer is ``(report, style) -> str``; it never prints. Modules are imported
only when their format is asked for, so validate's cold start pays for one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from redispolicy.render.style import Style

FORMATS = ("text", "json", "markdown", "github", "sarif", "junit", "prometheus")  # prometheus: drift only
VALIDATE_FORMATS = FORMATS[:-1]
_MODULES = {"json": "json_"}


def renderer(fmt: str, what: str) -> Callable[[Any, Style], str]:
    """The function rendering ``what`` (e.g. 'validation') in format ``fmt``."""
    module = importlib.import_module(f"redispolicy.render.{_MODULES.get(fmt, fmt)}")
    fn: Callable[[Any, Style], str] = getattr(module, f"render_{what}")
    return fn


__all__ = ["FORMATS", "VALIDATE_FORMATS", "Style", "renderer"]
