"""status counts lock timeouts (issue 13 item 2): with a ``health.expired_per_hour`` rule it subscribes
to expired events on each primary and shows the count per key class; keys deleted by their holder
are not counted; with notifications off the column says why instead of showing 0."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from redis_servers import RedisServerFactory

from redispolicy.main import run

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${STATUS_URL}
keys:
  - name: locks
    pattern: "lock:*"
    ttl: {max: 1m}
  - name: cache
    pattern: "cache:*"
    ttl: {max: 1d}
health:
  expired_per_hour: {class: locks, warning: 5}
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("notify", ["Ex", ""], ids=["notifications-on", "notifications-off"])
def test_one_reading_counts_lock_timeouts_per_class(
    redis_server_factory: RedisServerFactory,
    here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    notify: str,
) -> None:
    server = redis_server_factory.start()
    c = server.client()
    c.config_set("notify-keyspace-events", notify)
    for i in range(3):  # released by their holders during the window: not timeouts
        c.set(f"lock:released-{i}", "holder", px=60_000)

    def during_the_window() -> None:
        """Once status has subscribed (or the reading is under way): 7 locks time out, 3 are released."""
        other = server.client()
        deadline = time.monotonic() + 3
        while other.execute_command("PUBSUB", "NUMPAT") < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        pipe = other.pipeline(transaction=False)
        for i in range(7):
            pipe.set(f"lock:doc-{i}", "holder", px=100)
        pipe.set("cache:a", "x", px=100)
        pipe.delete(*[f"lock:released-{i}" for i in range(3)])
        pipe.execute()

    monkeypatch.setenv("STATUS_URL", server.url)
    helper = threading.Thread(target=during_the_window)
    helper.start()
    try:
        code = run(["status", "-e", "test", "-o", "json"])
    finally:
        helper.join()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert c.exists(*[f"lock:released-{i}" for i in range(3)]) == 0
    [node] = json.loads(out)["nodes"]
    if notify:
        assert node["lock_timeouts"] == {"locks": 7, "cache": 1}, node
    else:
        assert node["lock_timeouts"] is None
        assert "notify-keyspace-events" in node["unavailable"]["lock timeouts"], node["unavailable"]
