"""Apply ``set`` changes all-or-nothing, then prove it by reading them back.

Redis >= 7.0 and Valkey take several parameters in one ``CONFIG SET`` and apply all
or none (configSetCommand restores every old value on any failure). Redis 6.x takes
one pair per call, so we set them one by one and, on a failure, put back the ones
already set and read them back to prove the rollback. A read-back that differs from
what was sent (the server clamped or rewrote it) is treated as a failure too.
If the connection drops mid-change we reconnect and read the server back: it is
either untouched, or fully changed, or (6.x only) rolled back — never left between.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import redis

from redispolicy.apply.lock import Fence, FenceError
from redispolicy.catalog.normalize import normalize
from redispolicy.catalog.params import Param
from redispolicy.errors import RedispolicyError
from redispolicy.live.call import execute
from redispolicy.secret import Secret

_CONN_ERRORS = (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError)


@dataclass(frozen=True)
class Item:
    name: str  # as the server calls it
    param: Param
    send: str | Secret  # CONFIG SET value
    expect: str | Secret  # normalized value expected on read-back (full cobl for client-output-buffer-limit)
    before: str | Secret  # the raw live value read just before applying (for rollback)


EngineStatus = Literal["applied", "refused", "rolled_back", "partial", "unknown"]


@dataclass(frozen=True)
class EngineResult:
    status: EngineStatus
    detail: str = ""
    now_live: dict[str, str] = field(default_factory=dict)  # normalized read-back (secrets shown redacted)
    mismatches: tuple[str, ...] = ()


def _text(v: str | Secret) -> str:
    return v.reveal() if isinstance(v, Secret) else v


def _norm(item: Item, raw: str) -> str:
    try:
        return normalize(item.param, raw)
    except (ValueError, OverflowError):
        return raw


def read_back(client: redis.Redis, items: list[Item]) -> dict[str, str]:
    """Raw current values, one exact CONFIG GET each (Redis 6 takes one pattern per call)."""
    pipe = client.pipeline(transaction=False)
    for it in items:
        pipe.config_get(it.name)
    out = {}
    for it, reply in zip(items, pipe.execute(), strict=True):
        value = reply.get(it.name)
        if value is None:  # 7.x echoes the casing asked for; be lenient
            value = next(iter(reply.values()), "")
        out[it.name] = str(value)
    return out


def _matches(item: Item, raw: str, target: str | Secret) -> bool:
    if isinstance(target, Secret):
        return raw == target.reveal()
    return _norm(item, raw) == target


def _state(items: list[Item], raw: dict[str, str]) -> tuple[list[Item], list[Item], list[Item]]:
    """(at plan value, at before value, neither)."""
    done, untouched, other = [], [], []
    for it in items:
        value = raw[it.name]
        if _matches(it, value, it.expect):
            done.append(it)
        elif _matches(
            it, value, _norm(it, _text(it.before)) if not isinstance(it.before, Secret) else it.before
        ):
            untouched.append(it)
        else:
            other.append(it)
    return done, untouched, other


def _shown(items: list[Item], raw: dict[str, str]) -> dict[str, str]:
    return {it.name: "(sensitive)" if it.param.sensitive else _norm(it, raw[it.name]) for it in items}


ReadBackAgain = Callable[[], "tuple[redis.Redis, dict[str, str]] | None"]


def apply_items(
    client_factory: Callable[[], redis.Redis],
    items: list[Item],
    multi: bool,
    reconnect_tries: int = 5,
    reconnect_delay: float = 0.3,
    fence: Fence | None = None,
) -> EngineResult:
    """Set ``items``; with a ``fence`` every change (the rollback too) takes effect only while
    this apply still holds the lock, else it is refused (or, for a rollback, left alone)."""
    if not items:
        return EngineResult("applied")

    def again() -> tuple[redis.Redis, dict[str, str]] | None:
        # Reads only: a reconnection changes nothing, so it needs no fence.
        return _read_back_again(client_factory, items, reconnect_tries, reconnect_delay)

    client = client_factory()
    sent: list[Item] = []  # the unfenced 6.x path: the CONFIG SETs acknowledged so far
    try:
        done, refused = _send(client, items, multi, fence, sent)
    except FenceError as exc:
        return EngineResult("refused", exc.message)
    except _CONN_ERRORS as exc:
        return _connection_lost(items, multi, fence, sent, exc, again)
    if refused is not None:
        item, error = refused
        reason = _redact(str(error), items)
        if isinstance(error, redis.exceptions.NoPermissionError):
            reason = f"NOPERM {reason} (grant the user +config|set)"
        if multi or item is None:
            return EngineResult("refused", f"the server refused the change, nothing was set: {reason}")
        return _rollback(client, items, done, f"the server refused {item.name}: {reason}", again, fence)
    return verify(client, items, again, fence)


Refusal = tuple["Item | None", redis.ResponseError]


def _send(
    client: redis.Redis, items: list[Item], multi: bool, fence: Fence | None, sent: list[Item]
) -> tuple[list[Item], Refusal | None]:
    """Send the change: (the items now set, the refusal if any).

    Redis >= 7 and Valkey: one multi-parameter CONFIG SET, all or nothing. Redis 6.x: one
    CONFIG SET per item; unfenced they go one by one and stop at the first refusal; fenced
    they go in one MULTI, where each runs on its own, so every refused one is skipped.
    """
    if multi:
        command = ["CONFIG", "SET"]
        for it in items:
            command += [it.name, _text(it.send)]
        try:
            reply = fence.execute(client, [command])[0] if fence is not None else execute(client, *command)
        except redis.ResponseError as exc:  # refused when queued: nothing ran
            return [], (None, exc)
        return ([], (None, reply)) if isinstance(reply, redis.ResponseError) else (list(items), None)
    if fence is None:
        for it in items:
            try:
                execute(client, "CONFIG", "SET", it.name, _text(it.send))
            except redis.ResponseError as exc:
                return sent, (it, exc)
            sent.append(it)
        return sent, None
    try:
        replies = fence.execute(client, [("CONFIG", "SET", it.name, _text(it.send)) for it in items])
    except redis.ResponseError as exc:  # refused when queued (NOPERM): nothing ran
        return [], (None, exc)
    done = [it for it, r in zip(items, replies, strict=True) if not isinstance(r, redis.ResponseError)]
    refused = [(it, r) for it, r in zip(items, replies, strict=True) if isinstance(r, redis.ResponseError)]
    return done, refused[0] if refused else None


def _connection_lost(
    items: list[Item],
    multi: bool,
    fence: Fence | None,
    sent: list[Item],
    exc: BaseException,
    again: ReadBackAgain,
) -> EngineResult:
    """The connection dropped while sending: read the server back on a new one and decide."""
    found = again()
    if found is None:
        maybe_sent = items if multi or fence is not None else items[: len(sent) + 1]
        maybe = "either all or none of these are now live" if multi else "these may now be live"
        return EngineResult(
            "unknown",
            f"the connection was lost while applying ({type(exc).__name__}) "
            "and the server could not be reached again to read it back; "
            f"{maybe}: {', '.join(it.name for it in maybe_sent)}",
        )
    client, raw = found
    done, untouched, _ = _state(items, raw)
    if len(untouched) == len(items):
        return EngineResult(
            "refused",
            "the connection was lost before the change reached the server; read back: nothing changed",
            _shown(items, raw),
        )
    if len(done) != len(items):
        return _rollback(
            client,
            items,
            [it for it in items if it not in untouched],
            "the connection was lost in the middle of applying",
            again,
            fence,
        )
    # Fully applied before the connection dropped: verify like any success.
    return verify(client, items, again, fence)


def verify(
    client: redis.Redis, items: list[Item], again: ReadBackAgain | None = None, fence: Fence | None = None
) -> EngineResult:
    try:
        raw = read_back(client, items)
    except _CONN_ERRORS as exc:
        found = again() if again is not None else None
        if found is None:
            return EngineResult(
                "unknown",
                f"the server acknowledged setting {', '.join(it.name for it in items)}, "
                f"but the connection was lost while reading it back "
                f"({type(exc).__name__}) and the server could not be reached again "
                "to verify it",
            )
        client, raw = found
    bad = [it for it in items if not _matches(it, raw[it.name], it.expect)]
    if not bad:
        return EngineResult("applied", "", _shown(items, raw))
    mismatches = tuple(
        f"{it.name}: sent {'(sensitive)' if it.param.sensitive else _text(it.send)!s}, "
        f"the server reports {'(sensitive)' if it.param.sensitive else raw[it.name]}"
        for it in bad
    )
    result = _rollback(client, items, items, "the server did not keep the values sent", again, fence)
    return EngineResult(result.status, result.detail, result.now_live, mismatches)


def _put_back(client: redis.Redis, done: list[Item], fence: Fence | None) -> None:
    """CONFIG SET the old values, last set first; raise the first refusal."""
    commands = [("CONFIG", "SET", it.name, _text(it.before)) for it in reversed(done)]
    if fence is None:
        for command in commands:
            execute(client, *command)
        return
    if commands:  # in one MULTI each runs on its own: every value that can be put back is
        refused = [r for r in fence.execute(client, commands) if isinstance(r, redis.ResponseError)]
        if refused:
            raise refused[0]


def _rollback(
    client: redis.Redis,
    items: list[Item],
    done: list[Item],
    why: str,
    again: ReadBackAgain | None = None,
    fence: Fence | None = None,
) -> EngineResult:
    """Put back the values read before applying, and prove it by reading them back.

    If the connection drops while rolling back, reconnect once, read the server back and
    put back whatever is not at its old value. With a fence, a rollback is sent only while
    the lock is ours: once another apply holds it, the values are its business, not ours.
    """
    for attempt in (1, 2):
        try:
            _put_back(client, done, fence)
            raw = read_back(client, items)
            break
        except FenceError as exc:
            detail = (
                f"{why}; not rolled back: "
                + (
                    "the apply lock was lost before the rollback was sent (another apply may hold it now)"
                    if exc.lost
                    else exc.message
                )
                + f"; these may still be at the planned value: {', '.join(it.name for it in done)}"
            )
            try:
                return EngineResult("partial", detail, _shown(items, read_back(client, items)))
            except (redis.RedisError, *_CONN_ERRORS):
                return EngineResult("unknown", f"{detail}, and the server could not be read back")
        except redis.ResponseError as exc:
            detail = f"{why}; rolling back failed too ({_redact(str(exc).splitlines()[0], items)})"
            try:
                return EngineResult("partial", detail, _shown(items, read_back(client, items)))
            except (redis.RedisError, *_CONN_ERRORS):
                return EngineResult("unknown", f"{detail}, and the server could not be read back")
        except _CONN_ERRORS as exc:
            found = again() if again is not None and attempt == 1 else None
            if found is None:
                return EngineResult(
                    "unknown",
                    f"{why}; the connection was lost while rolling back "
                    f"({type(exc).__name__}) and the server could not be reached "
                    "again to read it back; these may still be at the planned "
                    f"value: {', '.join(it.name for it in done)}",
                )
            client, raw = found
            _, untouched, _ = _state(items, raw)
            done = [it for it in items if it not in untouched]
    _, untouched, _ = _state(items, raw)
    if len(untouched) == len(items):
        return EngineResult(
            "rolled_back", f"{why}; rolled back and verified: the server is as before", _shown(items, raw)
        )
    return EngineResult("partial", f"{why}; the rollback could not restore every value", _shown(items, raw))


def _reconnect(factory: Callable[[], redis.Redis], tries: int, delay: float) -> redis.Redis | None:
    for _ in range(tries):
        try:
            client = factory()
            client.ping()
            return client
        except (redis.RedisError, RedispolicyError, *_CONN_ERRORS):  # connect() reports as RedispolicyError
            time.sleep(delay)
    return None


def _read_back_again(
    factory: Callable[[], redis.Redis], items: list[Item], tries: int, delay: float
) -> tuple[redis.Redis, dict[str, str]] | None:
    """A new connection and the values read back on it; None if the server cannot be reached."""
    for _ in range(2):
        client = _reconnect(factory, tries, delay)
        if client is None:
            return None
        try:
            return client, read_back(client, items)
        except _CONN_ERRORS:
            continue
    return None


def _redact(message: str, items: list[Item]) -> str:
    for it in items:
        if it.param.sensitive:
            for v in (_text(it.send), _text(it.before)):
                if v:
                    message = message.replace(v, "(sensitive)")
    return message
