"""Shared fixtures: real redis-server processes on 127.0.0.1 (see tests/redis_servers.py).

    redis_server          function-scoped, the system server (redis-server on PATH)
    matrix_server         function-scoped, parametrized over REDISPOLICY_TEST_SERVERS (ids = names)
    redis_server_factory  session-scoped; ``factory.start(spec=None, **options)`` for tests that
                          need several servers or special options; every server it started is
                          stopped at the end of the session at the latest
    redis_server_specs    the parsed server list
    redis_cluster         a real Redis Cluster of the system server: 3 masters + 3 replicas
                          (tests/redis_servers.py RedisCluster), flushed before each test; one
                          cluster per session (forming one takes ~2 s: the masters' writable delay)
    matrix_cluster        the same, parametrized over REDISPOLICY_TEST_SERVERS (one at a time)

A missing binary skips the test, or fails it when REDISPOLICY_REQUIRE_SERVERS=1 (CI).
Tests using these fixtures get the ``redis`` marker, so ``pytest -m "not redis"`` runs
without any server.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redis_servers import (
    ENV_REQUIRE,
    ENV_SERVERS,
    RedisCluster,
    RedisServer,
    RedisServerFactory,
    ServerSpec,
    configured_servers,
    require_servers,
    system_server,
)

try:
    SERVERS: list[ServerSpec] = configured_servers()
except ValueError as exc:  # a typo in the env var must not look like "no servers"
    raise pytest.UsageError(str(exc)) from exc

SERVER_FIXTURES = {"redis_server", "matrix_server", "redis_server_factory", "redis_cluster", "matrix_cluster"}


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"redis servers ({ENV_SERVERS}):"]
    for spec in SERVERS:
        lines.append(f"  {spec.name}={spec.path}" + ("" if spec.executable() else "  (MISSING)"))
    lines.append(f"{ENV_REQUIRE}={'1' if require_servers() else '0'}")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def redis_server_specs() -> list[ServerSpec]:
    return list(SERVERS)


@pytest.fixture(scope="session")
def redis_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServerFactory]:
    # The "system" server is the redis-server on PATH; without one, the first listed server.
    default = system_server()
    if default.executable() is None and SERVERS:
        default = SERVERS[0]
    factory = RedisServerFactory(tmp_path_factory, default)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def redis_server(redis_server_factory: RedisServerFactory) -> Iterator[RedisServer]:
    server = redis_server_factory.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=SERVERS, ids=[s.name for s in SERVERS])
def matrix_server(
    request: pytest.FixtureRequest, redis_server_factory: RedisServerFactory
) -> Iterator[RedisServer]:
    server = redis_server_factory.start(request.param)
    try:
        yield server
    finally:
        server.stop()


# -- clusters: one per server and session, flushed before each test ---------------------------


@pytest.fixture(scope="session")
def _system_cluster(redis_server_factory: RedisServerFactory) -> Iterator[RedisCluster]:
    cluster = redis_server_factory.start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session", params=SERVERS, ids=[s.name for s in SERVERS])
def _matrix_cluster(
    request: pytest.FixtureRequest, redis_server_factory: RedisServerFactory
) -> Iterator[RedisCluster]:
    # pytest groups the tests by param and finishes one cluster before starting the next
    spec: ServerSpec = request.param
    if _binary(spec) is not None and _binary(spec) == _binary(redis_server_factory.default):
        yield request.getfixturevalue("_system_cluster")  # the same server binary: one cluster for both
        return
    cluster = redis_server_factory.start_cluster(spec)
    try:
        yield cluster
    finally:
        cluster.stop()


def _binary(spec: ServerSpec) -> str | None:
    path = spec.executable()
    return os.path.realpath(path) if path else None


@pytest.fixture
def redis_cluster(_system_cluster: RedisCluster) -> RedisCluster:
    _system_cluster.flushall()
    return _system_cluster


@pytest.fixture
def matrix_cluster(_matrix_cluster: RedisCluster) -> RedisCluster:
    _matrix_cluster.flushall()
    return _matrix_cluster
