"""``init --from-conf`` against real servers (issue 14, must hold): a server started from a conf
file shows in CONFIG GET exactly what the reader says the file sets.

Files: Debian's packaged /etc/redis/redis.conf (the system redis-server), the redis.conf /
valkey.conf shipped beside each matrix binary (the server-matrix tool puts them there),
and two files of our own (a non-default one with includes, quoting, units and repeated lines;
an empty one, where Redis 6.0 has no save points). Paths, port and daemonizing are adjusted
for the test by rewriting those lines in a copy, so the reader sees what the server sees.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_servers import (
    RedisServer,
    ServerSpec,
    ServerUnavailable,
    _die_with_parent,
    configured_servers,
    system_server,
)

from redispolicy.catalog.normalize import normalize
from redispolicy.catalog.params import catalog
from redispolicy.commands.init_conf import source_from_conf
from redispolicy.secret import Secret

DEBIAN_CONF = Path("/etc/redis/redis.conf")
PASSWORD = "conf-pa55 word"

# Lines the test owns: they would otherwise touch system paths or fork.
_ADJUST = ("port", "dir", "logfile", "pidfile", "daemonize", "supervised", "unixsocket", "unixsocketperm")
_ADJUST_LINE = re.compile(rf"^\s*({'|'.join(_ADJUST)})\s.*$", re.IGNORECASE | re.MULTILINE)

OUR_CONF = f"""\
# a non-default configuration: units, quoting, repeats, an include, a password (masterauth:
# a requirepass would lock the readiness probe out)
maxmemory 100mb
MAXMEMORY-POLICY allkeys-lru
save 900 1
save "300 10"
notify-keyspace-events "Ex"
client-output-buffer-limit replica 512mb 128mb 120
client-output-buffer-limit pubsub 64mb 16mb 90
masterauth "{PASSWORD}"
include included.conf
hz 20
"""
INCLUDED = "hz 15\nlatency-monitor-threshold 25\ntimeout 300\n"


class ConfServer(RedisServer):
    """A server started from nothing but a conf file: no command-line settings at all."""

    def __init__(self, spec: ServerSpec, directory: Path, source: str) -> None:
        super().__init__(spec, directory, config_file=False)
        self.source = source
        self.conf = self.dir / "etc" / "server.conf"  # not the working directory: see the include test

    def _spawn(self, binary: str) -> None:
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(adjust(self.source, self.port, self.dir))
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _terminate()
        self.proc = subprocess.Popen(
            [binary, str(self.conf)],
            cwd=self.dir,  # relative includes are opened from here (see conffile.py)
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )


def adjust(text: str, port: int, directory: Path) -> str:
    wanted = {
        "port": str(port),
        "dir": str(directory),
        "logfile": '""',
        "pidfile": str(directory / "server.pid"),
        "daemonize": "no",
        "supervised": "no",
    }
    seen: set[str] = set()

    def replace(m: re.Match[str]) -> str:
        name = m.group(1).lower()
        if name not in wanted or name in seen:
            return f"# (test) {m.group(0).strip()}"
        seen.add(name)
        return f"{name} {wanted[name]}"

    text = _ADJUST_LINE.sub(replace, text)
    missing = [f"{n} {v}" for n, v in wanted.items() if n not in seen]
    return text.rstrip("\n") + "\n" + "\n".join(missing) + "\n"


def shipped_conf(spec: ServerSpec) -> Path | None:
    binary = spec.executable()
    if binary is None:
        return None
    beside = Path(binary).parent / ("valkey.conf" if spec.product == "valkey" else "redis.conf")
    return beside if beside.is_file() else None


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    servers: list[ConfServer] = []

    def _start(spec: ServerSpec, source: str, name: str = "server") -> ConfServer:
        server = ConfServer(spec, tmp_path / name, source)
        try:
            server.start()
        except ServerUnavailable as exc:
            pytest.skip(str(exc))
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()


def assert_matches_config_get(server: ConfServer) -> int:
    """Every value the reader returns equals the server's CONFIG GET, normalized; returns the count."""
    version = ".".join(server.version.split(".")[:2])
    source = source_from_conf(server.conf, f"{server.product}-{version}", start_dir=server.dir)
    sc = catalog().for_server(server.product, server.version)
    client = server.client()
    mismatches = {}
    for name, value in source.values.items():
        found = sc.lookup(name)
        assert found is not None, name
        live = client.config_get(name).get(name)
        assert live is not None, f"{name}: the server does not show it"
        text = value.reveal() if isinstance(value, Secret) else value
        if normalize(found.param, text) != normalize(found.param, live):
            mismatches[name] = (source.locations[name], text, live)
    assert mismatches == {}, server.log_tail()
    return len(source.values)


def matrix_specs() -> list[ServerSpec]:
    return configured_servers()


@pytest.mark.redis
def test_debian_packaged_redis_conf(start, tmp_path: Path) -> None:
    if not DEBIAN_CONF.is_file():
        pytest.skip(f"{DEBIAN_CONF} is not installed (apt install redis-server)")
    server = start(system_server(), DEBIAN_CONF.read_text())
    assert assert_matches_config_get(server) > 50


@pytest.mark.redis
@pytest.mark.parametrize("spec", matrix_specs(), ids=lambda s: s.name)
def test_shipped_conf_beside_each_matrix_binary(start, spec: ServerSpec) -> None:
    conf = shipped_conf(spec)
    if conf is None:
        pytest.skip(f"no redis.conf / valkey.conf beside {spec.path} (the server-matrix tool puts it there)")
    server = start(spec, conf.read_text())
    assert assert_matches_config_get(server) > 50


@pytest.mark.redis
@pytest.mark.parametrize("spec", matrix_specs(), ids=lambda s: s.name)
def test_a_non_default_conf_with_an_include(start, tmp_path: Path, spec: ServerSpec) -> None:
    """The relative include is opened from the server's working directory (tmp/server), not
    from the including file's directory (tmp/server/etc), where a decoy would say otherwise."""
    (tmp_path / "server" / "etc").mkdir(parents=True)
    (tmp_path / "server" / "included.conf").write_text(INCLUDED)
    (tmp_path / "server" / "etc" / "included.conf").write_text("timeout 99\nlatency-monitor-threshold 99\n")
    server = start(spec, OUR_CONF)
    assert assert_matches_config_get(server) >= 10
    client = server.client()
    assert client.config_get("hz")["hz"] == "20"  # the line after the include wins
    assert client.config_get("timeout")["timeout"] == "300"  # the include beside the cwd was read


@pytest.mark.redis
@pytest.mark.parametrize("spec", matrix_specs(), ids=lambda s: s.name)
def test_an_empty_conf(start, spec: ServerSpec) -> None:
    """Redis 6.0 started from a file without save lines has no save points; 7.0+ keep the defaults."""
    server = start(spec, "")
    assert_matches_config_get(server)
    save = server.client().config_get("save")["save"]
    assert (save == "") == (server.version_tuple[:2] < (7, 0))


def _init_ready() -> bool:
    from redispolicy.main import cli

    init = getattr(cli, "commands", {}).get("init")
    return init is not None and any("--from-conf" in p.opts for p in init.params)


@pytest.mark.redis
@pytest.mark.parametrize("spec", matrix_specs(), ids=lambda s: s.name)
def test_init_from_conf_then_plan_reports_no_config_change(
    start, tmp_path: Path, spec: ServerSpec, capsys
) -> None:
    """The end-to-end must-hold: init --from-conf FILE, then plan against the server started
    from FILE: no config change. Debian's file for the system server, the shipped file beside
    each matrix binary otherwise."""
    if not _init_ready():
        pytest.skip("redispolicy init --from-conf is not there yet (issue 14, engineer I)")
    from redispolicy.main import run

    conf = DEBIAN_CONF if spec.path == system_server().path and DEBIAN_CONF.is_file() else shipped_conf(spec)
    if conf is None:
        pytest.skip(f"no conf file for {spec.name}")
    server = start(spec, conf.read_text())
    version = ".".join(server.version.split(".")[:2])
    policies = tmp_path / "policies"
    policies.mkdir()
    code = run(
        ["init", "--policy-dir", str(policies), "-e", "dev", "--from-conf", str(server.conf),
         "--server-version", f"{server.product}-{version}", "--out", str(policies / "dev.yaml")]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert run(["validate", "--policy-dir", str(policies)]) == 0, capsys.readouterr().out
    capsys.readouterr()
    code = run(["plan", "--policy-dir", str(policies), "-e", "dev", "--url", server.url, "-o", "json"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert json.loads(out.out)["targets"][0]["config"] == []
