"""The apply lock fences the config change (issue 10, defect 5), on real servers of the matrix.

A change is sent as WATCH lock / GET lock (ours?) / MULTI / CONFIG SET / EXEC, so it takes
effect only while this apply still holds the lock. The stall is made with tests/proxy.py
(a "hold" keeps the CONFIG SET, and every command after it, from reaching the server)
while the test takes the lock over, as a second apply would once the first one's expired.
Both engine paths run on every server: one multi-parameter CONFIG SET (Redis >= 7, Valkey)
where the server has it, and one CONFIG SET per parameter (the Redis 6.x path) everywhere.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import redis
from proxy import Cut, FaultProxy

from redispolicy.apply.engine import EngineResult, Item, apply_items
from redispolicy.apply.lock import LOCK_KEY, ApplyLock
from redispolicy.catalog.params import catalog

if TYPE_CHECKING:
    from redispolicy.apply.lock import Fence

START = {"maxmemory": "0", "hz": "10", "timeout": "0"}
PLANNED = {"maxmemory": "1073741824", "hz": "20", "timeout": "300"}
OTHER = {"maxmemory": "2147483648", "hz": "30", "timeout": "600"}  # what "the second apply" set
LOST = "the apply lock was lost before the change was sent; nothing was changed"
HOLD_CONFIG_SET = Cut(("CONFIG", "SET"), 1, "hold")
INTRUDER = json.dumps({"token": "b", "user": "second", "host": "elsewhere", "pid": 2, "since": "now"})


def _items(values: dict[str, str]) -> list[Item]:
    out = []
    for name, value in values.items():
        look = catalog().lookup(name)
        assert look is not None
        out.append(Item(name, look.param, value, value, START[name]))
    return out


def _live(server) -> dict[str, str]:
    with server.client() as c:
        return {n: c.config_get(n)[n] for n in START}


def _multi_modes(server) -> list[bool]:
    """The engine paths this server can take: per-parameter always, multi-parameter from 7 / Valkey."""
    return [False, True] if server.product == "valkey" or server.version_tuple[0] >= 7 else [False]


@pytest.fixture
def server(matrix_server) -> Iterator:
    with matrix_server.client() as c:
        for n, v in START.items():
            c.config_set(n, v)
        c.delete(LOCK_KEY)
    yield matrix_server


@pytest.fixture
def proxy(matrix_server) -> Iterator[FaultProxy]:
    p = FaultProxy(matrix_server.port)
    try:
        yield p
    finally:
        p.stop()


def _client(server, port: int | None = None, db: int = 0) -> redis.Redis:
    return redis.Redis(
        host=server.host,
        port=port or server.port,
        db=db,
        decode_responses=True,
        retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
    )


def _in_thread(
    client: redis.Redis, items: list[Item], multi: bool, fence: Fence
) -> tuple[threading.Thread, list[EngineResult]]:
    """apply_items on another thread (the test takes the lock over meanwhile): the thread and its result."""
    out: list[EngineResult] = []
    t = threading.Thread(
        target=lambda: out.append(apply_items(lambda: client, items, multi, fence=fence)), daemon=True
    )
    t.start()
    return t, out


@pytest.mark.parametrize("db", [0, 3])
def test_fenced_apply_applies_while_the_lock_is_ours(server, db):
    """The URL's db does not matter: the watch is on the lock in db 0, the connection comes back on its db."""
    for multi in _multi_modes(server):
        client = _client(server, db=db)
        lock = ApplyLock(client)
        lock.acquire(0)
        try:
            result = apply_items(lambda c=client: c, _items(PLANNED), multi, fence=lock.fence)
            assert result.status == "applied", result
            assert _live(server) == PLANNED
            client.set("still-on-my-db", "1")  # the pooled connection is back on the URL's db
            with server.client(db=db) as mine:
                assert mine.get("still-on-my-db") == "1"
            with server.client(db=0) as db0:
                assert db0.get(LOCK_KEY) == lock.value
        finally:
            lock.release()
            client.delete("still-on-my-db")
            client.close()
        with server.client() as c:
            for n, v in START.items():
                c.config_set(n, v)


def test_lock_taken_over_before_the_change_refuses_it(server):
    for multi in _multi_modes(server):
        client = _client(server)
        lock = ApplyLock(client)
        lock.acquire(0)
        try:
            with server.client() as other:  # ours expired; another apply took it and set its values
                other.set(LOCK_KEY, INTRUDER, px=30_000)
                for n, v in OTHER.items():
                    other.config_set(n, v)
            result = apply_items(lambda c=client: c, _items(PLANNED), multi, fence=lock.fence)
            assert result.status == "refused" and result.detail == LOST, result
            assert _live(server) == OTHER
        finally:
            lock.release()
            client.close()
        with server.client() as c:
            assert c.get(LOCK_KEY) == INTRUDER  # released nothing that is not ours
            c.delete(LOCK_KEY)


@pytest.mark.parametrize("db", [0, 3])
def test_change_stalled_past_the_lock_expiry_does_not_land(server, proxy, db):
    """The stall between our check and our change: the CONFIG SET is held by the network while
    our lock expires (its keep-alive is held too) and a second apply takes it and applies.
    When the network moves again our EXEC is aborted: the server keeps the second apply's values."""
    for multi in _multi_modes(server):
        client = _client(server, proxy.port, db)
        lock = ApplyLock(client, ttl_ms=600)
        lock.acquire(0)
        proxy.arm(HOLD_CONFIG_SET)
        thread, out = _in_thread(client, _items(PLANNED), multi, lock.fence)
        try:
            assert proxy.held.wait(10), proxy.names()
            second = ApplyLock(server.client())  # directly, not through the stalled network
            second.acquire(5)  # waits for ours to expire
            with server.client() as other:
                for n, v in OTHER.items():
                    other.config_set(n, v)
        finally:
            proxy.release()
            thread.join(20)
        assert out and out[0].status == "refused" and out[0].detail == LOST, out
        assert _live(server) == OTHER, multi
        with server.client() as c:
            assert c.get(LOCK_KEY) == second.value
        lock.release()
        second.release()
        client.close()
        proxy.disarm()
        proxy.held.clear()
        with server.client() as c:
            for n, v in START.items():
                c.config_set(n, v)


def test_lock_touched_but_still_ours_is_retried_once(server, proxy):
    """Something refreshed our own lock between the check and the EXEC (the EXEC is aborted):
    the value is still ours, so the change is sent once more and applied."""
    client = _client(server, proxy.port)
    lock = ApplyLock(client)
    lock.acquire(0)
    proxy.arm(HOLD_CONFIG_SET)
    thread, out = _in_thread(client, _items(PLANNED), False, lock.fence)
    try:
        assert proxy.held.wait(10), proxy.names()
        with server.client() as c:
            assert c.pexpire(LOCK_KEY, 30_000)  # what the keep-alive does: touches the watched key
    finally:
        proxy.release()
        thread.join(20)
    assert out and out[0].status == "applied", out
    assert _live(server) == PLANNED
    assert sum(c[:1] == [b"EXEC"] for c in proxy.commands) == 2, proxy.names()
    lock.release()
    client.close()


def test_keep_alive_does_not_abort_fenced_changes(server):
    """A keep-alive refreshing every 200 ms never aborts a change: it pauses around the transaction.

    (The TTL leaves the keep-alive 400 ms of slack: with 150 ms a loaded CI machine once starved
    the thread long enough for the lock to expire, which is not what this test is about.)"""
    client = _client(server)
    lock = ApplyLock(client, ttl_ms=600)
    lock.acquire(0)
    try:
        deadline = time.monotonic() + 1.5  # about 7 refreshes during back-to-back fenced changes
        rounds = 0
        while time.monotonic() < deadline:
            values = PLANNED if rounds % 2 == 0 else START
            result = apply_items(lambda: client, _items(values), False, fence=lock.fence)
            assert result.status == "applied", (rounds, result)
            rounds += 1
        with server.client() as c:
            assert c.get(LOCK_KEY) == lock.value  # and the lock lived on throughout
    finally:
        lock.release()
        client.close()


def test_refused_value_is_rolled_back_under_the_fence(server):
    """The Redis 6.x path: in one MULTI every CONFIG SET runs on its own; the refused one is
    named, the others are put back (fenced too) and read back."""
    client = _client(server)
    lock = ApplyLock(client)
    lock.acquire(0)
    try:
        items = _items(PLANNED)
        look = catalog().lookup("hz")
        assert look is not None
        items[1] = Item("hz", look.param, "not-a-number", "not-a-number", "10")
        result = apply_items(lambda: client, items, False, fence=lock.fence)
        assert result.status == "rolled_back", result
        assert result.detail.startswith("the server refused hz: "), result
        assert "rolled back and verified: the server is as before" in result.detail
        assert _live(server) == START
    finally:
        lock.release()
        client.close()


def test_rollback_is_not_sent_once_the_lock_is_lost(server, proxy):
    """The server does not keep a value (hz is clamped to 500), so the engine rolls back; but the
    lock was taken over meanwhile: the rollback is not sent, and the result says so (exit 3)."""
    for multi in _multi_modes(server):
        client = _client(server, proxy.port)
        lock = ApplyLock(client)
        lock.acquire(0)
        items = _items(PLANNED)
        look = catalog().lookup("hz")
        assert look is not None
        items[1] = Item("hz", look.param, "600", "600", "10")
        proxy.arm(Cut(("CONFIG", "GET"), 1, "hold", after=("EXEC",)))  # the read-back that verifies
        thread, out = _in_thread(client, items, multi, lock.fence)
        try:
            assert proxy.held.wait(10), proxy.names()
            with server.client() as other:
                other.set(LOCK_KEY, INTRUDER, px=30_000)
        finally:
            proxy.release()
            thread.join(20)
        assert out and out[0].status == "partial", out
        assert "not rolled back: the apply lock was lost before the rollback was sent" in out[0].detail, out
        assert _live(server) == {**PLANNED, "hz": "500"}  # left alone: the lock is someone else's
        lock.release()
        client.close()
        proxy.disarm()
        proxy.held.clear()
        with server.client() as c:
            c.delete(LOCK_KEY)
            for n, v in START.items():
                c.config_set(n, v)


def test_acl_user_without_transactions_is_refused_cleanly(server):
    with server.client() as admin:
        admin.execute_command(
            "ACL", "SETUSER", "nowatch", "reset", "on", ">pw-nowatch-1", "~*", "+@all", "-watch"
        )
    client = redis.Redis(
        host=server.host, port=server.port, username="nowatch", password="pw-nowatch-1", decode_responses=True
    )
    lock = ApplyLock(client)
    lock.acquire(0)
    try:
        result = apply_items(lambda: client, _items(PLANNED), False, fence=lock.fence)
        assert result.status == "refused", result
        assert "NOPERM" in result.detail and "+watch" in result.detail and "--no-lock" in result.detail, (
            result
        )
        assert _live(server) == START
    finally:
        lock.release()
        client.close()
