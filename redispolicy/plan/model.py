"""Plans: what would change on one server, and why."""

from __future__ import annotations

from dataclasses import dataclass

from redispolicy.diagnostics import Location
from redispolicy.live.snapshot import Identity
from redispolicy.plan.keys import KeyFindings
from redispolicy.secret import Secret

ACTIONS = ("set", "restart", "protected", "unsupported", "noop")


@dataclass(frozen=True)
class Change:
    parameter: str  # the name the running server uses
    before: str | None  # normalized live value; None when the server does not have it
    after: str  # normalized policy value
    action: str  # one of ACTIONS
    source: Location  # the file:line that set it
    sensitive: bool = False  # before/after then hold "(sensitive)"
    # What CONFIG SET gets: normalized; for client-output-buffer-limit only the classes the
    # policy gives; a Secret for sensitive parameters, so a repr never shows it.
    send: str | Secret = ""
    # Points the server at files or opens code loading (catalog/danger.py): applied only with the
    # policy's allow_dangerous opt-in, and shown as dangerous in every plan.
    dangerous: bool = False

    @property
    def changed(self) -> bool:
        return self.action != "noop"


@dataclass(frozen=True)
class Plan:
    environment: str | None
    identity: Identity
    changes: tuple[Change, ...]  # noop entries included; renderers filter
    config_available: bool = True
    config_reason: str = ""
    keys: KeyFindings | None = None  # None: the policy has no key classes, or --no-keys
    config_declared: str = "available"  # the target's `config:`; "unavailable": CONFIG blocked by design

    @property
    def pending(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.changed)

    @property
    def config_check(self) -> str:
        """checked | not_checked (a failure: never reported as "in sync") | not_checked_expected."""
        if self.config_available:
            return "checked"
        return "not_checked_expected" if self.config_declared == "unavailable" else "not_checked"
