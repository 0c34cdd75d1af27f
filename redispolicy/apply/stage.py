"""The apply stage: change one server's config to exactly the reviewed plan, or nothing.

``apply_config`` runs under the apply lock (the command takes it): it reads the server's
whole configuration, proves the saved plan still describes the server (``moved``) and is
the policy's (``rederive``), builds what to send from the policy, hands it to the engine
(atomic, fenced, verified by reading back, rolled back on failure) and persists it with
``CONFIG REWRITE`` when the policy says ``persist: true``. It never prints or exits; run-
stoppers are ``RedispolicyError``s, every other outcome is an ``ApplyReport``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis

from redispolicy.apply.engine import EngineResult, Item, apply_items
from redispolicy.apply.lock import Fence
from redispolicy.apply.report import AppliedChange, ApplyReport, ApplyStatus
from redispolicy.catalog.features import supports_multi_config_set
from redispolicy.catalog.params import catalog
from redispolicy.errors import RedispolicyError
from redispolicy.live.call import execute
from redispolicy.live.model import Identity
from redispolicy.live.snapshot import config_snapshot, with_exact
from redispolicy.plan.compare import compare as compare_plan
from redispolicy.plan.compare import hidden_names
from redispolicy.plan.planfile import SavedPlan, moved, rederive
from redispolicy.policy.model import Policy
from redispolicy.secret import Secret


@dataclass(frozen=True)
class ConfigRequest:
    """What the config step needs: the reviewed plan, the policy it must re-derive from, the
    server it is bound to, the fingerprint/signing key, and the lock's fence (None: --no-lock)."""

    saved: SavedPlan
    policy: Policy
    identity: Identity
    key: bytes
    fence: Fence | None = None


def config_unavailable_expected(policy: Policy) -> bool:
    """`target: {config: unavailable}`: a managed service whose CONFIG is blocked by design."""
    return policy.target is not None and policy.target.config == "unavailable"


@contextlib.contextmanager
def before_any_change(addr: str, grant: str) -> Iterator[None]:
    """Errors met before anything was sent that changes the server: a clean message, exit 1."""
    try:
        yield
    except redis.exceptions.NoPermissionError as exc:
        raise RedispolicyError(
            f"{addr}: the ACL user may not do what apply needs, nothing was changed: "
            f"NOPERM {str(exc).splitlines()[0]}",
            f"grant the apply user {grant}",
        ) from None
    except redis.ResponseError as exc:  # e.g. CLUSTERDOWN, LOADING, READONLY: the server's state, not ours
        raise RedispolicyError(
            f"{addr}: the server refused what apply needs, nothing was changed: {str(exc).splitlines()[0]}",
            "check the server's state (INFO, CLUSTER INFO), then run apply again",
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise RedispolicyError(
            f"lost the connection to {addr} before changing anything, nothing was changed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
            "check the server and the network, then run apply again",
        ) from None


def secret_for(policy: Policy, parameter: str, identity_product: str, identity_version: str) -> Secret | None:
    """The policy's value for a sensitive parameter, found by the name the server uses."""
    sc = catalog().for_server(identity_product, identity_version)
    for s in policy.config:
        look = sc.lookup(s.name) if sc.covered else catalog().lookup(s.name)
        if look is not None and look.canonical == parameter and isinstance(s.value.value, Secret):
            return s.value.value
    return None


@dataclass(frozen=True)
class Ready:
    """A node checked and ready to change: what to send (built from the policy) and what to report."""

    items: tuple[Item, ...]
    applied: tuple[AppliedChange, ...]
    not_applied: tuple[tuple[str, str], ...]


def apply_config(
    client: redis.Redis, reconnect: Callable[[], redis.Redis], req: ConfigRequest
) -> ApplyReport:
    """Under the lock: read the server, check the plan still describes it and is the policy's, apply,
    verify, persist.

    What is sent comes from the policy compared with the server now (``fresh``), never from
    the file: the file only selects which of the policy's changes were reviewed. ``reconnect``
    opens a new connection to the same server (db 0) after a lost one; those are closed here.
    """
    ready = prepare(client, req)
    return ready if isinstance(ready, ApplyReport) else change(client, reconnect, req, ready)


def prepare(client: redis.Redis, req: ConfigRequest) -> ApplyReport | Ready:
    """Read the server and check the plan (``moved``, ``rederive``) without changing anything:
    a ``Ready`` to hand to ``change``, or the report of why this node is not changed."""
    saved, policy, identity, key = req.saved, req.policy, req.identity, req.key
    env, addr = saved.environment, identity.address
    not_applied = tuple((c.parameter, c.action) for c in saved.changes if c.action != "set")
    with before_any_change(addr, "+config|get and +config|set"):
        snapshot = with_exact(client, config_snapshot(client), hidden_names(policy, identity))
    if not snapshot.available:
        if config_unavailable_expected(policy) and not saved.changes:
            return ApplyReport(
                env, addr, "nothing", "config not checked here (expected: target.config: unavailable)"
            )
        return ApplyReport(
            env,
            addr,
            "refused",
            f"config could not be checked, so nothing was changed: {snapshot.reason}",
            not_applied=not_applied,
        )
    fresh = compare_plan(policy, identity, snapshot)
    raw_now: dict[str, str | Secret] = {}
    normalized_now: dict[str, str | None] = {}
    by_name = {c.parameter: c for c in fresh.changes}
    for c in saved.changes:
        value = snapshot.values.get(c.parameter)
        if value is None:
            normalized_now[c.parameter] = None
            continue
        raw_now[c.parameter] = value
        if not isinstance(value, Secret):
            want = by_name.get(c.parameter)
            # compare() normalized the live value the same way when it made `before`
            normalized_now[c.parameter] = want.before if want is not None else value
    # Forged entries first (what does not depend on the server's values), then staleness, then the rest.
    forged = rederive(saved, fresh, key, static=True)
    why = [] if forged else moved(saved, identity.run_id, raw_now, normalized_now, key)
    if why:
        return ApplyReport(
            env,
            addr,
            "stale",
            "the server moved since the plan was made",
            moved=tuple(why),
            not_applied=not_applied,
        )
    forged = forged or rederive(saved, fresh, key)
    if forged:
        return ApplyReport(
            env,
            addr,
            "refused",
            "the plan asks for changes the policy does not: it was not made "
            "from these policy files, or was edited",
            moved=tuple(forged),
            not_applied=not_applied,
        )
    cat = catalog()
    items: list[Item] = []
    applied: list[AppliedChange] = []
    for c in saved.settable:
        want = by_name[c.parameter]
        look = cat.lookup(c.parameter)
        assert look is not None  # compare() only makes changes for parameters the catalog knows
        before = raw_now.get(c.parameter, "")
        if want.sensitive:
            secret = secret_for(policy, c.parameter, identity.product, identity.version)
            if secret is None:
                return ApplyReport(
                    env,
                    addr,
                    "stale",
                    f"the value of {c.parameter} in the environment is not the one planned",
                    not_applied=not_applied,
                )
            items.append(Item(c.parameter, look.param, secret, secret, before))
            applied.append(AppliedChange(c.parameter, "(sensitive)", "(sensitive)", True))
        else:
            items.append(Item(c.parameter, look.param, str(want.send), want.after, before))
            applied.append(AppliedChange(c.parameter, want.before, want.after, False))
    if not items:
        return ApplyReport(env, addr, "nothing", not_applied=not_applied)
    return Ready(tuple(items), tuple(applied), not_applied)


def change(
    client: redis.Redis, reconnect: Callable[[], redis.Redis], req: ConfigRequest, ready: Ready
) -> ApplyReport:
    """Send a prepared node's changes (atomic, fenced, verified, rolled back on failure), then persist."""
    policy, identity = req.policy, req.identity
    env, addr = req.saved.environment, identity.address
    items, applied, not_applied = list(ready.items), ready.applied, ready.not_applied
    multi = supports_multi_config_set(identity.product, identity.version)

    extra: list[redis.Redis] = []  # reconnections after a lost connection, closed below
    first = True

    def reuse_then_reconnect() -> redis.Redis:
        nonlocal first
        if first:
            first = False
            return client
        extra.append(reconnect())
        return extra[-1]

    try:
        # Fenced: the change takes effect only while this apply still holds the lock.
        result: EngineResult = apply_items(reuse_then_reconnect, items, multi, fence=req.fence)
    finally:
        for again in extra:
            with contextlib.suppress(redis.RedisError, OSError):
                again.close()
    if result.status != "applied":
        return ApplyReport(
            env,
            addr,
            result.status,
            result.detail,
            tuple(applied),
            not_applied=not_applied,
            mismatches=result.mismatches,
            now_live=result.now_live,
        )
    status: ApplyStatus = "applied"
    detail, persisted = "", None
    if policy.persist:
        status, detail, persisted = persist(client)
    return ApplyReport(
        env,
        addr,
        status,
        detail,
        tuple(applied),
        verified=True,
        persisted=persisted,
        not_applied=not_applied,
        now_live=result.now_live,
    )


def persist(client: redis.Redis) -> tuple[ApplyStatus, str, bool | None]:
    """CONFIG REWRITE after a verified apply: (status, detail, persisted)."""
    try:
        execute(client, "CONFIG", "REWRITE")
    except redis.ResponseError as exc:
        return "not_persisted", f"applied at runtime, not persisted: {str(exc).splitlines()[0]}", False
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return "not_persisted", f"applied at runtime, not persisted: {type(exc).__name__}", False
    return "applied", "", True
