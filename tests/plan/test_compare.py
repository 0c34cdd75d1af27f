"""compare() with two literals and no server: the pure stage of plan."""

from __future__ import annotations

from pathlib import Path

from redispolicy.live.model import ConfigSnapshot, Identity
from redispolicy.plan.compare import compare
from redispolicy.policy.resolve import PolicySet
from redispolicy.secret import Secret

IDENT = Identity("redis", "7.0.15", "abc", "master", "standalone", "127.0.0.1:6379")


def _policy(tmp_path: Path, config: str, env: dict[str, str] | None = None):
    (tmp_path / "t.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: t\nconfig:\n" + config
    )
    res = PolicySet(tmp_path, env or {}).resolve(tmp_path / "t.yaml")
    assert res.policy is not None, res.diagnostics
    return res.policy


def test_alias_in_live_config_is_the_same_parameter(tmp_path):
    policy = _policy(tmp_path, "  replica-read-only: no\n")
    live = ConfigSnapshot(True, values={"slave-read-only": "yes", "replica-read-only": "yes"})
    (change,) = compare(policy, IDENT, live).pending
    assert (change.parameter, change.before, change.after, change.action) == (
        "replica-read-only",
        "yes",
        "no",
        "set",
    )


def test_partial_client_output_buffer_limit_keeps_other_classes(tmp_path):
    policy = _policy(tmp_path, '  client-output-buffer-limit: "pubsub 64mb 16mb 60"\n')
    live = ConfigSnapshot(
        True,
        values={
            "client-output-buffer-limit": "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        },
    )
    (change,) = compare(policy, IDENT, live).pending
    assert change.after == "normal 0 0 0 replica 268435456 67108864 60 pubsub 67108864 16777216 60"
    assert change.send == "pubsub 67108864 16777216 60"


def test_unchanged_special_parameter_is_never_a_change(tmp_path):
    policy = _policy(tmp_path, '  save: "3600  1 300 100"\n  bind: "127.0.0.1 -::1"\n')
    live = ConfigSnapshot(True, values={"save": "3600 1 300 100", "bind": "127.0.0.1 -::1"})
    plan = compare(policy, IDENT, live)
    assert plan.pending == () and [c.action for c in plan.changes] == ["noop", "noop"]


def test_missing_parameter_is_unsupported_and_protected_needs_enable(tmp_path):
    policy = _policy(tmp_path, "  maxmemory-clients: 10%\n  dir: /data\n")
    live = ConfigSnapshot(True, values={"dir": "/var/lib/redis", "enable-protected-configs": "no"})
    actions = {c.parameter: c.action for c in compare(policy, IDENT, live).pending}
    assert actions == {"maxmemory-clients": "unsupported", "dir": "protected"}


def test_sensitive_change_is_detected_without_exposing_values(tmp_path):
    policy = _policy(tmp_path, "  requirepass: ${PW}\n", {"PW": "new-secret"})
    live = ConfigSnapshot(True, values={"requirepass": Secret("old-secret")})
    (change,) = compare(policy, IDENT, live).pending
    assert change.action == "set" and change.sensitive
    assert "new-secret" not in repr(change) and "old-secret" not in repr(change)
    same = ConfigSnapshot(True, values={"requirepass": Secret("new-secret")})
    assert compare(policy, IDENT, same).pending == ()


def test_config_unavailable_yields_no_changes_and_the_reason(tmp_path):
    policy = _policy(tmp_path, "  maxmemory: 1gb\n")
    plan = compare(policy, IDENT, ConfigSnapshot(False, "CONFIG is unavailable on this server"))
    assert not plan.config_available and plan.pending == () and "unavailable" in plan.config_reason


def test_ignore_rule_unmanages_a_parameter_until_it_expires(tmp_path):
    import datetime

    (tmp_path / "t.yaml").write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: t\nconfig:\n  maxmemory: 1gb\n"
        "ignore:\n  - {parameter: maxmemory, reason: platform team, until: 2030-01-31}\n"
    )
    policy = PolicySet(tmp_path, {}).resolve(tmp_path / "t.yaml").policy
    live = ConfigSnapshot(True, values={"maxmemory": "0"})
    assert compare(policy, IDENT, live, today=datetime.date(2029, 12, 31)).pending == ()
    (change,) = compare(policy, IDENT, live, today=datetime.date(2030, 2, 1)).pending
    assert change.parameter == "maxmemory"
