"""Judging keys against the policy's classes: the first matching class wins (Redis glob semantics).

Per class: matched, violations (no_ttl, ttl_over_max, ttl_forbidden, wrong_type,
oversized), keys that vanished mid-check (excluded from every denominator),
remaining-TTL p50/p90/max and up to five example key names per class — names only,
never values. ``KeyJudge`` accumulates batch by batch, so a million keys never sit in
memory as objects.

Two modes feed it:

* exact: every key once (SCAN); counts are the truth.
* sample: uniform draws with replacement (RANDOMKEY); a key drawn twice is two draws.
  ``finish("sample", ...)`` turns the counts into estimates over the keyspace with
  continuity-corrected Wilson 95 % intervals (plan/stats.py). A class too rare for the sample is re-judged
  exactly from a full ``SCAN MATCH`` pass fed through ``add_exact``; its findings then
  replace the sampled ones and are flagged ``exact``.

Memory per class (``MEMORY USAGE key SAMPLES 5``) is summed when a class has ``max_size``,
or for every class when the judge is built with ``memory=True`` (``--memory``). In
sample mode the class total is estimated as dbsize × (mean bytes per draw, counting 0
for a draw outside the class), with a normal-approximation 95 % interval from the
draws' variance; a few big keys make that interval optimistic (heavy tails).
``capacity_observations`` sets each ``capacity.workloads`` entry's observed size next
to the policy's estimate.

Keys no class matches are counted and grouped into suggested glob patterns
(``PatternSuggester``, plan/suggest.py) a user can paste into the policy. The findings
types (``ClassFindings``, ``KeyFindings``, ``CapacityObservation``) are plan data and live
in plan/model.py.
"""

from __future__ import annotations

import array
import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# The findings types live with the other plan data; they stay importable from here, where
# the renderers and commands have always found them.
from redispolicy.plan.model import VIOLATIONS, AuditMode, CapacityObservation, ClassFindings, KeyFindings
from redispolicy.plan.stats import Z95, Estimate, estimate_total, zero_upper_bound, zero_upper_bound_total
from redispolicy.plan.suggest import PatternSuggester
from redispolicy.policy.checks import workload_bytes
from redispolicy.policy.glob import FirstMatch
from redispolicy.policy.model import KeyClass, Workload

if TYPE_CHECKING:
    from redispolicy.live.model import Batch

MAX_EXAMPLES = 5
MATCH_FLOOR = 300  # a class expected fewer times than this in the sample gets an exact SCAN MATCH pass

__all__ = [
    "MATCH_FLOOR",
    "MAX_EXAMPLES",
    "VIOLATIONS",
    "CapacityObservation",
    "ClassFindings",
    "KeyFindings",
    "KeyJudge",
    "capacity_observations",
    "sampled_total",
]


def capacity_observations(
    findings: KeyFindings, workloads: tuple[Workload, ...], classes: tuple[KeyClass, ...]
) -> tuple[CapacityObservation, ...]:
    """Every workload whose class the audit judged, with its observed size next to the estimate."""
    by_name = {c.name: c for c in findings.classes}
    policy_classes = {kc.name: kc for kc in classes}
    out = []
    for w in workloads:
        found, kc = by_name.get(w.key_class), policy_classes.get(w.key_class)
        if found is None or kc is None:
            continue
        out.append(
            CapacityObservation(
                w.key_class,
                workload_bytes(w, kc),
                found.matched_estimate(),
                found.memory_estimate,
                found.exact,
            )
        )
    return tuple(out)


@dataclass
class _Acc:
    kc: KeyClass
    max_ms: int | None = field(init=False)
    matched: int = 0
    vanished: int = 0
    violating: int = 0
    violations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VIOLATIONS, 0))
    ttls: array.array[int] = field(default_factory=lambda: array.array("q"))  # ms, keys with a TTL
    examples: list[str] = field(default_factory=list)
    memory: int = 0
    memory_sq: int = 0  # sum of squares, for the sampled total's interval
    memory_n: int = 0  # keys (draws) with a MEMORY USAGE reply
    measured: bool = False

    def __post_init__(self) -> None:
        self.max_ms = self.kc.ttl_max * 1000 if self.kc.ttl_max is not None else None


_HAS_TTL = (-1).__lt__  # pttl > -1: a C-level predicate for filter() (PTTL is -1 without a TTL, -2 gone)


def _show(key: bytes) -> str:
    return key.decode("utf-8", "backslashreplace")


# -- the judge --------------------------------------------------------------------------------


class KeyJudge:
    def __init__(self, classes: tuple[KeyClass, ...], memory: bool = False) -> None:
        self.memory = memory  # measure MEMORY USAGE for every class, not only those with max_size
        self.accs = [_Acc(kc) for kc in classes if kc.pattern]
        self._first = FirstMatch([a.kc.pattern for a in self.accs])
        self.unclassified = 0
        self.unclassified_examples: list[str] = []
        self.suggester = PatternSuggester()
        self.exact_accs: dict[int, _Acc] = {}  # sample mode: classes re-judged from a SCAN MATCH pass

    @property
    def needs_type(self) -> bool:
        return any(a.kc.type for a in self.accs)

    @property
    def needs_memory(self) -> bool:
        return self.memory or any(a.kc.max_size is not None for a in self.accs)

    def classify(self, key: bytes) -> _Acc | None:
        i = self._first.index(key)
        return None if i is None else self.accs[i]

    def add(self, batch: Batch) -> None:
        numbers = self._first.numbers(batch.keys)
        none = self._first.none
        if batch.types is not None or batch.memory is not None:
            slots = [*self.accs[:1], *self.accs]  # numbers count from 1; slot 0 is never used
            for row, number in enumerate(numbers):
                if number != none:
                    self._row(slots[number], batch, row)
            if none in numbers:
                rows = [row for row, number in enumerate(numbers) if number == none]
                self._unclassified([batch.keys[r] for r in rows], [batch.pttls[r] for r in rows])
            return
        # PTTL only: whole columns per class. Group the PTTLs by class in one loop, then
        # count each group with list methods that run in C.
        groups: list[list[int]] = [[] for _ in range(none + 1)]
        appends = [g.append for g in groups]
        for number, pttl in zip(numbers, batch.pttls, strict=True):
            appends[number](pttl)
        for number, acc in enumerate(self.accs, 1):
            if groups[number]:
                self._columns(acc, groups[number], batch, numbers, number)
        if groups[none]:
            keys = batch.keys
            self._unclassified(
                [keys[row] for row, number in enumerate(numbers) if number == none], groups[none]
            )

    def _unclassified(self, keys: list[bytes], pttls: list[int]) -> None:
        if pttls.count(-2):
            keys = [k for k, p in zip(keys, pttls, strict=True) if p != -2]
        self.unclassified += len(keys)
        self.suggester.add_all([k.decode("utf-8", "backslashreplace") for k in keys])
        examples = self.unclassified_examples
        for key in keys:
            if len(examples) >= MAX_EXAMPLES:
                break
            shown = _show(key)
            if shown not in examples:
                examples.append(shown)

    def _columns(self, acc: _Acc, pttls: list[int], batch: Batch, numbers: list[int], number: int) -> None:
        """One class's PTTLs from a batch: the same counts ``_judge`` makes key by key."""
        gone, none = pttls.count(-2), pttls.count(-1)
        with_ttl = len(pttls) - gone - none
        acc.vanished += gone
        acc.matched += len(pttls) - gone
        if with_ttl:
            acc.ttls.extend(pttls if with_ttl == len(pttls) else filter(_HAS_TTL, pttls))
        kc, bad = acc.kc, 0
        if kc.persistent:
            acc.violations["ttl_forbidden"] += with_ttl
            bad = with_ttl
        if acc.max_ms is not None:
            over = sum(map(acc.max_ms.__lt__, pttls)) if with_ttl else 0
            acc.violations["no_ttl"] += none
            acc.violations["ttl_over_max"] += over
            bad = none + (bad or over)  # a key over max is already counted when any TTL is forbidden
        acc.violating += bad
        if bad and len(acc.examples) < MAX_EXAMPLES:
            for row, n in enumerate(numbers):
                if n == number and self._breaks(acc, batch.pttls[row]):
                    shown = _show(batch.keys[row])
                    if shown not in acc.examples:
                        acc.examples.append(shown)
                        if len(acc.examples) == MAX_EXAMPLES:
                            break

    @staticmethod
    def _breaks(acc: _Acc, pttl: int) -> bool:
        if pttl == -2:
            return False
        if acc.kc.persistent and pttl >= 0:
            return True
        return acc.max_ms is not None and (pttl == -1 or pttl > acc.max_ms)

    def _row(self, acc: _Acc, batch: Batch, row: int) -> None:
        self._judge(
            acc,
            batch.keys[row],
            batch.pttls[row],
            None if batch.types is None else batch.types[row],
            None if batch.memory is None else batch.memory[row],
        )

    # -- sample mode: rare classes, judged exactly ------------------------------------------
    def rare_classes(self, floor: int = MATCH_FLOOR) -> list[int]:
        """Classes seen fewer than ``floor`` times in the sample (n × share < floor), unseen ones included."""
        return [i for i, acc in enumerate(self.accs) if acc.matched < floor]

    def owns(self, index: int, key: bytes) -> bool:
        """Is ``key`` in class ``index`` by first-match-wins (a MATCH pass also returns earlier classes' keys)?"""
        return self.classify(key) is self.accs[index]

    def add_exact(self, index: int, batch: Batch) -> None:
        """A full SCAN MATCH pass over class ``index``: the keys it owns are judged exactly."""
        acc = self.exact_accs.get(index)
        if acc is None:
            acc = self.exact_accs[index] = _Acc(self.accs[index].kc)
        for row, number in enumerate(self._first.numbers(batch.keys)):
            if number == index + 1:
                self._row(acc, batch, row)

    def _judge(self, acc: _Acc, key: bytes, pttl: int, typ: str | None, memory: int | None) -> None:
        if pttl == -2:
            acc.vanished += 1
            return
        acc.matched += 1
        kc = acc.kc
        bad: list[str] = []
        if pttl >= 0:
            acc.ttls.append(pttl)
        if kc.persistent and pttl >= 0:
            bad.append("ttl_forbidden")
        if acc.max_ms is not None:
            if pttl == -1:
                bad.append("no_ttl")
            elif pttl > acc.max_ms:
                bad.append("ttl_over_max")
        if kc.type and typ is not None and typ != kc.type:
            bad.append("wrong_type")
        if memory is not None:
            acc.measured = True
            acc.memory += memory
            acc.memory_sq += memory * memory
            acc.memory_n += 1
            if kc.max_size is not None and memory > kc.max_size:
                bad.append("oversized")
        for b in bad:
            acc.violations[b] += 1
        if bad:
            acc.violating += 1
            shown = _show(key)
            if len(acc.examples) < MAX_EXAMPLES and shown not in acc.examples:
                acc.examples.append(shown)

    @property
    def sample_size(self) -> int:
        """Draws that found a live key: the n of every sample interval (vanished draws excluded)."""
        return sum(a.matched for a in self.accs) + self.unclassified

    def finish(self, mode: AuditMode, dbsize: int, scanned: int, duplicates: int = 0) -> KeyFindings:
        suggestions = self.suggester.suggestions()
        if mode != "sample":
            return KeyFindings(
                mode,
                dbsize,
                scanned,
                tuple(self._class(a, memory=self.memory) for a in self.accs),
                self.unclassified,
                tuple(self.unclassified_examples),
                duplicates,
                suggestions=suggestions,
            )
        n = self.sample_size
        classes = []
        for i, acc in enumerate(self.accs):
            if i in self.exact_accs:
                classes.append(self._class(self.exact_accs[i], via="match", memory=self.memory))
            else:
                classes.append(self._sampled(acc, n, dbsize, self.memory))
        return KeyFindings(
            mode,
            dbsize,
            scanned,
            tuple(classes),
            self.unclassified,
            tuple(self.unclassified_examples),
            duplicates,
            sample_size=n,
            estimated_unclassified=estimate_total(self.unclassified, n, dbsize),
            suggestions=suggestions,
        )

    @staticmethod
    def _class(acc: _Acc, via: str = "scan", memory: bool = False) -> ClassFindings:
        """Exact findings. With ``memory``, a class without any key measured 0 bytes (not "unknown")."""
        ttls = sorted(acc.ttls)  # ms; reported in whole seconds, as PTTL // 1000
        total = acc.memory if acc.measured else (0 if memory and acc.matched == 0 else None)

        def q(p: float) -> int | None:
            return ttls[min(len(ttls) - 1, int(p * len(ttls)))] // 1000 if ttls else None

        return ClassFindings(
            acc.kc.name,
            acc.kc.pattern,
            acc.matched,
            acc.vanished,
            dict(acc.violations),
            q(0.5),
            q(0.9),
            ttls[-1] // 1000 if ttls else None,
            tuple(acc.examples),
            total,
            violating_keys=acc.violating,
            via=via,
            remediate=acc.kc.remediate and acc.kc.ttl_max is not None,
            memory_estimate=None if total is None else Estimate.exact(total),
            memory_mean=acc.memory / acc.memory_n if acc.memory_n else None,
        )

    @classmethod
    def _sampled(cls, acc: _Acc, n: int, dbsize: int, memory_all: bool = False) -> ClassFindings:
        """A class estimated from n uniform draws over a keyspace of dbsize keys.

        Each draw is a Bernoulli trial for "in this class" and for "in this class and
        breaking rule r", so counts are dbsize × (the continuity-corrected Wilson interval of k/n). With no
        violator among the class's m draws, the one-sided 95 % bound on the count is
        (1 - 0.05^(1/n)) × dbsize, ≈ the rate bound 1 - 0.05^(1/m) × the class estimate.

        Memory: y_i = the draw's MEMORY USAGE if it is in the class, else 0; the class total
        is dbsize × mean(y) (Hansen–Hurwitz, unbiased) ± z × dbsize × sd(y) / sqrt(n).
        """
        base = cls._class(acc, via="sample")
        upper_count = upper_rate = None
        if acc.violating == 0:
            upper_count = zero_upper_bound_total(n, dbsize)
            upper_rate = zero_upper_bound(acc.matched)
        violating = estimate_total(acc.violating, n, dbsize)
        if upper_count is not None:
            violating = Estimate(0.0, 0.0, upper_count)
        memory = memory_est = None
        if (acc.measured or (memory_all and acc.matched == 0)) and n:
            memory_est = sampled_total(acc.memory, acc.memory_sq, n, dbsize)
            memory = round(memory_est.value)
        return dataclasses.replace(
            base,
            memory_bytes=memory,
            memory_estimate=memory_est,
            exact=False,
            estimated_matched=estimate_total(acc.matched, n, dbsize),
            estimated_violations={k: estimate_total(v, n, dbsize) for k, v in acc.violations.items()},
            estimated_violating=violating,
            upper_bound_violating=upper_count,
            upper_bound_rate=upper_rate,
        )


def sampled_total(total: int, total_sq: int, n: int, population: int, z: float = Z95) -> Estimate:
    """A class's byte total from n uniform draws with replacement: population × mean(y), with a
    normal-approximation interval (y_i = bytes of draw i in the class, 0 outside; ``total`` and
    ``total_sq`` are the sums of y and y²). The low end never drops below 0."""
    if n <= 0:
        return Estimate(0.0, 0.0, 0.0)
    mean = total / n
    var = (total_sq - n * mean * mean) / (n - 1) if n > 1 else 0.0
    half = z * population * math.sqrt(max(var, 0.0) / n)
    value = population * mean
    return Estimate(value, max(0.0, value - half), value + half)
