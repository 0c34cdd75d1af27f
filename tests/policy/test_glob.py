"""Redis glob patterns: matches() against a port of Redis's own stringmatchlen, and the
soundness of covers() (an 'unreachable class' warning must never be wrong)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redispolicy.policy.glob import covers, matches, problems


def stringmatch(pattern: str, string: str) -> bool:
    """A line-by-line port of stringmatchlen_impl() in Redis src/util.c (case-sensitive)."""
    skip = [False]

    def impl(p: int, s: int) -> bool:
        plen, slen = len(pattern) - p, len(string) - s
        while plen and slen:
            c = pattern[p]
            if c == "*":
                while plen > 1 and pattern[p + 1] == "*":
                    p += 1
                    plen -= 1
                if plen == 1:
                    return True
                while slen:
                    if impl(p + 1, s):
                        return True
                    if skip[0]:
                        return False
                    s += 1
                    slen -= 1
                skip[0] = True
                return False
            elif c == "?":
                s += 1
                slen -= 1
            elif c == "[":
                p += 1
                plen -= 1
                negate = plen > 0 and pattern[p] == "^"
                if negate:
                    p += 1
                    plen -= 1
                match = False
                while True:
                    if plen >= 2 and pattern[p] == "\\":
                        p += 1
                        plen -= 1
                        if pattern[p] == string[s]:
                            match = True
                    elif plen > 0 and pattern[p] == "]":
                        break
                    elif plen == 0:
                        p -= 1
                        plen += 1
                        break
                    elif plen >= 3 and pattern[p + 1] == "-":
                        lo, hi = sorted((pattern[p], pattern[p + 2]))
                        p += 2
                        plen -= 2
                        if lo <= string[s] <= hi:
                            match = True
                    elif pattern[p] == string[s]:
                        match = True
                    p += 1
                    plen -= 1
                if negate:
                    match = not match
                if not match:
                    return False
                s += 1
                slen -= 1
            else:
                if c == "\\" and plen >= 2:
                    p += 1
                    plen -= 1
                if pattern[p] != string[s]:
                    return False
                s += 1
                slen -= 1
            p += 1
            plen -= 1
            if slen == 0:
                while p < len(pattern) and pattern[p] == "*":
                    p += 1
                    plen -= 1
                break
        return plen == 0 and slen == 0

    return impl(0, 0)


# -- matches -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("ocr:*", "ocr:1", True),
        ("ocr:*", "ocr:", True),
        ("ocr:*", "oc", False),
        ("ocr:*", "xocr:1", False),
        ("doc:*:state", "doc:17:state", True),
        ("doc:*:state", "doc:17:temp", False),
        ("doc:*:state", "doc::state", True),
        ("h?llo", "hello", True),
        ("h?llo", "hllo", False),
        ("h[ae]llo", "hallo", True),
        ("h[ae]llo", "hillo", False),
        ("h[^e]llo", "hello", False),
        ("h[^e]llo", "hallo", True),
        ("h[a-b]llo", "hbllo", True),
        ("h[b-a]llo", "hallo", True),  # Redis swaps a reversed range
        ("cfg:\\*", "cfg:*", True),
        ("cfg:\\*", "cfg:x", False),
        ("a\\[b", "a[b", True),
        ("a\\?", "ab", False),
        ("*", "", True),
        ("*", "a[b]*?\\", True),
        ("", "", True),
        ("", "a", False),
        ("a**b", "ab", True),
    ],
)
def test_matches(pattern: str, key: str, expected: bool) -> None:
    assert matches(pattern, key) is expected
    if key:  # see test_matches_agrees_with_redis about the empty key
        assert stringmatch(pattern, key) is expected, "the reference port disagrees with Redis semantics"


PATTERN_CHARS = "ab:*?[]^-\\"
KEY_CHARS = "ab:[]*?^-\\"


@given(st.text(PATTERN_CHARS, max_size=8), st.text(KEY_CHARS, max_size=6))
@settings(max_examples=1500, deadline=None)
def test_matches_agrees_with_redis(pattern: str, key: str) -> None:
    """Well-formed patterns (no unclosed '[' or trailing '\\', the ones keys-bad-pattern
    does not warn about) match exactly the keys Redis's stringmatchlen matches.

    The empty key is left out: stringmatchlen() says '*' does not match it, but KEYS/SCAN
    short-cut a lone '*' to "all keys", so for key classes '*' does cover the empty key."""
    if problems(pattern) is not None or not key:
        return
    assert matches(pattern, key) == stringmatch(pattern, key)


# -- covers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("b", ["", "a", "ocr:*", "*", "doc:*:state", "[abc]", "[^x]?", "\\*", "a\\\\b"])
def test_star_covers_everything(b: str) -> None:
    assert covers("*", b)
    assert covers("**", b)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("ocr:*", "ocr:1:*", True),
        ("ocr:1:*", "ocr:*", False),
        ("ocr:*", "ocr:*", True),
        ("ocr:*", "ocr:[0-9]", True),
        ("ocr:*", "ocr", False),
        ("ocr*", "ocr:1", True),
        ("doc:*:temp", "doc:*:state", False),
        ("doc:*:state", "doc:*:temp", False),
        ("doc:*", "doc:*:temp", True),
        ("*:temp", "doc:*:temp", True),
        ("[abc]*", "a*", True),
        ("[abc]*", "d*", False),
        ("[abc]", "[ab]", True),
        ("[ab]", "[abc]", False),
        ("[a-c]", "[ab]", True),
        ("[a-c]", "b", True),
        ("[a-c]", "d", False),
        ("user:[abc]*", "user:b?x", True),
        ("user:b?x", "user:[abc]*", False),
        ("[^0-9]", "a", True),
        ("[^0-9]", "5", False),
        ("[^0-9]", "[^0-9]", True),
        ("[^0-9]", "[^0-5]", False),
        ("[^0-9]", "?", False),
        ("?", "a", True),
        ("?", "[^a]", True),
        ("?", "*", False),
        ("?", "", False),
        ("a?", "a[xyz]", True),
        ("a[xyz]", "a?", False),
        ("cfg:\\*", "cfg:*", False),  # a literal '*' does not cover any key under cfg:
        ("cfg:*", "cfg:\\*", True),
        ("cfg:\\*", "cfg:\\*", True),
        ("a\\[b", "a[b", False),  # '[b' opens a class in the second pattern
        ("a*b", "a*", False),
        ("a*", "a*b", True),
        ("*a*", "xay", True),
        ("*a*", "x?y", False),
    ],
)
def test_covers(a: str, b: str, expected: bool) -> None:
    assert covers(a, b) is expected


@given(st.text(PATTERN_CHARS, max_size=6), st.text(PATTERN_CHARS, max_size=6), st.text("ab:[]*-", max_size=6))
@settings(max_examples=2000, deadline=None)
def test_covers_is_sound(a: str, b: str, key: str) -> None:
    """covers(a, b) only when every key b matches, a matches too."""
    if covers(a, b) and matches(b, key):
        assert matches(a, key), (a, b, key)


@given(st.text(PATTERN_CHARS, max_size=8))
@settings(max_examples=300, deadline=None)
def test_covers_is_reflexive_for_sane_patterns(p: str) -> None:
    if problems(p) is None:
        assert covers(p, p)


def test_long_patterns_do_not_crash() -> None:
    """Regression: a recursive covers() hit Python's recursion limit on a 3000-character pattern."""
    long = "a" * 3000
    assert covers(long, long) in (True, False)  # cheap enough, or refused as "not certain"
    assert covers("a" * 1200 + "*", "a" * 1200 + "b") is True
    assert covers("a" * 1200 + "*", "a" * 1199 + "b") is False
    assert matches("a" * 1100 + "*", "a" * 1200) is True  # matches() never gives up on length
    assert matches("a" * 1100 + "?", "a" * 1200) is False


def test_problems() -> None:
    assert problems("ocr:*") is None
    assert problems("a[bc]") is None
    assert problems("a\\[") is None
    assert problems("ocr:[abc") == "has an unclosed '['"
    assert problems("tmp:\\") == "ends with a lone backslash"


def test_dash_before_bracket_is_a_range_as_in_redis() -> None:
    """'[a-]' is not {a, -} in Redis: '-]' makes a range up to ']' and the class stays open."""
    assert problems("user:[a-]*") is not None and "-]" in (problems("user:[a-]*") or "")
    assert problems("user:[a\\-]*") is None
    assert stringmatch("[:-]:", ":") is True  # the class swallowed the rest of the pattern
    assert matches("[:-]:", ":") is True
    assert matches("[a\\-]", "-") is True and matches("[a\\-]", "b") is False


@pytest.mark.parametrize(
    "pattern", ["ocr:*", "doc:*:state", "a?c", "[abc]x", "[^a-c]*", "x\\*y", "*", "[a-]]", "h[a-e]llo"]
)
@pytest.mark.parametrize(
    "key", ["ocr:1", "doc:9:state", "abc", "bx", "dzz", "x*y", "hello", "hbllo", "a]", "-", ""]
)
def test_to_regex_agrees_with_matches(pattern, key):
    from redispolicy.policy.glob import matches, to_regex

    assert bool(to_regex(pattern).fullmatch(key)) == matches(pattern, key)


# -- FirstMatch: one pass over a batch equals a call per key ----------------------------------------
KEY_BYTES = st.binary(max_size=6).map(lambda b: b.replace(b"\x00", b"a")) | st.text(
    "ab:\n*?é", max_size=6
).map(str.encode)


@given(
    st.lists(st.text("ab:*?[]^-\\é", max_size=6).filter(lambda p: problems(p) is None), max_size=4),
    st.lists(KEY_BYTES, max_size=12),
)
@settings(max_examples=800, deadline=None)
def test_first_match_numbers_agree_with_index(patterns: list[str], keys: list[bytes]) -> None:
    """The batch classifier (names joined by newlines) and the per-key one give the same class,
    including names holding a newline (the batch falls back), empty names and non-UTF-8 bytes."""
    from redispolicy.policy.glob import FirstMatch

    first = FirstMatch(patterns)
    expected = [first.none if i is None else i + 1 for i in map(first.index, keys)]
    assert first.numbers(keys) == expected


def test_first_match_is_byte_wise_like_redis(redis_server) -> None:
    """Redis matches the UTF-8 bytes of a name: '?' is one byte, so 'é?' does not match 'éé'
    (two bytes after the first é). SCAN MATCH on a real server is the reference."""
    from redispolicy.policy.glob import FirstMatch

    client = redis_server.client(decode_responses=False)
    keys = ["éé", "éa", "é", "aé", "a\né", "naïve:1", "x\xff"]
    raw = [k.encode("utf-8") for k in keys] + [b"\xc3", b"bin:\xff\xfe"]
    for k in raw:
        client.set(k, "1")
    for pattern in ["é?", "é??", "?", "??", "a?", "*é", "na?ve:*", "na??ve:*", "[é]", "[é]?", "bin:*", "x?"]:
        redis_says = set(client.scan_iter(match=pattern.encode("utf-8"), count=1000))
        first = FirstMatch([pattern])
        ours = {k for k in raw if first.index(k) is not None}
        assert ours == redis_says, pattern
        assert {k for k, n in zip(raw, first.numbers(raw), strict=True) if n == 1} == redis_says, pattern
