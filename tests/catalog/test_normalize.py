"""normalize(): one canonical text per value, so the policy and CONFIG GET compare equal
exactly when Redis would treat them as the same setting (and invalid values are refused)."""

from __future__ import annotations

import pytest

from redispolicy.catalog.normalize import normalize, notify_flags
from redispolicy.catalog.params import Param, catalog


def param(name: str) -> Param:
    look = catalog().lookup(name)
    assert look is not None, name
    return look.param


def norm(name: str, text: str) -> str:
    return normalize(param(name), text)


def invalid(name: str, text: str) -> None:
    with pytest.raises((ValueError, OverflowError)):
        normalize(param(name), text)


# -- booleans --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", "yes"),
        ("no", "no"),
        ("YES", "yes"),
        ("No", "no"),
        ("true", "yes"),
        ("True", "yes"),
        ("false", "no"),
        ("on", "yes"),
        ("off", "no"),
        ("Off", "no"),
    ],
)
def test_bool(text: str, expected: str) -> None:
    assert norm("appendonly", text) == expected


@pytest.mark.parametrize("text", ["", "maybe", "1", "0", "y", "n", "yess"])
def test_bool_rejects(text: str) -> None:
    invalid("appendonly", text)


# -- enums -----------------------------------------------------------------------------------------
def test_enum_case_insensitive() -> None:
    assert norm("maxmemory-policy", "ALLKEYS-LRU") == "allkeys-lru"
    assert norm("maxmemory-policy", "Volatile-TTL") == "volatile-ttl"
    assert norm("appendfsync", "EverySec") == "everysec"
    invalid("maxmemory-policy", "allkeys-lr")
    invalid("maxmemory-policy", "")
    invalid("appendfsync", "yes")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("relative", "yes"),
        ("RELATIVE", "yes"),
        ("yes", "yes"),
        ("no", "no"),
        ("absolute", "absolute"),
    ],
)
def test_oom_score_adj_synonyms(text: str, expected: str) -> None:
    """Redis reads 'relative' back as 'yes' (they are the same setting)."""
    assert norm("oom-score-adj", text) == expected


def test_enum_flags_are_order_free() -> None:
    assert (
        norm("shutdown-on-sigterm", "now nosave") == norm("shutdown-on-sigterm", "NOSAVE NOW") == "nosave now"
    )
    assert norm("shutdown-on-sigterm", "default") == "default"
    invalid("shutdown-on-sigterm", "")
    invalid("shutdown-on-sigterm", "save later")


# -- save --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3600 1 300 100", "3600 1 300 100"),
        ("3600  1   300 100", "3600 1 300 100"),
        ("  3600 1\t300 100 ", "3600 1 300 100"),
        ("900 0", "900 0"),
        ("", ""),
        ('""', ""),
    ],
)
def test_save(text: str, expected: str) -> None:
    assert norm("save", text) == expected


@pytest.mark.parametrize("text", ["3600", "3600 1 300", "0 1", "3600 -1", "3600 01", "1h 1", "x y"])
def test_save_rejects(text: str) -> None:
    invalid("save", text)


# -- notify-keyspace-events --------------------------------------------------------------------------
def test_notify_order_free() -> None:
    assert norm("notify-keyspace-events", "Ex") == norm("notify-keyspace-events", "xE") == "xE"
    assert norm("notify-keyspace-events", "KEA") == norm("notify-keyspace-events", "AKE")


def test_notify_a_expands_to_every_class() -> None:
    """'AKE' (how Redis reports all events) equals the classes spelled out."""
    assert (
        norm("notify-keyspace-events", "AKE")
        == norm("notify-keyspace-events", "g$lshzxetdKE")
        == "g$lshzxetdKE"
    )
    assert notify_flags("A") == frozenset("g$lshzxetd")
    # 'n' (new key) and 'm' (key miss) are not part of 'A'
    assert not {"n", "m"} & notify_flags("A")
    assert norm("notify-keyspace-events", "En") == "nE" != norm("notify-keyspace-events", "E")
    assert norm("notify-keyspace-events", "Km") == "Km"


def test_notify_disabled_and_invalid() -> None:
    assert norm("notify-keyspace-events", "") == ""
    invalid("notify-keyspace-events", "x")  # events without K or E are never delivered
    invalid("notify-keyspace-events", "A")
    invalid("notify-keyspace-events", "Exq")
    invalid("notify-keyspace-events", "ex")  # case matters: 'e' is the evicted class, not keyevent 'E'


# -- client-output-buffer-limit -------------------------------------------------------------------------
def test_client_output_buffer_limit() -> None:
    assert (
        norm("client-output-buffer-limit", "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60")
        == "normal 0 0 0 replica 268435456 67108864 60 pubsub 33554432 8388608 60"
    )
    assert norm("client-output-buffer-limit", "SLAVE 1gb 1g 0") == "replica 1073741824 1000000000 0"
    assert norm("client-output-buffer-limit", "replica 1kb 1k 5") == norm(
        "client-output-buffer-limit", "slave 1024 1000 5"
    )


@pytest.mark.parametrize(
    "text", ["", "replica 1gb 1gb", "master 1 1 1", "normal 0 0 -1", "normal 1tb 0 0", "normal 0 0 0 pubsub"]
)
def test_client_output_buffer_limit_rejects(text: str) -> None:
    invalid("client-output-buffer-limit", text)


# -- memory and percentages -------------------------------------------------------------------------
def test_memory() -> None:
    assert norm("maxmemory", "1gb") == "1073741824"
    assert norm("maxmemory", "1GB") == "1073741824"
    assert norm("maxmemory", "1g") == "1000000000"
    assert norm("maxmemory", "0") == "0"
    invalid("maxmemory", "")
    invalid("maxmemory", "1.5gb")
    invalid("maxmemory", "-1")
    invalid("client-query-buffer-limit", "1m")  # below its minimum of 1mb


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10%", "10%"),
        ("100%", "100%"),
        ("0%", "0"),
        ("0", "0"),
        ("1gb", "1073741824"),
        ("64mb", "67108864"),
    ],
)
def test_maxmemory_clients(text: str, expected: str) -> None:
    assert norm("maxmemory-clients", text) == expected


@pytest.mark.parametrize("text", ["101%", "-1%", "%", "1.5%", "10 %", "+5%", "05%"])
def test_maxmemory_clients_rejects(text: str) -> None:
    invalid("maxmemory-clients", text)


# -- integers: Redis's string2ll is strict ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("maxmemory-samples", "5", "5"),
        ("timeout", "0", "0"),
        ("hz", "10", "10"),
        ("slowlog-log-slower-than", "-1", "-1"),
        ("port", "65535", "65535"),
    ],
)
def test_integer(name: str, text: str, expected: str) -> None:
    assert norm(name, text) == expected


@pytest.mark.parametrize(
    "text", ["010", "+1", " 1", "1 ", "1.0", "1e3", "", "-", "-0", "00", "1_000", "0x10", "ten"]
)
def test_integer_strictness(text: str) -> None:
    with pytest.raises(ValueError):
        norm("timeout", text)


def test_integer_range() -> None:
    with pytest.raises(OverflowError, match="maximum 64"):
        norm("maxmemory-samples", "65")
    with pytest.raises(OverflowError, match="minimum 1"):
        norm("maxmemory-samples", "0")
    with pytest.raises(OverflowError):
        norm("slowlog-log-slower-than", "-2")


# -- the rest ------------------------------------------------------------------------------------------
def test_octal() -> None:
    assert norm("unixsocketperm", "700") == norm("unixsocketperm", "0700") == "700"
    invalid("unixsocketperm", "800")
    invalid("unixsocketperm", "rwx")


def test_percentiles() -> None:
    assert norm("latency-tracking-info-percentiles", "50 99 99.90") == "50 99 99.9"
    assert norm("latency-tracking-info-percentiles", "") == ""
    invalid("latency-tracking-info-percentiles", "101")
    invalid("latency-tracking-info-percentiles", "p99")
    invalid("latency-tracking-info-percentiles", "nan")


def test_oom_score_adj_values() -> None:
    assert norm("oom-score-adj-values", "0  200 800") == "0 200 800"
    invalid("oom-score-adj-values", "0 200")
    invalid("oom-score-adj-values", "0 200 2001")


def test_strings_are_verbatim() -> None:
    p = param("requirepass")
    assert p.kind == "string"
    assert normalize(p, "Pa55 Word") == "Pa55 Word"


def test_dir_paths_normalize_but_keep_spaces():
    from redispolicy.catalog.normalize import normalize
    from redispolicy.catalog.params import catalog

    p = catalog().params["dir"]
    assert normalize(p, "/var/lib/redis/") == normalize(p, "/var/lib/redis") == "/var/lib/redis"
    assert normalize(p, "/data/my  cache") == "/data/my  cache"
