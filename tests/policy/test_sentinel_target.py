"""target.sentinel in the policy: url or sentinel, addresses as host:port, the sentinels' password from ${VAR}."""

from __future__ import annotations

from pathlib import Path

import pytest

from redispolicy.main import run
from redispolicy.policy.schema import validate
from redispolicy.policy.yamlload import load_text

HEAD = "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: prod\n"


def diags(text: str) -> list[tuple[str, str]]:
    loaded = load_text(HEAD + text, "p.yaml")
    assert loaded.root is not None, loaded.diagnostics
    return sorted((d.rule, d.message) for d in validate(loaded.root))


def validated(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str]:
    (tmp_path / "prod.yaml").write_text(HEAD + text)
    code = run(["validate", str(tmp_path / "prod.yaml"), "--color", "never"])
    out, err = capsys.readouterr()
    return code, out + err


def test_a_sentinel_target_needs_no_url() -> None:
    assert (
        diags("target:\n  sentinel: {addresses: ['10.0.0.7:26379', '[::1]:26379'], service: cache}\n") == []
    )
    assert (
        diags("target:\n  url: rediss://h:6379\n  sentinel: {addresses: ['s:26379'], service: cache}\n") == []
    )


def test_a_target_needs_url_or_sentinel() -> None:
    assert diags("target:\n  name: x\n") == [
        ("schema-invalid", "a target needs 'url' or 'sentinel' (or both)")
    ]


@pytest.mark.parametrize(
    "sentinel",
    [
        "{addresses: [], service: cache}",  # no sentinel at all
        "{addresses: ['s:26379']}",  # no service
        "{addresses: ['s:26379'], service: ''}",
        "{addresses: ['s'], service: cache}",  # no port
        "{addresses: ['::1:26379'], service: cache}",  # IPv6 without brackets
        "{addresses: ['s:26379', 's:26379'], service: cache}",
        "{addresses: ['s:26379'], service: cache, master: x}",
    ],
)
def test_malformed_sentinel_settings_are_refused(sentinel: str) -> None:
    assert diags(f"target:\n  sentinel: {sentinel}\n"), sentinel


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_a_port_no_sentinel_can_listen_on_is_refused(
    port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = validated(tmp_path, capsys, f"target:\n  sentinel: {{addresses: ['s:{port}'], service: c}}\n")
    assert code == 1
    assert f"sentinel address 's:{port}' has no port from 1 to 65535" in out, out


def test_the_sentinels_password_must_come_from_a_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    literal = "target:\n  sentinel:\n    addresses: ['s:26379']\n    service: c\n    password: hunter2\n"
    code, out = validated(tmp_path, capsys, literal)
    assert code == 1 and "target.sentinel.password is a literal value" in out, out
    assert "hunter2" not in out
    code, out = validated(tmp_path, capsys, literal.replace("hunter2", "${SENTINEL_PASSWORD}"))
    assert code == 0, out
