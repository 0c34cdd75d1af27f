"""Sizes and durations with Redis's exact grammar (memtoull in src/util.c)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redispolicy.catalog.units import human_bytes, human_duration, parse_duration, parse_size

KIB, MIB, GIB = 1024, 1024**2, 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1", 1),
        ("450", 450),
        ("1b", 1),
        ("1B", 1),
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", KIB),
        ("1KB", KIB),
        ("1Kb", KIB),
        ("1kB", KIB),
        ("1m", 1_000_000),
        ("1M", 1_000_000),
        ("1mb", MIB),
        ("1MB", MIB),
        ("1mB", MIB),
        ("1g", 1_000_000_000),
        ("1G", 1_000_000_000),
        ("1gb", GIB),
        ("1GB", GIB),
        ("1Gb", GIB),
        ("10mb", 10485760),
        ("512mb", 536870912),
        ("16mb", 16 * MIB),
        ("2gb", 2 * GIB),
        ("007kb", 7 * KIB),
        ("18446744073709551615", 2**64 - 1),  # ULLONG_MAX, the largest Redis can store
        ("17179869183gb", 17179869183 * GIB),
    ],
)
def test_parse_size_redis_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_units_differ_by_the_b() -> None:
    assert parse_size("1m") == 1_000_000 and parse_size("1mb") == 1_048_576
    assert parse_size("1k") != parse_size("1kb")


def test_parse_size_integers() -> None:
    assert parse_size(0) == 0
    assert parse_size(1073741824) == GIB
    with pytest.raises(ValueError):
        parse_size(-1)
    with pytest.raises(ValueError):
        parse_size(True)  # a YAML boolean is not a size


@pytest.mark.parametrize(
    "text",
    [
        "",
        "gb",
        "b",
        "1.5gb",
        "1,5gb",
        "-1",
        "-1mb",
        "+1mb",
        "1tb",
        "1kib",
        "1 mb",
        " 1mb",
        "1mb ",
        "1mbb",
        "0x10",
        "1e6",
        "one",
        "1 ",
        "10%",
        "18446744073709551616",  # 2^64
        "17179869184gb",  # 2^64 bytes
        "99999999999999999999999gb",
    ],
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_overflow_message_says_why() -> None:
    with pytest.raises(ValueError, match="2\\^64"):
        parse_size("99999999999999999999gb")


@given(
    st.integers(min_value=0, max_value=2**34),
    st.sampled_from(["", "b", "k", "kb", "m", "mb", "g", "gb"]),
    st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_parse_size_property(n: int, unit: str, upper: bool) -> None:
    mult = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}[unit]
    text = f"{n}{unit.upper() if upper else unit}"
    if n * mult > 2**64 - 1:
        with pytest.raises(ValueError):
            parse_size(text)
    else:
        assert parse_size(text) == n * mult


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0),
        ("30s", 30),
        ("5m", 300),
        ("10m", 600),
        ("12h", 43200),
        ("1d", 86400),
        ("3d", 259200),
        ("7d", 604800),
        ("1w", 604800),
        ("2w", 1209600),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "3", "d", "1.5h", "3 d", "3D", "10M", "500ms", "1y", "-1d", "+1d", "1d2h"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.50 KiB"),
        (471859200, "450 MiB"),
        (858993459, "819.20 MiB"),
        (GIB, "1 GiB"),
        (4718592000, "4.39 GiB"),
        (1101004800, "1.03 GiB"),
        (1024 * GIB, "1024 GiB"),
    ],
)
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


def test_human_bytes_of_astronomical_sizes() -> None:
    """No float overflow: capacity totals are exact integers of any size."""
    assert human_bytes(10**400).endswith(" GiB")
    assert human_bytes(10**400 * GIB) == f"{10**400} GiB"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (90, "90s"),
        (600, "10m"),
        (3600, "1h"),
        (43200, "12h"),
        (86400, "1d"),
        (259200, "3d"),
        (604800, "1w"),
        (1209600, "2w"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text
    assert parse_duration(text) == seconds
