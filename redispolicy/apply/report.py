"""What an apply did: the input of the apply renderers."""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT = {"applied": 0, "nothing": 0, "stale": 1, "refused": 1, "rolled_back": 1, "declined": 1,
        "partial": 3, "unknown": 3, "not_persisted": 3}

NEXT_STEP = {
    "restart": "set it in the server's config file and restart the server",
    "protected": "allow it with enable-protected-configs (startup-only) or set it in the config file",
    "unsupported": "this server version does not have it: upgrade the server or drop it from the policy",
}


@dataclass(frozen=True)
class AppliedChange:
    parameter: str
    before: str | None
    after: str | None
    sensitive: bool


@dataclass(frozen=True)
class ApplyReport:
    environment: str | None
    address: str
    status: str  # a key of EXIT
    detail: str = ""
    applied: tuple[AppliedChange, ...] = ()
    verified: bool = False
    persisted: bool | None = None  # None: not asked for
    not_applied: tuple[tuple[str, str], ...] = ()  # (parameter, action)
    moved: tuple[str, ...] = ()  # why a saved plan is stale
    mismatches: tuple[str, ...] = ()
    now_live: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]
