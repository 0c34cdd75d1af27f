"""Issue 13, item 2: lock timeouts counted by `drift --window` from expired-key events, per key class.

A lock its holder deleted never expires; one that expired timed out. On a real server: 7 lock keys
expire and 3 are DELeted within the window (and keys of other classes expire too): locks counts
exactly 7 and `warning: 5` fires. Without notifications, or with PSUBSCRIBE refused, the check is
not checked (exit 1) and names what enables it: never 0, never a pass.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis_servers import RedisServer

from redispolicy.main import run

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${{URL}}
keys:
  - name: locks
    pattern: "lock:*"
  - name: leases
    pattern: "lease:*"
  - name: {last_name}
    pattern: "{last_pattern}"
health:
  expired_per_hour: {rule}
"""
WINDOW = "1.2"


def write_policy(
    root: Path, rule: str = "{class: locks, warning: 5}", last: tuple[str, str] = ("cache", "cache:*")
) -> None:
    (root / "policies").mkdir(exist_ok=True)
    text = POLICY.format(rule=rule, last_name=last[0], last_pattern=last[1])
    (root / "policies" / "test.yaml").write_text(text)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def drift(*extra: str) -> int:
    return run(
        [
            "drift",
            "--policy-dir",
            "policies",
            "-e",
            "test",
            "--no-keys",
            "--color",
            "never",
            "--report",
            "json=out/drift.json",
            "--report",
            "prometheus=out/drift.prom",
            *extra,
        ]
    )


def during_window(server: RedisServer, load: Any, *extra: str) -> int:
    """Run drift --window in a thread; once its subscription is on (PUBSUB NUMPAT), run ``load``."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(drift("--window", WINDOW, *extra)))
    thread.start()
    client = server.client()
    deadline = time.monotonic() + 10
    while int(client.execute_command("PUBSUB", "NUMPAT")) < 1:
        assert time.monotonic() < deadline, "drift never subscribed"
        time.sleep(0.01)
    load(client)
    thread.join(30)
    assert result, "drift did not finish"
    return result[0]


def lock_traffic(client: Any) -> None:
    """7 locks time out, 3 are released by their holder; 2 leases and 4 other keys time out too."""
    for i in range(3):
        client.set(f"lock:released:{i}", "holder", px=10_000)
    for i in range(7):
        client.set(f"lock:job:{i}", "holder", px=50 + 40 * i)  # 50..290 ms
    for i in range(2):
        client.set(f"lease:{i}", "x", px=60)
    for i in range(4):
        client.set(f"cache:{i}", "x", px=80)
        client.set(f"other{i}", "x", px=80)  # no class (unless a catch-all takes it)
    for i in range(3):
        client.delete(f"lock:released:{i}")  # deleted, not expired: not a timeout
    time.sleep(0.45)
    # Touching the keys expires any the active cycle has not reached yet (still one event each).
    client.exists(*[f"lock:job:{i}" for i in range(7)], "lease:0", "lease:1")


def health(doc: dict[str, Any], name: str = "expired_per_hour") -> dict[str, Any]:
    (check,) = [h for h in doc["targets"][0]["health"] if h["check"] == name]
    return dict(check)


def test_seven_lock_timeouts_fire_the_warning(
    matrix_server: RedisServer,
    here: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    matrix_server.client().config_set("notify-keyspace-events", "Ex")
    monkeypatch.setenv("URL", matrix_server.url)
    write_policy(here)
    code = during_window(matrix_server, lock_traffic, "--fail-on", "warning")
    text = capsys.readouterr().out
    doc = json.loads(Path("out/drift.json").read_text())
    check = health(doc)
    assert check["value"] == 7, check  # a window under an hour: judged on the count itself
    assert check["status"] == "warning" and check["threshold"] == 5
    assert "class locks (lock:*): 7 expired" in check["detail"]
    assert doc["targets"][0]["checks"]["health"] == "checked"
    assert code == 2, text
    assert "warning health: expired_per_hour 7 (threshold 5) class locks (lock:*): 7 expired" in text
    (finding,) = [f for f in doc["targets"][0]["findings"] if f["subject"] == "expired_per_hour"]
    assert finding["severity"] == "warning" and finding["source"] == "policies/test.yaml:14"
    prom = {
        s.labels["check"]: s.value
        for f in text_string_to_metric_families(Path("out/drift.prom").read_text())
        if f.name == "redispolicy_health_status"
        for s in f.samples
    }
    assert prom["expired_per_hour"] == 1
    # --fail-on critical (the default): a warning reports, it does not fail
    assert during_window(matrix_server, lock_traffic) == 0
    capsys.readouterr()


def test_critical_and_a_class_with_no_expirations(
    redis_server: RedisServer, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_server.client().config_set("notify-keyspace-events", "KEA")  # A includes x
    monkeypatch.setenv("URL", redis_server.url)
    write_policy(here, "{class: locks, warning: 2, critical: 6}")
    assert during_window(redis_server, lock_traffic) == 2
    assert health(json.loads(Path("out/drift.json").read_text()))["status"] == "critical"
    # nothing of the class expires: counted, 0, ok (and checked, not "unavailable")
    write_policy(here, "{class: locks, warning: 2}")
    code = during_window(redis_server, lambda c: (c.set("cache:1", "x", px=50), time.sleep(0.3)))
    capsys.readouterr()
    doc = json.loads(Path("out/drift.json").read_text())
    check = health(doc)
    assert (check["value"], check["status"]) == (0, "ok"), check
    assert doc["targets"][0]["checks"]["health"] == "checked" and code == 0


def test_catch_all_class_takes_what_no_earlier_class_claims(
    redis_server: RedisServer, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_server.client().config_set("notify-keyspace-events", "Ex")
    monkeypatch.setenv("URL", redis_server.url)
    write_policy(here, "{class: everything, warning: 100}", last=("everything", "*"))
    assert during_window(redis_server, lock_traffic) == 0
    capsys.readouterr()
    check = health(json.loads(Path("out/drift.json").read_text()))
    # 4 cache: + 4 other keys; the locks and leases went to their own (earlier) classes
    assert check["value"] == 8 and check["status"] == "ok", check


def assert_unavailable(code: int, text: str, *needles: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path("out/drift.json").read_text())
    assert code == 1, text
    target = doc["targets"][0]
    assert target["checks"]["health"] == "not_checked"
    reason = target["not_checked"]["health"]
    check = health(doc)
    assert check["status"] == "unknown" and check["value"] is None
    for needle in needles:
        assert needle in reason and needle in text and needle in check["detail"], (needle, reason)
    assert "✗ health not checked: expired_per_hour (class locks) could not be counted" in text
    prom = {
        s.labels.get("check", ""): s.value
        for f in text_string_to_metric_families(Path("out/drift.prom").read_text())
        if f.name in ("redispolicy_drift_check_success", "redispolicy_drift_checked")
        for s in f.samples
    }
    assert prom[""] == 0 and prom["health"] == 0
    return doc


def test_notifications_off_is_not_checked_and_names_the_setting(
    matrix_server: RedisServer,
    here: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    matrix_server.client().config_set("notify-keyspace-events", "")
    monkeypatch.setenv("URL", matrix_server.url)
    write_policy(here)
    code = drift("--window", "0.2")
    assert_unavailable(code, capsys.readouterr().out, "notify-keyspace-events: Ex", "notifications are off")
    # expired class without a channel, and a channel without the expired class: also off
    for value, why in (("x", "neither channel"), ("Eg", "has no x (expired) class")):
        matrix_server.client().config_set("notify-keyspace-events", value)
        assert_unavailable(drift("--window", "0.2"), capsys.readouterr().out, why)


def test_psubscribe_refused_by_acl_is_unavailable_not_zero(
    matrix_server: RedisServer,
    here: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = matrix_server.client()
    admin.config_set("notify-keyspace-events", "Ex")
    admin.execute_command("ACL", "SETUSER", "drifter", "on", ">drift-pw-3", "~*", "+@all", "-psubscribe")
    monkeypatch.setenv("URL", matrix_server.url.replace("redis://", "redis://drifter:drift-pw-3@"))
    write_policy(here)
    code = drift("--window", "0.2")
    text = capsys.readouterr().out
    assert_unavailable(code, text, "refused PSUBSCRIBE", "+psubscribe")
    assert "drift-pw-3" not in text + Path("out/drift.json").read_text()


def test_config_get_refused_is_unavailable(
    redis_server: RedisServer, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = redis_server.client()
    admin.config_set("notify-keyspace-events", "Ex")
    admin.execute_command("ACL", "SETUSER", "viewer", "on", ">viewer-pw-7", "~*", "&*", "+@all", "-config")
    monkeypatch.setenv("URL", redis_server.url.replace("redis://", "redis://viewer:viewer-pw-7@"))
    write_policy(here)
    code = drift("--window", "0.2")
    assert_unavailable(code, capsys.readouterr().out, "notify-keyspace-events could not be read")


def test_without_a_window_the_rule_is_named_not_counted(
    redis_server: RedisServer, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis_server.client()
    client.config_set("notify-keyspace-events", "Ex")
    monkeypatch.setenv("URL", redis_server.url)
    write_policy(here)
    code = drift()
    text = capsys.readouterr().out
    assert code == 0, text
    assert "note: health.expired_per_hour (class locks) was not counted" in text and "--window" in text
    assert health(json.loads(Path("out/drift.json").read_text()))["status"] == "unknown"
    assert int(client.execute_command("PUBSUB", "NUMPAT")) == 0


def test_no_rule_no_subscription(
    redis_server: RedisServer, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the rule drift --window subscribes to nothing (notifications off is then no problem)."""
    client = redis_server.client()
    monkeypatch.setenv("URL", redis_server.url)
    write_policy(here)
    text = (here / "policies" / "test.yaml").read_text().split("health:")[0]
    (here / "policies" / "test.yaml").write_text(text)
    seen: list[int] = []

    def watch() -> None:
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            seen.append(int(client.execute_command("PUBSUB", "NUMPAT")))
            time.sleep(0.02)

    thread = threading.Thread(target=watch)
    thread.start()
    code = drift("--window", "0.5")
    thread.join()
    assert code == 0, capsys.readouterr().out
    assert seen and max(seen) == 0
    doc = json.loads(Path("out/drift.json").read_text())
    assert not [h for h in doc["targets"][0]["health"] if h["check"] == "expired_per_hour"]


def test_a_replica_is_not_judged_on_lock_timeouts(
    redis_server_factory: Any, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A replica expires no key itself (its primary's DEL reaches it): its count would always be 0,
    # a pass it did not earn. The primary carries the check; the replica has none.
    primary = redis_server_factory.start()
    replica = redis_server_factory.start(extra_args=("--replicaof", "127.0.0.1", str(primary.port)))
    with replica.client() as c:
        deadline = time.monotonic() + 15
        while c.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    for s in (primary, replica):
        s.client().config_set("notify-keyspace-events", "Ex")
    monkeypatch.setenv("URL", primary.url)
    write_policy(here)
    during_window(primary, lock_traffic, "--fail-on", "warning")
    capsys.readouterr()
    doc = json.loads(Path("out/drift.json").read_text())
    by_addr = {t["address"]: t for t in doc["targets"]}
    checks = {a: [h for h in t["health"] if h["check"] == "expired_per_hour"] for a, t in by_addr.items()}
    assert [h["value"] for h in checks[primary.address]] == [7]
    assert checks[replica.address] == []
