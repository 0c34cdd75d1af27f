"""Which class owns a key, for the stages that change keys (remediation, cleanup).

The same rule as the key audit (plan/keys.py): Redis glob semantics through
``policy.glob.to_regex``, key names decoded with ``surrogateescape``, and the first
matching class wins — so a class that is shadowed in `plan` is shadowed here too.
Keys redispolicy itself keeps on the server (the apply lock, the audit stream) are
never touched, whatever a pattern says.
"""

from __future__ import annotations

import re

from redispolicy.apply.lock import LOCK_KEY
from redispolicy.policy.glob import to_regex
from redispolicy.policy.model import KeyClass


class Classifier:
    def __init__(self, classes: tuple[KeyClass, ...] | list[KeyClass],
                 reserved: frozenset[bytes] = frozenset({LOCK_KEY.encode()})) -> None:
        self.rules: list[tuple[KeyClass, re.Pattern[str]]] = [(kc, to_regex(kc.pattern))
                                                              for kc in classes if kc.pattern]
        self.reserved = reserved

    def classify(self, key: bytes) -> KeyClass | None:
        """The first class whose pattern matches the key; None for unclassified and reserved keys."""
        if key in self.reserved:
            return None
        text = key.decode("utf-8", "surrogateescape")
        for kc, regex in self.rules:
            if regex.fullmatch(text):
                return kc
        return None


def show(key: bytes) -> str:
    """A key name for display (names only, never values)."""
    return key.decode("utf-8", "backslashreplace")
