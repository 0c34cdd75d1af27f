"""Real redis-server processes for the test suite.

The suite never talks to a Redis it did not start: every server here is a child process
listening on 127.0.0.1, on a free port, with its own temporary directory, and it is stopped
through its own ``Popen`` object.

Which binaries to run comes from ``REDISPOLICY_TEST_SERVERS`` (``name=path,name=path``),
e.g. the output of ``../shared/tools/redis-servers`` joined with commas. Without it the
``redis-server`` on PATH is used, named after its version (``redis-7.0``).
The pytest fixtures built on this live in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

import pytest
import redis

ENV_SERVERS = "REDISPOLICY_TEST_SERVERS"
ENV_REQUIRE = "REDISPOLICY_REQUIRE_SERVERS"
HOST = "127.0.0.1"

_VERSION_IN_NAME = re.compile(r"(\d+)\.(\d+)")
_VERSION_IN_BANNER = re.compile(r"\bv=(\d+\.\d+(?:\.\d+)?)")


class ServerUnavailable(RuntimeError):
    """The server binary is missing or not executable."""


class ServerStartError(RuntimeError):
    """The binary exists but the server did not come up."""


@dataclass(frozen=True)
class ServerSpec:
    """One entry of the server matrix: a name (``redis-6.0``, ``valkey-8.1``) and a binary."""

    name: str
    path: str

    @property
    def product(self) -> str:
        return "valkey" if "valkey" in self.name.lower() else "redis"

    @property
    def expected_version(self) -> tuple[int, int] | None:
        """major.minor encoded in the name, if any (``system-redis-7.0`` -> ``(7, 0)``)."""
        m = _VERSION_IN_NAME.search(self.name)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def executable(self) -> str | None:
        """Absolute path of the binary, or None when it is missing / not executable."""
        if os.sep in self.path:
            return self.path if os.path.isfile(self.path) and os.access(self.path, os.X_OK) else None
        return shutil.which(self.path)


def require_servers() -> bool:
    return os.environ.get(ENV_REQUIRE, "").strip().lower() in {"1", "true", "yes"}


def parse_servers(value: str) -> list[ServerSpec]:
    """Parse ``name=path,name=path`` (whitespace and empty items are ignored)."""
    specs: list[ServerSpec] = []
    seen: set[str] = set()
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise ValueError(f"{ENV_SERVERS}: expected name=path, got {item!r}")
        if name in seen:
            raise ValueError(f"{ENV_SERVERS}: server name {name!r} is listed twice")
        seen.add(name)
        specs.append(ServerSpec(name, path))
    return specs


@cache
def name_for_binary(path: str) -> str:
    """``redis-7.0`` / ``valkey-8.1`` from ``<binary> --version``; the file name if that fails."""
    fallback = Path(path).name
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return fallback
    m = _VERSION_IN_BANNER.search(out)
    if not m:
        return fallback
    product = "valkey" if out.lower().startswith("valkey") else "redis"
    major_minor = ".".join(m.group(1).split(".")[:2])
    return f"{product}-{major_minor}"


def system_server() -> ServerSpec:
    """The ``redis-server`` on PATH (the spec still exists when it does not: it is then missing)."""
    path = shutil.which("redis-server")
    if path is None:
        return ServerSpec("redis-server", "redis-server")
    return ServerSpec(name_for_binary(path), path)


def configured_servers(environ: dict[str, str] | None = None) -> list[ServerSpec]:
    """The server matrix: ``REDISPOLICY_TEST_SERVERS`` or, when unset/empty, the system server."""
    env = os.environ if environ is None else environ
    specs = parse_servers(env.get(ENV_SERVERS, ""))
    return specs or [system_server()]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


CLUSTER_BUS_OFFSET = 10_000  # a cluster node also listens on port + 10000 (Redis 6.0 has no cluster-port)


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free as well, and below 65536."""
    for _ in range(200):
        port = free_port()
        if port + CLUSTER_BUS_OFFSET > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port + CLUSTER_BUS_OFFSET))
            except OSError:
                continue
        return port
    raise ServerStartError("no free port pair (port, port + 10000) for a cluster node")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel SIGTERM the server if the test process dies without cleanup."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except Exception:
        pass


class RedisServer:
    """A redis-server (or valkey-server) child process on 127.0.0.1.

    ``config_file=True`` starts the server with a (nearly empty) redis.conf in its directory,
    so ``CONFIG REWRITE`` works; every setting still comes from the command line.
    """

    def __init__(
        self,
        spec: ServerSpec,
        directory: Path,
        *,
        config_file: bool = True,
        extra_args: tuple[str, ...] | list[str] = (),
        start_timeout: float = 15.0,
        port_picker: Callable[[], int] | None = None,  # default: free_port (looked up when starting)
    ) -> None:
        self.spec = spec
        self.dir = Path(directory)
        self.config_path: Path | None = self.dir / "redis.conf" if config_file else None
        self.extra_args = tuple(extra_args)
        self.start_timeout = start_timeout
        self.port_picker = port_picker
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._clients: list[redis.Redis] = []
        self._info: dict[str, Any] | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> RedisServer:
        if self.proc is not None:
            raise RuntimeError(f"{self.spec.name} is already started (pid {self.proc.pid})")
        binary = self.spec.executable()
        if binary is None:
            raise ServerUnavailable(
                f"server {self.spec.name!r}: binary {self.spec.path!r} not found or not executable. "
                f"Build the matrix with ../shared/tools/redis-servers, install redis-server "
                f"(make redis-server), or fix {ENV_SERVERS}."
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.config_path is not None and not self.config_path.exists():
            self.config_path.write_text(
                "# started by the redispolicy test suite; settings are on the command line\n"
            )
        last_error = ""
        for _attempt in range(5):  # another process may grab the free port before we bind it
            self.port = self.port_picker() if self.port_picker is not None else free_port()
            self._spawn(binary)
            try:
                self._wait_ready()
                return self
            except ServerStartError as exc:
                last_error = str(exc)
                self._terminate()
                if "already in use" not in last_error.lower():
                    break
        raise ServerStartError(last_error)

    def _spawn(self, binary: str) -> None:
        args = [binary]
        if self.config_path is not None:
            args.append(str(self.config_path))
        args += [
            "--port", str(self.port),
            "--bind", HOST,
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _terminate()
        self.proc = subprocess.Popen(
            args,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        probe = redis.Redis(host=HOST, port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise ServerStartError(
                        f"{self.spec.name} exited with status {self.proc.returncode} while starting "
                        f"on port {self.port}:\n{self.log_tail()}"
                    )
                try:
                    if probe.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"{self.spec.name} did not answer PING on {HOST}:{self.port} within "
                        f"{self.start_timeout:.0f}s:\n{self.log_tail()}"
                    )
                time.sleep(0.02)
        finally:
            probe.close()

    def stop(self) -> None:
        """Stop the process this object started (and only that one). Idempotent."""
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        self._terminate()

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._info = None

    def __enter__(self) -> RedisServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- access ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def host(self) -> str:
        return HOST

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def clients_by_db(self) -> Callable[[int], redis.Redis]:
        """db -> a bytes client on that db (made once, closed by stop()): what the key scanners take."""
        cache: dict[int, redis.Redis] = {}

        def client_for(db: int) -> redis.Redis:
            if db not in cache:
                cache[db] = self.client(db=db, decode_responses=False)
            return cache[db]

        return client_for

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client for this server (decode_responses=True unless given); closed by stop()."""
        kwargs.setdefault("decode_responses", True)
        c = redis.Redis(host=HOST, port=self.port, **kwargs)
        self._clients.append(c)
        return c

    @property
    def info_server(self) -> dict[str, Any]:
        """INFO server, read once per start."""
        if self._info is None:
            with redis.Redis(host=HOST, port=self.port, decode_responses=True) as c:
                self._info = dict(c.info("server"))
        return self._info

    @property
    def product(self) -> str:
        """``valkey`` or ``redis``, as the server reports it (Valkey also reports redis_version 7.2.4)."""
        info = self.info_server
        if str(info.get("server_name", "")).lower() == "valkey" or "valkey_version" in info:
            return "valkey"
        return "redis"

    @property
    def version(self) -> str:
        """The product's own version: valkey_version on Valkey, redis_version on Redis."""
        info = self.info_server
        key = "valkey_version" if self.product == "valkey" else "redis_version"
        return str(info[key])

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", self.version)[:3])

    def __repr__(self) -> str:
        state = f"pid={self.pid} port={self.port}" if self.running else "stopped"
        return f"<RedisServer {self.spec.name} {state}>"


SLOTS = 16384


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """The slots split as evenly as redis-cli --cluster create splits them: 0-5460, 5461-10922, ..."""
    bounds = [round(i * SLOTS / masters) for i in range(masters + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(masters)]


def _cluster_info(client: redis.Redis) -> dict[str, str]:
    text = client.execute_command("CLUSTER", "INFO")
    return dict(line.split(":", 1) for line in str(text).splitlines() if ":" in line)


class RedisCluster:
    """A Redis Cluster of ``masters`` masters with ``replicas`` replicas each, all on 127.0.0.1.

    Every node is a ``RedisServer`` (own port, bus port = port + 10000, own temp dir with its
    nodes.conf). The cluster is formed from Python, as ``redis-cli --cluster create`` does:
    CLUSTER ADDSLOTS on each master (even ranges), CLUSTER MEET, then CLUSTER REPLICATE
    master i on replica i (the first ``masters`` nodes are the masters, in order); ``start``
    returns once every node reports cluster_state:ok and sees the whole topology.
    """

    def __init__(
        self,
        spec: ServerSpec,
        directory: Path,
        *,
        masters: int = 3,
        replicas: int = 1,
        form_timeout: float = 30.0,
    ) -> None:
        self.spec = spec
        self.dir = Path(directory)
        self.n_masters = masters
        self.n_replicas = replicas
        self.form_timeout = form_timeout
        self.nodes: list[RedisServer] = []
        self.ids: list[str] = []  # node ids, in the order of ``nodes``
        self._clients: list[Any] = []

    def start(self) -> RedisCluster:
        try:
            for i in range(self.n_masters * (1 + self.n_replicas)):
                node = RedisServer(
                    self.spec,
                    self.dir / f"node-{i}",
                    port_picker=free_cluster_port,
                    extra_args=(
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        # pings every node_timeout / 2 at least: gossip settles in well under a second;
                        # no automatic failover, so a stalled test machine cannot reshuffle the masters
                        "--cluster-node-timeout",
                        "2000",
                        "--cluster-replica-no-failover",
                        "yes",
                        "--repl-diskless-sync-delay",
                        "0",
                    ),
                )
                self.nodes.append(node)
                node.start()
            self._form()
        except BaseException:
            self.stop()
            raise
        return self

    def _form(self) -> None:
        m = self.n_masters
        clients = [
            redis.Redis(host=HOST, port=n.port, decode_responses=True, socket_timeout=10) for n in self.nodes
        ]
        try:
            for c, (lo, hi) in zip(clients[:m], slot_ranges(m), strict=True):
                c.execute_command("CLUSTER", "ADDSLOTS", *range(lo, hi + 1))
            self.ids = [str(c.execute_command("CLUSTER", "MYID")) for c in clients]
            for i, c in enumerate(clients):  # a full mesh of MEETs: no waiting for gossip to spread
                for node in self.nodes[i + 1 :]:
                    c.execute_command("CLUSTER", "MEET", HOST, node.port)
            self._wait("every node to know every other", clients, self._knows_all)
            for i, c in enumerate(clients[m:]):
                c.execute_command("CLUSTER", "REPLICATE", self.ids[i % m])
            self._wait("cluster_state:ok and the masters known on every node", clients, self._formed)
        finally:
            for c in clients:
                c.close()

    def _knows_all(self, client: redis.Redis) -> bool:
        lines = str(client.execute_command("CLUSTER", "NODES")).splitlines()
        known = {line.split()[0] for line in lines if "handshake" not in line.split()[2]}
        return known == set(self.ids)

    def _formed(self, client: redis.Redis) -> bool:
        """cluster_state:ok, the masters and their slots known; a replica knows it is one."""
        if _cluster_info(client).get("cluster_state") != "ok":
            return False
        lines = [line.split() for line in str(client.execute_command("CLUSTER", "NODES")).splitlines()]
        masters = {f[0] for f in lines if "master" in f[2].split(",") and len(f) > 8}
        myself = next(f for f in lines if "myself" in f[2].split(","))
        if myself[0] in self.ids[self.n_masters :] and "slave" not in myself[2].split(","):
            return False
        return masters == set(self.ids[: self.n_masters])

    def _wait(self, what: str, clients: list[redis.Redis], done: Callable[[redis.Redis], bool]) -> None:
        deadline = time.monotonic() + self.form_timeout
        while not all(done(c) for c in clients):
            if time.monotonic() > deadline:
                logs = "\n".join(f"-- {n.address}\n{n.log_tail(5)}" for n in self.nodes)
                raise ServerStartError(
                    f"{self.spec.name} cluster: waited {self.form_timeout:.0f}s for {what}\n{logs}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every node this cluster started (and only those). Idempotent."""
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisCluster:
        return self.start() if not self.nodes else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- access ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def masters(self) -> list[RedisServer]:
        return self.nodes[: self.n_masters]

    @property
    def replicas(self) -> list[RedisServer]:
        return self.nodes[self.n_masters :]

    @property
    def running(self) -> bool:
        return bool(self.nodes) and all(n.running for n in self.nodes)

    def client(self, **kwargs: Any) -> Any:
        """A cluster-aware redis-py client (``redis.cluster.RedisCluster``); closed by stop()."""
        from redis.cluster import RedisCluster as ClusterClient

        kwargs.setdefault("decode_responses", True)
        c = ClusterClient(host=HOST, port=self.masters[0].port, **kwargs)
        self._clients.append(c)
        return c

    def flushall(self) -> None:
        """Empty every master (the replicas follow) and wait until each replica is empty too."""
        for node in self.masters:
            with redis.Redis(host=HOST, port=node.port) as c:
                c.flushall()
        deadline = time.monotonic() + self.form_timeout
        for node in self.replicas:
            with redis.Redis(host=HOST, port=node.port) as c:
                while c.dbsize() and time.monotonic() < deadline:
                    time.sleep(0.02)

    def __repr__(self) -> str:
        ports = ",".join(str(n.port) for n in self.nodes)
        return f"<RedisCluster {self.spec.name} {'running' if self.running else 'stopped'} ports={ports}>"


class SentinelGroup:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels (``redis-server --sentinel``), on 127.0.0.1.

    Each sentinel gets its own directory and a sentinel.conf that monitors the primary as
    ``service`` with ``quorum``; a short down-after-milliseconds lets a test see a stopped
    node (or sentinel) marked down within seconds. ``start`` returns once the replicas'
    links are up and every sentinel knows the replicas and the other sentinels, so a
    SENTINEL FAILOVER can run at once.
    """

    def __init__(
        self,
        spec: ServerSpec,
        directory: Path,
        *,
        service: str = "mymaster",
        replicas: int = 1,
        sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 1000,
        form_timeout: float = 30.0,
    ) -> None:
        self.spec = spec
        self.dir = Path(directory)
        self.service = service
        self.n_replicas = replicas
        self.n_sentinels = sentinels
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.form_timeout = form_timeout
        self.data: list[RedisServer] = []  # the primary it started with, then the replicas
        self.sentinels: list[RedisServer] = []

    def start(self) -> SentinelGroup:
        try:
            fast = ("--repl-diskless-sync-delay", "0")
            primary = RedisServer(self.spec, self.dir / "node-0", extra_args=fast).start()
            self.data.append(primary)
            for i in range(1, self.n_replicas + 1):
                args = (*fast, "--replicaof", HOST, str(primary.port))
                self.data.append(RedisServer(self.spec, self.dir / f"node-{i}", extra_args=args).start())
            self._wait("the replicas' links up", lambda: self._links_up(primary))
            for i in range(self.n_sentinels):
                directory = self.dir / f"sentinel-{i}"
                directory.mkdir(parents=True, exist_ok=True)
                # sentinel rewrites its config file (what it learned): one file per sentinel, writable
                (directory / "redis.conf").write_text(
                    f"sentinel monitor {self.service} {HOST} {primary.port} {self.quorum}\n"
                    f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
                    f"sentinel failover-timeout {self.service} 10000\n"
                )
                self.sentinels.append(RedisServer(self.spec, directory, extra_args=("--sentinel",)).start())
            self._wait("every sentinel to know the replicas and the other sentinels", self._sentinels_ready)
        except BaseException:
            self.stop()
            raise
        return self

    def _links_up(self, primary: RedisServer) -> bool:
        with redis.Redis(host=HOST, port=primary.port, decode_responses=True) as c:
            info = c.info("replication")
        return sum(1 for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
                   and v.get("state") == "online") == self.n_replicas  # fmt: skip

    def _sentinels_ready(self) -> bool:
        for s in self.sentinels:
            with redis.Redis(host=HOST, port=s.port, decode_responses=True) as c:
                master = self.sentinel_master(c)
                if int(master.get("num-slaves", 0)) < self.n_replicas:
                    return False
                if int(master.get("num-other-sentinels", 0)) < self.n_sentinels - 1:
                    return False
        return True

    def sentinel_master(self, client: redis.Redis) -> dict[str, str]:
        """SENTINEL MASTER service, as a dict (the reply is a flat field/value list)."""
        flat = client.execute_command("SENTINEL", "MASTER", self.service)
        if isinstance(flat, dict):
            return {str(k): str(v) for k, v in flat.items()}
        return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}

    def primary_seen(self, sentinel: RedisServer) -> tuple[str, int] | None:
        with redis.Redis(host=HOST, port=sentinel.port, decode_responses=True) as c:
            reply = c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        return (str(reply[0]), int(reply[1])) if reply else None

    def failover(self) -> RedisServer:
        """SENTINEL FAILOVER; returns the new primary once every running sentinel names it and it is one."""
        old = self.primary_seen(self.sentinels[0])
        with redis.Redis(host=HOST, port=self.sentinels[0].port) as c:
            c.execute_command("SENTINEL", "FAILOVER", self.service)

        def moved() -> bool:
            seen = {self.primary_seen(s) for s in self.sentinels if s.running}
            if len(seen) != 1 or old in seen:
                return False
            node = self.by_port(next(iter(seen))[1])  # type: ignore[index]
            with redis.Redis(host=HOST, port=node.port, decode_responses=True) as c:
                return bool(c.info("replication")["role"] == "master")

        self._wait("the sentinels to report the new primary", moved)
        return self.by_port(self.primary_seen(self.sentinels[0])[1])  # type: ignore[index]

    def by_port(self, port: int) -> RedisServer:
        return next(n for n in self.data if n.port == port)

    def _wait(self, what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.form_timeout
        while True:
            try:
                if done():
                    return
            except (redis.ConnectionError, redis.ResponseError):
                pass
            if time.monotonic() > deadline:
                logs = "\n".join(f"-- {n.address}\n{n.log_tail(5)}" for n in (*self.data, *self.sentinels))
                raise ServerStartError(
                    f"{self.spec.name} sentinels: waited {self.form_timeout:.0f}s for {what}\n{logs}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every process this group started (and only those). Idempotent."""
        for node in (*self.sentinels, *self.data):
            node.stop()

    @property
    def addresses(self) -> list[str]:
        return [s.address for s in self.sentinels]

    def __repr__(self) -> str:
        ports = ",".join(str(n.port) for n in (*self.data, *self.sentinels))
        return f"<SentinelGroup {self.spec.name} ports={ports}>"


class RedisServerFactory:
    """Starts servers in fresh temp dirs and remembers them so none outlives the session."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, default: ServerSpec) -> None:
        self._tmp = tmp_path_factory
        self.default = default
        self._started: list[RedisServer] = []
        self._clusters: list[RedisCluster] = []
        self._groups: list[SentinelGroup] = []

    def start(self, spec: ServerSpec | None = None, **options: Any) -> RedisServer:
        """Start a server (default: the system server). Missing binary -> skip, or fail in CI."""
        spec = spec or self.default
        directory = self._tmp.mktemp(spec.name.replace("/", "_"), numbered=True)
        server = RedisServer(spec, directory, **options)
        try:
            server.start()
        except ServerUnavailable as exc:
            if require_servers():
                pytest.fail(f"{exc} ({ENV_REQUIRE}=1, so a missing server is an error)", pytrace=False)
            pytest.skip(str(exc))
        self._started.append(server)
        return server

    def start_cluster(self, spec: ServerSpec | None = None, **options: Any) -> RedisCluster:
        """Start a cluster (default: 3 masters + 3 replicas of the system server); skips like ``start``."""
        spec = spec or self.default
        directory = self._tmp.mktemp(f"cluster-{spec.name.replace('/', '_')}", numbered=True)
        cluster = RedisCluster(spec, directory, **options)
        try:
            cluster.start()
        except ServerUnavailable as exc:
            if require_servers():
                pytest.fail(f"{exc} ({ENV_REQUIRE}=1, so a missing server is an error)", pytrace=False)
            pytest.skip(str(exc))
        self._clusters.append(cluster)
        return cluster

    def start_sentinels(self, spec: ServerSpec | None = None, **options: Any) -> SentinelGroup:
        """Start a primary, its replicas and sentinels (default: 1 replica, 3 sentinels, quorum 2); skips like
        ``start``."""
        spec = spec or self.default
        directory = self._tmp.mktemp(f"sentinel-{spec.name.replace('/', '_')}", numbered=True)
        group = SentinelGroup(spec, directory, **options)
        try:
            group.start()
        except ServerUnavailable as exc:
            if require_servers():
                pytest.fail(f"{exc} ({ENV_REQUIRE}=1, so a missing server is an error)", pytrace=False)
            pytest.skip(str(exc))
        self._groups.append(group)
        return group

    def stop_all(self) -> None:
        while self._groups:
            self._groups.pop().stop()
        while self._clusters:
            self._clusters.pop().stop()
        while self._started:
            self._started.pop().stop()
