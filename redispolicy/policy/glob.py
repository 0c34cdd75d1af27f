"""Redis glob patterns (stringmatchlen in src/util.c): *, ?, [abc], [^a-z], \\ escapes.

``covers(a, b)`` answers "does every key matching b also match a?", soundly: True
only when that is certain, so an 'unreachable class' warning is never wrong. It
matches b's tokens symbolically against a's (a '*' in b needs a '*' in a).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Literal

_MAX_WORK = 4_000_000  # token pairs compared by covers(); patterns are short in practice


TokKind = Literal["lit", "any", "star", "cls"]


@dataclass(frozen=True)
class Tok:
    kind: TokKind  # lit, any (?), star (*), cls ([...])
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
                elif i + 2 < len(pattern) and pattern[i + 1] == "-":  # Redis: even "a-]" is a range
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
    """What Redis would read differently from what the pattern seems to say (walks it as tokenize does)."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "\\":
            if i + 1 == n:
                return "ends with a lone backslash"
            i += 1
        elif pattern[i] == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            while i < n and pattern[i] != "]":
                if pattern[i] == "\\" and i + 1 < n:
                    i += 1
                elif i + 2 < n and pattern[i + 1] == "-":
                    if pattern[i + 2] == "]":
                        return "has '-]', which Redis reads as a range up to ']'; write \\- for a literal '-'"
                    i += 2
                i += 1
            if i == n:
                return "has an unclosed '['"
        i += 1
    return None


# -- "does this pattern match every key?" ----------------------------------------------------------
# Decided from the pattern's meaning, over the UTF-8 bytes Redis compares (a multi-byte
# character in a class is several class members there), never from a list of spellings.

ALL_BYTES = frozenset(range(256))


@dataclass(frozen=True)
class BytePos:
    """One key byte a non-'*' token of a pattern consumes, as stringmatchlen reads it."""

    members: frozenset[int] = frozenset()  # literal bytes
    ranges: tuple[tuple[int, int], ...] = ()  # a-z as written (Redis swaps a reversed one)
    negated: bool = False  # '?' is a negated empty set

    def accepts(self, signed_char: bool) -> frozenset[int]:
        """The bytes this position accepts. stringmatchlen compares range ends as ``char``:
        signed on x86 (bytes >= 0x80 sort below 0), unsigned on ARM. Literals compare equal
        either way."""
        got = set(self.members)
        for lo, hi in self.ranges:
            a, b = sorted((_as_char(lo, signed_char), _as_char(hi, signed_char)))
            got.update(x for x in range(256) if a <= _as_char(x, signed_char) <= b)
        return ALL_BYTES - got if self.negated else frozenset(got)


def _as_char(byte: int, signed_char: bool) -> int:
    return byte - 256 if signed_char and byte >= 0x80 else byte


def byte_tokens(pattern: str) -> tuple[BytePos | None, ...]:
    """The pattern's tokens over its UTF-8 bytes, exactly as stringmatchlen walks them
    (None is a '*'). Unlike ``tokenize`` it keeps ranges as ranges, so both readings of
    ``char`` can be asked of them."""
    p = pattern.encode("utf-8")
    out: list[BytePos | None] = []
    i, n = 0, len(p)
    while i < n:
        c = p[i]
        if c == 0x2A:  # '*'
            out.append(None)
        elif c == 0x3F:  # '?'
            out.append(BytePos(negated=True))
        elif c == 0x5C and i + 1 < n:  # '\\' escapes the next byte
            i += 1
            out.append(BytePos(frozenset({p[i]})))
        elif c == 0x5B:  # '['
            i, pos = _byte_class(p, i + 1)
            out.append(pos)
        else:
            out.append(BytePos(frozenset({c})))
        i += 1
    return tuple(out)


def _byte_class(p: bytes, i: int) -> tuple[int, BytePos]:
    """A class starting after its '['; returns the index of its ']' (or the last byte) and the class."""
    n = len(p)
    negated = i < n and p[i] == 0x5E  # '^'
    if negated:
        i += 1
    members: set[int] = set()
    ranges: list[tuple[int, int]] = []
    while i < n and p[i] != 0x5D:  # ']'
        if p[i] == 0x5C and i + 1 < n:
            i += 1
            members.add(p[i])
        elif i + 2 < n and p[i + 1] == 0x2D:  # '-': a range, even "a-]"
            ranges.append((p[i], p[i + 2]))
            i += 2
        else:
            members.add(p[i])
        i += 1
    # An unclosed class runs to the end (stringmatchlen steps back onto its last byte).
    return min(i, n - 1), BytePos(frozenset(members), tuple(ranges), negated)


def constrains_only_length(pattern: str) -> bool:
    """Does the pattern accept every byte value at every position it consumes?

    Then it says nothing about a key's bytes, only (at most) about its length: ``*``,
    ``?*``, ``[^]*`` (an empty negated class is any byte), ``*[^]?``, ``????`` all match
    every key of their minimum length or (with a '*') longer. Deleting or expiring by
    such a class is a flush by another name. True when that holds under either reading
    of ``char`` (see ``BytePos.accepts``): the guard must hold on every server and in
    redispolicy's own classifier. ``a*``, ``[^a]*``, ``*x`` are False: some key escapes.
    """
    tokens = byte_tokens(pattern)
    return any(all(t is None or t.accepts(signed) == ALL_BYTES for t in tokens) for signed in (False, True))


def min_length(pattern: str) -> int:
    """The fewest bytes a key matching the pattern has: one per non-'*' token."""
    return sum(t is not None for t in byte_tokens(pattern))


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
    if len(ta) * len(tb) > _MAX_WORK:
        return False  # too long to decide cheaply; "not certain" is the sound answer
    return _covers(ta, tb)


def _covers(ta: tuple[Tok, ...], tb: tuple[Tok, ...]) -> bool:
    # reach[j]: a's tokens so far cover exactly b's first j tokens (iterative: no recursion limit)
    reach = [True] + [False] * len(tb)
    for t in ta:
        if t.kind == "star":
            # a's star absorbs zero or more of b's tokens (stars included)
            for j in range(1, len(reach)):
                reach[j] = reach[j] or reach[j - 1]
        else:
            reach = [False] + [reach[j] and _tok_covers(t, tb[j]) for j in range(len(tb))]
    return reach[-1]


def matches(pattern: str, key: str) -> bool:
    """Does a concrete key match the pattern (a key is all literals)?"""
    return _covers(tokenize(pattern), tuple(Tok("lit", frozenset(c)) for c in key))


def _source(pattern: str, any_char: str = ".", newline_free: bool = False) -> str:
    """Regex source with the glob's meaning, built from the same tokens as ``matches``.

    ``newline_free``: no part may match a newline (the separator of ``FirstMatch.numbers``).
    """
    dot = "[^\\n]" if newline_free else any_char
    parts = []
    for t in tokenize(pattern):
        if t.kind == "star":
            parts.append(dot + "*")
        elif t.kind == "any":
            parts.append(dot)
        elif t.kind == "lit":
            parts.append(re.escape(next(iter(t.chars))))
        elif not t.chars:
            parts.append(dot if t.negated else "(?!)")
        else:
            body = "".join(re.escape(c) for c in sorted(t.chars))
            if t.negated and newline_free:
                body += "\\n"
            parts.append(f"[{'^' if t.negated else ''}{body}]")
    return "".join(parts)


def to_regex(pattern: str) -> re.Pattern[str]:
    """The pattern as a compiled regex with the same meaning, for ``fullmatch`` on a key name."""
    return re.compile(_source(pattern), re.DOTALL)


def _bytes_source(pattern: str, newline_free: bool = False) -> bytes:
    # Redis matches bytes (stringmatchlen): '?' is one byte of a UTF-8 name, not one character.
    # Read the pattern's UTF-8 bytes as Latin-1, one character per byte, build the regex
    # from that and encode it back: a bytes regex over the same bytes.
    return _source(pattern.encode("utf-8").decode("latin-1"), newline_free=newline_free).encode("latin-1")


class FirstMatch:
    """Which of several patterns a key matches first: the key-class rule.

    One alternation of the patterns, in order: the regex engine tries the alternatives
    left to right, so the first pattern that matches the whole key wins. Shared by the
    key audit and the stages that change keys, so both classify a key the same way.
    """

    def __init__(self, patterns: list[str]) -> None:
        self.count = len(patterns)
        self.none = self.count + 1  # the number ``numbers`` gives a key no pattern matches
        groups = [b"(" + _bytes_source(p) + b")" for p in patterns]
        self.regex = re.compile(b"|".join(groups) or b"(?!)", re.DOTALL)
        lines = [b"(" + _bytes_source(p, newline_free=True) + b")" for p in patterns]
        # One line per key, multiline anchors; the last group takes a line no pattern matched.
        self.lines = re.compile(b"^(?:" + b"|".join([*lines, b"([^\n]*)"]) + b")$", re.MULTILINE)

    def index(self, key: bytes) -> int | None:
        """The 0-based index of the first pattern matching ``key``, or None."""
        m = self.regex.fullmatch(key)
        return None if m is None else m.lastindex - 1  # type: ignore[operator]  # a match has a group

    def numbers(self, keys: list[bytes]) -> list[int]:
        """For each key, 1 + the index of its first matching pattern, or ``self.none``.

        One regex pass over the names joined by newlines instead of a call per key (the
        audit's classification cost per key drops by ~40 %); a batch holding a name with a
        newline falls back to a call per key.
        """
        joined = b"\n".join(keys)
        if joined.count(b"\n") == len(keys) - 1:
            out = list(map(_LASTINDEX, self.lines.finditer(joined)))
            if len(out) == len(keys):
                return out
        none = self.none
        return [none if i is None else i + 1 for i in map(self.index, keys)]


_LASTINDEX = operator.attrgetter("lastindex")
