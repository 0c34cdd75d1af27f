"""Which ``ignore:`` rules are in force: one answer for plan and drift alike."""

from __future__ import annotations

import datetime
from typing import Any


def live_rules(rules: tuple[dict[str, Any], ...], today: datetime.date) -> list[dict[str, Any]]:
    """The ignore rules in force: a rule past its ``until`` date (or with a date we cannot read) hides nothing."""
    out = []
    for r in rules:
        until = r.get("until")
        try:
            if until and datetime.date.fromisoformat(str(until)) < today:
                continue
        except ValueError:
            continue
        out.append(r)
    return out
