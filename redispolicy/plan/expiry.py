"""Lock timeouts, judged: which class an expired key belongs to, and a window's count "per hour".

live/expiry.py counts expired-key events; this module is the pure part. Keys are classed by
the key audit's rule (policy/glob.py FirstMatch: the first class whose pattern matches wins), so
a catch-all class (``*``) placed last takes every expired key no earlier class claims.

What ``health.expired_per_hour`` judges (docs/policy-format.md): a window shorter than an hour is
judged on its raw count, because N expirations seen within less than an hour are at least N in an
hour; a burst in a short window is never extrapolated into an alarm (a longer window sees slower
rates). A window of an hour or more is judged on its average per hour (count x 3600 / seconds).
"""

from __future__ import annotations

from redispolicy.policy.glob import FirstMatch
from redispolicy.policy.model import KeyClass

HOUR = 3600.0


class ExpiryClassifier:
    """An expired key's class name (None: no class matches); ``names`` every class that can match."""

    def __init__(self, classes: tuple[KeyClass, ...]) -> None:
        matching = [kc for kc in classes if kc.pattern]  # a class without a pattern matches nothing
        self.names = tuple(kc.name for kc in matching)
        self._first = FirstMatch([kc.pattern for kc in matching])

    def __call__(self, key: bytes) -> str | None:
        i = self._first.index(key)
        return None if i is None else self.names[i]


def per_hour(count: int, seconds: float) -> float:
    """The number a rule's threshold is compared with (see the module docstring)."""
    if seconds < HOUR:
        return float(count)
    return round(count * HOUR / seconds, 1)


def judged_on(seconds: float) -> str:
    """How ``per_hour`` read this window, for the report."""
    if seconds < HOUR:
        return "the count itself (a window under an hour: at least that many in an hour)"
    return "the average per hour over the window"
