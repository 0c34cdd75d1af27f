"""Judging keys against the policy's classes: the first matching class wins (Redis glob semantics).

Per class: matched, violations (no_ttl, ttl_over_max, ttl_forbidden, wrong_type,
oversized), keys that vanished mid-check (excluded from every denominator),
remaining-TTL p50/p90/max and up to five example key names per class — names only,
never values. ``KeyJudge`` accumulates batch by batch, so a million keys never sit in
memory as objects.
"""

from __future__ import annotations

import array
import re
from dataclasses import dataclass, field

from redispolicy.live.keyscan import Observation
from redispolicy.policy.glob import to_regex
from redispolicy.policy.model import KeyClass

VIOLATIONS = ("no_ttl", "ttl_over_max", "ttl_forbidden", "wrong_type", "oversized")
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class ClassFindings:
    name: str
    pattern: str
    matched: int
    vanished: int
    violations: dict[str, int]
    ttl_p50: int | None  # seconds, over keys with a TTL
    ttl_p90: int | None
    ttl_max: int | None
    examples: tuple[str, ...]  # violating key names (decoded for display)
    memory_bytes: int | None = None  # summed MEMORY USAGE, when measured

    @property
    def violating(self) -> int:
        return sum(self.violations.values())


@dataclass(frozen=True)
class KeyFindings:
    mode: str  # exact | sample
    dbsize: int
    scanned: int
    classes: tuple[ClassFindings, ...]
    unclassified: int
    unclassified_examples: tuple[str, ...] = ()
    duplicates: int = 0

    @property
    def violations(self) -> int:
        return sum(c.violating for c in self.classes)


@dataclass
class _Acc:
    kc: KeyClass
    regex: re.Pattern[str]
    matched: int = 0
    vanished: int = 0
    violations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VIOLATIONS, 0))
    ttls: array.array[int] = field(default_factory=lambda: array.array("q"))
    examples: list[str] = field(default_factory=list)
    memory: int = 0
    measured: bool = False


def _show(key: bytes) -> str:
    return key.decode("utf-8", "backslashreplace")


class KeyJudge:
    def __init__(self, classes: tuple[KeyClass, ...]) -> None:
        self.accs = [_Acc(kc, to_regex(kc.pattern)) for kc in classes if kc.pattern]
        self.unclassified = 0
        self.unclassified_examples: list[str] = []

    @property
    def needs_type(self) -> bool:
        return any(a.kc.type for a in self.accs)

    @property
    def needs_memory(self) -> bool:
        return any(a.kc.max_size is not None for a in self.accs)

    def classify(self, key: bytes) -> _Acc | None:
        text = key.decode("utf-8", "surrogateescape")
        for acc in self.accs:
            if acc.regex.fullmatch(text):
                return acc
        return None

    def add(self, batch: list[Observation]) -> None:
        for ob in batch:
            acc = self.classify(ob.key)
            if acc is None:
                if ob.pttl != -2:
                    self.unclassified += 1
                    if len(self.unclassified_examples) < MAX_EXAMPLES:
                        self.unclassified_examples.append(_show(ob.key))
                continue
            self._judge(acc, ob)

    def _judge(self, acc: _Acc, ob: Observation) -> None:
        if ob.pttl == -2:
            acc.vanished += 1
            return
        acc.matched += 1
        kc = acc.kc
        bad: list[str] = []
        if ob.pttl >= 0:
            acc.ttls.append(ob.pttl // 1000)
        if kc.persistent and ob.pttl >= 0:
            bad.append("ttl_forbidden")
        if kc.ttl_max is not None:
            if ob.pttl == -1:
                bad.append("no_ttl")
            elif ob.pttl > kc.ttl_max * 1000:
                bad.append("ttl_over_max")
        if kc.type and ob.type is not None and ob.type != kc.type:
            bad.append("wrong_type")
        if ob.memory is not None:
            acc.measured = True
            acc.memory += ob.memory
            if kc.max_size is not None and ob.memory > kc.max_size:
                bad.append("oversized")
        for b in bad:
            acc.violations[b] += 1
        if bad and len(acc.examples) < MAX_EXAMPLES:
            acc.examples.append(_show(ob.key))

    def finish(self, mode: str, dbsize: int, scanned: int, duplicates: int = 0) -> KeyFindings:
        return KeyFindings(mode, dbsize, scanned, tuple(self._class(a) for a in self.accs), self.unclassified,
                           tuple(self.unclassified_examples), duplicates)

    @staticmethod
    def _class(acc: _Acc) -> ClassFindings:
        ttls = sorted(acc.ttls)

        def q(p: float) -> int | None:
            return ttls[min(len(ttls) - 1, int(p * len(ttls)))] if ttls else None

        return ClassFindings(acc.kc.name, acc.kc.pattern, acc.matched, acc.vanished, dict(acc.violations),
                             q(0.5), q(0.9), ttls[-1] if ttls else None, tuple(acc.examples),
                             acc.memory if acc.measured else None)
