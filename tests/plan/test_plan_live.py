"""plan against real servers: the must-hold cases of the plan issue, on every matrix server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redispolicy.main import run

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
config:
  maxmemory: 1gb
"""


def _plan(tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = run(["plan", "--policy-dir", str(tmp_path), "-e", "test", "--url", url, *extra])
    return code, capsys.readouterr().out


def test_maxmemory_plans_exactly_one_set_then_nothing(matrix_server, tmp_path, capsys):
    (tmp_path / "test.yaml").write_text(POLICY)
    client = matrix_server.client()
    assert client.config_get("maxmemory")["maxmemory"] == "0"

    code, out = _plan(tmp_path, matrix_server.url, capsys, "-o", "json", "--detailed-exitcode")
    assert code == 2
    config = json.loads(out)["targets"][0]["config"]
    assert config == [
        {
            "parameter": "maxmemory",
            "before": "0",
            "after": "1073741824",
            "action": "set",
            "sensitive": False,
            "source": config[0]["source"],
            "dangerous": False,
        }
    ]
    assert config[0]["source"].endswith("test.yaml:5")

    client.config_set("maxmemory", "1073741824")
    code, out = _plan(tmp_path, matrix_server.url, capsys, "--detailed-exitcode")
    assert code == 0
    assert "No changes. The server matches the policy." in out


def test_equivalent_spellings_are_not_drift(matrix_server, tmp_path, capsys):
    """Units, enum case, flag order and yes/true all normalize to what CONFIG GET returns."""
    client = matrix_server.client()
    client.config_set("maxmemory", "1073741824")
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("notify-keyspace-events", "Ex")
    client.config_set("lazyfree-lazy-expire", "yes")
    (tmp_path / "test.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\nconfig:\n"
        "  maxmemory: 1GB\n  maxmemory-policy: ALLKEYS-LRU\n  notify-keyspace-events: xE\n"
        "  lazyfree-lazy-expire: true\n"
    )
    code, out = _plan(tmp_path, matrix_server.url, capsys, "--detailed-exitcode")
    assert code == 0, out


def test_startup_only_parameter_is_a_restart(matrix_server, tmp_path, capsys):
    (tmp_path / "test.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\nconfig:\n  databases: 32\n"
    )
    code, out = _plan(tmp_path, matrix_server.url, capsys, "-o", "json")
    assert code == 0
    (change,) = json.loads(out)["targets"][0]["config"]
    assert (change["parameter"], change["before"], change["after"], change["action"]) == (
        "databases",
        "16",
        "32",
        "restart",
    )


def test_secret_value_never_printed(redis_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TEST_PASSWORD", "s3cr3t-Value")
    (tmp_path / "test.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\nconfig:\n"
        "  requirepass: ${TEST_PASSWORD}\n"
    )
    for fmt in ("text", "json", "markdown"):
        code, out = _plan(tmp_path, redis_server.url, capsys, "-o", fmt)
        assert code == 0
        assert "s3cr3t-Value" not in out
    change = json.loads(_plan(tmp_path, redis_server.url, capsys, "-o", "json")[1])["targets"][0]["config"][0]
    assert change["before"] == change["after"] == "(sensitive)"
    assert change["changed"] is True


def test_unset_variable_fails_clearly_when_connecting(redis_server, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TEST_PASSWORD", raising=False)
    (tmp_path / "test.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\nconfig:\n"
        "  requirepass: ${TEST_PASSWORD}\n"
    )
    code, out = _plan(tmp_path, redis_server.url, capsys)
    assert code == 1
    assert "TEST_PASSWORD" in out and "env-required" in out


def test_unreachable_server_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "test.yaml").write_text(POLICY)
    code = run(["plan", "--policy-dir", str(tmp_path), "-e", "test", "--url", "redis://:pw@127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot connect to redis://:***@127.0.0.1:1" in err
    assert "pw@" not in err and "Traceback" not in err


def test_plan_file_records_identity_live_values_and_no_secret(redis_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TEST_PASSWORD", "s3cr3t-Value")
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "test-key")
    policy = tmp_path / "test.yaml"
    policy.write_text(POLICY + "  requirepass: ${TEST_PASSWORD}\n")
    out = tmp_path / "prod.plan"
    code, stdout = _plan(tmp_path, redis_server.url, capsys, "--out", str(out))
    assert code == 0 and f"Saved the plan to {out}." in stdout
    text = out.read_text()
    assert "s3cr3t-Value" not in text
    doc = json.loads(text)
    run_id = redis_server.client().info("server")["run_id"]
    assert (
        doc["format"] == "redispolicy-plan" and doc["format_version"] == 3
    )  # 2: signed (issue 10); 3: every node (issue 12)
    assert doc["target"]["run_id"] == run_id
    assert doc["target"]["address"] == f"127.0.0.1:{redis_server.port}"
    assert doc["live"]["maxmemory"] == "0"
    import hashlib

    assert doc["policy"]["files"][0]["sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    by_name = {c["parameter"]: c for c in doc["changes"]}
    assert by_name["maxmemory"]["after"] == "1073741824"
    secret = by_name["requirepass"]
    assert "after" not in secret and secret["before_fingerprint"] != secret["after_fingerprint"]


def test_renamed_config_command_is_not_checked(redis_server_factory, tmp_path, capsys):
    """A plan that could not read the config is not "no changes": exit 1, with or without
    --detailed-exitcode (issue 10); tests/drift/test_not_checked.py covers every format."""
    server = redis_server_factory.start(extra_args=["--rename-command", "CONFIG", ""])
    try:
        (tmp_path / "test.yaml").write_text(POLICY)
        code, out = _plan(tmp_path, server.url, capsys)
        assert code == 1
        assert "config not checked: CONFIG is unavailable on this server" in out and "No changes" not in out
        code, _ = _plan(tmp_path, server.url, capsys, "--detailed-exitcode")
        assert code == 1
    finally:
        server.stop()


def test_acl_user_without_config_permission_is_named(redis_server, tmp_path, capsys):
    redis_server.client().execute_command(
        "ACL", "SETUSER", "viewer", "on", ">viewerpw", "+@all", "-config", "~*"
    )
    (tmp_path / "test.yaml").write_text(POLICY)
    url = redis_server.url.replace("redis://", "redis://viewer:viewerpw@")
    code, out = _plan(tmp_path, url, capsys)
    assert code == 1  # not checked is never "no changes"
    assert "may not run CONFIG GET" in out and "+config|get" in out
    assert "viewerpw" not in out


def test_dir_is_protected_where_protected_configs_exist(matrix_server, tmp_path, capsys):
    (tmp_path / "test.yaml").write_text(
        f"apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\nallow_dangerous: [dir]\n"
        f"config:\n  dir: {tmp_path}\n"
    )  # dir moves RDB writes: managed only with the explicit opt-in
    code, out = _plan(tmp_path, matrix_server.url, capsys, "-o", "json")
    assert code == 0
    (change,) = json.loads(out)["targets"][0]["config"]
    has_protection = "enable-protected-configs" in matrix_server.client().config_get("*")
    # Redis 6.x has no protected configs: there CONFIG SET dir simply works.
    assert change["action"] == ("protected" if has_protection else "set")


def test_masterauth_uses_the_name_the_server_uses(matrix_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PRIMARY_PW", "pw-for-primary")
    (tmp_path / "test.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\nconfig:\n  masterauth: ${PRIMARY_PW}\n"
    )
    code, out = _plan(tmp_path, matrix_server.url, capsys, "-o", "json")
    assert code == 0 and "pw-for-primary" not in out
    (change,) = json.loads(out)["targets"][0]["config"]
    valkey8 = matrix_server.client().info("server").get("server_name") == "valkey"
    assert change["parameter"] == ("primaryauth" if valkey8 else "masterauth")
    assert change["action"] == "set" and change["sensitive"] is True


def test_wrong_password_is_one_clear_line_without_secret(redis_server, tmp_path, capsys):
    redis_server.client().config_set("requirepass", "right-pw")
    (tmp_path / "test.yaml").write_text(POLICY)
    url = redis_server.url.replace("redis://", "redis://:wrong-pw@")
    code = run(["plan", "--policy-dir", str(tmp_path), "-e", "test", "--url", url])
    captured = capsys.readouterr()
    assert code == 1
    first = captured.err.splitlines()[0]
    assert first.startswith("redispolicy: error: authentication to redis://:***@127.0.0.1:")
    assert "wrong-pw" not in captured.err + captured.out and "Traceback" not in captured.err


def test_silent_server_times_out_within_the_policy_timeouts(tmp_path, capsys):
    """A peer that accepts TCP but never answers: exit 1 after the read timeout, not a hang."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        (tmp_path / "test.yaml").write_text(
            "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\n"
            f"target:\n  url: redis://127.0.0.1:{port}\n  connect_timeout: 1s\n  read_timeout: 1s\n"
            "config:\n  maxmemory: 1gb\n"
        )
        start = time.monotonic()
        code = run(["plan", "--policy-dir", str(tmp_path), "-e", "test"])
        elapsed = time.monotonic() - start
    finally:
        listener.close()
    err = capsys.readouterr().err
    assert code == 1 and f"cannot connect to redis://127.0.0.1:{port}" in err
    assert elapsed < 8  # bounded by the 1 s timeouts (and retries), not the default 10 s


def test_json_output_matches_the_shipped_report_schema(matrix_server, tmp_path, capsys, monkeypatch):
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text())
    monkeypatch.setenv("TEST_PASSWORD", "pw")
    (tmp_path / "test.yaml").write_text(
        POLICY + "  requirepass: ${TEST_PASSWORD}\n  databases: 32\n  maxmemory-clients: 5%\n"
    )
    for extra in ((), ("--show-unchanged",)):
        code, out = _plan(tmp_path, matrix_server.url, capsys, "-o", "json", *extra)
        assert code == 0
        doc = json.loads(out)
        jsonschema.Draft202012Validator(schema).validate(doc)
        actions = {c["parameter"]: c["action"] for c in doc["targets"][0]["config"]}
        assert actions["databases"] == "restart" and actions["maxmemory"] == "set"
