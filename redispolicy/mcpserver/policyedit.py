"""A precise text edit of ``config:`` values in a policy file, keeping its comments and layout.

The MCP tool ``set_memory_limit`` proposes a change by editing the environment's policy file,
which a person then reviews like any other diff. A YAML round trip would reorder, re-quote
and drop comments, so this edits only the value of the lines it names: ``maxmemory: 1gb  #
why`` keeps its indentation, spacing and comment. A key the file does not set yet is added
under ``config:`` (a ``config:`` block is added at the end when there is none). Anything
it cannot edit exactly (a flow-style ``config: {...}``, a value spanning lines, a key set
twice) is an ``EditError`` naming the file and line, so nothing half-edited is ever written.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from redispolicy.errors import RedispolicyError

_CONFIG = re.compile(r"^config:[ \t]*(#.*)?$")
_CONFIG_INLINE = re.compile(r"^config:[ \t]*[^\s#]")
# A scalar on one line: quoted, or plain up to an optional comment (' #' starts a comment in YAML).
_VALUE = r"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s#'\"|>&*!{\[][^#\n]*?)"


class EditError(RedispolicyError):
    """The file's layout does not allow a precise edit; nothing was written."""


@dataclass(frozen=True)
class Edit:
    path: str  # as shown to the user
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff of the edit, with git's a/ b/ prefixes (``git apply`` and ``patch -p1`` take it)."""
        name = self.path.lstrip("/")
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                f"a/{name}",
                f"b/{name}",
            )
        )


def set_config(path: str, text: str, values: dict[str, str]) -> Edit:
    """``text`` with each ``values`` key set under the top-level ``config:`` mapping."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = _config_line(path, lines)
    if start is None:
        block = ["config:\n", *(f"  {k}: {v}\n" for k, v in values.items())]
        sep = ["\n"] if lines and lines[-1].strip() else []
        return Edit(path, text, "".join([*lines, *sep, *block]))
    end = _block_end(lines, start)
    indent = _child_indent(lines, start, end)
    for key, value in values.items():
        found = [
            i
            for i in range(start + 1, end)
            if re.match(rf"^{re.escape(indent)}{re.escape(key)}[ \t]*:", lines[i], re.I)
        ]
        if len(found) > 1:
            raise EditError(
                f"{path}:{found[1] + 1}: '{key}' is set twice under config:; nothing was written",
                "remove one of them, then ask again",
            )
        if found:
            lines[found[0]] = _replace(path, found[0], lines[found[0]], indent, key, value)
            continue
        last = _last_entry(lines, start, end)
        lines.insert(last + 1, f"{indent}{key}: {value}\n")
        end += 1
    return Edit(path, text, "".join(lines))


def _config_line(path: str, lines: list[str]) -> int | None:
    starts = [i for i, line in enumerate(lines) if _CONFIG.match(line.rstrip("\n"))]
    inline = [i for i, line in enumerate(lines) if _CONFIG_INLINE.match(line)]
    if inline:
        raise EditError(
            f"{path}:{inline[0] + 1}: config: is written in flow style ({{...}}), which cannot be edited "
            "precisely; nothing was written",
            "write config: as a block (one `name: value` per line), or make the change by hand",
        )
    if len(starts) > 1:
        raise EditError(
            f"{path}:{starts[1] + 1}: config: appears twice; nothing was written",
            "keep one config: mapping in the file",
        )
    return starts[0] if starts else None


def _block_end(lines: list[str], start: int) -> int:
    """The index after the config block: the next line that starts at column 0 (a comment included)."""
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line[0].isspace():
            return i
    return len(lines)


def _child_indent(lines: list[str], start: int, end: int) -> str:
    for i in range(start + 1, end):
        stripped = lines[i].lstrip(" \t")
        if stripped.strip() and not stripped.startswith("#"):
            return lines[i][: len(lines[i]) - len(stripped)]
    return "  "


def _last_entry(lines: list[str], start: int, end: int) -> int:
    """The last line holding content of the block (not a trailing blank or comment line)."""
    last = start
    for i in range(start + 1, end):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            last = i
    return last


def _replace(path: str, index: int, line: str, indent: str, key: str, value: str) -> str:
    body = line.rstrip("\n")
    m = re.match(
        rf"^(?P<lead>{re.escape(indent)}{re.escape(key)}[ \t]*:[ \t]*){_VALUE}(?P<tail>[ \t]+#.*)?[ \t]*$",
        body,
        re.I,
    )
    if m is None:
        raise EditError(
            f"{path}:{index + 1}: the value of '{key}' is not a one-line scalar, so it cannot be edited "
            "precisely; nothing was written",
            f"write it as `{key}: VALUE` on one line, or make the change by hand",
        )
    return f"{m['lead']}{value}{m['tail'] or ''}\n"
