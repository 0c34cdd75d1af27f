"""`redispolicy init` against real servers (issue 14, items 1 and 3).

Round trip on every matrix server: a non-default configuration and keys in several namespaces;
init; validate passes; plan against the same server reports no config change and no key
violation in any proposed class; the password is never written or printed. With --base, three
servers: the files validate, each plan is clean, explain shows shared values from base.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis_servers import RedisServer, RedisServerFactory, ServerSpec, configured_servers

from redispolicy.main import run

PASSWORD = "s3cret-Pw_42"
SERVERS = configured_servers()


def _seed(server: RedisServer) -> None:
    c = server.client()
    pipe = c.pipeline(transaction=False)
    for i in range(40):
        pipe.set(f"session:{i:05d}", "x", ex=3000 + i)  # TTL up to ~50 min: ttl.max 1h
        pipe.hset(f"doc:{i:05d}:state", mapping={"step": "ocr"})  # hashes, persistent
        pipe.set(f"lock:{i:05d}", "1", px=90_000)  # 90 s: 5m
    for i in range(10):
        pipe.set(f"mixed:{i:05d}", "x", **({"ex": 600} if i % 2 else {}))  # with and without a TTL
    pipe.execute()


def _plan_json(policy_dir: Path, env: str, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    code = run(["plan", "--policy-dir", str(policy_dir), "-e", env, "-o", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "init-test")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.mark.parametrize("spec", SERVERS, ids=[s.name for s in SERVERS])
def test_round_trip_init_validate_plan_is_clean(
    spec: ServerSpec,
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = redis_server_factory.start(
        spec,
        extra_args=[
            "--maxmemory", "64mb",
            "--maxmemory-policy", "allkeys-lru",
            "--notify-keyspace-events", "Ex",
        ],
    )  # fmt: skip
    try:
        c = server.client()
        c.config_set("save", "900 1 300 10")
        c.config_set(
            "client-output-buffer-limit", "pubsub 64mb 16mb 90"
        )  # Redis 6.0 refuses it as an argument
        _seed(server)
        c.config_set("requirepass", PASSWORD)  # last: the harness's own probes connect without one
        url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
        policies = tmp_path / "policies"

        assert run(["init", "--policy-dir", str(policies), "-e", "prod", "--url", url]) == 0
        captured = capsys.readouterr()
        text = (policies / "prod.yaml").read_text()
        assert PASSWORD not in text + captured.out + captured.err
        assert "requirepass: ${REDIS_REQUIREPASS_PROD}" in text
        assert "REDIS_REQUIREPASS_PROD" in captured.out and "REDIS_URL_PROD" in captured.out
        assert "maxmemory: 64mb" in text and 'save: "900 1 300 10"' in text
        assert "type: hash" in text and "ttl: persistent" in text and "ttl: {max: 1h}" in text

        assert run(["validate", str(policies)]) == 0, capsys.readouterr().out
        monkeypatch.setenv("REDIS_URL_PROD", f"redis://127.0.0.1:{server.port}/0")
        monkeypatch.setenv("REDIS_REQUIREPASS_PROD", PASSWORD)
        report = _plan_json(policies, "prod", capsys)
        assert report["summary"]["config_changes"] == 0, report["targets"][0]["config"]
        assert report["summary"]["key_violations"] == 0
        classes = {c["pattern"]: c for c in report["targets"][0]["keys"]["classes"]}
        assert set(classes) == {"session:*", "doc:*:state", "lock:*", "mixed:*"}
        assert all(c["violating_keys"] == 0 and c["matched"] > 0 for c in classes.values())
    finally:
        server.stop()


def test_base_factors_three_environments(
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = ["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]
    servers = {
        "dev": redis_server_factory.start(extra_args=[*shared, "--hz", "20"]),
        "staging": redis_server_factory.start(extra_args=[*shared, "--timeout", "300"]),
        "production": redis_server_factory.start(
            extra_args=["--maxmemory", "1gb", "--maxmemory-policy", "allkeys-lru"]
        ),
    }
    try:
        for env, server in servers.items():
            c = server.client()
            for i in range(20):
                c.set(f"session:{i:05d}", "x", ex=300 if env == "dev" else 30_000)
            if env == "production":
                for i in range(5):
                    c.zadd(f"ratelimit:{i:05d}", {"a": 1})
        policies = tmp_path / "policies"
        args = ["init", "--policy-dir", str(policies), "--base"]
        for env, server in servers.items():
            args += ["-e", env, "--url", server.url]
            monkeypatch.setenv(f"REDIS_URL_{env.upper()}", server.url)
        assert run(args) == 0, capsys.readouterr().err
        base = (policies / "base.yaml").read_text()
        assert "maxmemory-policy: allkeys-lru" in base and "maxmemory:" not in base  # production differs
        assert 'pattern: "session:*"' in base and "ttl:" not in base  # the TTLs differ per environment
        assert "maxmemory: 1gb" in (policies / "production.yaml").read_text()

        assert run(["validate", str(policies)]) == 0, capsys.readouterr().out
        for env in servers:
            report = _plan_json(policies, env, capsys)
            assert report["summary"]["config_changes"] == 0, (env, report["targets"][0]["config"])
            assert report["summary"]["key_violations"] == 0, env

        assert run(["explain", "--policy-dir", str(policies), "-e", "dev", "-o", "json"]) == 0
        sources = {s["name"]: s["source"] for s in json.loads(capsys.readouterr().out)["settings"]}
        assert sources["maxmemory"].startswith(str(policies / "dev.yaml"))  # production runs another
        assert sources["maxmemory-policy"].startswith(str(policies / "base.yaml"))
        assert sources["hz"].startswith(str(policies / "dev.yaml"))
    finally:
        for server in servers.values():
            server.stop()


def test_never_overwrites_without_force(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("# hand-written\n")
    args = ["init", "-e", "dev", "--url", redis_server.url, "--out", str(out)]
    assert run(args) == 1
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "# hand-written\n"
    assert run([*args, "--force"]) == 0
    assert "environment: dev" in out.read_text()


def test_out_dash_writes_the_policy_to_stdout(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(["init", "--policy-dir", str(tmp_path), "-e", "dev", "--url", redis_server.url, "--out", "-"])
        == 0
    )
    assert "apiVersion: redispolicy/v1" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args",
    [
        ["-e", "dev"],  # no --url
        ["-e", "dev", "--url", "redis://127.0.0.1:1", "-e", "prod"],  # pairs do not match
        [
            "-e",
            "dev",
            "--url",
            "redis://127.0.0.1:1",
            "-e",
            "prod",
            "--url",
            "redis://127.0.0.1:2",
        ],  # no --base
        ["-e", "dev", "--url", "redis://127.0.0.1:1", "--base"],  # --base of one
        ["-e", "dev", "--url", "redis://127.0.0.1:1", "--server-version", "redis-7.0"],
        ["-e", "base", "--url", "redis://127.0.0.1:1"],  # would be the base file
    ],
)
def test_usage_errors_touch_nothing(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init", "--policy-dir", str(tmp_path), *args]) == 64
    assert "hint:" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
