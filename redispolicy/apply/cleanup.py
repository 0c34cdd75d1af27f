"""Cleanup: UNLINK the keys of classes with ``cleanup:``, never a whole database.

A key is eligible when its first matching class (the same rule as the key audit) has

* ``cleanup: {always: true}``, or
* ``cleanup: {idle_over: D}`` and ``OBJECT IDLETIME key`` >= D seconds.

``OBJECT IDLETIME`` (and SCAN, EXISTS) look keys up without touching them, and the
connections also ask for ``CLIENT NO-TOUCH`` where the server has it (>= 7.2), so
listing keys never makes them look recently used. Under an LFU ``maxmemory-policy``
Redis does not track idle time: idle-based cleanup then stops with an error before
anything is deleted.

Two steps:

1. ``find_eligible``: a full, rate-limited SCAN (COUNT <= 1000) of every db that lists
   the eligible keys (a dry run stops here). With ``keep=True`` the eligible names are
   kept in memory for step 2 (names only, never values: about 100 bytes per key).
2. ``Deleter.run``: per chunk of at most 500 listed keys, one Lua script checks each key
   again and UNLINKs those still eligible in a single ``UNLINK`` call. A script runs
   alone, so nothing can touch a key between its check and its deletion: a key read
   since step 1 (idle time reset) or gone is skipped, and counted as skipped.

A class whose pattern matches every key is refused outright (``refused``): deleting by
such a class is a flush by another name. That is decided from the glob's meaning
(``policy.glob.constrains_only_length``: ``*``, ``?*``, ``[^]*``, ``????`` ...), not
from a list of spellings. No FLUSHDB or FLUSHALL is ever sent.

On a Redis Cluster both steps run on every master serving slots, each on its own
connection (db 0; a master's SCAN lists exactly its own keys), and the script of step 2
runs once per slot of a chunk: a script may only take keys of one slot (apply/cluster.py).
``NodeCleanup`` keeps each master's counts beside the totals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import redis

from redispolicy.apply.classify import Classifier, show
from redispolicy.apply.cluster import script_by_slot
from redispolicy.errors import RedispolicyError
from redispolicy.live.keyscan import MAX_COUNT, Dedupe, RateLimiter, no_touch
from redispolicy.live.model import DEFAULT_RATE
from redispolicy.live.wire import Wire, pack
from redispolicy.policy.glob import constrains_only_length
from redispolicy.policy.model import KeyClass

DELETE_CHUNK = 500  # keys per UNLINK
MAX_EXAMPLES = 10
ALWAYS = -1  # the threshold the script reads as "always"

# KEYS: keys listed as eligible; ARGV[i]: KEYS[i]'s idle threshold in seconds, or -1 (always).
# Checks each key again and UNLINKs those still eligible in one call; returns 1/0 per key.
LUA_CLEANUP = """
local gone, out = {}, {}
for i, key in ipairs(KEYS) do
  local min = tonumber(ARGV[i])
  local ok
  if min < 0 then
    ok = redis.call('EXISTS', key) == 1
  else
    local idle = redis.call('OBJECT', 'IDLETIME', key)
    ok = idle ~= false and idle >= min
  end
  if ok then
    gone[#gone + 1] = key
    out[i] = 1
  else
    out[i] = 0
  end
end
if #gone > 0 then
  redis.call('UNLINK', unpack(gone))
end
return out
"""


def has_cleanup(kc: KeyClass) -> bool:
    return kc.cleanup_always or kc.cleanup_idle_over is not None


def matches_every_key(pattern: str) -> bool:
    """Would the pattern match every key (of some length on)? See ``constrains_only_length``."""
    return constrains_only_length(pattern)


def refused(classes: tuple[KeyClass, ...]) -> tuple[KeyClass, ...]:
    """Cleanup classes whose pattern matches every key: cleanup refuses to run with any of them."""
    return tuple(kc for kc in classes if has_cleanup(kc) and matches_every_key(kc.pattern))


def refuse_catch_all(classes: tuple[KeyClass, ...]) -> None:
    """The stage's own guard, whatever the caller checked (a policy built in code, a future bug)."""
    bad = refused(classes)
    if bad:
        names = ", ".join(f"'{kc.name}' ({kc.pattern!r})" for kc in bad)
        raise RedispolicyError(
            f"cleanup refused: the pattern of class {names} matches every key, so deleting by "
            "it would be a flush; nothing was deleted",
            "narrow the pattern to the keys the class is for (e.g. 'tmp:*'), or remove cleanup: "
            "from the class",
        )


def threshold(kc: KeyClass) -> int:
    return ALWAYS if kc.cleanup_always else int(kc.cleanup_idle_over or 0)


@dataclass(frozen=True)
class ClassCleanup:
    name: str
    pattern: str
    always: bool
    idle_over: int | None  # seconds
    matched: int = 0  # keys of the class inspected
    eligible: int = 0  # listed for deletion
    examples: tuple[str, ...] = ()  # up to MAX_EXAMPLES eligible key names
    deleted: int = 0
    skipped: int = 0  # listed, then touched or gone before the deletion


@dataclass(frozen=True)
class Found:
    classes: tuple[ClassCleanup, ...]
    scanned: int  # distinct keys SCAN returned (every class, unclassified included)
    keys: dict[int, list[tuple[bytes, str]]] = field(
        default_factory=dict
    )  # db -> (key, class); keep=True only
    seconds: float = 0.0

    @property
    def eligible(self) -> int:
        return sum(c.eligible for c in self.classes)


@dataclass
class _Acc:
    kc: KeyClass
    matched: int = 0
    eligible: int = 0
    examples: list[str] = field(default_factory=list)
    deleted: int = 0
    skipped: int = 0

    def frozen(self) -> ClassCleanup:
        return ClassCleanup(
            self.kc.name,
            self.kc.pattern,
            self.kc.cleanup_always,
            self.kc.cleanup_idle_over,
            self.matched,
            self.eligible,
            tuple(self.examples),
            self.deleted,
            self.skipped,
        )


def _idle_error(exc: redis.ResponseError, done: str = "nothing was deleted") -> RedispolicyError:
    msg = str(exc).splitlines()[0]
    if "LFU" in msg:
        return RedispolicyError(
            f"the server does not track idle time: {msg}; {done}",
            "idle_over needs an LRU or no-eviction maxmemory-policy; use cleanup: "
            "{always: true} for such classes, or change maxmemory-policy",
        )
    return RedispolicyError(
        f"checking idle time failed: {msg}; {done}",
        "give the cleanup user +object|idletime, +scan, +exists, +unlink and +evalsha/+eval",
    )


def find_eligible(
    client_for_db: Callable[[int], redis.Redis],
    classes: tuple[KeyClass, ...],
    dbs: list[int],
    *,
    rate: int = DEFAULT_RATE,
    progress: Callable[[int], None] | None = None,
    keep: bool = False,
    count: int = MAX_COUNT,
    reserved: frozenset[bytes] | None = None,
) -> Found:
    """Step 1: list the eligible keys of every db (deletes nothing)."""
    refuse_catch_all(classes)
    start = time.monotonic()
    classifier = Classifier(classes) if reserved is None else Classifier(classes, reserved)
    accs = {kc.name: _Acc(kc) for kc in classes if has_cleanup(kc)}
    limiter = RateLimiter(rate)
    held: dict[int, list[tuple[bytes, str]]] = {}
    scanned = 0
    count = max(1, min(count, MAX_COUNT))
    for db in dbs:
        client = client_for_db(db)
        no_touch(client)
        dedupe = Dedupe()  # SCAN may return a key twice
        cursor = 0
        while True:
            cursor, keys = client.scan(cursor=cursor, count=count)
            fresh = dedupe.fresh(keys)
            mine = [
                (k, kc)
                for k, kc in zip(fresh, classifier.classify_all(fresh), strict=True)
                if kc is not None and has_cleanup(kc)
            ]
            if mine:
                for (k, kc), reply in zip(mine, _probe(client, mine), strict=True):
                    if reply is None or (kc.cleanup_always and reply == 0):
                        continue  # gone since SCAN
                    acc = accs[kc.name]
                    acc.matched += 1
                    if kc.cleanup_always or int(reply) >= threshold(kc):
                        acc.eligible += 1
                        if len(acc.examples) < MAX_EXAMPLES:
                            acc.examples.append(show(k))
                        if keep:
                            held.setdefault(db, []).append((k, kc.name))
            scanned += len(fresh)
            if fresh:
                if progress is not None:
                    progress(len(fresh))
                limiter.take(len(fresh))
            if int(cursor) == 0:
                break
    return Found(tuple(a.frozen() for a in accs.values()), scanned, held, time.monotonic() - start)


def _probe(client: redis.Redis, mine: list[tuple[bytes, KeyClass]]) -> list[Any]:
    """EXISTS (``always``) or OBJECT IDLETIME (``idle_over``) per key, in the order given: one
    packed round read by hiredis, as the key audit does (live/wire.py)."""
    always = [i for i, (_, kc) in enumerate(mine) if kc.cleanup_always]
    idle = [i for i, (_, kc) in enumerate(mine) if not kc.cleanup_always]
    data = pack((b"EXISTS",), [mine[i][0] for i in always]) + pack(
        (b"OBJECT", b"IDLETIME"), [mine[i][0] for i in idle]
    )
    try:
        with Wire(client) as wire:
            wire.send(data, len(mine))
            replies = wire.read(len(mine))
    except redis.ResponseError as exc:  # e.g. OBJECT IDLETIME under an LFU maxmemory-policy
        raise _idle_error(exc) from None
    out: list[Any] = [None] * len(mine)
    for i, reply in zip(always + idle, replies, strict=True):
        out[i] = reply
    return out


@dataclass
class Deleter:
    """Step 2. ``run()`` deletes; after an exception ``result()`` tells what was deleted so far."""

    client_for_db: Callable[[int], redis.Redis]
    classes: tuple[KeyClass, ...]
    found: Found
    rate: int = DEFAULT_RATE
    progress: Callable[[int], None] | None = None
    chunk: int = DELETE_CHUNK
    by_slot: bool = False  # a cluster master: one script call per slot of a chunk (CROSSSLOT otherwise)
    accs: dict[str, _Acc] = field(init=False)

    def __post_init__(self) -> None:
        by_name = {kc.name: kc for kc in self.classes}
        self.accs = {}
        for c in self.found.classes:
            acc = _Acc(by_name[c.name], c.matched, c.eligible, list(c.examples))
            self.accs[c.name] = acc
        self.chunk = max(1, min(self.chunk, DELETE_CHUNK))

    def run(self) -> tuple[ClassCleanup, ...]:
        refuse_catch_all(self.classes)
        limiter = RateLimiter(self.rate)
        for db, listed in sorted(self.found.keys.items()):
            client = self.client_for_db(db)
            no_touch(client)
            script: Any = client.register_script(LUA_CLEANUP)
            for i in range(0, len(listed), self.chunk):
                part = listed[i : i + self.chunk]
                keys, args = [k for k, _ in part], [threshold(self.accs[name].kc) for _, name in part]
                try:
                    outcome = (
                        script_by_slot(client, script, keys, args)
                        if self.by_slot
                        else script(keys=keys, args=args, client=client)
                    )
                except redis.ResponseError as exc:
                    raise _idle_error(exc, "the keys listed before this chunk were handled") from None
                for (_, name), gone in zip(part, outcome, strict=True):
                    if int(gone) == 1:
                        self.accs[name].deleted += 1
                    else:
                        self.accs[name].skipped += 1
                if self.progress is not None:
                    self.progress(len(part))
                limiter.take(len(part))
        return self.result()

    def result(self) -> tuple[ClassCleanup, ...]:
        return tuple(a.frozen() for a in self.accs.values())


class _Totals:
    """The counts summed over ``classes`` (a master's share, or a whole cleanup)."""

    classes: tuple[ClassCleanup, ...]

    @property
    def eligible(self) -> int:
        return sum(c.eligible for c in self.classes)

    @property
    def deleted(self) -> int:
        return sum(c.deleted for c in self.classes)

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.classes)


@dataclass(frozen=True)
class NodeCleanup(_Totals):
    """One cluster master's share of a cleanup: its own keys (SCAN on a master lists only its slots)."""

    address: str
    scanned: int
    classes: tuple[ClassCleanup, ...]


def combine(parts: list[tuple[ClassCleanup, ...]]) -> tuple[ClassCleanup, ...]:
    """Per class, the sums over the masters (every part lists the same classes, in order)."""
    if not parts:
        return ()
    out = []
    for i, c in enumerate(parts[0]):
        mine = [p[i] for p in parts]
        examples = tuple(e for m in mine for e in m.examples)[:MAX_EXAMPLES]
        out.append(
            ClassCleanup(
                c.name,
                c.pattern,
                c.always,
                c.idle_over,
                sum(m.matched for m in mine),
                sum(m.eligible for m in mine),
                examples,
                sum(m.deleted for m in mine),
                sum(m.skipped for m in mine),
            )
        )
    return tuple(out)


CleanupStatus = Literal["dry_run", "preview", "done", "nothing", "refused", "interrupted", "failed"]


@dataclass(frozen=True)
class CleanupReport(_Totals):
    """What `redispolicy cleanup` shows: the input of render_cleanup."""

    environment: str | None
    address: str
    status: CleanupStatus  # preview: the list shown before deleting
    classes: tuple[ClassCleanup, ...] = ()
    scanned: int = 0
    refused: tuple[tuple[str, str], ...] = ()  # (class, pattern) matching every key
    detail: str = ""
    seconds: float = 0.0
    execute: bool = False
    nodes: tuple[NodeCleanup, ...] = ()  # a cluster: each master's counts (classes are their sums)

    @property
    def exit_code(self) -> int:
        return {"refused": 1, "failed": 1, "interrupted": 130}.get(self.status, 0)
