"""A typed door to redis-py's ``execute_command``, which redis-py leaves untyped.

Every raw command (CONFIG GET/SET/REWRITE, CLUSTER NODES, CLIENT NO-TOUCH, ...) goes
through ``execute``, so mypy's strict mode checks the rest of the code and the one place
that accepts redis-py's untyped reply is here.
"""

from __future__ import annotations

from typing import Any

import redis

Arg = str | bytes | int | float


def execute(client: redis.Redis, *args: Arg) -> Any:
    """Send one command and return its reply as redis-py parsed it (types depend on the command)."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]
