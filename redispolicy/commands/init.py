"""redispolicy init -e ENV --url URL: a first policy from a live server (or --from-conf FILE).

Reads ``CONFIG GET *`` and the keyspace (two rate-limited SCAN passes: the namespaces, then
what each proposed class holds), hands them to plan/propose.py and writes the YAML of
render/policy_yaml.py. Several ``-e``/``--url`` pairs with ``--base`` write ``base.yaml`` with
what they share and one file per environment with the rest. Nothing is overwritten without
``--force``; every target file is checked before any server is contacted.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from pathlib import Path

import redis

from redispolicy.catalog.source import ConfigSource
from redispolicy.commands import Options, Result
from redispolicy.errors import RedispolicyError, UsageError
from redispolicy.live.connect import ConnectOptions, address, check_url, connect
from redispolicy.live.keyscan import keyspace_info, scan_exact
from redispolicy.live.model import DEFAULT_RATE, Batch
from redispolicy.live.snapshot import config_snapshot, identify, server_mode
from redispolicy.plan.propose import (
    ClassObserver,
    Namespaces,
    Proposal,
    ProposedClass,
    factor,
    name_patterns,
    order_patterns,
    propose,
)
from redispolicy.render.policy_yaml import render_policy
from redispolicy.secret import Secret

STDOUT = Path("-")


@dataclasses.dataclass(frozen=True)
class InitRequest:
    """`redispolicy init`'s flags, by name."""

    envs: tuple[str, ...]
    urls: tuple[str, ...] = ()  # paired with envs, in order
    out: Path | None = None  # one environment: the file (``-``: stdout); default policy_dir/ENV.yaml
    force: bool = False
    base: bool = False  # several environments: base.yaml + the differences
    keys: bool = True  # propose key classes from the keyspace
    from_conf: Path | None = None
    server_version: str | None = None


def run(opts: Options, req: InitRequest, today: datetime.date | None = None) -> Result:
    _check_request(req)
    targets = _targets(opts, req)
    _refuse_overwrite(targets, req.force)
    today = today or datetime.date.today()
    if req.from_conf is not None:
        from redispolicy.commands.init_conf import source_from_conf

        source = source_from_conf(req.from_conf, req.server_version)
        note = "Key classes: none proposed (read from a config file, not a server)."
        proposals = {req.envs[0]: propose(source, req.envs[0], key_note=note)}
    else:
        proposals = _from_servers(req)
    files: dict[Path, Proposal] = {}
    if req.base:
        base, per_env = factor(proposals)
        files[targets["base"]] = base
        files.update({targets[env]: per_env[env] for env in req.envs})
    else:
        files[targets[req.envs[0]]] = proposals[req.envs[0]]
    texts = {path: render_policy(p, today) for path, p in files.items()}
    if STDOUT in texts:
        return Result(texts[STDOUT], 0)
    return Result(_summary(files), 0, files=texts)


def _check_request(req: InitRequest) -> None:
    if not req.envs:
        raise UsageError("init needs -e ENV", "give -e ENV --url URL (or -e ENV --from-conf FILE)")
    if len(set(req.envs)) != len(req.envs):
        raise UsageError("an environment is named twice", "give each -e ENV once, each with its --url")
    if req.from_conf is not None:
        if req.urls or len(req.envs) != 1 or req.base:
            raise UsageError(
                "--from-conf reads one file for one environment",
                "give one -e ENV with --from-conf, and no --url or --base",
            )
    elif len(req.urls) != len(req.envs):
        raise UsageError(
            f"{len(req.envs)} -e but {len(req.urls)} --url",
            "give one --url after each -e, in order: -e dev --url A -e production --url B",
        )
    if req.server_version is not None and req.from_conf is None:
        raise UsageError("--server-version is for --from-conf", "a live server reports its own version")
    if len(req.envs) > 1 and not req.base:
        raise UsageError("several environments need --base", "add --base, or run init once per environment")
    if req.base and len(req.envs) < 2:
        raise UsageError("--base needs at least two environments", "give two or more -e ENV --url URL pairs")
    if req.base and req.out is not None:
        raise UsageError(
            "--out names one file; --base writes base.yaml and one file per environment",
            "drop --out: the files go to --policy-dir",
        )
    for env in req.envs:
        if not env or env == "base" or "/" in env or env.startswith("."):
            raise UsageError(f"'{env}' cannot be an environment name", "use a plain name such as dev")


def _targets(opts: Options, req: InitRequest) -> dict[str, Path]:
    """Where each file goes: ``--out`` (``-``: stdout), else ``--policy-dir``/ENV.yaml (and base.yaml)."""
    if req.out is not None:
        return {req.envs[0]: req.out}
    out = {env: opts.policy_dir / f"{env}.yaml" for env in req.envs}
    if req.base:
        out["base"] = opts.policy_dir / "base.yaml"
    return out


def _refuse_overwrite(targets: dict[str, Path], force: bool) -> None:
    existing = [str(p) for p in targets.values() if p != STDOUT and p.exists()]
    if existing and not force:
        raise RedispolicyError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; init did not touch "
            "any server or file",
            "pass --force to overwrite, or choose another file with --out (or another --policy-dir)",
        )


def _from_servers(req: InitRequest) -> dict[str, Proposal]:
    """Each server's config and keyspace; with several, the key classes' order agreed first."""
    conns = {env: _connection(env, url) for env, url in zip(req.envs, req.urls, strict=True)}
    sources = {env: _read_config(conn) for env, conn in conns.items()}
    if not req.keys:
        note = "Key classes: none proposed (--no-keys)."
        return {env: propose(src, env, key_note=note) for env, src in sources.items()}
    patterns: dict[str, tuple[str, ...]] = {}
    notes: dict[str, str] = {}
    for env, conn in conns.items():
        found = _namespaces(conn)
        if isinstance(found, str):
            notes[env], patterns[env] = found, ()
        else:
            patterns[env] = found
    order = order_patterns(patterns) if len(patterns) > 1 else patterns
    names = name_patterns([p for pats in order.values() for p in pats])
    # A pattern every environment has goes to the base: kept there even where it holds no key.
    keep = frozenset.intersection(*(frozenset(p) for p in patterns.values())) if req.base else frozenset()
    out = {}
    for env, src in sources.items():
        classes: tuple[ProposedClass, ...] = ()
        if env not in notes:
            classes = _observe(conns[env], order[env], names, keep)
            notes[env] = (
                f"Key classes: the {len(classes)} namespace(s) holding the most keys, from an exact scan"
                if classes
                else "Key classes: none proposed (no keys)."
            )
        out[env] = propose(src, env, classes, notes[env])
    return out


def _connection(env: str, url: str) -> ConnectOptions:
    conn = ConnectOptions(Secret(url))
    try:
        check_url(conn)
    except RedispolicyError as exc:
        raise RedispolicyError(f"{exc.message} (--url of -e {env})", exc.hint) from None
    return conn


def _read_config(conn: ConnectOptions) -> ConfigSource:
    client = connect(conn)
    try:
        identity = identify(client, address(conn.url.reveal()))
        snapshot = config_snapshot(client)
    except redis.RedisError as exc:
        raise RedispolicyError(
            f"reading {address(conn.url.reveal())} failed ({type(exc).__name__}: {str(exc).splitlines()[0]})",
            "init needs INFO and CONFIG GET: check the server and the user's permissions",
        ) from None
    finally:
        client.close()
    if not snapshot.available:
        raise RedispolicyError(
            f"{identity.address}: {snapshot.reason}",
            "init proposes a policy from CONFIG GET *: connect as a user allowed +config|get, "
            "or start from the server's config file with --from-conf",
        )
    origin = f"{identity.address} ({identity.product} {identity.version})"
    return ConfigSource(identity.product, identity.version, snapshot.values, origin)


def _scan(conn: ConnectOptions, on_batch: Callable[[Batch], None], want_type: bool) -> str | None:
    """One rate-limited exact SCAN of every db; a reason instead when the keys cannot be read here."""
    raw = dataclasses.replace(conn, decode_responses=False)
    clients: dict[int, redis.Redis] = {}
    first = connect(raw)
    try:
        if server_mode(first.info("server")) == "cluster":
            return "Key classes: none proposed (a cluster node; propose them with a standalone copy)."
        dbs = sorted(keyspace_info(first).dbs)

        def client_for(db: int) -> redis.Redis:
            if db not in clients:
                clients[db] = connect(dataclasses.replace(raw, db=db))
            return clients[db]

        scan_exact(client_for, dbs, on_batch, want_type=want_type, rate=DEFAULT_RATE)
        return None
    except redis.RedisError as exc:
        raise RedispolicyError(
            f"reading the keys failed ({type(exc).__name__}: {str(exc).splitlines()[0]})",
            "init needs SCAN, PTTL and TYPE on every key; or pass --no-keys",
        ) from None
    finally:
        first.close()
        for c in clients.values():
            c.close()


def _namespaces(conn: ConnectOptions) -> tuple[str, ...] | str:
    found = Namespaces()
    why = _scan(conn, found.add, want_type=False)
    return why if why is not None else found.patterns()


def _observe(
    conn: ConnectOptions, patterns: tuple[str, ...], names: dict[str, str], keep: frozenset[str]
) -> tuple[ProposedClass, ...]:
    observer = ClassObserver(patterns)
    _scan(conn, observer.add, want_type=True)
    return observer.classes(names, keep)


def _summary(files: dict[Path, Proposal]) -> str:
    lines = []
    variables: list[str] = []
    for path, p in files.items():
        what = f"{len(p.settings)} parameter(s), {len(p.classes)} key class(es)"
        lines.append(f"Wrote {path}: {what}.")
        variables += [v for v in p.variables if v not in variables]
    if variables:
        lines.append(f"Set before plan: {', '.join(variables)}.")
    lines.append("Review the files, then run `redispolicy validate`.")
    return "\n".join(lines) + "\n"
