"""Issue 13 item 1: `status` figures from two readings, as pure functions (plan/status.py).

Rates over the window, hit rate in the window (not the server's lifetime), slowlog growth by
id, a restart between readings (no rates, never negative ones), figures a refused INFO leaves
unknown (None, never 0), key-class shares by the first matching class, and colours from the
policy's health thresholds (plan/health.py's judge).
"""

from __future__ import annotations

import dataclasses

from redispolicy.diagnostics import Location
from redispolicy.live.model import ClassSample, NodeReading, Reading, SlowEntry, SlowlogState
from redispolicy.live.status import parse_slowlog
from redispolicy.plan.status import UNCLASSIFIED, node_status, shares
from redispolicy.policy.model import Health, KeyClass, LowerThreshold, Threshold

HERE = Location("policies/t.yaml", 1, 1)
MB = 1024 * 1024


def info(at: float, **over: object) -> Reading:
    base = Reading(
        at=at,
        used_memory=50 * MB,
        maxmemory=100 * MB,
        total_system_memory=8000 * MB,
        keyspace_hits=1000,
        keyspace_misses=1000,
        evicted_keys=10,
        expired_keys=20,
        fragmentation_ratio=1.0,
        fragmentation_bytes=0,
        rejected_connections=0,
        blocked_clients=1,
        connected_clients=7,
        role="master",
        master_link_status=None,
        rdb_last_bgsave_status="ok",
        aof_enabled=False,
        aof_last_write_status="ok",
        loading=False,
    )
    return dataclasses.replace(base, **over)  # type: ignore[arg-type]


def node(
    at: float, commands: int, slow: SlowlogState | None = None, run_id: str = "r1", **over: object
) -> NodeReading:
    return NodeReading(
        "127.0.0.1:6379",
        "master",
        at,
        info=info(at, **over),
        run_id=run_id,
        commands_processed=commands,
        connected_replicas=2,
        slowlog=slow,
    )


def test_rates_are_over_the_window_and_the_hit_rate_is_the_windows_own() -> None:
    prev = node(100.0, 5000)
    # 2 s later: 900 more commands; 90 hits and 10 misses (lifetime: 1090 of 2100, 52 %); 4 evictions; 6 expirations
    cur = node(102.0, 5900, keyspace_hits=1090, keyspace_misses=1010, evicted_keys=14, expired_keys=26)
    s = node_status(prev, cur, Health(), ())
    assert s.window == 2.0
    assert s.ops_per_sec == 450.0
    assert s.hit_rate_percent == 90.0 and s.lookups == 100
    assert s.evictions_per_sec == 2.0 and s.expirations_per_sec == 3.0
    assert s.used_memory == 50 * MB and s.maxmemory == 100 * MB and s.memory_percent == 50.0
    assert s.memory_of == "maxmemory"
    assert (s.connected_clients, s.blocked_clients, s.replicas) == (7, 1, 2)
    assert s.status == {"memory": "ok", "connected_clients": "ok", "hit_rate": "ok", "evictions": "ok"}


def test_no_window_yet_means_no_rates_not_zero_rates() -> None:
    s = node_status(None, node(1.0, 10), Health(), ())
    assert s.window is None
    assert s.ops_per_sec is None and s.hit_rate_percent is None and s.evictions_per_sec is None
    assert s.used_memory == 50 * MB  # the instant figures are there


def test_a_window_without_lookups_has_no_hit_rate() -> None:
    s = node_status(node(0.0, 10), node(1.0, 20), Health(), ())
    assert s.lookups == 0 and s.hit_rate_percent is None and "hit_rate" not in (s.status or {})


def test_a_restart_between_readings_gives_no_rates_rather_than_negative_ones() -> None:
    prev = node(0.0, 100_000, keyspace_hits=5000)
    cur = node(1.0, 50, run_id="r2", keyspace_hits=3)
    s = node_status(prev, cur, Health(), ())
    assert s.restarted
    assert s.ops_per_sec is None and s.hit_rate_percent is None and s.evictions_per_sec is None
    assert any(what == "rates" for what, _ in s.unavailable)
    # CONFIG RESETSTAT (same run_id, counters back to 0): no negative rates either
    reset = node_status(node(0.0, 100, keyspace_hits=5000), node(1.0, 5, keyspace_hits=3), Health(), ())
    assert reset.hit_rate_percent is None and reset.evictions_per_sec is None
    assert reset.ops_per_sec is None


def test_refused_info_leaves_every_info_figure_unknown_never_zero() -> None:
    prev = NodeReading("a:1", "unknown", 0.0, unavailable=(("info", "INFO refused"),))
    cur = NodeReading("a:1", "unknown", 1.0, unavailable=(("info", "INFO refused"),))
    s = node_status(prev, cur, Health(), ())
    for figure in (
        s.used_memory,
        s.maxmemory,
        s.memory_percent,
        s.ops_per_sec,
        s.hit_rate_percent,
        s.evictions_per_sec,
        s.expirations_per_sec,
        s.connected_clients,
        s.blocked_clients,
    ):
        assert figure is None
    assert s.unavailable == (("info", "INFO refused"),)


def test_colours_come_from_the_policys_health_thresholds() -> None:
    at_85 = node(0.0, 1, used_memory=85 * MB)
    at_95 = node(0.0, 1, used_memory=95 * MB)
    assert (node_status(None, at_85, Health(), ()).status or {})["memory"] == "warning"  # default 80 / 90
    assert (node_status(None, at_95, Health(), ()).status or {})["memory"] == "critical"
    strict = Health(memory_used_percent=Threshold(warning=40, critical=60))
    assert (node_status(None, node(0.0, 1, used_memory=30 * MB), strict, ()).status or {})["memory"] == "ok"
    assert (node_status(None, at_85, strict, ()).status or {})["memory"] == "critical"
    # hit rate 10 % in the window: below the default warning_below 20; a policy can make it critical
    cold = node(1.0, 1, keyspace_hits=1010, keyspace_misses=1090)
    assert (node_status(node(0.0, 1), cold, Health(), ()).status or {})["hit_rate"] == "warning"
    harsh = Health(hit_rate_percent=LowerThreshold(critical_below=50))
    judged = node_status(node(0.0, 1), cold, harsh, ())
    assert (judged.status or {})["hit_rate"] == "critical" and judged.overall == "critical"
    # a replica whose link is down is critical
    replica = node(0.0, 1, role="slave", master_link_status="down")
    assert (node_status(None, replica, Health(), ()).status or {})["replication_link"] == "critical"


def test_slowlog_growth_counts_by_id_and_keeps_only_command_names() -> None:
    # SLOWLOG GET's raw reply: [id, time, duration, [args...], client, name], newest first
    raw = [
        [41, 0, 12000, [b"SET", b"session:1", b"s3cr3t-value"], b"127.0.0.1:5000", b""],
        [40, 0, 11000, [b"auth", b"hunter2"], b"127.0.0.1:5000", b""],
        [37, 0, 10000, [b"KEYS", b"*"], b"127.0.0.1:5000", b""],
    ]
    slow = parse_slowlog(128, raw)
    assert slow.last_id == 41 and [e.command for e in slow.newest] == ["SET", "AUTH", "KEYS"]
    assert "s3cr3t" not in repr(slow) and "hunter2" not in repr(slow) and "session:1" not in repr(slow)
    before = SlowlogState(120, 37, (SlowEntry(37, 10000, "KEYS"),))
    s = node_status(node(0.0, 1, slow=before), node(1.0, 2, slow=slow), Health(), ())
    assert s.slowlog_length == 128 and s.slowlog_growth == 4  # ids 38..41: two of them trimmed from GET's 10
    assert s.slow_commands == ("SET", "AUTH")
    empty_before = SlowlogState(0, None, ())
    s = node_status(
        node(0.0, 1, slow=empty_before), node(1.0, 2, slow=SlowlogState(0, None, ())), Health(), ()
    )
    assert s.slowlog_growth == 0 and s.slow_commands == ()


def test_shares_classify_by_the_first_matching_class() -> None:
    classes = (
        KeyClass("locks", "lock:*", HERE),
        KeyClass("session", "session:*", HERE),
        KeyClass("everything-lock", "*lock*", HERE),  # shadowed for lock:* keys: the first class wins
    )
    keys = (b"lock:a", b"lock:b", b"session:1", b"session:2", b"session:3", b"x:lock", b"other", b"other")
    memory = (100, 100, 10, 10, 10, 70, 350, 350)
    sample = ClassSample(keys, memory, 8000, True, 0.0)
    got = {s.name: s for s in shares(sample, classes)}
    assert list(got) == ["locks", "session", "everything-lock", UNCLASSIFIED]
    assert (
        got["locks"].draws == 2 and got["locks"].keys_percent == 25.0 and got["locks"].memory_percent == 20.0
    )
    assert got["session"].keys_percent == 37.5 and got["session"].memory_percent == 3.0
    assert got["everything-lock"].draws == 1 and got["everything-lock"].estimated_keys == 1000
    assert got[UNCLASSIFIED].memory_percent == 70.0
    unmeasured = shares(
        dataclasses.replace(sample, memory=(None,) * 8, memory_measured=False, dbsize=None), classes
    )
    assert all(s.memory_percent is None and s.estimated_keys is None for s in unmeasured)
    nothing = shares(ClassSample((), (), 0, True, 0.0), classes)
    assert [s.draws for s in nothing] == [0, 0, 0]  # every class listed, no unclassified row
