"""Suggested glob patterns for the keys no class matches, to paste into the policy.

A key's shape is its ':'-tokens with id-like tokens (digits, hex, UUIDs, long base64-ish
tokens, ``doc12345``) replaced by a wildcard; ``PatternSuggester`` counts shapes within a
fixed memory bound and merges shapes that differ only in one wide position
(``user:alice:profile``, ``user:bob:profile`` -> ``user:*:profile``). It sees decoded key
names only, never values, and never suggests a pattern without literal text.
"""

from __future__ import annotations

import re
from collections import Counter

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]{8,}")
_B64 = re.compile(r"[A-Za-z0-9+/_=-]{16,}")
_NAME_NUMBER = re.compile(r"([A-Za-z][A-Za-z_.-]*?)(\d{3,})")  # doc12345 -> doc*
_GLOB_META = re.compile(r"([*?\[\]\\])")

# A shape token is a tuple of parts: a str is literal text, None a wildcard.
Token = tuple[str | None, ...]
STAR: Token = (None,)
TOKEN_CACHE = 100_000  # distinct tokens a suggester remembers (ids that are not digits are one-offs)


def looks_like_id(token: str) -> bool:
    """Digits, hex of 8+, a UUID, or a long base64-ish token with digits and letters."""
    if not token:
        return False
    if token.isdigit() or _UUID.fullmatch(token) or _HEX.fullmatch(token):
        return True
    return bool(_B64.fullmatch(token) and any(c.isdigit() for c in token) and any(c.isalpha() for c in token))


def glob_escape(text: str) -> str:
    """A literal for a Redis glob: *, ?, [, ] and \\ escaped with a backslash."""
    return _GLOB_META.sub(r"\\\1", text)


def _token_shape(token: str) -> Token:
    if looks_like_id(token):
        return STAR
    if len(token) > 2 and token[0] == "{" and token[-1] == "}" and looks_like_id(token[1:-1]):
        return ("{", None, "}")  # a hash tag around an id: {123} -> {*}
    m = _NAME_NUMBER.fullmatch(token)
    if m:
        return (m.group(1), None)
    return (token,)


def key_shape(key: str, sep: str = ":") -> tuple[Token, ...]:
    """The key's tokens with ids collapsed."""
    return tuple(_token_shape(t) for t in key.split(sep))


def render_shape(shape: tuple[Token, ...], sep: str = ":") -> str:
    """The shape as a Redis glob: literal parts escaped, wildcards as '*'."""
    return sep.join("".join("*" if part is None else glob_escape(part) for part in t) for t in shape)


class PatternSuggester:
    """Counts unclassified keys by shape; at most ``cap`` distinct shapes are kept.

    A shape is the key's ':'-tokens with id-like tokens replaced by '*'. A position where
    shapes that agree everywhere else differ collapses to '*' too (user:alice:profile,
    user:bob:profile -> user:*:profile) when it holds more than ``fanout`` distinct
    literals, or when its literals are mostly one-offs (at least 2, and at least half as
    many as the keys in the group) — the case of names in a sample, where each shows up
    once; a few literals with many keys each (stats:views, stats:clicks) stay apart, and
    the first token (the namespace) only collapses past the fan-out.
    Positions are visited left to right, so the result does not depend on key order.
    Suggestions without any literal text ('*', '*:*') are never offered: they would
    swallow every key.
    """

    def __init__(self, cap: int = 10_000, fanout: int = 50, sep: str = ":") -> None:
        self.cap = cap
        self.fanout = fanout
        self.sep = sep
        self.tokens: dict[str, Token] = {}  # token -> shape: namespaces and field names repeat
        self.shapes: Counter[tuple[Token, ...]] = Counter()
        self.overflow = 0  # keys whose shape arrived after the cap was reached

    def _token(self, token: str) -> Token:
        """``_token_shape``, remembered: an unclassified key costs ~1 µs instead of ~3."""
        if token.isdigit():  # the commonest id, decided without a lookup
            return STAR
        shape = self.tokens.get(token)
        if shape is None:
            shape = _token_shape(token)
            if len(self.tokens) < TOKEN_CACHE:
                self.tokens[token] = shape
        return shape

    def add(self, key: str, weight: int = 1) -> None:
        self.add_all([key], weight)

    def add_all(self, keys: list[str], weight: int = 1) -> None:
        token, sep, shapes, get, cap = self._token, self.sep, self.shapes, self.shapes.get, self.cap
        for key in keys:
            shape = tuple(map(token, key.split(sep)))
            n = get(shape)
            if n is not None:
                shapes[shape] = n + weight
            elif len(shapes) < cap:
                shapes[shape] = weight
            else:
                self.overflow += weight

    def suggestions(self, top: int = 10) -> tuple[tuple[str, int], ...]:
        shapes = Counter(self.shapes)
        longest = max((len(s) for s in shapes), default=0)
        for pos in range(longest):

            def rest(s: tuple[Token, ...], pos: int = pos) -> tuple[object, ...]:
                return (len(s), s[:pos], s[pos + 1 :])

            groups: dict[tuple[object, ...], set[Token]] = {}
            weight: Counter[tuple[object, ...]] = Counter()
            for s, n in shapes.items():
                if len(s) > pos and s[pos] != STAR:
                    groups.setdefault(rest(s), set()).add(s[pos])
                    weight[rest(s)] += n
            wide = {
                g
                for g, values in groups.items()
                if len(values) > self.fanout
                or (pos > 0 and len(values) >= 2 and 2 * len(values) >= weight[g])
            }
            if not wide:
                continue
            merged: Counter[tuple[Token, ...]] = Counter()
            for s, n in shapes.items():
                if len(s) > pos and s[pos] != STAR and rest(s) in wide:
                    s = (*s[:pos], STAR, *s[pos + 1 :])
                merged[s] += n
            shapes = merged
        useful = [
            (render_shape(s, self.sep), n) for s, n in shapes.items() if any(part for t in s for part in t)
        ]
        useful.sort(key=lambda item: (-item[1], item[0]))
        return tuple(useful[:top])
