"""redispolicy plan -e ENV: observe the server, diff against the policy, show (and save) the plan.

Exit codes: 0 (no changes, or changes without --detailed-exitcode), 2 changes present
with --detailed-exitcode, 1 error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from redispolicy import __version__, keyfile
from redispolicy.commands import Options, Result
from redispolicy.commands.keyaudit import audit_keys
from redispolicy.commands.output import render_result
from redispolicy.diagnostics import Severity
from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    ConnectOptions,
    address,
    check_url,
    connect,
    for_node,
)
from redispolicy.live.model import ConfigSnapshot, Identity
from redispolicy.live.sentinel import SentinelSpec, agreed_primary, ask
from redispolicy.live.snapshot import config_snapshot, identify, with_exact
from redispolicy.live.topology import Deployment, Member, discover
from redispolicy.plan.compare import compare, hidden_names
from redispolicy.plan.model import NodePlan, Plan
from redispolicy.plan.planfile import Provenance, file_digest, to_document
from redispolicy.policy.checks import check
from redispolicy.policy.model import Policy, SentinelTarget, Target
from redispolicy.policy.resolve import PolicySet, display_path
from redispolicy.render import renderer
from redispolicy.report import ValidationReport
from redispolicy.secret import Secret


def load_policy(opts: Options, env: str, url_given: bool) -> tuple[Policy | None, Result | None]:
    """The effective policy with every variable set, or the Result that explains why not."""
    pset = PolicySet(opts.policy_dir, opts.environ, connecting=True)
    path = pset.env_file(env)
    res = pset.resolve(path)
    # The policy must be valid to be compared: the same checks as validate, run here too.
    found = [*res.diagnostics, *(check(res.policy, datetime.date.today()) if res.policy else ())]
    every_error = tuple(d for d in found if d.severity == Severity.ERROR)
    # --url stands in for the target's address: errors under target are moot, unless the policy
    # could not be built at all (then they are why, and "valid" would be a lie).
    errors = tuple(d for d in every_error if not (url_given and d.path.startswith("$.target")))
    if res.policy is None:
        errors = every_error
    if res.policy is None or errors:
        report = ValidationReport((str(path),), (env,), errors)
        return None, Result(renderer("text", "validation")(report, opts.style), 1)
    return res.policy, None


def connect_options(policy: Policy, url: str | None, target: Target | None = None) -> ConnectOptions:
    """How to reach the target: its URL (or --url), credentials, timeouts and TLS settings.

    --url replaces the address only: how the server is trusted (target.tls) and how long to
    wait for it (target.connect_timeout, read_timeout) stay the reviewed policy's. The URL is checked here (check_url), so a bad or TLS-weakening one
    is a clean error that says where the URL came from, before anything connects.

    A ``target.sentinel`` (without --url) is resolved here, so every command reaches the
    service's current primary: after a failover the next run follows the sentinels.
    """
    target = target or policy.target
    if url:
        connect_timeout, read_timeout = _timeouts(target)
        opts = ConnectOptions(
            Secret(url), connect_timeout=connect_timeout, read_timeout=read_timeout, **_tls_settings(target)
        )
        origin = "--url"
    elif target is None or (target.sentinel is None and (target.url is None or target.url.value is None)):
        raise RedispolicyError(
            f"environment '{policy.environment}' has no target URL",
            "add target.url (or target.sentinel) to the policy, or pass --url redis://host:port",
        )
    else:
        opts = ConnectOptions(
            url=_target_url(target),
            username=str(target.username.value) if target.username and target.username.value else None,
            password=target.password.value
            if target.password and isinstance(target.password.value, Secret)
            else None,
            connect_timeout=_timeouts(target)[0],
            read_timeout=_timeouts(target)[1],
            **_tls_settings(target),
        )
        origin = (
            f"target.url at {target.url.source.short}"
            if target.url is not None
            else f"target.sentinel at {target.sentinel.location.short}"  # type: ignore[union-attr]
        )
    try:
        check_url(opts)
    except RedispolicyError as exc:
        raise RedispolicyError(f"{exc.message} ({origin})", exc.hint) from None
    if not url and target is not None and target.sentinel is not None:
        return sentinel_primary(target.sentinel, opts)
    return opts


def _timeouts(target: Target | None) -> tuple[float, float]:
    """(connect, read) timeouts: the target's, else the defaults (a stalled server must not hold a run
    longer than the policy says)."""
    connect = target.connect_timeout if target is not None else None
    read = target.read_timeout if target is not None else None
    return float(connect or DEFAULT_CONNECT_TIMEOUT), float(read or DEFAULT_READ_TIMEOUT)


def _target_url(target: Target) -> Secret:
    """The target's URL; with sentinel and no URL, one that only carries the scheme (the sentinels
    name the host): rediss:// when the target has tls: settings."""
    if target.url is not None and target.url.value is not None:
        value = target.url.value
        return value if isinstance(value, Secret) else Secret(value)
    assert target.sentinel is not None
    first = str(target.sentinel.addresses[0].value)
    return Secret(f"{'rediss' if target.tls else 'redis'}://{first}/0")


def sentinel_primary(sentinel: SentinelTarget, opts: ConnectOptions) -> ConnectOptions:
    """``opts`` pointed at the primary the sentinels agree on (same scheme, credentials, db and TLS)."""
    where = f"target.sentinel at {sentinel.location.short}"
    unset = [a.raw for a in sentinel.addresses if a.value is None]
    if unset or (sentinel.password is not None and not isinstance(sentinel.password.value, Secret)):
        raise RedispolicyError(
            f"{where} uses a variable that is not set", "export the variables target.sentinel names"
        )
    try:
        host, port = agreed_primary(ask(sentinel_spec(sentinel), opts))
    except RedispolicyError as exc:
        raise RedispolicyError(f"{exc.message} ({where})", exc.hint) from None
    return for_node(opts, host, port)


def sentinel_spec(sentinel: SentinelTarget) -> SentinelSpec:
    """The policy's sentinel settings as the live stage takes them (variables already set)."""
    password = sentinel.password.value if sentinel.password is not None else None
    return SentinelSpec(
        tuple(str(a.value) for a in sentinel.addresses),
        sentinel.service,
        sentinel.username,
        password if isinstance(password, Secret) else None,
    )


def _tls_settings(target: Target | None) -> dict[str, Any]:
    tls = target.tls if target is not None else {}
    return {
        "tls_ca_file": str(tls["ca_file"]) if "ca_file" in tls else None,
        "tls_cert_file": str(tls["cert_file"]) if "cert_file" in tls else None,
        "tls_key_file": str(tls["key_file"]) if "key_file" in tls else None,
        "tls_verify": bool(tls.get("verify", True)),
    }


def observe(policy: Policy, conn: ConnectOptions) -> tuple[Identity, ConfigSnapshot]:
    """Who the server is and every parameter it has (hidden managed ones asked by name)."""
    client = connect(conn)
    try:
        identity = identify(client, address(conn.url.reveal()))
        return identity, with_exact(client, config_snapshot(client), hidden_names(policy, identity))
    finally:
        client.close()


Lives = dict[str, dict[str, str | Secret]]  # every planned node's live values, by address


def plan_deployment(policy: Policy, conn: ConnectOptions, discover_nodes: bool = True) -> tuple[Plan, Lives]:
    """compare() on every node of the deployment, as drift finds it; and each node's live values.

    The returned plan is the primary's (a cluster: the node given), with every other node under
    ``nodes`` in discovery order. Without discovery (--no-discover, ``topology: standalone`` or
    ``sentinel``, whose URL is already the primary) the URL's node alone.
    """
    topology = policy.target.topology if policy.target is not None else None
    if not discover_nodes or topology in ("standalone", "sentinel"):
        identity, snapshot = observe(policy, conn)
        return compare(policy, identity, snapshot), {identity.address: snapshot.values}
    deployment = find_deployment(conn)
    main = deployment.members[deployment.audited]
    order = [main, *(m for i, m in enumerate(deployment.members) if i != deployment.audited)]
    plans, lives = [], {}
    for member in order:
        identity, snapshot = observe(policy, node_options(conn, member))
        plans.append(compare(policy, identity, snapshot))
        lives[identity.address] = snapshot.values
    first = dataclasses.replace(
        plans[0], nodes=tuple(NodePlan(p) for p in plans[1:]), discovered=True, mode=deployment.mode
    )
    return first, lives


def find_deployment(conn: ConnectOptions) -> Deployment:
    """The deployment the URL's node belongs to (live/topology.py ``discover``)."""
    client = connect(conn)
    try:
        with _connection_errors(address(conn.url.reveal())):
            return discover(client, conn)
    finally:
        client.close()


def node_options(conn: ConnectOptions, member: Member) -> ConnectOptions:
    """How to reach a member: the URL itself for the node it names, else the same settings at its address."""
    return conn if member.given else for_node(conn, member.host, member.port)


@contextlib.contextmanager
def _connection_errors(addr: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise RedispolicyError(
            f"discovering the nodes of {addr} failed ({type(exc).__name__}: {str(exc).splitlines()[0]})",
            "check the server, or plan this node alone with --no-discover (or target.topology: standalone)",
        ) from None


def _git_revision(directory: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def fingerprint_key(environ: dict[str, str]) -> bytes:
    """The HMAC key for sensitive fingerprints: $REDISPOLICY_FINGERPRINT_KEY, or a per-user key file.

    The key never goes into the plan file, so a fingerprint cannot be brute-forced from it alone.
    The file is created atomically (keyfile): concurrent first runs end up with one key.
    """
    if environ.get("REDISPOLICY_FINGERPRINT_KEY"):
        return environ["REDISPOLICY_FINGERPRINT_KEY"].encode()
    base = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "redispolicy"
    return keyfile.read_or_create(
        base / "fingerprint.key",
        "fingerprint key file",
        "plans made with the old key no longer apply: make them again with "
        "`redispolicy plan --out FILE`; or set $REDISPOLICY_FINGERPRINT_KEY",
    )


@dataclasses.dataclass(frozen=True)
class PlanRequest:
    """`redispolicy plan`'s flags, by name (two booleans cannot be swapped unnoticed)."""

    env: str
    url: str | None = None
    detailed_exitcode: bool = False
    show_unchanged: bool = False
    out: Path | None = None  # --out: save the signed plan file here
    keys: bool = True  # audit keys too
    max_rate: int | None = None
    memory: bool = False
    examples: bool = False  # key names in formats that leave the machine
    discover: bool = True  # plan every node of the deployment (False: --no-discover, the URL's node)


def run(opts: Options, req: PlanRequest) -> Result:
    """Exit 1 also when CONFIG GET could not run (a plan of nothing is not "no changes"), unless the
    policy's target says ``config: unavailable``. Key names leave the machine only with ``examples``."""
    from redispolicy.plan.drift import declared_config

    policy, failed = load_policy(opts, req.env, req.url is not None)
    if failed is not None:
        return failed
    assert policy is not None
    conn = connect_options(policy, req.url)
    plan, lives = plan_deployment(policy, conn, req.discover)
    declared = declared_config(policy)
    plan = dataclasses.replace(
        plan,
        config_declared=declared,
        nodes=tuple(NodePlan(dataclasses.replace(n.plan, config_declared=declared)) for n in plan.nodes),
    )
    if req.keys:
        plan = dataclasses.replace(
            plan, keys=audit_keys(policy, conn, req.max_rate, progress=True, memory=req.memory)
        )
    if any(n.config_check == "not_checked" for n in plan.all_nodes):
        code = 1
    else:
        code = 2 if req.detailed_exitcode and plan.pending_anywhere else 0
    result = render_result(
        opts,
        "plan",
        plan,
        code,
        examples=req.examples,
        verbose=max(opts.style.verbose, 1 if req.show_unchanged else 0),
    )
    if req.out is not None:
        prov = Provenance(
            files=tuple((display_path(Path(f)), file_digest(Path(f).read_bytes())) for f in policy.files),
            git_revision=_git_revision(opts.policy_dir),
            tool_version=__version__,
            policy_dir=display_path(opts.policy_dir),
            created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        )
        doc = to_document(plan, prov, lives, fingerprint_key(opts.environ))
        saved = f"\nSaved the plan to {req.out}.\n" if opts.output == "text" else ""
        result = dataclasses.replace(
            result,
            stdout=result.stdout + saved,
            files={**result.files, req.out: json.dumps(doc, indent=2) + "\n"},
        )
    return result
