"""plan/expiry.py and the expired_per_hour health check: pure, no server."""

from __future__ import annotations

import pytest

from redispolicy.diagnostics import Location
from redispolicy.live.model import ExpiryReading
from redispolicy.plan.expiry import HOUR, ExpiryClassifier, per_hour
from redispolicy.plan.health import expiry_check
from redispolicy.policy.model import ExpiryRule, KeyClass

HERE = Location("p.yaml", 1, 1)


def test_classifier_is_the_audits_first_match_rule() -> None:
    classes = (
        KeyClass("locks", "lock:*", HERE),
        KeyClass("nopattern", "", HERE),
        KeyClass("all-locks", "lock*", HERE),  # reachable only for lock without a colon
        KeyClass("rest", "*", HERE),
    )
    classify = ExpiryClassifier(classes)
    assert classify.names == ("locks", "all-locks", "rest")
    assert classify(b"lock:1") == "locks"
    assert classify(b"lockx") == "all-locks"
    assert classify(b"doc:\xff\n") == "rest"  # any byte, newlines included
    assert ExpiryClassifier((KeyClass("locks", "lock:*", HERE),))(b"doc:1") is None
    assert ExpiryClassifier(())(b"x") is None


@pytest.mark.parametrize(
    ("count", "seconds", "judged"),
    [
        (7, 1.2, 7.0),  # under an hour: the count itself, never extrapolated (7 in 1.2 s is not 21000/h)
        (0, 0.5, 0.0),
        (1, HOUR - 1, 1.0),
        (10, HOUR, 10.0),  # an hour or more: the average per hour
        (10, 2 * HOUR, 5.0),
        (3, 3 * HOUR, 1.0),
    ],
)
def test_per_hour(count: int, seconds: float, judged: float) -> None:
    assert per_hour(count, seconds) == judged


def reading(locks: int, seconds: float = 1.0) -> ExpiryReading:
    return ExpiryReading((("locks", locks), ("cache", 50)), 3, seconds)


def test_thresholds_above() -> None:
    rule = ExpiryRule("locks", HERE, warning=5, critical=20)
    assert expiry_check(rule, reading(5), "lock:*").status == "ok"  # "more than 5 per hour"
    warn = expiry_check(rule, reading(6), "lock:*")
    assert (warn.status, warn.value, warn.threshold) == ("warning", 6, 5)
    assert "class locks (lock:*): 6 expired" in warn.detail
    assert expiry_check(rule, reading(21), "lock:*").status == "critical"
    only_critical = ExpiryRule("locks", HERE, critical=2)
    assert expiry_check(only_critical, reading(2)).status == "ok"
    assert expiry_check(only_critical, reading(3)).status == "critical"
    no_threshold = expiry_check(ExpiryRule("locks", HERE), reading(1000))
    assert (no_threshold.status, no_threshold.value) == ("ok", 1000)


def test_a_class_with_no_expirations_is_a_checked_zero() -> None:
    check = expiry_check(ExpiryRule("locks", HERE, warning=5), reading(0))
    assert (check.status, check.value) == ("ok", 0)


def test_unavailable_and_uncounted_are_unknown_never_zero() -> None:
    rule = ExpiryRule("locks", HERE, warning=5)
    off = expiry_check(rule, ExpiryReading((), 0, 0.0, "notifications are off; set it"))
    assert (off.status, off.value) == ("unknown", None) and "unavailable: notifications are off" in off.detail
    none = expiry_check(rule, None)
    assert (none.status, none.value) == ("unknown", None) and "--window" in none.detail


def test_minus_is_a_refresh() -> None:
    later, earlier = reading(9, 3.0), reading(4, 1.0)
    delta = later.minus(earlier)
    assert dict(delta.counts) == {"locks": 5, "cache": 0} and delta.unclassified == 0 and delta.seconds == 2.0
    off = ExpiryReading((), 0, 0.0, "dropped")
    assert not later.minus(off).available and not off.minus(earlier).available
