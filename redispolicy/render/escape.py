"""One rule for every human-readable renderer: a value cannot fake a line.

Live CONFIG values come from the server and may hold anything CONFIG SET accepted (a
newline, an ANSI escape); policy values and key names may too. Shown raw, a value holding
``\\n+ maxmemory ...`` would add a line to a plan, ``\\x1b[2K`` would erase one on a
terminal, and ``\\n::error::...`` would become a GitHub workflow command. ``printable``
writes every control and line/format character as a visible escape instead. Backslashes
are left alone: an escaped value stays recognisable (``cache\\:*``), and a literal
backslash-n can fake nothing, since it is not a line break.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the Unicode characters that break lines or reorder text
# (NEL is in C1; LS/PS; bidi embeddings, overrides and isolates; LRM/RLM/ALM; BOM).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``, ``\\u2028``); idempotent."""
    return _UNSAFE.sub(_escape, text)


__all__ = ["printable"]
