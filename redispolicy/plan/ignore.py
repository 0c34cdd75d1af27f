"""Which ``ignore:`` rules are in force: one answer for plan and drift alike."""

from __future__ import annotations

import datetime

from redispolicy.policy.model import IgnoreRule


def live_rules(rules: tuple[IgnoreRule, ...], today: datetime.date) -> list[IgnoreRule]:
    """The ignore rules in force: a rule past its ``until`` date (or with a date we cannot read) hides nothing."""
    return [r for r in rules if r.in_force(today)]
