"""The server fixtures start real, isolated servers on every matrix entry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from redis_servers import (
    RedisServer,
    RedisServerFactory,
    ServerSpec,
    ServerUnavailable,
    configured_servers,
    parse_servers,
    require_servers,
)

# -- parsing (no server) -------------------------------------------------------------------


def test_parse_servers_reads_name_path_pairs() -> None:
    specs = parse_servers(" redis-6.0=/opt/a/redis-server, valkey-8.1=/opt/b/valkey-server ,")
    assert specs == [
        ServerSpec("redis-6.0", "/opt/a/redis-server"),
        ServerSpec("valkey-8.1", "/opt/b/valkey-server"),
    ]
    assert [s.product for s in specs] == ["redis", "valkey"]
    assert [s.expected_version for s in specs] == [(6, 0), (8, 1)]
    assert ServerSpec("system-redis-7.0", "/usr/bin/redis-server").expected_version == (7, 0)
    assert ServerSpec("mine", "/x").expected_version is None


@pytest.mark.parametrize("value", ["redis-6.0", "=/usr/bin/redis-server", "a=", "a=/x,a=/y"])
def test_parse_servers_rejects_malformed_lists(value: str) -> None:
    with pytest.raises(ValueError, match="REDISPOLICY_TEST_SERVERS"):
        parse_servers(value)


def test_empty_list_falls_back_to_the_system_server() -> None:
    (spec,) = configured_servers({"REDISPOLICY_TEST_SERVERS": " , "})
    assert spec.path.endswith("redis-server")


def test_missing_binary_is_reported_before_anything_runs(tmp_path: Path) -> None:
    server = RedisServer(ServerSpec("ghost-9.9", str(tmp_path / "no-such-server")), tmp_path)
    with pytest.raises(ServerUnavailable, match=r"ghost-9\.9"):
        server.start()
    assert server.proc is None


# -- real servers -------------------------------------------------------------------------


def test_matrix_server_answers_with_the_version_its_name_promises(matrix_server: RedisServer) -> None:
    client = matrix_server.client()
    assert client.ping() is True

    info = client.info("server")
    assert int(info["tcp_port"]) == matrix_server.port
    assert int(info["process_id"]) == matrix_server.pid

    spec = matrix_server.spec
    assert matrix_server.product == spec.product
    if spec.product == "valkey":
        # Valkey answers redis_version 7.2.4 for compatibility; its own version is separate.
        assert info["server_name"] == "valkey"
        assert str(info["valkey_version"]) == matrix_server.version
    else:
        assert str(info["redis_version"]) == matrix_server.version
    if spec.expected_version is not None:
        assert matrix_server.version_tuple[:2] == spec.expected_version, (
            f"{spec.name} ({spec.path}) reports version {matrix_server.version}"
        )


def test_matrix_server_is_local_isolated_and_ephemeral(matrix_server: RedisServer) -> None:
    client = matrix_server.client()
    config = {str(k): str(v) for k, v in client.config_get("*").items()}
    assert config["bind"].split() == ["127.0.0.1"]
    assert Path(config["dir"]).resolve() == matrix_server.dir.resolve()
    assert config["save"] == ""
    assert config["appendonly"] == "no"
    assert client.dbsize() == 0
    assert matrix_server.url == f"redis://127.0.0.1:{matrix_server.port}/0"


def test_matrix_server_supports_config_rewrite(matrix_server: RedisServer) -> None:
    client = matrix_server.client()
    assert client.config_set("maxmemory", "64mb")
    assert client.config_rewrite()
    assert matrix_server.config_path is not None
    assert "maxmemory 64mb" in matrix_server.config_path.read_text()


def test_stop_ends_only_the_process_it_started(redis_server_factory: RedisServerFactory) -> None:
    first = redis_server_factory.start()
    second = redis_server_factory.start()
    assert first.port != second.port
    proc = first.proc
    assert proc is not None

    first.stop()
    assert proc.returncode is not None
    assert not first.running
    first.stop()  # idempotent
    assert second.client().ping() is True
    second.stop()


def test_redis_server_fixture_is_the_system_server(redis_server: RedisServer) -> None:
    assert redis_server.client().set("k", "v")
    assert redis_server.client().get("k") == "v"


@pytest.mark.skipif(not require_servers(), reason="only meaningful when REDISPOLICY_REQUIRE_SERVERS=1")
def test_every_listed_server_exists_when_servers_are_required() -> None:
    missing = [f"{s.name}={s.path}" for s in configured_servers() if s.executable() is None]
    assert not missing, (
        f"listed but missing: {missing} (REDISPOLICY_TEST_SERVERS={os.environ.get('REDISPOLICY_TEST_SERVERS')!r})"
    )
