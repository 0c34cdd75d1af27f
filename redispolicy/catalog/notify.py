"""Which ``notify-keyspace-events`` value delivers expired-key events, and on which channel.

Redis's rules (notify.c, keyspaceEventsStringToFlags; case-sensitive): ``x`` is the expired
class and ``A`` an alias that includes it (``A`` = ``g$lshzxetd``); an event class is only
published when a channel is on as well: ``E`` the keyevent channel
(``__keyevent@<db>__:expired``, the key name as message) or ``K`` the keyspace channel
(``__keyspace@<db>__:<key>``, the event name as message). ``x`` without ``K`` or ``E`` is
accepted by CONFIG SET and publishes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Channel = Literal["keyevent", "keyspace"]
PARAMETER = "notify-keyspace-events"
ENABLE_VALUE = "Ex"  # the smallest value that delivers expired events (keyevent channel, expired class)
# Subscribed patterns, every database: the keyevent channel carries only expirations; the keyspace
# channel carries every enabled class, so its messages are filtered on the event name.
PATTERNS: dict[Channel, str] = {"keyevent": "__keyevent@*__:expired", "keyspace": "__keyspace@*__:*"}
HOW_TO_ENABLE = (
    f"set `{PARAMETER}: {ENABLE_VALUE}` under the policy's config: and apply it "
    f"(or CONFIG SET {PARAMETER} {ENABLE_VALUE})"
)


@dataclass(frozen=True)
class Notifications:
    """What a server with this ``notify-keyspace-events`` value tells a subscriber about expired keys."""

    value: str  # as the server reports it ("" when off)
    channel: Channel | None  # None: no expired event is published
    reason: str = ""  # when channel is None: why, naming the value

    @property
    def pattern(self) -> str | None:
        return PATTERNS[self.channel] if self.channel is not None else None


def expired_events(value: str) -> Notifications:
    """Whether expired events are published for ``value``; the keyevent channel is preferred (it
    carries expirations alone). Letters other than K, E, x and A do not matter here."""
    flags = set(value)
    if "x" not in flags and "A" not in flags:
        why = (
            "keyspace notifications are off (notify-keyspace-events is empty)"
            if not value
            else f"notify-keyspace-events {value!r} has no x (expired) class"
        )
        return Notifications(value, None, why)
    if "E" in flags:
        return Notifications(value, "keyevent")
    if "K" in flags:
        return Notifications(value, "keyspace")
    return Notifications(
        value,
        None,
        f"notify-keyspace-events {value!r} names the expired class but neither channel "
        "(K keyspace, E keyevent), so Redis publishes nothing",
    )


def expired_key(channel: Channel, topic: bytes, data: bytes) -> bytes | None:
    """The key name an expired event names; None for another event on the keyspace channel."""
    if channel == "keyevent":
        return data
    if data != b"expired":
        return None
    _, sep, key = topic.partition(b"__:")  # __keyspace@<db>__:<key>; a key may itself hold "__:"
    return key if sep else None
