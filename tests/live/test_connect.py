"""Connections for real: TLS (verification on by default), unix sockets, redacted errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from redispolicy.main import run
from tests.redis_servers import free_port

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: {url}
{tls}config:
  maxmemory: 1gb
"""


def _certs(directory: Path) -> dict[str, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=redispolicy-test-ca",
    )
    ssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    )
    (directory / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    )
    return {n: directory / f"{n}" for n in ("ca.crt", "server.crt", "server.key")}


@pytest.fixture
def tls_server(redis_server_factory, tmp_path_factory):
    certs = _certs(tmp_path_factory.mktemp("certs"))
    tls_port = free_port()
    server = redis_server_factory.start(
        extra_args=[
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            str(certs["server.crt"]),
            "--tls-key-file",
            str(certs["server.key"]),
            "--tls-ca-cert-file",
            str(certs["ca.crt"]),
            "--tls-auth-clients",
            "no",
        ]
    )
    if "tls-port" not in server.client().config_get("tls-port"):
        server.stop()
        pytest.skip(f"{server.spec.name} is built without TLS")
    try:
        yield tls_port, certs
    finally:
        server.stop()


def _plan(policy_dir: Path, capsys) -> tuple[int, str, str]:
    code = run(["plan", "--policy-dir", str(policy_dir), "-e", "test"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tls_with_the_ca_connects(tls_server, tmp_path, capsys):
    port, certs = tls_server
    (tmp_path / "test.yaml").write_text(
        POLICY.format(url=f"rediss://127.0.0.1:{port}", tls=f"  tls:\n    ca_file: {certs['ca.crt']}\n")
    )
    code, out, err = _plan(tmp_path, capsys)
    assert code == 0, err
    assert f"at 127.0.0.1:{port}" in out and "maxmemory" in out


def test_tls_verifies_the_certificate_by_default(tls_server, tmp_path, capsys):
    port, _ = tls_server
    (tmp_path / "test.yaml").write_text(POLICY.format(url=f"rediss://127.0.0.1:{port}", tls=""))
    code, _, err = _plan(tmp_path, capsys)
    assert code == 1
    assert f"cannot connect to rediss://127.0.0.1:{port}" in err and "Traceback" not in err


def test_tls_verification_off_is_an_explicit_opt_out(tls_server, tmp_path, capsys):
    port, _ = tls_server
    (tmp_path / "test.yaml").write_text(
        POLICY.format(url=f"rediss://127.0.0.1:{port}", tls="  tls:\n    verify: false\n")
    )
    code, out, err = _plan(tmp_path, capsys)
    assert code == 0, err


TLS_OFF = "TLS verification is off"


def test_tls_verification_off_warns_once_per_run(tls_server, tmp_path, capsys):
    """verify: false is shown on stderr in every run that connects; drift connects many times, says it once."""
    port, _ = tls_server
    (tmp_path / "test.yaml").write_text(
        POLICY.format(url=f"rediss://127.0.0.1:{port}", tls="  tls:\n    verify: false\n")
    )
    code, out, err = _plan(tmp_path, capsys)
    assert code == 0, err
    assert err.count(TLS_OFF) == 1 and "target.tls.ca_file" in err
    code = run(["drift", "--policy-dir", str(tmp_path), "-e", "test", "-o", "json"])
    captured = capsys.readouterr()
    assert code in (0, 2), captured.err
    assert captured.err.count(TLS_OFF) == 1 and TLS_OFF not in captured.out  # stdout stays the report


@pytest.mark.parametrize(
    "query",
    [
        "ssl_cert_reqs=none",
        "ssl_cert_reqs=optional",
        "ssl_check_hostname=false",
        "ssl_check_hostname=0",
        "ssl_ca_certs={ca}",
        "ssl_ciphers=NULL",
        "ssl_exclude_verify_flags=VERIFY_X509_STRICT",
        "ssl_ca_path={dir}",
        "ssl_min_version=769",
    ],
)
def test_a_url_cannot_weaken_tls(query, tls_server, tmp_path, capsys, monkeypatch):
    """The URL usually lives in a CI secret, outside review: its query may not loosen verification."""
    port, certs = tls_server
    query = query.format(ca=certs["ca.crt"], dir=certs["ca.crt"].parent)
    name = query.split("=")[0]
    monkeypatch.setenv("TEST_URL", f"rediss://:hunter2@127.0.0.1:{port}?{query}")
    ca = "" if name == "ssl_ca_certs" else f"  tls:\n    ca_file: {certs['ca.crt']}\n"
    (tmp_path / "test.yaml").write_text(POLICY.format(url="${TEST_URL}", tls=ca))
    code, out, err = _plan(tmp_path, capsys)
    assert code == 1, out
    assert "Traceback" not in err and "hunter2" not in err
    assert (name in err and "target.tls" in err) or "query parameter" in err, err
    assert TLS_OFF not in err


def test_a_url_may_repeat_what_the_policy_says_about_tls(tls_server, tmp_path, capsys, monkeypatch):
    port, certs = tls_server
    monkeypatch.setenv("TEST_URL", f"rediss://127.0.0.1:{port}?ssl_cert_reqs=none&ssl_check_hostname=false")
    (tmp_path / "test.yaml").write_text(POLICY.format(url="${TEST_URL}", tls="  tls:\n    verify: false\n"))
    code, _, err = _plan(tmp_path, capsys)
    assert code == 0, err
    assert err.count(TLS_OFF) == 1
    monkeypatch.setenv(
        "TEST_URL", f"rediss://127.0.0.1:{port}?ssl_cert_reqs=required&ssl_ca_certs={certs['ca.crt']}"
    )
    (tmp_path / "test.yaml").write_text(
        POLICY.format(url="${TEST_URL}", tls=f"  tls:\n    ca_file: {certs['ca.crt']}\n")
    )
    code, _, err = _plan(tmp_path, capsys)
    assert code == 0, err
    assert TLS_OFF not in err


def test_url_flag_keeps_the_policys_tls_settings(tls_server, tmp_path, capsys):
    """--url replaces the address; how the server is trusted (ca_file, verify) stays the policy's."""
    port, certs = tls_server
    (tmp_path / "test.yaml").write_text(
        POLICY.format(url="rediss://elsewhere.invalid:6379", tls=f"  tls:\n    ca_file: {certs['ca.crt']}\n")
    )
    code = run(["plan", "--policy-dir", str(tmp_path), "-e", "test", "--url", f"rediss://127.0.0.1:{port}"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    code = run(
        [
            "plan",
            "--policy-dir",
            str(tmp_path),
            "-e",
            "test",
            "--url",
            f"rediss://127.0.0.1:{port}?ssl_cert_reqs=none",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1 and "ssl_cert_reqs=none" in captured.err and "(--url)" in captured.err


def test_unix_socket(redis_server_factory, tmp_path, capsys):
    sock = tmp_path / "redis.sock"
    server = redis_server_factory.start(extra_args=["--unixsocket", str(sock), "--unixsocketperm", "700"])
    try:
        (tmp_path / "test.yaml").write_text(POLICY.format(url=f"unix://{sock}", tls=""))
        code, out, err = _plan(tmp_path, capsys)
    finally:
        server.stop()
    assert code == 0, err
    assert f"at {sock}" in out


def test_unsupported_scheme_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TEST_URL", "http://user:pw@127.0.0.1:6379")
    (tmp_path / "test.yaml").write_text(POLICY.format(url="${TEST_URL}", tls=""))
    code, _, err = _plan(tmp_path, capsys)
    assert code == 1 and "unsupported URL scheme" in err and "pw@" not in err and "127.0.0.1" in err


def test_invalid_policy_is_refused_before_connecting(tmp_path, capsys):
    """plan runs validate's checks: a bad value is a diagnostic, never a crash in compare."""
    (tmp_path / "test.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\nconfig:\n  maxmemory: 1gbb\n"
    )
    code = run(["plan", "--policy-dir", str(tmp_path), "-e", "test", "--url", "redis://127.0.0.1:1"])
    captured = capsys.readouterr()
    assert code == 1
    assert "config-type" in captured.out and "test.yaml:5" in captured.out
    assert "internal error" not in captured.err and "cannot connect" not in captured.err


# -- another node of the same cluster (no server) ----------------------------------------------


def test_for_node_changes_only_the_host_and_port():
    from redispolicy.live.connect import ConnectOptions, for_node
    from redispolicy.secret import Secret

    opts = ConnectOptions(
        Secret("rediss://audit:s3cret@cache.example:6380/0?ssl_check_hostname=false"),
        username="audit",
        password=Secret("s3cret"),
        connect_timeout=2.5,
        read_timeout=7.0,
        tls_ca_file="/ca.crt",
        tls_cert_file="/c.crt",
        tls_key_file="/c.key",
        tls_verify=False,
        decode_responses=False,
        db=0,
    )
    other = for_node(opts, "10.0.0.7", 7001)
    assert other.url.reveal() == "rediss://audit:s3cret@10.0.0.7:7001/0?ssl_check_hostname=false"
    assert other == ConnectOptions(
        other.url, "audit", Secret("s3cret"), 2.5, 7.0, "/ca.crt", "/c.crt", "/c.key", False, False, 0
    )
    assert "s3cret" not in repr(other) and "s3cret" not in str(other.url)
    assert for_node(ConnectOptions(Secret("redis://h:1")), "::1", 7000).url.reveal() == "redis://[::1]:7000"
    assert for_node(ConnectOptions(Secret("redis://:pw@h")), "h2", 7000).url.reveal() == "redis://:pw@h2:7000"
    # a unix socket's cluster peers are TCP nodes
    unix = for_node(ConnectOptions(Secret("unix://u:pw@/run/redis.sock?db=0")), "10.0.0.1", 6379)
    assert unix.url.reveal() == "redis://u:pw@10.0.0.1:6379?db=0"
