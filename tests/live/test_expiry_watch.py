"""live/expiry.py on a real server: the watch a long-running caller keeps open (`status --watch`).

Counts per class between snapshots, the keyspace channel (K + x) as well as the keyevent one,
every database, and ``stop()`` counting every event published before it (no event in flight lost).
"""

from __future__ import annotations

import time

from redis_servers import RedisServer

from redispolicy.diagnostics import Location
from redispolicy.live.connect import ConnectOptions
from redispolicy.live.expiry import ExpiryWatch, count_expired
from redispolicy.plan.expiry import ExpiryClassifier
from redispolicy.policy.model import KeyClass
from redispolicy.secret import Secret

HERE = Location("test.yaml", 1, 1)
CLASSES = (KeyClass("locks", "lock:*", HERE), KeyClass("leases", "lease:*", HERE))


def options(server: RedisServer) -> ConnectOptions:
    return ConnectOptions(url=Secret(server.url))


def test_snapshots_per_refresh_on_the_keyspace_channel(redis_server: RedisServer) -> None:
    admin = redis_server.client()
    admin.config_set("notify-keyspace-events", "Kgx")  # keyspace channel only: DEL events arrive too
    other_db = redis_server.client(db=3)
    classify = ExpiryClassifier(CLASSES)
    watch = ExpiryWatch(options(redis_server), classify, classify.names)
    assert watch.start().available
    try:
        for i in range(3):
            admin.set(f"lock:{i}", "h", px=20)
        admin.set("lock:held", "h")
        admin.delete("lock:held")  # a `del` event on the same channel: not an expiration
        other_db.set("lease:1", "x", px=20)  # every database
        other_db.set(b"\xff\xfe:binary", "x", px=20)  # a key name that is no UTF-8: unclassified
        time.sleep(0.3)
        admin.exists("lock:0", "lock:1", "lock:2")
        other_db.exists("lease:1", b"\xff\xfe:binary")
        time.sleep(0.1)  # snapshot() does not wait for events in flight (stop() does)
        first = watch.snapshot()
        admin.set("lock:late", "h", px=10)
        time.sleep(0.05)
        admin.exists("lock:late")
    finally:
        final = watch.stop()
    assert final.available, final.unavailable
    assert dict(final.counts) == {"locks": 4, "leases": 1} and final.unclassified == 1
    refresh = final.minus(first)
    assert dict(refresh.counts) == {"locks": 1, "leases": 0} and refresh.unclassified == 0
    assert 0 < refresh.seconds < final.seconds
    assert int(admin.execute_command("PUBSUB", "NUMPAT")) == 0  # stop() unsubscribed


def test_count_expired_one_shot_and_off(redis_server: RedisServer) -> None:
    admin = redis_server.client()
    classify = ExpiryClassifier(CLASSES)
    off = count_expired(options(redis_server), classify, classify.names, 0.1)
    assert not off.available and off.counts == () and "notify-keyspace-events: Ex" in off.unavailable
    admin.config_set("notify-keyspace-events", "Ex")
    on = count_expired(options(redis_server), classify, classify.names, 0.1)
    assert on.available and dict(on.counts) == {"locks": 0, "leases": 0} and on.seconds >= 0.1
