"""What a server version supports beyond its parameter table: one place answers "does it have X"."""

from __future__ import annotations

from redispolicy.catalog.params import parse_version


def supports_multi_config_set(product: str, version: str) -> bool:
    """Several parameters in one CONFIG SET, applied all or none: Redis >= 7.0 and every Valkey."""
    return product == "valkey" or parse_version(version) >= (7, 0)


def supports_conditional_expire(product: str, version: str) -> bool:
    """EXPIRE key seconds NX | LT: Redis >= 7.0 and every Valkey (6.x gets a Lua script instead)."""
    try:
        return product == "valkey" or parse_version(version) >= (7, 0)
    except ValueError:
        return False
