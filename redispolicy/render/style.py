"""Terminal styling. Colour only when asked or on a terminal, and never with NO_COLOR."""

from __future__ import annotations

from dataclasses import dataclass

_CODES = {
    "red": "31",
    "yellow": "33",
    "green": "32",
    "blue": "34",
    "cyan": "36",
    "bold": "1",
    "dim": "2",
    "magenta": "35",
}


@dataclass(frozen=True)
class Style:
    color: bool = False
    verbose: int = 0  # -v count: text shows notes from 1 on
    quiet: bool = False
    # Key names (examples, suggested patterns) hold tokens and PII: shown only where the
    # command says they may be (the operator's own terminal, or --examples), never by default.
    key_names: bool = False

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"


def use_color(choice: str, isatty: bool, environ: dict[str, str]) -> bool:
    """docs/cli.md: --color auto|always|never; NO_COLOR (any value) turns auto off."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if "NO_COLOR" in environ and environ["NO_COLOR"] != "":
        return False
    if environ.get("TERM") == "dumb":
        return False
    return isatty
