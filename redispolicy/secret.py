"""A value that cannot print itself.

Secrets are wrapped where they enter (``${VAR}`` interpolation into a sensitive
parameter or a target URL) so that an f-string, a log line, a traceback's repr or
a JSON dump shows ``(sensitive)`` rather than the value. ``reveal()`` is the one
deliberate way out, used only where the value goes to the server.
"""

from __future__ import annotations

import hashlib
import hmac

REDACTED = "(sensitive)"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self, key: bytes) -> str:
        """A keyed digest: shows whether a value changed without disclosing it."""
        return hmac.new(key, self._value.encode(), hashlib.sha256).hexdigest()[:16]

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", hashlib.sha256(self._value.encode()).digest()))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would carry the clear text to wherever the pickle goes.
        raise TypeError("a Secret cannot be pickled")
