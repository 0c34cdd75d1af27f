"""The sentinels' view as drift health checks: who answered, whether a quorum is reachable, one primary.

``target.sentinel`` makes the sentinels part of the deployment: if too few of them are
reachable, no failover can be authorized when the primary dies; if they name different
primaries, clients are being sent to different nodes. Both are findings (kind ``health``,
critical, anchored at ``target.sentinel``), in every drift format; a sentinel that does not
answer while a quorum is still reachable is shown (detail) but is no finding.
"""

from __future__ import annotations

from redispolicy.diagnostics import Location
from redispolicy.live.model import SentinelView
from redispolicy.plan.drift import Finding
from redispolicy.plan.health import HealthCheck, Status


def sentinel_checks(view: SentinelView) -> tuple[HealthCheck, ...]:
    """sentinels_answered, sentinel_quorum and sentinel_primary_agreement for ``view``'s service."""
    return (_answered(view), _quorum(view), _agreement(view))


def _answered(view: SentinelView) -> HealthCheck:
    answered = view.answered
    silent = [a for a in view.answers if a.primary is None]
    detail = f"{len(answered)} of {len(view.answers)} sentinels named a primary for {view.service!r}"
    if silent:
        detail += "; no answer from " + "; ".join(f"{a.address} ({a.error})" for a in silent)
    return HealthCheck("sentinels_answered", len(answered), "ok" if answered else "critical", None, detail)


def _quorum(view: SentinelView) -> HealthCheck:
    asked = [a for a in view.answered if a.quorum_ok is not None]
    ok = [a for a in asked if a.quorum_ok]
    said = "; ".join(f"{a.address}: {a.quorum or '(no reply)'}" for a in view.answered)
    status: Status
    if ok:
        status = "ok" if len(ok) == len(asked) else "warning"  # some sentinels see too few peers
        lead = "a quorum of sentinels is reachable (SENTINEL CKQUORUM)"
    elif asked:
        status, lead = "critical", "no quorum of sentinels is reachable: a failover cannot be authorized"
    else:
        status, lead = "unknown", "SENTINEL CKQUORUM could not be asked"
    return HealthCheck("sentinel_quorum", len(ok), status, None, f"{lead}; {said}" if said else lead)


def _agreement(view: SentinelView) -> HealthCheck:
    named = view.primaries()
    said = "; ".join(
        f"{', '.join(who)} {'says' if len(who) == 1 else 'say'} {_address(p)}" for p, who in named.items()
    )
    if len(named) > 1:
        return HealthCheck(
            "sentinel_primary_agreement",
            len(named),
            "critical",
            None,
            f"the sentinels disagree on the primary of {view.service!r}: {said}",
        )
    if not named:
        return HealthCheck("sentinel_primary_agreement", 0, "unknown", None, "no sentinel named a primary")
    return HealthCheck(
        "sentinel_primary_agreement", 1, "ok", None, f"the sentinels agree on the primary: {said}"
    )


def sentinel_findings(checks: tuple[HealthCheck, ...], location: Location) -> list[Finding]:
    """A health finding per failing check, anchored at the policy's target.sentinel."""
    return [
        Finding(
            "health",
            h.check,
            f"{h.check}: {h.detail}",
            "critical" if h.status == "critical" else "warning",
            location,
        )
        for h in checks
        if h.status in ("warning", "critical")
    ]


def _address(primary: tuple[str, int]) -> str:
    """host:port; an IPv6 host in brackets (as live.topology.node_address, without loading redis-py here)."""
    host, port = primary
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
