"""Changing keys on a Redis Cluster: the lock key each master can hold, and scripts split by slot.

A cluster node accepts a key only when it serves the key's hash slot (CRC16 of the key, or of
its ``{hash tag}``, mod 16384); any other key gets ``MOVED``, on a plain connection too. So
the one lock key ``redispolicy:apply-lock`` can live on ONE master only, and no single key
name can live on every master. "The apply lock on this server" therefore means, per master,
a key in a slot that master serves:

* the master serving the slot of ``redispolicy:apply-lock`` holds that very key (the key a
  standalone-style apply already takes on that node), so both exclude each other there;
* every other master holds ``redispolicy:apply-lock{N}``, N the smallest number whose slot
  is the lowest slot the master serves (found in well under a second: every slot has such
  a number below 110 000).

The key follows from the slot map alone, so two runs that see the same cluster compute the
same key per master and exclude each other. A run takes the lock on every master, in the
masters' sorted order (two runs cannot each hold a part and wait for the other forever),
before changing any key, and checks afterwards that the masters are still those it locked.

Lua scripts may only take keys of one slot on a cluster (``CROSSSLOT``), so the atomic
check-and-change scripts of remediation (Redis 6) and cleanup run once per slot group of a
batch, all groups in one pipeline (``script_by_slot``). Each key is still checked and
changed in one atomic step; only the batch is no longer one script call.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import redis
from redis.crc import key_slot

from redispolicy.apply.lock import LOCK_KEY

Slots = tuple[tuple[int, int], ...]


def serves(slots: Slots, slot: int) -> bool:
    return any(first <= slot <= last for first, last in slots)


def lock_key_for(slots: Slots) -> str:
    """The apply lock key of the master serving ``slots`` (inclusive ranges; at least one)."""
    if serves(slots, key_slot(LOCK_KEY.encode())):
        return LOCK_KEY
    lowest = min(first for first, _ in slots)
    for n in itertools.count():
        if key_slot(b"%d" % n) == lowest:
            return f"{LOCK_KEY}{{{n}}}"
    raise AssertionError("unreachable: itertools.count() does not end")  # pragma: no cover


def script_by_slot(client: redis.Redis, script: Any, keys: Sequence[bytes], args: Sequence[Any]) -> list[Any]:
    """``script(keys, args)`` (one reply per key, in order) as one call per hash slot.

    The calls go out in one pipeline; the replies are put back in the order of ``keys``. A
    refused call (e.g. OBJECT IDLETIME under LFU) raises its ResponseError, as a single
    script call would.
    """
    groups: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key_slot(key), []).append(i)
    order = list(groups.values())
    pipe = client.pipeline(transaction=False)
    for rows in order:
        script(keys=[keys[i] for i in rows], args=[args[i] for i in rows], client=pipe)
    out: list[Any] = [0] * len(keys)
    for rows, reply in zip(order, pipe.execute(), strict=True):
        for i, value in zip(rows, reply, strict=True):
            out[i] = value
    return out
