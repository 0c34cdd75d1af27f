"""What an apply did: the input of the apply renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from redispolicy.apply.remediate import RemediationResult

ApplyStatus = Literal[
    "applied", "nothing", "stale", "refused", "rolled_back", "declined", "partial", "unknown", "not_persisted"
]
KeysStatus = Literal["done", "nothing", "skipped", "interrupted", "failed"]

EXIT: dict[ApplyStatus, int] = {
    "applied": 0,
    "nothing": 0,
    "stale": 1,
    "refused": 1,
    "rolled_back": 1,
    "declined": 1,
    "partial": 3,
    "unknown": 3,
    "not_persisted": 3,
}

CHANGED = ("applied", "partial", "unknown", "not_persisted")  # the server may now differ from before

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


KEYS_CUT_OFF = ("interrupted", "failed")  # key remediation started and did not finish: exit 3


@dataclass(frozen=True)
class KeysOutcome:
    """What `apply --remediate-keys` did to keys, after the config step.

    status: done (every db scanned) | nothing (no class has remediate: true with ttl.max) |
    skipped (the config step did not end as planned: no key was changed) | interrupted (Ctrl-C) |
    failed (an error); after interrupted/failed, ``result`` holds what was changed so far.
    """

    status: KeysStatus
    result: RemediationResult | None = None
    detail: str = ""


@dataclass(frozen=True)
class Unreached:
    """The nodes of its deployment an apply did not change: CONFIG SET changes one node.

    ``mode`` and ``replicas`` are the server's own (INFO): a cluster node (``mode ==
    "cluster"``: every other node), or a primary with ``replicas`` connected replicas. Data
    only; renderers word it (render/text/common.this_node_only).
    """

    mode: str
    replicas: int = 0

    @classmethod
    def of(cls, mode: str, replicas: int) -> Unreached | None:
        """What a change on a node of this ``mode`` with ``replicas`` leaves out; None: nothing."""
        return cls(mode, replicas) if mode == "cluster" or replicas > 0 else None


NodeStatus = Literal[ApplyStatus, "not_reached", "unhealthy"]


@dataclass(frozen=True)
class NodeOutcome:
    """One node of a deployment rollout: what happened there, and what it runs now (read back after
    the rollout, for every parameter planned anywhere; "(sensitive)" for a secret, None: absent or
    not readable)."""

    address: str
    role: str
    status: NodeStatus
    detail: str = ""
    now: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class ApplyReport:
    environment: str | None
    address: str
    status: ApplyStatus
    detail: str = ""
    applied: tuple[AppliedChange, ...] = ()
    verified: bool = False
    persisted: bool | None = None  # None: not asked for
    not_applied: tuple[tuple[str, str], ...] = ()  # (parameter, action)
    moved: tuple[str, ...] = ()  # why a saved plan is stale
    mismatches: tuple[str, ...] = ()
    now_live: dict[str, str] = field(default_factory=dict)
    keys: KeysOutcome | None = None  # None: --remediate-keys was not given
    unreached: Unreached | None = None  # the nodes this apply did not reach (replicas, other cluster nodes)
    audit_error: str = ""  # the change happened but its audit record could not be written
    nodes: tuple[NodeOutcome, ...] = ()  # a deployment rollout: every node, in rollout order

    @property
    def changed_something(self) -> bool:
        return self.status in CHANGED

    @property
    def exit_code(self) -> int:
        if self.keys is not None and self.keys.status in KEYS_CUT_OFF:
            return max(EXIT[self.status], 3)  # config as planned, keys partly remediated: partially applied
        keys_changed = self.keys is not None and self.keys.result is not None and self.keys.result.changed > 0
        if self.audit_error and (self.changed_something or keys_changed):
            return max(
                EXIT[self.status], 3
            )  # changed, but the trail does not say so: never "nothing changed"
        return EXIT[self.status]
