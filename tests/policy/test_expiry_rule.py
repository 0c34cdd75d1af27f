"""health.expired_per_hour in the policy: schema, typed build, and validate's checks (no server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from redispolicy.main import run

BASE = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
{config}keys:
  - name: locks
    pattern: "lock:*"
  - name: cache
    pattern: "cache:*"
health:
  expired_per_hour: {rule}
"""


def validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rule: str, config: str = ""
) -> tuple[int, list[Any]]:
    (tmp_path / "test.yaml").write_text(BASE.format(rule=rule, config=config))
    code = run(["validate", str(tmp_path), "-o", "json"])
    return code, json.loads(capsys.readouterr().out)["diagnostics"]


ON = "config:\n  notify-keyspace-events: Ex\n"


def rules(diags: list[Any]) -> set[tuple[str, str]]:
    return {(d["rule"], d["severity"]) for d in diags}


def test_a_valid_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, diags = validate(tmp_path, capsys, "{class: locks, warning: 5, critical: 0.5}", ON)
    assert code == 0 and not [d for d in diags if d["severity"] != "note"], diags


@pytest.mark.parametrize(
    "rule",
    [
        "{class: locks, warning: 0}",
        "{class: locks, warning: -1}",
        "{class: locks, critical: 0}",
        "{class: locks, warning: .nan}",
        "{class: locks, warning: five}",
        "{warning: 5}",  # no class
        "{class: '', warning: 5}",
        "{class: locks, warning: 5, window: 1h}",
        "[{class: locks, warning: 5}]",
    ],
)
def test_schema_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str], rule: str) -> None:
    code, diags = validate(tmp_path, capsys, rule, ON)
    assert code == 1 and any(d["rule"].startswith("schema-") for d in diags), diags


@pytest.mark.parametrize("name", ["lock", "lock:*", "*", "Locks"])
def test_the_class_must_exist_with_a_pattern(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, diags = validate(tmp_path, capsys, f"{{class: '{name}', warning: 5}}", ON)
    assert code == 1
    (diag,) = [d for d in diags if d["rule"] == "health-unknown-class"]
    assert diag["severity"] == "error" and f"'{name}'" in diag["message"] and diag["line"] == 12
    assert "locks" in diag["hint"]


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ("", "the policy does not set notify-keyspace-events"),
        ("config:\n  notify-keyspace-events: Kg\n", "has no x (expired) class"),
        ("config:\n  notify-keyspace-events: ''\n", "notifications are off"),
    ],
)
def test_warns_when_the_policy_does_not_turn_notifications_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, why: str
) -> None:
    code, diags = validate(tmp_path, capsys, "{class: locks, warning: 5}", config)
    assert code == 0, diags  # a warning: the server may have it on by other means
    (diag,) = [d for d in diags if d["rule"] == "health-notifications-off"]
    assert diag["severity"] == "warning" and why in diag["message"] and "Ex" in diag["hint"]


@pytest.mark.parametrize("value", ["Ex", "KA", "AKE", "Kx"])
def test_no_warning_when_on(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    _, diags = validate(tmp_path, capsys, "{class: locks}", f"config:\n  notify-keyspace-events: {value}\n")
    assert not [d for d in diags if d["rule"].startswith("health-")], diags


def test_built_typed(tmp_path: Path) -> None:
    from redispolicy.policy.resolve import PolicySet

    (tmp_path / "test.yaml").write_text(BASE.format(rule="{class: locks, warning: 5}", config=ON))
    policy = PolicySet(tmp_path, {}).resolve(tmp_path / "test.yaml").policy
    assert policy is not None
    rule = policy.health.expired_per_hour
    assert rule is not None and (rule.key_class, rule.warning, rule.critical) == ("locks", 5.0, None)
    assert rule.location.line == 12
    assert policy.health.memory_used_percent.warning == 80  # the other defaults stay


def test_an_invalid_value_is_one_error_not_also_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, diags = validate(tmp_path, capsys, "{class: locks}", "config:\n  notify-keyspace-events: x\n")
    assert code == 1 and rules(diags) == {("config-type", "error")}, diags
