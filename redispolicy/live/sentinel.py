"""Redis Sentinel: which node is the primary of a service right now, and what the sentinels think.

A ``target.sentinel`` names sentinels and a service instead of (or beside) a fixed URL. Each
run asks every sentinel ``SENTINEL GET-MASTER-ADDR-BY-NAME service`` (at once, each bounded
by the target's timeouts) and uses the primary they name: after a failover the next run
reaches the new primary. The run refuses when no sentinel answers, or when the sentinels
that answer name different primaries (mid-failover, or a split): acting on the wrong node
would change a replica, or a stale primary that is about to be demoted.

Replicas come from ``SENTINEL REPLICAS`` (Redis >= 5.0, Valkey), asked of a sentinel that
named the agreed primary. ``SENTINEL CKQUORUM`` tells drift whether enough sentinels are
reachable to authorize a failover (https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/).

Sentinels are reached with the target's TLS settings and the sentinels' own credentials
(``target.sentinel.username`` / ``password``), never the data nodes' password.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import redis

from redispolicy.errors import RedispolicyError
from redispolicy.live.call import execute
from redispolicy.live.connect import ConnectOptions, connect
from redispolicy.live.model import SentinelAnswer, SentinelView
from redispolicy.live.topology import Deployment, Member, node_address
from redispolicy.secret import Secret

MAX_PARALLEL = 8  # sentinels asked at once


@dataclass(frozen=True)
class SentinelSpec:
    """Where to ask: the sentinels (host:port, in order) and the service they monitor."""

    addresses: tuple[str, ...]
    service: str
    username: str | None = None
    password: Secret | None = None


def sentinel_options(spec: SentinelSpec, base: ConnectOptions, address: str) -> ConnectOptions:
    """The connection to one sentinel: ``base``'s scheme, TLS settings and timeouts, the sentinels' credentials."""
    scheme = base.url.reveal().partition("://")[0].lower()
    return replace(
        base,
        url=Secret(f"{'rediss' if scheme == 'rediss' else 'redis'}://{address}"),
        username=spec.username,
        password=spec.password,
        db=None,
        decode_responses=True,
    )


def ask(spec: SentinelSpec, base: ConnectOptions, quorum: bool = False) -> SentinelView:
    """Every sentinel's primary for the service (and, with ``quorum``, its CKQUORUM), asked at once."""
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(spec.addresses))) as pool:
        answers = pool.map(lambda a: _ask_one(spec, base, a, quorum), spec.addresses)
        return SentinelView(spec.service, tuple(answers))


def _ask_one(spec: SentinelSpec, base: ConnectOptions, address: str, quorum: bool) -> SentinelAnswer:
    try:
        client = connect(sentinel_options(spec, base, address))
    except RedispolicyError as exc:
        return SentinelAnswer(address, error=exc.message)
    try:
        reply = execute(client, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", spec.service)
        primary = _host_port(reply)
        if primary is None:
            return SentinelAnswer(address, error=f"it does not monitor a service named {spec.service!r}")
        answer = SentinelAnswer(address, primary)
        return _with_quorum(client, answer, spec.service) if quorum else answer
    except redis.ResponseError as exc:
        return SentinelAnswer(address, error=f"it refused SENTINEL GET-MASTER-ADDR-BY-NAME ({_first(exc)})")
    except (redis.RedisError, OSError) as exc:
        return SentinelAnswer(address, error=f"asking it failed: {_first(exc) or type(exc).__name__}")
    finally:
        client.close()


def _with_quorum(client: redis.Redis, answer: SentinelAnswer, service: str) -> SentinelAnswer:
    """CKQUORUM answers +OK when enough sentinels are usable, an error (NOQUORUM ...) otherwise."""
    try:
        reply = execute(client, "SENTINEL", "CKQUORUM", service)
    except redis.ResponseError as exc:
        text = _first(exc)
        # NOQUORUM is the answer "no"; anything else (NOPERM, an unknown subcommand) is no answer.
        return replace(answer, quorum_ok=False if text.startswith("NOQUORUM") else None, quorum=text)
    return replace(answer, quorum_ok=True, quorum=str(reply).splitlines()[0] if reply else "OK")


def _host_port(reply: Any) -> tuple[str, int] | None:
    if not isinstance(reply, (list, tuple)) or len(reply) != 2:
        return None
    host, port = str(reply[0]), str(reply[1])
    return (host, int(port)) if host and port.isdigit() and 0 < int(port) <= 65535 else None


def _first(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else ""


def agreed_primary(view: SentinelView) -> tuple[str, int]:
    """The primary every answering sentinel names; a RedispolicyError naming the sentinels otherwise."""
    named = view.primaries()
    if not named:
        why = "; ".join(f"{a.address}: {a.error}" for a in view.answers)
        raise RedispolicyError(
            f"no sentinel named a primary for the service {view.service!r} ({why})",
            "check that the sentinels run, that target.sentinel.addresses and service are right, and the "
            "sentinels' password (target.sentinel.password); or pass --url redis://host:port for one node",
        )
    if len(named) > 1:
        said = "; ".join(
            f"{', '.join(who)} {'says' if len(who) == 1 else 'say'} {node_address(*p)}"
            for p, who in named.items()
        )
        raise RedispolicyError(
            f"the sentinels disagree on the primary of {view.service!r}: {said}",
            "a failover may be under way: wait until it settles (SENTINEL GET-MASTER-ADDR-BY-NAME agrees on "
            "every sentinel), then rerun",
        )
    return next(iter(named))


def replicas(spec: SentinelSpec, base: ConnectOptions, view: SentinelView) -> list[tuple[str, int]]:
    """(ip, port) of the service's replicas, from SENTINEL REPLICAS on the first sentinel that answers it.

    Every replica the sentinel lists is kept, even one it flags down: it is a node of the
    deployment, and its own check then says it cannot be reached.
    """
    primary = agreed_primary(view)
    for a in view.answered:
        try:
            client = connect(sentinel_options(spec, base, a.address))
        except RedispolicyError:
            continue
        try:
            reply = execute(client, "SENTINEL", "REPLICAS", spec.service)
        except (redis.RedisError, OSError):
            continue
        finally:
            client.close()
        found = [(str(r.get("ip", "")), int(str(r.get("port", 0)) or 0)) for r in map(_fields, reply or ())]
        return sorted({r for r in found if r[0] and r[1] > 0 and r != primary})
    raise RedispolicyError(
        f"no sentinel answered SENTINEL REPLICAS {view.service}",
        "allow SENTINEL REPLICAS for the sentinels' user, or check the primary alone with --no-discover",
    )


def _fields(entry: Any) -> dict[str, Any]:
    """One replica of SENTINEL REPLICAS: a flat name/value list (RESP2) or a map (RESP3)."""
    if isinstance(entry, dict):
        return {str(k): v for k, v in entry.items()}
    items = list(entry) if isinstance(entry, (list, tuple)) else []
    return {str(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


def deployment(spec: SentinelSpec, base: ConnectOptions) -> Deployment:
    """The service's primary (the node the target's URL resolves to: ``given``) and its replicas."""
    view = ask(spec, base)
    host, port = agreed_primary(view)
    members = (
        Member(host, port, "master", given=True),
        *(Member(h, p, "slave") for h, p in replicas(spec, base, view)),
    )
    return Deployment("standalone", members, 0)
