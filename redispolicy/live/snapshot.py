"""One look at the server: identity from INFO, every parameter from one CONFIG GET *.

CONFIG may be renamed or blocked (managed services); then config checks are skipped
with a clear reason while key and health checks still run. Values of sensitive
parameters (CONFIG GET returns them in clear text) are wrapped as Secret on arrival.
"""

from __future__ import annotations

from typing import Any

import redis

from redispolicy.catalog.params import catalog
from redispolicy.live.call import execute
from redispolicy.live.model import ConfigSnapshot, Identity, ServerMode
from redispolicy.secret import Secret


def identify(client: redis.Redis, address: str) -> Identity:
    info: dict[str, Any] = client.info("server")
    repl: dict[str, Any] = client.info("replication")
    if str(info.get("server_name", "")).lower() == "valkey" or "valkey_version" in info:
        product, version = "valkey", str(info.get("valkey_version") or info.get("redis_version"))
    else:
        product, version = "redis", str(info.get("redis_version"))
    return Identity(
        product,
        version,
        str(info.get("run_id", "")),
        str(repl.get("role", "master")),
        server_mode(info),
        address,
        int(repl.get("connected_slaves", 0) or 0),
    )


def server_mode(info: dict[str, Any]) -> ServerMode:
    """standalone | cluster | sentinel from INFO server: ``redis_mode``, or ``server_mode`` on Valkey >= 8.0."""
    mode = str(info.get("redis_mode") or info.get("server_mode") or "standalone")
    return mode if mode in ("cluster", "sentinel") else "standalone"  # type: ignore[return-value]


def config_snapshot(client: redis.Redis, config_command: str = "CONFIG") -> ConfigSnapshot:
    try:
        raw = execute(client, config_command, "GET", "*")
    except redis.exceptions.NoPermissionError as exc:
        return ConfigSnapshot(
            False,
            f"the ACL user may not run CONFIG GET ({_first(exc)}); grant +config|get, config checks skipped",
        )
    except redis.ResponseError as exc:
        msg = _first(exc)
        if "unknown command" in msg.lower() or "unknown subcommand" in msg.lower():
            return ConfigSnapshot(
                False,
                f"CONFIG is unavailable on this server ({msg}); "
                "config checks skipped (managed services block or rename it)",
            )
        if msg.startswith("NOPERM"):
            return ConfigSnapshot(
                False,
                f"the ACL user may not run CONFIG GET ({msg}); grant +config|get, config checks skipped",
            )
        raise
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    cat = catalog()
    values: dict[str, str | Secret] = {}
    for name, value in pairs:
        look = cat.lookup(str(name))
        values[str(name)] = Secret(str(value)) if look and look.param.sensitive else str(value)
    return ConfigSnapshot(True, "", values)


def _first(exc: Exception) -> str:
    return str(exc).split("\n")[0]


def with_exact(
    client: redis.Redis, snapshot: ConfigSnapshot, names: list[str], config_command: str = "CONFIG"
) -> ConfigSnapshot:
    """Add parameters CONFIG GET * does not list (HIDDEN ones answer only by exact name)."""
    missing = [n for n in names if n not in snapshot.values]
    if not snapshot.available or not missing:
        return snapshot
    values = dict(snapshot.values)
    cat = catalog()
    for name in missing:
        raw = execute(client, config_command, "GET", name)
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
        for key, value in pairs:
            look = cat.lookup(str(key))
            values[str(key).lower()] = Secret(str(value)) if look and look.param.sensitive else str(value)
    return ConfigSnapshot(True, "", values)
