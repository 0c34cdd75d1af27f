"""Redis glob patterns (stringmatchlen in src/util.c): *, ?, [abc], [^a-z], \\ escapes.

``covers(a, b)`` answers "does every key matching b also match a?", soundly: True
only when that is certain, so an 'unreachable class' warning is never wrong. It
matches b's tokens symbolically against a's (a '*' in b needs a '*' in a).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Tok:
    kind: str  # lit, any (?), star (*), cls ([...])
    chars: frozenset[str] = frozenset()
    negated: bool = False


def tokenize(pattern: str) -> tuple[Tok, ...]:
    """Tokens as Redis reads them; an unclosed '[' runs to the end as in stringmatchlen."""
    out: list[Tok] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if not out or out[-1].kind != "star":
                out.append(Tok("star"))
        elif c == "?":
            out.append(Tok("any"))
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(Tok("lit", frozenset(pattern[i])))
        elif c == "[":
            i += 1
            negated = i < len(pattern) and pattern[i] == "^"
            if negated:
                i += 1
            chars: set[str] = set()
            while i < len(pattern) and pattern[i] != "]":
                if pattern[i] == "\\" and i + 1 < len(pattern):
                    i += 1
                    chars.add(pattern[i])
                elif i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
                    lo, hi = sorted((pattern[i], pattern[i + 2]))
                    chars.update(chr(x) for x in range(ord(lo), ord(hi) + 1))
                    i += 2
                else:
                    chars.add(pattern[i])
                i += 1
            out.append(Tok("cls", frozenset(chars), negated))
        else:
            out.append(Tok("lit", frozenset(c)))
        i += 1
    return tuple(out)


def problems(pattern: str) -> str | None:
    depth = 0
    escaped = False
    for c in pattern:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == "[":
            depth = 1
        elif c == "]":
            depth = 0
    if escaped:
        return "ends with a lone backslash"
    if depth:
        return "has an unclosed '['"
    return None


def _tok_covers(a: Tok, b: Tok) -> bool:
    """Does single-character token a accept every character b accepts?"""
    if a.kind == "any":
        return b.kind != "star"
    if b.kind in ("any", "star"):
        return False
    if b.kind == "cls" and b.negated:
        return a.kind == "cls" and a.negated and a.chars <= b.chars
    if a.kind == "lit":
        return b.chars == a.chars  # b is a literal or a one-char class
    # a is a class
    return not (b.chars & a.chars) if a.negated else b.chars <= a.chars


def covers(a: str, b: str) -> bool:
    ta, tb = tokenize(a), tokenize(b)

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(ta):
            return j == len(tb)
        if ta[i].kind == "star":
            # a's star absorbs zero or more of b's tokens (stars included)
            return go(i + 1, j) or (j < len(tb) and go(i, j + 1))
        if j == len(tb):
            return False
        return _tok_covers(ta[i], tb[j]) and go(i + 1, j + 1)

    return go(0, 0)


def matches(pattern: str, key: str) -> bool:
    """Does a concrete key match the pattern (a key is all literals)?"""
    literal = "".join("\\" + c if c in "*?[]\\" else c for c in key)
    return covers(pattern, literal)
