"""Target URLs as hostile input: bad ports, IPv6, passwords that must never be printed.

Every case goes through the real CLI (in process): a bad URL is one clean error with the
next step, exit 1, no traceback (not even with REDISPOLICY_DEBUG=1); a password in the URL
(userinfo, ?password=, or cut short by an unencoded '#', '/' or '?') appears in no output,
report file or error of plan and drift, in any format.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from redispolicy.errors import RedispolicyError
from redispolicy.live.connect import ConnectOptions, address, redact_url
from redispolicy.main import run
from redispolicy.secret import Secret

PASSWORD = "hunter2"  # every password below contains it
DRIFT_FORMATS = ("text", "json", "markdown", "github", "sarif", "junit", "prometheus")

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${RP_TEST_URL}
  connect_timeout: 1s
  read_timeout: 1s
config:
  maxmemory: 1gb
"""


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    (tmp_path / "test.yaml").write_text(POLICY)
    return tmp_path


# -- malformed URLs: a clean error that names the problem, never the URL's text ---------------

BAD_URLS = {
    # a password with unencoded '#', '/' or '?' splits the URL where the password is
    "hash-in-password": ("redis://:pa#ss/wo?rd" + PASSWORD + "@127.0.0.1:6379", "'#'"),
    "slash-in-password": (f"redis://:pa/ss{PASSWORD}@127.0.0.1:6379", "'@' after the host"),
    "question-in-password": (f"redis://:pa?ss{PASSWORD}@127.0.0.1:6379", "'@' after the host"),
    "slash-in-user-and-password": (f"redis://u:{PASSWORD}/x@127.0.0.1:6379", "'@' after the host"),
    "unix-slash-in-password": (f"unix://:pa/{PASSWORD}@/run/redis.sock", "names no host"),
    "port-too-big": ("redis://127.0.0.1:99999", "port"),
    "port-not-a-number": ("redis://127.0.0.1:abc", "port"),
    "port-negative": ("redis://127.0.0.1:-1", "port"),
    "port-zero": ("redis://127.0.0.1:0", "port"),  # redis-py would quietly use 6379
    "port-empty": ("redis://127.0.0.1:", "port"),
    "ipv6-without-brackets": ("redis://::1:6379", "IPv6"),
    "ipv6-unclosed": ("redis://[::1:6379", "IPv6"),
    "ipv6-not-an-address": ("redis://[nothost]:6379", "IPv6"),
    "empty-host": ("redis://:6379", "no host"),
    "nothing-after-scheme": ("redis://", "no host"),
    "no-scheme": ("127.0.0.1:6379", "scheme"),
    "unknown-scheme": (f"http://u:{PASSWORD}@127.0.0.1:6379", "unsupported URL scheme 'http'"),
    "upper-case-scheme": ("REDIS://127.0.0.1:6379", "unsupported URL scheme"),
    "path-not-a-db": ("redis://127.0.0.1:6379/zero", "database number"),
    "newline": ("redis://127.0.0.1:6379\n/0", "control character"),
    # redis-py would pass these on as connection arguments (and crash or change reply types)
    "decode-responses": ("redis://127.0.0.1:6379?decode_responses=no", "query parameter"),
    "resp3": ("redis://127.0.0.1:6379?protocol=3", "query parameter"),
    "encoded-name": ("redis://127.0.0.1:6379?d%62=3", "query parameter"),
    "duplicate": ("redis://127.0.0.1:6379?db=1&db=2", "db twice"),
    "tls-param-without-tls": ("redis://127.0.0.1:6379?ssl_cert_reqs=required", "not a rediss:// URL"),
}


@pytest.mark.parametrize("name", list(BAD_URLS))
def test_a_bad_url_is_refused_without_echoing_it(name: str) -> None:
    # Imported here (new with this check) so that the CLI tests of this file also run against older code.
    from redispolicy.live.connect import check_url

    url, expected = BAD_URLS[name]
    with pytest.raises(RedispolicyError) as info:
        check_url(ConnectOptions(Secret(url)))
    text = str(info.value)
    assert expected in text
    assert PASSWORD not in text and "hint:" in text
    assert redact_url(url).count(PASSWORD) == 0
    assert PASSWORD not in address(url)


@pytest.mark.parametrize("command", ["plan", "drift"])
@pytest.mark.parametrize(
    "name",
    [
        "hash-in-password",
        "slash-in-password",
        "port-too-big",
        "port-not-a-number",
        "ipv6-without-brackets",
        "empty-host",
        "unknown-scheme",
        "decode-responses",
    ],
)
def test_a_bad_url_is_a_clean_error_in_the_cli(
    name: str,
    command: str,
    policy_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, expected = BAD_URLS[name]
    monkeypatch.setenv("REDISPOLICY_DEBUG", "1")  # no traceback (which would hold the URL) even when asked
    monkeypatch.setenv("RP_TEST_URL", url)
    base = [command, "--policy-dir", str(policy_dir), "-e", "test", "--color", "never"]
    for argv, origin in ((base, "target.url at "), ([*base, "--url", url], "(--url)")):
        code, out, err = _cli(argv, capsys)
        assert code == 1, (out, err)
        assert "Traceback" not in err and "internal error" not in err
        assert expected in out + err and origin in out + err
        assert PASSWORD not in out + err
        assert "pa#ss" not in out + err and "wo?rd" not in out + err


def test_address_and_redaction_of_valid_urls() -> None:
    from redispolicy.live.connect import check_url

    assert address("redis://[::1]:7000/0") == "[::1]:7000"
    assert address("redis://Cache.Example") == "cache.example:6379"
    assert address("unix:///run/redis.sock?db=1") == "/run/redis.sock"
    assert (
        redact_url(f"redis://u:{PASSWORD}@h:1/0?password={PASSWORD}&db=0")
        == "redis://u:***@h:1/0?password=***&db=0"
    )
    assert redact_url(f"rediss://h:1?ssl_password={PASSWORD}") == "rediss://h:1?ssl_password=***"
    assert redact_url(f"unix://:{PASSWORD}@/run/r@1.sock") == "unix://:***@/run/r@1.sock"
    check_url(ConnectOptions(Secret("redis://u:p%23ss%2Fw%3Fd@h:1/0?db=0&")))  # encoded: fine


# -- passwords never printed: unreachable, refused, timed out; every drift format -------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: the read times out."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _leak_check(
    policy_dir: Path,
    tmp_path: Path,
    url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    via_url_flag: bool,
) -> None:
    monkeypatch.setenv("REDISPOLICY_DEBUG", "1")
    monkeypatch.setenv("RP_TEST_URL", "redis://127.0.0.1:1" if via_url_flag else url)
    extra = ["--url", url] if via_url_flag else []
    code, out, err = _cli(["plan", "--policy-dir", str(policy_dir), "-e", "test", *extra], capsys)
    assert code == 1 and "Traceback" not in err
    assert PASSWORD not in out + err, out + err
    reports = tmp_path / "reports"
    for fmt in DRIFT_FORMATS:
        files = [f"{f}={reports / fmt / f}" for f in DRIFT_FORMATS]
        argv = ["drift", "--policy-dir", str(policy_dir), "-e", "test", "-o", fmt, "--color", "never", *extra]
        for spec in files:
            argv += ["--report", spec]
        code, out, err = _cli(argv, capsys)
        assert code == 1, (fmt, out, err)
        assert "Traceback" not in err and "internal error" not in err
        assert PASSWORD not in out + err, (fmt, out + err)
        for path in (reports / fmt).iterdir():
            assert PASSWORD not in path.read_text(), (fmt, path.name)


@pytest.mark.parametrize("via_url_flag", [False, True], ids=["target-url", "--url"])
@pytest.mark.parametrize("form", ["userinfo", "user-and-password", "query"])
def test_password_never_printed_when_unreachable(
    form: str,
    via_url_flag: bool,
    closed_port: int,
    policy_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = {
        "userinfo": f"redis://:{PASSWORD}@127.0.0.1:{closed_port}/0",
        "user-and-password": f"redis://bob:{PASSWORD}@127.0.0.1:{closed_port}",
        "query": f"redis://127.0.0.1:{closed_port}/0?password={PASSWORD}",
    }[form]
    _leak_check(policy_dir, tmp_path, url, capsys, monkeypatch, via_url_flag)


def test_password_never_printed_on_a_timeout(
    silent_port: int,
    policy_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RP_TEST_URL", f"redis://127.0.0.1:{silent_port}/0?password={PASSWORD}")
    code, out, err = _cli(["drift", "--policy-dir", str(policy_dir), "-e", "test", "-o", "markdown"], capsys)
    assert code == 1
    assert "imeout" in out + err or "timed out" in out + err, out + err
    assert PASSWORD not in out + err


@pytest.mark.redis
@pytest.mark.parametrize("form", ["query", "user-and-password"])
def test_password_never_printed_when_refused(
    form: str,
    redis_server_factory,
    policy_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = redis_server_factory.start()
    server.client().config_set(
        "requirepass", "the-right-one"
    )  # after start: the readiness probe has no password
    try:
        url = {
            "query": f"redis://127.0.0.1:{server.port}/0?password={PASSWORD}",
            "user-and-password": f"redis://default:{PASSWORD}@127.0.0.1:{server.port}",
        }[form]
        _leak_check(policy_dir, tmp_path, url, capsys, monkeypatch, via_url_flag=False)
        code, out, err = _cli(["plan", "--policy-dir", str(policy_dir), "-e", "test"], capsys)
        assert "authentication" in err and "***" in err
    finally:
        server.stop()


# -- IPv6 ---------------------------------------------------------------------------------------


@pytest.mark.redis
def test_ipv6_literal_in_brackets_connects(
    redis_server_factory,
    policy_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server = redis_server_factory.start(extra_args=["--bind", "127.0.0.1", "::1"])
    try:
        monkeypatch.setenv("RP_TEST_URL", f"redis://[::1]:{server.port}/0")
        code, out, err = _cli(["plan", "--policy-dir", str(policy_dir), "-e", "test"], capsys)
        assert code == 0, err
        assert f"[::1]:{server.port}" in out
        code, out, err = _cli(["drift", "--policy-dir", str(policy_dir), "-e", "test", "--no-keys"], capsys)
        assert code in (0, 2), out + err
        assert f"[::1]:{server.port}" in out and "Traceback" not in err
    finally:
        server.stop()
