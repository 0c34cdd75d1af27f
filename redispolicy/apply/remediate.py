"""Key remediation: give the keys of `remediate: true` classes the TTL their policy says.

A key whose first matching class has ``remediate: true`` and ``ttl: {max: D}``:

* without a TTL, gets one of D;
* with a remaining TTL above D, has it lowered to D.

No other key is changed: keys within max, keys of classes without ``remediate`` or with
``ttl: persistent``, unclassified keys and redispolicy's own keys keep their TTL.

How, per SCAN batch (COUNT <= 1000), on every db that INFO keyspace lists:

1. ``PTTL`` of every key of a remediate class, pipelined. PTTL looks keys up without
   touching them, so keys that need nothing keep their LRU clock (and their idle time,
   which `cleanup` may read).
2. For the keys that need a change:

   * Redis >= 7.0 and Valkey: ``EXPIRE key D NX`` then ``EXPIRE key D LT``, pipelined.
     NX sets a TTL only where there is none; LT only ever lowers one (LT treats a key
     without a TTL as infinite, which is why NX goes first). The server checks both
     conditions at the moment of the change, so a key that changed since step 1 is
     handled by what it is now: a TTL is never raised and never added twice. The
     replies (1 = changed) are the exact counts.
   * Redis 6.x (no NX/LT): one Lua script per batch (EVALSHA, loaded on first use)
     that reads PTTL and EXPIREs per key. A script runs alone, so the check and the
     change are one atomic step, exactly like NX/LT; it returns what it changed.

A dry run stops after step 1: its counts are what step 2 would change at that moment.

Refused before the first SCAN, dry run included (``unsafe``): a class whose pattern
matches every key (``policy.glob.constrains_only_length``: giving every key a TTL
empties the keyspace on a delay) and a ttl.max <= 0 (``EXPIRE key 0`` deletes the key
at once). Validation refuses both too; this holds for a policy built in code as well,
and the EXPIRE arguments are checked again where they are built (``expire_seconds``).

The pass is rate-limited (scanned keys per second), reports progress per batch and is
resumable: after every SCAN call the cursor of each db and the counts so far go to a
JSON checkpoint (written to a temporary file and renamed, so it is never half-written);
``resume=True`` continues from it and the file is deleted when the pass completes. If
the server restarted since (another ``run_id``), a saved cursor means nothing any more:
the unfinished dbs are scanned from the start, where the keys already fixed are within
max and count zero. If the run is cut off in the middle of a batch, that batch's changes
are made or not, but its counts may be missing from the checkpoint (at most one batch).

On a Redis Cluster (``ClusterRemediation``) the pass runs on every master serving slots,
one after another, each on its own connection (db 0): a master's SCAN lists exactly the
keys of its slots, so no key is read by two masters or by none. The Lua path then sends one
script call per slot of a batch (apply/cluster.py: a script may only take one slot's keys),
and the result carries each master's counts beside the totals.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis

from redispolicy.apply.classify import Classifier
from redispolicy.apply.cluster import script_by_slot
from redispolicy.errors import RedispolicyError
from redispolicy.live.keyscan import MAX_COUNT, Dedupe, RateLimiter, inspect, no_touch
from redispolicy.live.model import DEFAULT_RATE
from redispolicy.live.wire import Wire, command
from redispolicy.policy.glob import constrains_only_length
from redispolicy.policy.model import KeyClass

CHECKPOINT_KIND = "redispolicy-remediation-checkpoint"
CHECKPOINT_VERSION = 1

# KEYS: keys that looked like they need a TTL; ARGV[i]: the max TTL (seconds) of KEYS[i]'s class.
# Returns per key 0 (left alone: within max, or gone), 1 (had no TTL, got max), 2 (lowered to max).
# A max that is not a positive number fails the whole call before any EXPIRE: EXPIRE key 0 deletes.
LUA_REMEDIATE = """
for i = 1, #KEYS do
  local max = tonumber(ARGV[i])
  if max == nil or max <= 0 then
    return redis.error_reply('redispolicy: refusing a TTL <= 0 (it would delete the key)')
  end
end
local out = {}
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[i])
  local ttl = redis.call('PTTL', key)
  if ttl == -1 then
    redis.call('EXPIRE', key, max)
    out[i] = 1
  elseif ttl > max * 1000 then
    redis.call('EXPIRE', key, max)
    out[i] = 2
  else
    out[i] = 0
  end
end
return out
"""


def remediable(kc: KeyClass) -> bool:
    """remediate: true with ttl: {max: D}; a persistent class never is."""
    return kc.remediate and kc.ttl_max is not None and not kc.persistent


def unsafe(classes: tuple[KeyClass, ...]) -> RedispolicyError | None:
    """Why a pass over these classes must not start, or None.

    A remediate class matching every key would give the whole keyspace a TTL (a flush on
    a delay), and a ttl.max <= 0 would make EXPIRE delete keys at once: either refuses
    the whole pass, before anything is read or changed.
    """
    for kc in classes:
        if not remediable(kc):
            continue
        if kc.ttl_max is not None and kc.ttl_max <= 0:
            return _non_positive(kc, kc.ttl_max)
        if constrains_only_length(kc.pattern):
            return RedispolicyError(
                f"key class '{kc.name}' has remediate: true and its pattern {kc.pattern!r} matches every key: "
                "remediating it would give every key a TTL and empty the keyspace; nothing was changed",
                "narrow the pattern to the keys that should expire (e.g. 'tmp:*'), or remove remediate: true",
            )
    return None


def write_checkpoint(path: Path, doc: dict[str, Any]) -> None:
    """The checkpoint, written to a temporary file and renamed: never half-written."""
    doc = {**doc, "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise RedispolicyError(
            f"cannot write the checkpoint {path}: {exc.strerror}",
            "pass --checkpoint PATH to a writable file",
        ) from None


def remove_checkpoint(path: Path) -> None:
    """A completed pass's checkpoint goes: nothing is left to resume."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RedispolicyError(
            f"the pass completed but the checkpoint {path} could not be removed: {exc.strerror}",
            "delete it by hand",
        ) from None


def _non_positive(kc: KeyClass, seconds: int) -> RedispolicyError:
    return RedispolicyError(
        f"key class '{kc.name}' has ttl.max {seconds} s: EXPIRE with a TTL <= 0 deletes the key; nothing was changed",
        "give the class a positive ttl.max (e.g. ttl: {max: 1h}), then run again",
    )


def expire_seconds(kc: KeyClass) -> int:
    """The TTL an EXPIRE for a key of ``kc`` carries: checked right where the command is built,
    so no path (a policy built in code, a future bug) can send EXPIRE key 0."""
    seconds = kc.ttl_max if kc.ttl_max is not None else 0
    if seconds <= 0:
        raise _non_positive(kc, seconds)
    return seconds


@dataclass(frozen=True)
class ClassRemediation:
    name: str
    pattern: str
    ttl_max: int  # seconds
    matched: int = 0  # keys of the class inspected
    no_ttl: int = 0  # keys without a TTL that got one (dry run: would get one)
    over_max: int = 0  # keys whose TTL was lowered to max (dry run: would be)

    @property
    def changed(self) -> int:
        return self.no_ttl + self.over_max


class _Totals:
    """The counts summed over ``classes`` (a master's share, or a whole pass)."""

    classes: tuple[ClassRemediation, ...]

    @property
    def no_ttl(self) -> int:
        return sum(c.no_ttl for c in self.classes)

    @property
    def over_max(self) -> int:
        return sum(c.over_max for c in self.classes)

    @property
    def changed(self) -> int:
        return self.no_ttl + self.over_max


@dataclass(frozen=True)
class NodeRemediation(_Totals):
    """One cluster master's share of a pass: its own keys (SCAN on a master lists only its slots)."""

    address: str
    classes: tuple[ClassRemediation, ...]
    scanned: int
    complete: bool


@dataclass(frozen=True)
class RemediationResult(_Totals):
    dry_run: bool
    method: str  # expire-nx-lt | lua | pttl (dry run)
    classes: tuple[ClassRemediation, ...]
    scanned: int  # distinct keys SCAN returned (all classes, unclassified included)
    complete: bool  # the pass went through every db
    resumed: bool = False  # continued from a checkpoint
    restarted: bool = False  # the checkpoint's server restarted: its dbs were scanned from the start
    seconds: float = 0.0
    checkpoint: str | None = None  # the file holding the cursor when the pass is not complete
    nodes: tuple[NodeRemediation, ...] = ()  # a cluster: each master's counts (classes are their sums)


@dataclass
class _Count:
    matched: int = 0
    no_ttl: int = 0
    over_max: int = 0


@dataclass
class _DbState:
    cursor: int = 0
    done: bool = False


@dataclass
class Remediation:
    """One remediation pass. ``run()`` does it; after an exception ``result()`` tells what was done."""

    client_for_db: Callable[[int], redis.Redis]
    classes: tuple[KeyClass, ...]
    dbs: list[int]
    execute: bool
    conditional: bool = True  # EXPIRE NX/LT; False: the Lua script (Redis 6.x)
    rate: int = DEFAULT_RATE
    progress: Callable[[int], None] | None = None
    checkpoint: Path | None = None
    resume: bool = False
    target: str = ""  # host:port, part of the checkpoint's fingerprint
    run_id: str = ""
    count: int = MAX_COUNT
    reserved: frozenset[bytes] | None = None  # never touched (default: the apply lock)
    by_slot: bool = False  # a cluster master: the Lua script takes one slot's keys per call
    on_cursor: Callable[[], None] | None = None  # after every SCAN call (a cluster pass saves its checkpoint)
    counts: dict[str, _Count] = field(init=False)
    states: dict[int, _DbState] = field(init=False)
    scanned: int = field(init=False, default=0)
    resumed: bool = field(init=False, default=False)
    restarted: bool = field(init=False, default=False)
    started: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.classifier = (
            Classifier(self.classes) if self.reserved is None else Classifier(self.classes, self.reserved)
        )
        self.targets = [kc for kc in self.classes if remediable(kc)]
        self.counts = {kc.name: _Count() for kc in self.targets}
        self.states = {db: _DbState() for db in self.dbs}
        self.count = max(1, min(self.count, MAX_COUNT))
        self.started = time.monotonic()

    # -- the checkpoint ---------------------------------------------------------------
    def fingerprint(self) -> str:
        """What a checkpoint must match to be resumed: the target and every class (first match wins)."""
        doc = [
            self.target,
            [[kc.name, kc.pattern, kc.ttl_max, kc.remediate, kc.persistent] for kc in self.classes],
        ]
        return "sha256:" + hashlib.sha256(json.dumps(doc).encode()).hexdigest()

    def _load(self) -> None:
        assert self.checkpoint is not None
        try:
            doc = json.loads(self.checkpoint.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return  # nothing to resume: a full pass
        except (OSError, ValueError) as exc:
            raise RedispolicyError(
                f"cannot read the checkpoint {self.checkpoint}: {exc}",
                "delete it and run again without --resume",
            ) from None
        if not isinstance(doc, dict) or doc.get("kind") != CHECKPOINT_KIND:
            raise RedispolicyError(
                f"{self.checkpoint} is not a remediation checkpoint",
                "pass the file an interrupted `remediate --execute` wrote, or run without --resume",
            )
        if doc.get("fingerprint") != self.fingerprint():
            raise RedispolicyError(
                f"the checkpoint {self.checkpoint} was written for another target or other key classes",
                "run without --resume to start a full pass (the file is then replaced)",
            )
        self.restore(doc)

    def restore(self, doc: dict[str, Any]) -> None:
        """Continue from a saved ``state()`` (the file's own fields, or a cluster node's entry)."""
        self.resumed = True
        same_server = doc.get("run_id") == self.run_id
        self.restarted = not same_server
        for name, (matched, no_ttl, over_max) in doc.get("classes", {}).items():
            if name in self.counts:
                self.counts[name] = _Count(int(matched), int(no_ttl), int(over_max))
        self.scanned = int(doc.get("scanned", 0))
        for db_text, state in doc.get("dbs", {}).items():
            db = int(db_text)
            if db not in self.states:
                continue
            if state.get("done"):
                self.states[db] = _DbState(0, True)
            elif same_server:
                self.states[db] = _DbState(int(state.get("cursor", 0)), False)

    def state(self) -> dict[str, Any]:
        """Where the pass is: the server's run_id, each db's cursor and the counts so far."""
        return {
            "run_id": self.run_id,
            "scanned": self.scanned,
            "dbs": {str(db): {"cursor": s.cursor, "done": s.done} for db, s in self.states.items()},
            "classes": {n: [c.matched, c.no_ttl, c.over_max] for n, c in self.counts.items()},
        }

    def _save(self) -> None:
        if self.checkpoint is None or not self.execute:
            return
        doc: dict[str, Any] = {
            "kind": CHECKPOINT_KIND,
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint(),
            "target": self.target,
            **self.state(),
        }
        write_checkpoint(self.checkpoint, doc)

    # -- the pass -----------------------------------------------------------------------
    def run(self) -> RemediationResult:
        refusal = unsafe(self.classes)
        if refusal is not None:
            raise refusal
        if self.execute and self.resume and self.checkpoint is not None:
            self._load()
        if not self.targets:
            return self.result(True)
        limiter = RateLimiter(self.rate)
        script = None
        for db in self.dbs:
            state = self.states[db]
            if state.done:
                continue
            client = self.client_for_db(db)
            no_touch(client)
            if self.execute and not self.conditional:
                script = client.register_script(LUA_REMEDIATE)
            dedupe = Dedupe()  # SCAN may return a key twice
            while True:
                cursor, keys = client.scan(cursor=state.cursor, count=self.count)
                fresh = dedupe.fresh(keys)
                if fresh:
                    self._batch(client, script, fresh)
                    self.scanned += len(fresh)
                state.cursor = int(cursor)
                state.done = state.cursor == 0
                self._save()
                if self.on_cursor is not None:
                    self.on_cursor()
                if fresh:
                    if self.progress is not None:
                        self.progress(len(fresh))
                    limiter.take(len(fresh))
                if state.done:
                    break
        if self.checkpoint is not None and self.execute:
            remove_checkpoint(self.checkpoint)
        return self.result(True)

    def _batch(self, client: redis.Redis, script: Any, keys: list[bytes]) -> None:
        mine = [
            (k, kc)
            for k, kc in zip(keys, self.classifier.classify_all(keys), strict=True)
            if kc is not None and remediable(kc)
        ]
        if not mine:
            return
        # One packed round of PTTL read by hiredis (live.keyscan.inspect): an error reply
        # (NOPERM on a key) stops the pass instead of being taken for a vanished key.
        pttls = inspect(client, 0, [k for k, _ in mine], False, False).pttls
        needs: list[tuple[bytes, KeyClass, int]] = []
        for (k, kc), pttl in zip(mine, pttls, strict=True):
            if pttl == -2:
                continue  # gone since SCAN
            assert kc.ttl_max is not None
            self.counts[kc.name].matched += 1
            if pttl == -1 or pttl > kc.ttl_max * 1000:
                needs.append((k, kc, pttl))
        if not needs:
            return
        if not self.execute:  # the decision step 2 would leave to the server, made from the same PTTL
            for _, kc, pttl in needs:
                self._tally(kc, 1 if pttl == -1 else 2)
            return
        if self.conditional:
            parts = []
            for k, kc, _ in needs:
                ttl = b"%d" % expire_seconds(kc)
                parts += [command(b"EXPIRE", k, ttl, b"NX"), command(b"EXPIRE", k, ttl, b"LT")]
            data = b"".join(parts)
            with Wire(client) as wire:
                wire.send(data, 2 * len(needs))
                replies = wire.read(2 * len(needs))
            for i, (_, kc, _) in enumerate(needs):
                nx, lt = replies[2 * i], replies[2 * i + 1]
                self._tally(kc, 1 if nx == 1 else 2 if lt == 1 else 0)
        else:
            keys, ttls = [k for k, _, _ in needs], [expire_seconds(kc) for _, kc, _ in needs]
            outcome = (
                script_by_slot(client, script, keys, ttls)
                if self.by_slot
                else script(keys=keys, args=ttls, client=client)
            )
            for (_, kc, _), what in zip(needs, outcome, strict=True):
                self._tally(kc, int(what))

    def _tally(self, kc: KeyClass, what: int) -> None:
        count = self.counts[kc.name]
        if what == 1:
            count.no_ttl += 1
        elif what == 2:
            count.over_max += 1

    def result(self, complete: bool) -> RemediationResult:
        method = "pttl" if not self.execute else "expire-nx-lt" if self.conditional else "lua"
        classes = tuple(
            ClassRemediation(
                kc.name,
                kc.pattern,
                kc.ttl_max or 0,
                self.counts[kc.name].matched,
                self.counts[kc.name].no_ttl,
                self.counts[kc.name].over_max,
            )
            for kc in self.targets
        )
        keep = self.checkpoint is not None and self.execute and not complete and self.checkpoint.exists()
        return RemediationResult(
            not self.execute,
            method,
            classes,
            self.scanned,
            complete,
            self.resumed,
            self.restarted,
            time.monotonic() - self.started,
            str(self.checkpoint) if keep else None,
        )


@dataclass
class ClusterRemediation:
    """One pass over every master of a Redis Cluster, master after master.

    ``stages`` holds one single-node ``Remediation`` per master (db 0, its own connection,
    ``by_slot=True``, no checkpoint of its own; sorted by address). A key belongs to the
    master serving its slot and SCAN on a master lists only that master's keys, so every
    key is read once, by its own master. The checkpoint is one file with each master's
    cursor, run_id and counts, saved after every SCAN call of any master; ``resume=True``
    continues each master where it stopped (a master that restarted since is scanned from
    the start, as a restarted standalone server is). The stages run one after another, so
    the rate limit of each is the rate of the whole pass.
    """

    stages: list[Remediation]
    execute: bool
    checkpoint: Path | None = None
    resume: bool = False
    started: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        for stage in self.stages:
            stage.on_cursor = self._save

    def fingerprint(self) -> str:
        """The masters (sorted addresses) and every class: a checkpoint of another cluster shape is refused."""
        return (
            "sha256:"
            + hashlib.sha256(
                json.dumps([sorted(st.target for st in self.stages), self.stages[0].fingerprint()]).encode()
            ).hexdigest()
        )

    def _load(self) -> None:
        assert self.checkpoint is not None
        try:
            doc = json.loads(self.checkpoint.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return  # nothing to resume: a full pass
        except (OSError, ValueError) as exc:
            raise RedispolicyError(
                f"cannot read the checkpoint {self.checkpoint}: {exc}",
                "delete it and run again without --resume",
            ) from None
        if not isinstance(doc, dict) or doc.get("kind") != CHECKPOINT_KIND or "nodes" not in doc:
            raise RedispolicyError(
                f"{self.checkpoint} is not the checkpoint of a cluster remediation",
                "pass the file an interrupted `remediate --execute` on this cluster wrote, or run without --resume",
            )
        if doc.get("fingerprint") != self.fingerprint():
            raise RedispolicyError(
                f"the checkpoint {self.checkpoint} was written for other cluster masters or other key classes "
                "(a failover or a resharding since?)",
                "run without --resume to start a full pass (keys already fixed count zero; the file is replaced)",
            )
        nodes = doc["nodes"]
        for stage in self.stages:
            saved = nodes.get(stage.target) if isinstance(nodes, dict) else None
            if isinstance(saved, dict):
                stage.restore(saved)

    def _save(self) -> None:
        if self.checkpoint is None or not self.execute:
            return
        doc: dict[str, Any] = {
            "kind": CHECKPOINT_KIND,
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint(),
            "target": "cluster",
            "nodes": {stage.target: stage.state() for stage in self.stages},
        }
        write_checkpoint(self.checkpoint, doc)

    def run(self) -> RemediationResult:
        if self.stages:
            refusal = unsafe(self.stages[0].classes)
            if refusal is not None:
                raise refusal
        if self.execute and self.resume and self.checkpoint is not None:
            self._load()
        for stage in self.stages:
            stage.run()
        if self.checkpoint is not None and self.execute:
            remove_checkpoint(self.checkpoint)
        return self.result(True)

    def result(self, complete: bool) -> RemediationResult:
        """The totals (per class, summed over the masters) with each master's own counts."""
        parts = [stage.result(complete) for stage in self.stages]
        nodes = tuple(
            NodeRemediation(
                stage.target, part.classes, part.scanned, all(st.done for st in stage.states.values())
            )
            for stage, part in zip(self.stages, parts, strict=True)
        )
        first = parts[0] if parts else None
        classes = tuple(
            dataclasses.replace(
                c,
                matched=sum(p.classes[i].matched for p in parts),
                no_ttl=sum(p.classes[i].no_ttl for p in parts),
                over_max=sum(p.classes[i].over_max for p in parts),
            )
            for i, c in enumerate(first.classes if first else ())
        )
        keep = self.checkpoint is not None and self.execute and not complete and self.checkpoint.exists()
        return RemediationResult(
            not self.execute,
            first.method if first else "pttl",
            classes,
            sum(p.scanned for p in parts),
            complete,
            any(p.resumed for p in parts),
            any(p.restarted for p in parts),
            time.monotonic() - self.started,
            str(self.checkpoint) if keep else None,
            nodes,
        )


RemediationStatus = Literal["dry_run", "done", "nothing", "interrupted", "failed"]


@dataclass(frozen=True)
class RemediationReport:
    """What `redispolicy remediate` shows: the input of render_remediation."""

    environment: str | None
    address: str
    status: RemediationStatus
    result: RemediationResult | None = None
    detail: str = ""

    @property
    def exit_code(self) -> int:
        return {"interrupted": 130, "failed": 1}.get(self.status, 0)
