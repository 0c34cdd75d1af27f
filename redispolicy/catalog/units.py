"""Sizes and durations, with Redis's exact grammar.

Sizes follow ``memtoull()`` in src/util.c: digits then an optional unit, case-
insensitive: b=1, k=1000, kb=1024, m=10^6, mb=2^20, g=10^9, gb=2^30. Redis accepts
``""`` and a bare unit as 0 and wraps on overflow; we reject all three, since
``maxmemory ""`` silently means "no limit".
"""

from __future__ import annotations

import re

_MULT = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
_SIZE = re.compile(r"([0-9]+)([a-zA-Z]*)")
ULLONG_MAX = 2**64 - 1

_DUR_MULT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"([0-9]+)([smhdw])")


def parse_size(value: str | int) -> int:
    """Bytes for a Redis size; ValueError with a readable reason otherwise."""
    if isinstance(value, bool):
        raise ValueError("a size, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("sizes cannot be negative")
        return value
    m = _SIZE.fullmatch(value)
    if not m or m.group(2).lower() not in _MULT:
        raise ValueError("not a Redis size: bytes, or a number with k, kb, m, mb, g or gb")
    result = int(m.group(1)) * _MULT[m.group(2).lower()]
    if result > ULLONG_MAX:
        raise ValueError("larger than Redis can store (2^64 - 1 bytes)")
    return result


def parse_duration(value: str) -> int:
    """Seconds for a policy duration (30s, 5m, 12h, 3d, 1w)."""
    m = _DURATION.fullmatch(value)
    if not m:
        raise ValueError("not a duration: a whole number and s, m, h, d or w (e.g. 12h)")
    return int(m.group(1)) * _DUR_MULT[m.group(2)]


def human_bytes(n: int) -> str:
    """1073741824 -> '1 GiB', 471859200 -> '450 MiB'; for arithmetic people can check."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            if n % size == 0:
                return f"{n // size} {unit}"
            hundredths = (n * 100 + size // 2) // size  # integers: no float overflow for huge n
            return f"{hundredths // 100}.{hundredths % 100:02d} {unit}"
    return f"{n} B"


def approx_duration(seconds: int) -> str:
    """136660 -> '1.6d': for reading TTL distributions, where exactness is noise."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f}{unit}" if value >= 10 or value == int(value) else f"{value:.1f}{unit}"
    return f"{seconds}s"


def human_duration(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
