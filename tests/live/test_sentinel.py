"""target.sentinel: the current primary comes from the sentinels, so every run follows a failover.

Real processes on 127.0.0.1 per matrix server: a primary, one replica and three sentinels
(``redis-server --sentinel``, quorum 2, down-after 1 s), started once per module. The
policy names only the sentinels and the service; ``plan`` must reach the primary they
name, and after ``SENTINEL FAILOVER`` the next ``plan`` the new one. The view's judgement
(quorum, disagreement) is checked on literal views below; drift's live view is in
tests/drift/test_drift_sentinel.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_servers import RedisServerFactory, SentinelGroup, configured_servers, free_port

from redispolicy.diagnostics import Location
from redispolicy.live.model import SentinelAnswer, SentinelView
from redispolicy.main import run
from redispolicy.plan.sentinel import sentinel_checks, sentinel_findings

SPECS = configured_servers()

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
{target}config:
  maxmemory-policy: allkeys-lru
"""


def sentinel_target(addresses: list[str], service: str = "mymaster", extra: str = "") -> str:
    listed = ", ".join(f'"{a}"' for a in addresses)
    return f"  sentinel:\n    addresses: [{listed}]\n    service: {service}\n{extra}"


def write_policy(root: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies" / "test.yaml").write_text(POLICY.format(target=target))
    monkeypatch.chdir(root)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "test-key")


def plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = run(["plan", "--policy-dir", "policies", "-e", "test", "-o", "json", "--no-keys", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def planned_address(doc: dict[str, Any]) -> str:
    """The address the plan was made of (one target today; the first node once plans are per node)."""
    target = doc["targets"][0] if "targets" in doc else doc["target"]
    return str(target["address"])


@pytest.fixture(scope="module", params=SPECS, ids=[s.name for s in SPECS])
def group(
    request: pytest.FixtureRequest, redis_server_factory: RedisServerFactory
) -> Iterator[SentinelGroup]:
    g = redis_server_factory.start_sentinels(request.param)
    try:
        yield g
    finally:
        g.stop()


def current_primary(g: SentinelGroup) -> str:
    seen = g.primary_seen(g.sentinels[0])
    assert seen is not None
    return f"{seen[0]}:{seen[1]}"


def test_plan_targets_the_primary_and_follows_a_failover(
    group: SentinelGroup, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # no url: the sentinels name the host
    write_policy(tmp_path, monkeypatch, sentinel_target(group.addresses))
    before = current_primary(group)
    code, doc, err = plan_json(capsys, "--out", "before.plan")
    assert code == 0, err
    assert planned_address(doc) == before

    new = group.failover()
    assert new.address != before
    code, doc, err = plan_json(capsys)
    assert code == 0, err
    assert planned_address(doc) == new.address  # the next run reaches the new primary

    # the plan made before the failover was made of another server: apply refuses it and changes nothing
    policy_before = new.client().config_get("maxmemory-policy")
    code = run(["apply", "before.plan", "--policy-dir", "policies"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert "nothing was changed" in err, err
    assert new.client().config_get("maxmemory-policy") == policy_before


def test_url_still_overrides_the_sentinels(
    group: SentinelGroup, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_policy(tmp_path, monkeypatch, sentinel_target(group.addresses))
    primary = current_primary(group)
    replica = next(n for n in group.data if n.address != primary)
    code, doc, err = plan_json(capsys, "--url", replica.url)
    assert code == 0, err
    assert planned_address(doc) == replica.address


def test_url_beside_sentinel_gives_scheme_and_database_only(
    group: SentinelGroup, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the URL names a port nothing listens on: only its scheme and /db are used, the host comes from the sentinels
    target = f"  url: redis://127.0.0.1:{free_port()}/0\n" + sentinel_target(group.addresses)
    write_policy(tmp_path, monkeypatch, target)
    code, doc, err = plan_json(capsys)
    assert code == 0, err
    assert planned_address(doc) == current_primary(group)


def test_no_sentinel_answering_is_a_clean_error_naming_them(
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    write_policy(tmp_path, monkeypatch, sentinel_target(dead))
    code = run(["plan", "--policy-dir", "policies", "-e", "test", "--no-keys"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out + err
    assert "no sentinel named a primary for the service 'mymaster'" in err, err
    assert all(a in err for a in dead) and "target.sentinel at policies/test.yaml:" in err, err
    assert "hint:" in err


def test_a_service_the_sentinels_do_not_monitor_is_refused(
    group: SentinelGroup, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_policy(tmp_path, monkeypatch, sentinel_target(group.addresses, service="other"))
    code = run(["plan", "--policy-dir", "policies", "-e", "test", "--no-keys"])
    err = capsys.readouterr().err
    assert code == 1
    assert "does not monitor a service named 'other'" in err, err


def test_sentinels_that_disagree_are_refused_and_named(
    group: SentinelGroup,
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a lone sentinel that monitors another server under the same service name
    other = redis_server_factory.start_sentinels(group.spec, replicas=0, sentinels=1, quorum=1)
    try:
        write_policy(tmp_path, monkeypatch, sentinel_target([group.addresses[0], other.addresses[0]]))
        code = run(["plan", "--policy-dir", "policies", "-e", "test", "--no-keys"])
        err = capsys.readouterr().err
        assert code == 1
        assert "the sentinels disagree on the primary of 'mymaster'" in err, err
        assert f"{group.addresses[0]} says {current_primary(group)}" in err, err
        assert f"{other.addresses[0]} says {other.data[0].address}" in err, err
    finally:
        other.stop()


# -- the view's judgement, on literal views ----------------------------------------------------

A, B, C = "10.0.0.7:26379", "10.0.0.8:26379", "10.0.0.9:26379"
OK = "OK 3 usable Sentinels. Quorum and failover authorization can be reached"
NOQUORUM = "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master"
HERE = Location("policies/prod.yaml", 5, 3)


def judged(*answers: SentinelAnswer) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    checks = sentinel_checks(SentinelView("mymaster", answers))
    found = sentinel_findings(checks, HERE)
    assert all(f.location == HERE and f.kind == "health" for f in found)
    return {h.check: h.status for h in checks}, [(f.subject, f.severity, f.message) for f in found]


def test_all_answering_with_a_quorum_is_no_finding() -> None:
    status, found = judged(
        *(SentinelAnswer(a, ("10.0.0.5", 6379), quorum_ok=True, quorum=OK) for a in (A, B, C))
    )
    assert status == {"sentinels_answered": "ok", "sentinel_quorum": "ok", "sentinel_primary_agreement": "ok"}
    assert found == []


def test_one_sentinel_down_with_a_quorum_left_is_shown_but_no_finding() -> None:
    up = [SentinelAnswer(a, ("10.0.0.5", 6379), quorum_ok=True, quorum=OK) for a in (A, B)]
    status, found = judged(*up, SentinelAnswer(C, error="cannot connect to redis://10.0.0.9:26379: refused"))
    assert status["sentinels_answered"] == "ok" and found == []
    detail = sentinel_checks(SentinelView("mymaster", (*up, SentinelAnswer(C, error="refused"))))[0].detail
    assert "2 of 3 sentinels" in detail and f"no answer from {C} (refused)" in detail


def test_no_quorum_is_a_critical_finding() -> None:
    status, found = judged(
        SentinelAnswer(A, ("10.0.0.5", 6379), quorum_ok=False, quorum=NOQUORUM),
        SentinelAnswer(B, error="refused"),
        SentinelAnswer(C, error="refused"),
    )
    assert status["sentinel_quorum"] == "critical"
    assert [(s, sev) for s, sev, _ in found] == [("sentinel_quorum", "critical")]
    assert NOQUORUM in found[0][2] and A in found[0][2]


def test_disagreeing_sentinels_are_a_critical_finding_naming_them() -> None:
    status, found = judged(
        SentinelAnswer(A, ("10.0.0.5", 6379), quorum_ok=True, quorum=OK),
        SentinelAnswer(B, ("10.0.0.5", 6379), quorum_ok=True, quorum=OK),
        SentinelAnswer(C, ("::1", 6380), quorum_ok=True, quorum=OK),
    )
    assert status["sentinel_primary_agreement"] == "critical"
    (subject, severity, message), *_ = found
    assert (subject, severity) == ("sentinel_primary_agreement", "critical")
    assert f"{A}, {B} say 10.0.0.5:6379; {C} says [::1]:6380" in message


def test_ckquorum_refused_everywhere_is_unknown_not_ok() -> None:
    status, found = judged(
        SentinelAnswer(A, ("10.0.0.5", 6379), quorum="NOPERM this user has no permissions")
    )
    assert status["sentinel_quorum"] == "unknown" and found == []
