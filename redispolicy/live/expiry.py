"""Lock timeouts, live: subscribe to expired-key events and count them per key class.

A lock whose holder deleted it never expires; one that expired timed out. With keyspace
notifications on, Redis publishes each expiration (catalog/notify.py: which value publishes
them, on which channel), so counting expired events per class over a window counts timeouts.

``ExpiryWatch`` keeps one PSUBSCRIBE open on a connection of its own (every database): start it,
take ``snapshot()`` as often as needed (``status --watch``: one per refresh; ``ExpiryReading.minus``
gives the refresh's own counts), ``stop()`` it. ``count_expired`` is the one-shot for a window.
A reader thread drains the subscription as events arrive, so a busy server's events never pile up
in the subscriber's output buffer (``client-output-buffer-limit pubsub`` would drop the
connection and the count with it). Whatever cannot be counted (notifications off, CONFIG GET or
PSUBSCRIBE refused, the subscription dropped) is a reading with ``unavailable`` set: never 0.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from redispolicy.catalog.notify import (
    HOW_TO_ENABLE,
    PARAMETER,
    Channel,
    Notifications,
    expired_events,
    expired_key,
)
from redispolicy.errors import RedispolicyError
from redispolicy.live.call import execute
from redispolicy.live.connect import ConnectOptions, connect
from redispolicy.live.model import ExpiryReading

Classify = Callable[[bytes], str | None]  # an expired key's class name (the key audit's rule), None: no class
CONFIRM_SECONDS = 5.0  # how long the PSUBSCRIBE (and the final PING) may take to be answered
POLL_SECONDS = 0.1  # the reader thread's wait per message: how soon stop() is noticed
_SYNC = "redispolicy-expiry-sync"


def read_notifications(client: redis.Redis) -> Notifications | str:
    """The server's notify-keyspace-events, judged; a str says why it could not be read."""
    try:
        raw: Any = execute(client, "CONFIG", "GET", PARAMETER)
    except redis.ResponseError as exc:
        first = str(exc).split("\n")[0]
        return (
            f"{PARAMETER} could not be read ({first}), so expirations cannot be counted; "
            "grant the user +config|get (or check the setting by hand)"
        )
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    values = {_text(k).lower(): _text(v) for k, v in pairs}
    if PARAMETER not in values:
        return f"the server does not report {PARAMETER}, so expirations cannot be counted"
    return expired_events(values[PARAMETER])


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class ExpiryWatch:
    """One subscription to expired events, counted per class from ``start()`` on (thread-safe reads)."""

    def __init__(self, conn: ConnectOptions, classify: Classify, names: Sequence[str]) -> None:
        self._conn = dataclasses.replace(conn, decode_responses=False)  # key names stay bytes
        self._classify = classify
        self._names = tuple(names)
        self._counts = dict.fromkeys(self._names, 0)
        self._unclassified = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._client: redis.Redis | None = None
        self._pubsub: Any = None
        self._thread: threading.Thread | None = None
        self._channel: Channel = "keyevent"
        self._since = time.monotonic()
        self._until: float | None = None
        self._unavailable = ""

    def start(self) -> ExpiryReading:
        """Subscribe; the reading says ``unavailable`` (and why) when nothing can be counted."""
        try:
            self._client = connect(self._conn)
        except RedispolicyError as exc:
            return self._fail(f"the expiry subscription could not connect: {exc.message}")
        state = read_notifications(self._client)
        if isinstance(state, str):
            return self._fail(state)
        if state.channel is None:
            return self._fail(f"{state.reason}; to count expirations, {HOW_TO_ENABLE}")
        self._channel = state.channel
        try:
            self._pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
            self._pubsub.psubscribe(state.pattern)
            self._await("psubscribe")
        except (
            redis.ResponseError
        ) as exc:  # an ACL without +psubscribe or the channel (Redis 7: resetchannels)
            first = str(exc).split("\n")[0]
            return self._fail(
                f"the server refused PSUBSCRIBE {state.pattern} ({first}); grant the user +psubscribe "
                f"and the channel (ACL SETUSER ... +psubscribe &{state.pattern})"
            )
        except (redis.ConnectionError, redis.TimeoutError, TimeoutError) as exc:
            return self._fail(f"the expiry subscription failed: {type(exc).__name__}")
        self._since = time.monotonic()
        self._thread = threading.Thread(target=self._read, name="redispolicy-expiry", daemon=True)
        self._thread.start()
        return self.snapshot()

    def snapshot(self) -> ExpiryReading:
        """The counts so far (events still in flight are not waited for: ``stop()`` does that)."""
        with self._lock:
            if self._unavailable:
                return ExpiryReading((), 0, 0.0, self._unavailable)
            end = self._until if self._until is not None else time.monotonic()
            return ExpiryReading(
                tuple((n, self._counts[n]) for n in self._names), self._unclassified, end - self._since
            )

    def stop(self) -> ExpiryReading:
        """Count every event published before this call (a PING through the subscription marks the
        end), unsubscribe, and return the final reading."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None
            if not self._unavailable:
                try:
                    self._pubsub.ping(_SYNC)
                    self._await("pong")
                except (redis.RedisError, TimeoutError) as exc:
                    self._set_unavailable(f"the expiry subscription dropped at its end: {type(exc).__name__}")
            with self._lock:
                self._until = time.monotonic()
        self._close()
        return self.snapshot()

    def __enter__(self) -> ExpiryWatch:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _read(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._pubsub.get_message(timeout=POLL_SECONDS)
            except Exception as exc:  # the connection dropped (output buffer limit, restart): counts are lost
                self._set_unavailable(
                    f"the expiry subscription dropped after {time.monotonic() - self._since:.1f} s "
                    f"({type(exc).__name__}); expirations after that were not counted"
                )
                return
            if message is not None:
                self._take(message)

    def _await(self, kind: str) -> None:
        """Read (and count) messages until one of ``kind`` arrives."""
        deadline = time.monotonic() + CONFIRM_SECONDS
        while time.monotonic() < deadline:
            message = self._pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if message is None:
                continue
            if message["type"] == kind and (kind != "pong" or _text(message["data"]) == _SYNC):
                return
            self._take(message)
        raise TimeoutError(f"no {kind} reply within {CONFIRM_SECONDS:g} s")

    def _take(self, message: dict[str, Any]) -> None:
        if message["type"] != "pmessage":
            return
        key = expired_key(self._channel, message["channel"], message["data"])
        if key is None:
            return
        name = self._classify(key)
        with self._lock:
            if name is None or name not in self._counts:
                self._unclassified += 1
            else:
                self._counts[name] += 1

    def _set_unavailable(self, why: str) -> None:
        with self._lock:
            self._unavailable = self._unavailable or why

    def _fail(self, why: str) -> ExpiryReading:
        self._set_unavailable(why)
        self._close()
        return self.snapshot()

    def _close(self) -> None:
        for closing in (self._pubsub, self._client):
            if closing is not None:
                with contextlib.suppress(Exception):  # a dropped connection: nothing left to release
                    closing.close()
        self._pubsub = self._client = None


def count_expired(
    conn: ConnectOptions, classify: Classify, names: Sequence[str], window: float
) -> ExpiryReading:
    """Expired events per class over ``window`` seconds (one subscription, started and stopped here)."""
    watch = ExpiryWatch(conn, classify, names)
    if not watch.start().available:
        return watch.stop()
    try:
        time.sleep(window)
    finally:
        final = watch.stop()
    return final
