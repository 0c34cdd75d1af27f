"""redispolicy compare ENV_A ENV_B [--live]: how two environments differ, and whether they were meant to.

Exit codes: 0 the same, or only declared (expected) differences; 2 an unexpected difference
(a promotion gate in CI); 1 an error (an environment missing, a policy invalid, a server
not reached or without CONFIG). Stale expected_differences entries are warnings only.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import redis

from redispolicy.commands import Options, Result
from redispolicy.commands.output import render_result
from redispolicy.diagnostics import Severity
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions, address, connect
from redispolicy.live.model import ConfigSnapshot, Identity
from redispolicy.live.snapshot import config_snapshot, identify, with_exact
from redispolicy.plan.compare import hidden_names
from redispolicy.plan.envdiff import compare_live, compare_policies
from redispolicy.policy.checks import check
from redispolicy.policy.model import Policy
from redispolicy.policy.resolve import PolicySet
from redispolicy.render import renderer
from redispolicy.report import ValidationReport


@dataclass(frozen=True)
class CompareRequest:
    env_a: str
    env_b: str
    live: bool = False  # the two targets' CONFIG GET * instead of the two policies


def run(opts: Options, req: CompareRequest) -> Result:
    # Without --live no server is contacted and no secret is needed: an unset ${VAR} compares as
    # the reference it is (CI can gate a promotion on the policies alone).
    pset = PolicySet(opts.policy_dir, opts.environ, connecting=req.live)
    loaded = []
    for env in (req.env_a, req.env_b):
        policy, failed = _load(pset, env, opts)
        if failed is not None:
            return failed
        assert policy is not None
        loaded.append(policy)
    a, b = loaded
    if req.live:
        comparison = compare_live(a, b, (_observe(a, b), _observe(b, a)))
    else:
        comparison = compare_policies(a, b)
    return render_result(opts, "comparison", comparison, 2 if comparison.unexpected else 0)


def _load(pset: PolicySet, env: str, opts: Options) -> tuple[Policy | None, Result | None]:
    """The environment's effective policy, or (exit 1) the validate report of why it has none."""
    path = pset.env_file(env)  # an unknown environment: PolicyError, exit 1, naming the known ones
    res = pset.resolve(path)
    found = [*res.diagnostics, *(check(res.policy, datetime.date.today()) if res.policy else ())]
    errors = tuple(d for d in found if d.severity == Severity.ERROR)
    if res.policy is None or errors:
        report = ValidationReport((str(path),), (env,), errors)
        return None, Result(renderer("text", "validation")(report, opts.style), 1)
    return res.policy, None


def _observe(policy: Policy, other: Policy) -> tuple[Identity, ConfigSnapshot]:
    """The server of ``policy``'s target: who it is and its whole configuration.

    Hidden parameters (left out of CONFIG GET *) that either policy manages are read by name on
    both servers, so one side does not look as if it lacked them.
    """
    from redispolicy.commands.plan import connect_options  # the same URL, TLS and sentinel handling

    if policy.target is None:
        raise RedispolicyError(
            f"environment '{policy.environment}' has no single target: compare --live reads one server "
            "per environment",
            f"give {policy.file} a target: with url (or sentinel); a targets: fleet is compared per "
            "target with `redispolicy drift`",
        )
    conn: ConnectOptions = connect_options(policy, None)
    client = connect(conn)
    where = address(conn.url.reveal())
    try:
        identity = identify(client, where)
        snapshot = config_snapshot(client)
        if not snapshot.available:
            raise RedispolicyError(
                f"environment '{policy.environment}': {identity.address}: {snapshot.reason}",
                "compare --live needs CONFIG GET on both servers; compare the policies without --live",
            )
        names = sorted({*hidden_names(policy, identity), *hidden_names(other, identity)})
        return identity, with_exact(client, snapshot, names)
    except redis.RedisError as exc:  # the connection dropped, or CONFIG GET of a name was refused
        raise RedispolicyError(
            f"environment '{policy.environment}': reading {where} failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no reason given'})",
            "check the server and that the target's user may run INFO and CONFIG GET",
        ) from None
    finally:
        client.close()
