"""Confidence statements for a key sample: pure functions, no I/O.

The sampler draws keys uniformly *with replacement* (pipelined RANDOMKEY), so every
draw is an independent Bernoulli trial for "is in class C" or "violates a rule of C":
the binomial model holds exactly and no finite-population correction applies.

* ``wilson(k, n)``: Wilson score interval for a proportion (95 % by default). It keeps
  its coverage for small counts and never leaves [0, 1], unlike the normal
  approximation.
* ``wilson_cc(k, n)``: the same with a continuity correction (Newcombe 1998, method 4).
  Plain Wilson covers the truth ~95 % *on average* but dips below where violations live:
  rare rates. Its exact coverage at n = 2000 draws falls to 93.8 % (p = 0.4 %), at
  n = 200 to 91.0 % (p = 0.25 %); the corrected interval stays >= 95.0 % over the same
  grid of rates (exact binomial sums, tests/plan/test_stats.py) for ~0.5/n more width.
  Key-audit estimates use it, so "95 %" is a floor, not an average.
* ``zero_upper_bound(n)``: with 0 successes in n trials, the exact one-sided bound
  ``1 - alpha**(1/n)`` (about 3/n, the rule of three).
* ``estimate_total(k, n, population)``: a count in the keyspace estimated from k of n
  draws, as (value, low, high) = population × ``wilson_cc``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

Z95 = 1.959963984540054  # two-sided 95 %: the 0.975 quantile of the standard normal
CONFIDENCE = 0.95


class Estimate(NamedTuple):
    """A point estimate with its interval; an exact count has value == low == high."""

    value: float
    low: float
    high: float

    @classmethod
    def exact(cls, count: float) -> Estimate:
        return cls(count, count, count)

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def scaled(self, factor: float) -> Estimate:
        return Estimate(self.value * factor, self.low * factor, self.high * factor)


def _nothing_known(k: int, n: int) -> bool:
    """Checks 0 <= k <= n; True when n == 0, where every interval is (0, 0, 1)."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    return n == 0


def wilson(k: int, n: int, z: float = Z95) -> Estimate:
    """Wilson score interval for k successes in n trials; (0, 0, 1) when n == 0 (nothing known)."""
    if _nothing_known(k, n):
        return Estimate(0.0, 0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # The exact ends: the formula gives them up to rounding, and 0 / n must not report -1e-17.
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return Estimate(p, low, high)


def wilson_cc(k: int, n: int, z: float = Z95) -> Estimate:
    """Wilson score interval with continuity correction for k successes in n trials."""
    if _nothing_known(k, n):
        return Estimate(0.0, 0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 2 * (n + z2)
    low = (
        0.0
        if k == 0
        else max(
            0.0, (2 * n * p + z2 - 1 - z * math.sqrt(z2 - 2 - 1 / n + 4 * p * (n * (1 - p) + 1))) / denom
        )
    )
    high = (
        1.0
        if k == n
        else min(
            1.0, (2 * n * p + z2 + 1 + z * math.sqrt(z2 + 2 - 1 / n + 4 * p * (n * (1 - p) - 1))) / denom
        )
    )
    return Estimate(p, low, high)


def zero_upper_bound(n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided upper bound on a rate when 0 of n draws showed it: 1 - (1 - confidence)^(1/n)."""
    if n <= 0:
        return 1.0
    return 1.0 - float((1.0 - confidence) ** (1.0 / n))


def estimate_total(k: int, n: int, population: int, z: float = Z95) -> Estimate:
    """How many of ``population`` keys have the property, from k of n uniform draws."""
    return wilson_cc(k, n, z).scaled(population)


def zero_upper_bound_total(n: int, population: int, confidence: float = CONFIDENCE) -> float:
    """Upper bound on how many keys have the property when 0 of n uniform draws had it."""
    return zero_upper_bound(n, confidence) * population


def draws_to_catch(rate: float, confidence: float = CONFIDENCE) -> int:
    """Draws needed to see at least one key with a property of the given rate (ln(1-c) / ln(1-p))."""
    if not 0 < rate < 1:
        raise ValueError("rate must be in (0, 1)")
    return math.ceil(math.log(1 - confidence) / math.log(1 - rate))
