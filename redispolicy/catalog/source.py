"""Where a first policy's config comes from: a live server's ``CONFIG GET *``, or a redis.conf file.

``redispolicy init`` proposes a policy from a ``ConfigSource`` and does not care which: the
values are what ``CONFIG GET`` shows (raw strings, canonical parameter names), so a conf file's
``maxmemory 2gb`` arrives as ``2147483648`` and its repeated ``save`` lines as one
``"900 1 300 10"``, exactly as the server started from that file would report them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from redispolicy.secret import Secret


@dataclass(frozen=True)
class ConfigSource:
    product: str  # "redis" | "valkey": whose defaults the values are compared with
    version: str  # "7.0.15" (a conf file: the version it is meant for)
    values: Mapping[str, str | Secret]  # canonical name -> value as CONFIG GET shows it; secrets wrapped
    origin: str  # for the header comment: "127.0.0.1:6379 (redis 7.0.15)" or "conf/redis.conf"
    locations: Mapping[str, str] = field(default_factory=dict)  # name -> "file:line" (a conf file)
    notes: tuple[str, ...] = ()  # what the reader could not carry over (unknown directives, with their line)
