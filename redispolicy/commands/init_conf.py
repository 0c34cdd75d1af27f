"""``redispolicy init --from-conf FILE``: a ``ConfigSource`` from a redis.conf / valkey.conf.

The reading itself (quoting, includes, repeated lines, units) is ``catalog/conffile.py``;
here we only decide whose names and defaults apply. ``--server-version PRODUCT-X.Y`` says
it; without it a file whose header calls it a Valkey configuration file is read as the
newest Valkey in the catalog, any other as the newest Redis, and a note says so, because
defaults and even names differ between versions (Redis 6.0 started from a file has no save
points; hash-max-listpack-entries is hash-max-ziplist-entries before 7.0).
"""

from __future__ import annotations

import re
from pathlib import Path

from redispolicy.catalog.conffile import read_conf
from redispolicy.catalog.params import PRODUCTS, catalog
from redispolicy.catalog.source import ConfigSource
from redispolicy.errors import UsageError

_SERVER_VERSION = re.compile(r"(?P<product>[a-z]+)-(?P<version>\d+\.\d+(?:\.\d+)?)")
_HEADER_BYTES = 512  # the header comment is the first line of both projects' example files


def parse_server_version(text: str) -> tuple[str, str]:
    """``redis-7.0`` -> ``("redis", "7.0")``; a UsageError naming the expected form otherwise."""
    m = _SERVER_VERSION.fullmatch(text.strip().lower())
    if not m or m.group("product") not in PRODUCTS:
        raise UsageError(
            f"--server-version {text!r} is not PRODUCT-X.Y",
            "write e.g. redis-7.0, redis-6.0 or valkey-8.1 (the server the file is meant for)",
        )
    return m.group("product"), m.group("version")


def guess_server(path: Path) -> tuple[str, str]:
    """The newest Valkey when the file's header says it is Valkey's, else the newest Redis."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER_BYTES).decode("utf-8", "replace").lower()
    except OSError:
        head = ""  # read_conf reports the unreadable file with its reason
    product = "valkey" if "valkey configuration file" in head else "redis"
    return product, catalog().versions_known[product][-1]


def source_from_conf(
    path: Path, server_version: str | None, *, start_dir: Path | None = None
) -> ConfigSource:
    """What a server started from ``path`` would show in CONFIG GET, for what the file sets.

    ``start_dir`` is the directory the server starts in (relative includes and a relative
    ``dir``); None: includes are opened from the current directory and a relative ``dir``
    is left out with a note.
    """
    notes: list[str] = []
    if server_version:
        product, version = parse_server_version(server_version)
    else:
        product, version = guess_server(path)
        notes.append(
            f"{path}: read as {product} {version} (no --server-version given); pass "
            "--server-version PRODUCT-X.Y if the server runs another version"
        )
    server = catalog().for_server(product, version)
    if not server.covered:
        notes.append(
            f"{product} {version} is outside the versions the catalog was checked against "
            f"({', '.join(catalog().versions_known.get(product, ()))}): names and defaults may differ"
        )
    conf = read_conf(path, server, start_dir=start_dir)
    return ConfigSource(
        product=product,
        version=version,
        values=dict(conf.values),
        origin=str(path),
        locations=dict(conf.locations),
        notes=tuple(notes) + conf.notes,
    )
