"""Which class owns a key, for the stages that change keys (remediation, cleanup).

The same rule as the key audit (plan/keys.py): Redis glob semantics over the
name's bytes (``policy.glob.FirstMatch``), and the first matching class wins — so a class that is shadowed in `plan` is shadowed here too.
Keys redispolicy itself keeps on the server (the apply lock, the audit stream) are
never touched, whatever a pattern says.
"""

from __future__ import annotations

from redispolicy.apply.lock import LOCK_KEY
from redispolicy.policy.glob import FirstMatch
from redispolicy.policy.model import KeyClass


class Classifier:
    def __init__(
        self,
        classes: tuple[KeyClass, ...] | list[KeyClass],
        reserved: frozenset[bytes] = frozenset({LOCK_KEY.encode()}),
    ) -> None:
        self.classes = [kc for kc in classes if kc.pattern]
        self.first = FirstMatch([kc.pattern for kc in self.classes])
        self.reserved = reserved

    def classify_all(self, keys: list[bytes]) -> list[KeyClass | None]:
        """``classify`` for a batch, in one regex pass (policy.glob.FirstMatch.numbers)."""
        slots: list[KeyClass | None] = [None, *self.classes, None]
        reserved = self.reserved
        return [
            None if key in reserved else slots[n]
            for key, n in zip(keys, self.first.numbers(keys), strict=True)
        ]

    def classify(self, key: bytes) -> KeyClass | None:
        """The first class whose pattern matches the key; None for unclassified and reserved keys."""
        if key in self.reserved:
            return None
        i = self.first.index(key)
        return None if i is None else self.classes[i]


def show(key: bytes) -> str:
    """A key name for display (names only, never values)."""
    return key.decode("utf-8", "backslashreplace")
