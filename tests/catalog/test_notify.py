"""catalog/notify.py: which notify-keyspace-events value publishes expired events (Redis's notify.c rules)."""

from __future__ import annotations

import pytest

from redispolicy.catalog.notify import expired_events, expired_key


@pytest.mark.parametrize(
    ("value", "channel"),
    [
        ("Ex", "keyevent"),
        ("xE", "keyevent"),  # as Redis reads it back
        ("AKE", "keyevent"),  # A includes x
        ("EA", "keyevent"),
        ("KEA", "keyevent"),  # both channels: the keyevent one carries expirations alone
        ("Kx", "keyspace"),
        ("AK", "keyspace"),
        ("g$lshzxetdKEm", "keyevent"),
        ("Exn", "keyevent"),
    ],
)
def test_values_that_publish_expired_events(value: str, channel: str) -> None:
    state = expired_events(value)
    assert state.channel == channel and not state.reason


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "keyspace notifications are off"),
        ("E", "has no x (expired) class"),
        ("KEg$lshzetd", "has no x (expired) class"),  # every class but x
        ("Em", "has no x (expired) class"),  # m (key miss) and n are not in A, and neither is x in them
        ("KEn", "has no x (expired) class"),
        ("EX", "has no x (expired) class"),  # case matters: X is not x (Redis refuses it on SET)
        ("ea", "has no x (expired) class"),  # e is evicted, not E
        ("x", "neither channel"),  # accepted by CONFIG SET, publishes nothing
        ("A", "neither channel"),
        ("Ax", "neither channel"),
        ("kx", "neither channel"),
    ],
)
def test_values_that_publish_nothing_about_expirations(value: str, why: str) -> None:
    state = expired_events(value)
    assert state.channel is None and state.pattern is None
    assert why in state.reason and (not value or repr(value) in state.reason)


def test_patterns_cover_every_database() -> None:
    assert expired_events("Ex").pattern == "__keyevent@*__:expired"
    assert expired_events("Kx").pattern == "__keyspace@*__:*"


def test_expired_key_from_either_channel() -> None:
    assert expired_key("keyevent", b"__keyevent@3__:expired", b"lock:1") == b"lock:1"
    assert expired_key("keyspace", b"__keyspace@0__:lock:__:x", b"expired") == b"lock:__:x"
    assert expired_key("keyspace", b"__keyspace@0__:lock:1", b"del") is None
    assert expired_key("keyspace", b"garbage", b"expired") is None
