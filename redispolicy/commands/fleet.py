"""A ``targets:`` fleet: which entries this run checks (``drift --shard K/N``), and checking them fast.

Checking one target is mostly Python work between short round trips (parsing INFO and
CONFIG GET, comparing, judging keys), so threads alone are held to one core by the GIL:
measured on 50 local servers, 8 threads spent ~13 ms of CPU per target one after another
(benchmarks/fleet.py). A fleet of FORK_MIN or more targets is therefore split over forked
worker processes (Linux; one more than the usable cores), each checking its share with a
few threads. Every target is still checked on its own: a failure is that target's error
(the check catches it), and when a worker process dies, the shares not finished yet are
checked again in this process.

Sharding is stable: an entry belongs to shard K of N when sha256(name) mod N == K-1, so it
depends on the entry's name only, never on its position in the list or on Python's
per-process string hashing; adding a target moves no other target between shards.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import multiprocessing
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from redispolicy.errors import UsageError
from redispolicy.plan.drift import TargetDrift
from redispolicy.policy.model import Target

THREADS = 8  # targets checked at once without worker processes (a small fleet, or no fork)
# In each worker: 4 threads overlap the round trips; more only contend for the GIL (50 local servers,
# 2 cores: 4 threads x 3 processes 1.10-1.16 s, 8 x 2 1.27 s, 16 x 2 1.26 s, 16 x 1 1.56 s).
WORKER_THREADS = 4
FORK_MIN = 12  # fewer targets than this: forking a worker costs more than it saves
MAX_PROCESSES = 8

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclasses.dataclass(frozen=True)
class Shard:
    """``--shard K/N``: the K-th of N stable parts of a fleet (1 <= K <= N)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.match(text)
        if match is None:
            raise UsageError(
                f"--shard {text!r} is not K/N",
                "give the shard as K/N with 1 <= K <= N, e.g. --shard 2/4 (the second of four)",
            )
        k, n = int(match.group(1)), int(match.group(2))
        if n < 1 or not 1 <= k <= n:
            raise UsageError(
                f"--shard {text}: {'N must be at least 1' if n < 1 else f'K must be between 1 and {n}'}",
                "give the shard as K/N with 1 <= K <= N, e.g. --shard 1/4 ... 4/4",
            )
        return cls(k, n)

    def owns(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(name: str, count: int) -> int:
    """The shard (1..count) a fleet entry named ``name`` belongs to: sha256 of the name, not hash()
    (salted per process), so every runner agrees."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select(targets: Sequence[Target], shard: Shard | None) -> tuple[Target, ...]:
    """The entries this run checks, in the policy's order."""
    if shard is None:
        return tuple(targets)
    return tuple(t for t in targets if shard.owns(t.name))


Check = Callable[[Target], TargetDrift]

# The job a forked worker runs: set just before the workers are forked, so they inherit the
# policy (and its secrets) in memory; only target indices and results cross the pipe.
_JOB: tuple[Check, tuple[Target, ...]] | None = None


def check_all(targets: Sequence[Target], check: Check) -> list[TargetDrift]:
    """``check`` over every target, results in the targets' order."""
    targets = tuple(targets)
    workers = _processes(len(targets))
    if workers <= 1:
        return _threads(targets, check, range(len(targets)))
    results: dict[int, TargetDrift] = {}
    global _JOB
    _JOB = (check, targets)
    shares = [list(range(i, len(targets), workers)) for i in range(workers)]  # interleaved: even shares
    # Objects alive now (modules, the policy) are moved out of the collector's sight before forking: a
    # worker's collections then neither walk them nor write to their pages, which would copy every
    # page it shares with this process (50 local servers: 1.09 s -> 0.90 s, whole process).
    gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [(share, pool.submit(_worker, share)) for share in shares]
            for share, future in futures:
                try:
                    done, caught = future.result()
                except BrokenProcessPool:  # a worker died (e.g. killed): its share is checked here
                    done, caught = _threads(targets, check, share), []
                results.update(zip(share, done, strict=True))
                for message, category in caught:  # shown once, by main.py's handler, as if raised here
                    warnings.warn(category(message), stacklevel=1)
    finally:
        _JOB = None
        gc.unfreeze()
    return [results[i] for i in range(len(targets))]


def _processes(n: int) -> int:
    """Worker processes for ``n`` targets where fork is safe (Linux), else none: one more than the usable
    cores, as each worker also waits on its servers (on 2 cores, 3 workers beat 2 by ~5 %)."""
    if n < FORK_MIN or not sys.platform.startswith("linux"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores + 1, MAX_PROCESSES, n // (FORK_MIN // 2)))


def _threads(
    targets: tuple[Target, ...], check: Check, indices: Sequence[int], threads: int = THREADS
) -> list[TargetDrift]:
    if not indices:
        return []
    with ThreadPoolExecutor(max_workers=min(threads, len(indices))) as pool:
        return list(pool.map(lambda i: check(targets[i]), indices))


def _worker(share: list[int]) -> tuple[list[TargetDrift], list[tuple[str, type[Warning]]]]:
    """In a forked process: check this share; return the results without secrets, and the warnings
    raised (the parent shows them, so each is shown once per run, not once per process)."""
    assert _JOB is not None
    check, targets = _JOB
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = _threads(targets, check, share, WORKER_THREADS)
    return [_portable(t) for t in done], [(str(w.message), w.category) for w in caught]


def _portable(t: TargetDrift) -> TargetDrift:
    """A result that may cross a pipe: a sensitive change's value to send (a Secret, which refuses to be
    pickled) is dropped; drift only reports and never sends it."""
    changes = tuple(dataclasses.replace(c, send="") for c in t.plan.changes)
    return dataclasses.replace(t, plan=dataclasses.replace(t.plan, changes=changes))


__all__ = ["FORK_MIN", "THREADS", "WORKER_THREADS", "Shard", "check_all", "select", "shard_of"]
