"""glob.constrains_only_length ("does this pattern match every key?"), proven against the
server's own matcher: SCAN MATCH on real servers (the matrix), with random patterns and keys.

Issue 10: '[^]*', '*[^]' and '[^]**' match every key in Redis (stringmatchlen reads an empty
negated class '[^]' as any byte), and a list of spellings ('*', '**', '?*', '*?') missed them.

How each claim is shown on the server:

* a catch-all: random keys of the lengths it allows (exactly its minimum length, or that
  or longer when it has a '*') are all returned by SCAN MATCH;
* not a catch-all: some position rejects a byte b under the server's reading of ``char``
  (see BytePos.accepts); the key b*L (L = the minimum length, and longer with a '*') then
  provably cannot match, since every non-'*' token must consume one of its bytes, all b.
  SCAN MATCH must not return it.

The empty key is left out: stringmatchlen never matches it with a non-empty pattern (SCAN
short-cuts a lone '*' to "every key"), which makes the server stricter, never looser.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from redispolicy.policy.glob import ALL_BYTES, FirstMatch, byte_tokens, constrains_only_length, min_length

CATCH_ALL = [
    "*",
    "**",
    "?*",
    "*?",
    "[^]*",
    "*[^]",
    "[^]**",
    "????",
    "*[^]?",
    "?",
    "[^",
    "*[^",
    "*?*",
    "[^]",
    "[Ѐ-\x7f]*",
]  # 'Ѐ' is D0 80: the range 0x80-0x7f is every byte where char is signed
NOT_CATCH_ALL = [
    "a*",
    "[^a]*",
    "*x",
    "[]*",
    "\\*",
    "[a-]*",
    "tmp:*",
    "[^]*a",
    "?[^\\]]*",
    "[\x00-\x7f]*",
    "*[^\x00]",
    "[^é]*",
]


@pytest.mark.parametrize("pattern", CATCH_ALL)
def test_catch_alls(pattern: str) -> None:
    assert constrains_only_length(pattern)


@pytest.mark.parametrize("pattern", NOT_CATCH_ALL)
def test_not_catch_alls(pattern: str) -> None:
    assert not constrains_only_length(pattern)


def test_min_length_counts_bytes_like_redis() -> None:
    assert [min_length(p) for p in ("*", "[^]*", "????", "a?*b", "é*", "[é]", "\\*")] == [0, 1, 4, 3, 2, 1, 1]


# -- against the server ------------------------------------------------------------------------------
_SIGNED: dict[str, bool] = {}


def _signed_char(server) -> bool:
    """Does this server compare range ends as signed char (x86) or unsigned (ARM)? The range
    0x7f-0x81 holds 0x90 only when signed (0x81 is then -127: the range is -127..127)."""
    if server.address not in _SIGNED:
        c = server.client(decode_responses=False)
        c.set(b"\x90", b"1")
        _SIGNED[server.address] = b"\x90" in set(c.scan_iter(match=b"[\x7f-\x81]", count=1000))
        c.delete(b"\x90")
    return _SIGNED[server.address]


def _every_byte_everywhere(pattern: str, signed: bool) -> bool:
    return all(t is None or t.accepts(signed) == ALL_BYTES for t in byte_tokens(pattern))


def _scan(client, pattern: str) -> set[bytes]:
    return set(client.scan_iter(match=pattern.encode("utf-8"), count=1000))


def _fit(key: bytes, pattern: str) -> bytes:
    """The key padded or cut to a length the pattern allows (padding bytes cover the odd ones)."""
    n = min_length(pattern)
    star = None in byte_tokens(pattern)
    pad = (key + b"\xff\x00\x80]*?[\\^") * (n + 1)
    if not star:
        return (key + pad)[:n]
    return key if len(key) >= max(n, 1) else (key + pad)[: max(n, 1)]


def _witnesses(pattern: str, signed: bool) -> list[bytes]:
    """Keys the pattern cannot match: b*L for a byte b some position rejects."""
    n = min_length(pattern)
    for t in byte_tokens(pattern):
        if t is not None and t.accepts(signed) != ALL_BYTES:
            b = min(ALL_BYTES - t.accepts(signed))
            lengths = [n, n + 3] if None in byte_tokens(pattern) else [n]
            return [bytes([b]) * length for length in lengths]
    raise AssertionError(f"{pattern!r}: every position accepts every byte, yet it is not a catch-all")


def _check(server, pattern: str, keys: list[bytes]) -> None:
    client = server.client(decode_responses=False)
    client.flushdb()
    signed = _signed_char(server)
    if _every_byte_everywhere(pattern, signed):
        if min_length(pattern) == 0 and None not in byte_tokens(pattern):
            return  # the empty pattern: only the empty key, see the module docstring
        written = {_fit(k, pattern) for k in keys}
    elif constrains_only_length(pattern):
        return  # a catch-all only where char has the other signedness: refused all the same
    else:
        written = set(_witnesses(pattern, signed))
    pipe = client.pipeline(transaction=False)
    for k in written:
        pipe.set(k, b"1")
    pipe.execute()
    found = _scan(client, pattern)
    if constrains_only_length(pattern):
        assert found == written, (pattern, written - found)
    else:
        assert not found & written, (pattern, found & written)
    if pattern.isascii():  # redispolicy's own classifier agrees with the server on these keys
        first = FirstMatch([pattern])
        assert {k for k in written if first.index(k) is not None} == found, pattern


def test_the_issue_patterns_match_every_key_on_the_server(matrix_server) -> None:
    """Every 1-byte key and some longer ones: '[^]*', '*[^]', '[^]**' return all of them."""
    keys = [bytes([b]) for b in range(256)] + [b"doc:1:state", b"\xff\xfe", b"a" * 200, "é".encode()]
    for pattern in ("[^]*", "*[^]", "[^]**"):
        _check(matrix_server, pattern, keys)
        assert len(_scan(matrix_server.client(decode_responses=False), pattern)) == len(keys)


def test_fixed_patterns_on_the_server(matrix_server) -> None:
    keys = [bytes([b]) * 3 for b in range(0, 256, 7)] + [b"tmp:x", b"a", b"\x80\x7f"]
    for pattern in CATCH_ALL + NOT_CATCH_ALL:  # one server for all of them: a start costs more than a check
        _check(matrix_server, pattern, keys)


ALPHABET = "*?[]^-\\ab:\x00\x7féЀ"  # é = C3 A9, Ѐ = D0 80: high bytes inside classes and ranges
TOKENS = ["*", "?", "[^]", "[^", "[Ѐ-\x7f]", "a", "[^a]", "\\*", "[a-]", "[\x00-é]"]
PATTERNS = st.text(ALPHABET, max_size=8) | st.lists(st.sampled_from(TOKENS), max_size=5).map("".join)
KEYS = st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=12)


@given(pattern=PATTERNS, keys=KEYS)
@example(pattern="[^]*", keys=[b"x"]).via("issue 10")
@example(pattern="*[^]", keys=[b"\x00", b"long key"]).via("issue 10")
@example(pattern="[^]**", keys=[b"\xff"]).via("issue 10")
@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_catch_all_agrees_with_scan_match(matrix_server, pattern: str, keys: list[bytes]) -> None:
    _check(matrix_server, pattern, keys)
