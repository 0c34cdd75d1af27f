"""printable(): the one helper every human-readable renderer shows values through."""

from __future__ import annotations

from redispolicy.render.escape import printable


def test_controls_become_visible_escapes() -> None:
    assert printable("a\nb\r\tc\x1b[2K\x00\x7f\x85") == "a\\nb\\r\\tc\\x1b[2K\\x00\\x7f\\x85"
    assert printable("x\u2028y\u2029z\u202eq\ufeff") == "x\\u2028y\\u2029z\\u202eq\\ufeff"


def test_plain_text_unicode_and_backslashes_are_left_alone() -> None:
    for text in ("maxmemory 1gb", "cache\\:*", "naïve ✓ 日本", "\\n stays two characters"):
        assert printable(text) == text


def test_idempotent() -> None:
    once = printable("v\n+ maxmemory 1gb\x1b[31m")
    assert printable(once) == once and "\n" not in once and "\x1b" not in once
