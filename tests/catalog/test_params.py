"""The parameter table and its per-server view; no server needed (see test_conformance.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from redispolicy.catalog.params import Catalog, catalog, identify, parse_version

ROOT = Path(__file__).resolve().parents[2]
SOURCE_TABLE = ROOT / "tools" / "catalog-source" / "redis-config-params.yaml"
PARAMS_JSON = ROOT / "redispolicy" / "catalog" / "params.json"


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_catalog", ROOT / "tools" / "gen_catalog.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_catalog", module)
    spec.loader.exec_module(module)
    return module


# -- the version-independent API other modules use ------------------------------------


def test_lookup_suggest_and_config_file_only_still_work() -> None:
    cat = catalog()
    assert cat.lookup("MAXMEMORY") is not None
    look = cat.lookup("slave-read-only")
    assert look is not None and look.canonical == "replica-read-only" and look.via_alias == "slave-read-only"
    assert cat.lookup("no-such-param") is None
    assert cat.suggest("maxmemroy") == "maxmemory"
    assert "rename-command" in cat.config_file_only
    assert cat.aliases["hash-max-ziplist-entries"] == "hash-max-listpack-entries"


def test_params_carry_version_ranges() -> None:
    p = catalog().params["maxmemory"]
    assert p.versions == {"redis": (("6.0", None),), "valkey": (("7.2", None),)}
    assert p.exists_in("redis", "6.0.16") and p.exists_in("valkey", "8.1.1")
    assert catalog().params["io-threads-do-reads"].versions == {
        "redis": (("6.0", "8.0"),),
        "valkey": (("7.2", "8.1"),),
    }


# -- for_server: existence -------------------------------------------------------------


def test_listpack_names_exist_from_redis_7() -> None:
    cat = catalog()
    assert cat.for_server("redis", "7.0.15").exists("hash-max-listpack-entries")
    assert not cat.for_server("redis", "6.0.16").exists("hash-max-listpack-entries")
    # 6.x has the ziplist name as the parameter itself; 7.0 keeps it as an alias
    assert cat.for_server("redis", "6.0.16").exists("hash-max-ziplist-entries")
    assert "hash-max-ziplist-entries" in cat.for_server("redis", "7.0.15").names()


def test_primaryauth_is_valkey_8_only() -> None:
    cat = catalog()
    assert cat.for_server("valkey", "8.1.1").exists("primaryauth")
    assert cat.for_server("valkey", "8.0.1").exists("primaryauth")
    assert not cat.for_server("valkey", "7.2.7").exists("primaryauth")
    assert not cat.for_server("redis", "7.0.15").exists("primaryauth")
    # CONFIG GET * returns the alias too
    assert {"primaryauth", "masterauth"} <= cat.for_server("valkey", "8.1.1").names()


def test_removed_parameters() -> None:
    cat = catalog()
    assert cat.for_server("redis", "7.4.1").exists("io-threads-do-reads")
    assert not cat.for_server("redis", "8.0.2").exists("io-threads-do-reads")
    assert cat.for_server("valkey", "8.0.1").exists("dynamic-hz")
    assert not cat.for_server("valkey", "8.1.1").exists("dynamic-hz")
    assert cat.for_server("redis", "8.0.2").exists("dynamic-hz")


def test_later_additions_and_their_kinds() -> None:
    cat = catalog()
    r80, r74 = cat.for_server("redis", "8.0.2"), cat.for_server("redis", "7.4.1")
    assert r80.exists("replica-full-sync-buffer-limit") and not r74.exists("replica-full-sync-buffer-limit")
    assert cat.params["replica-full-sync-buffer-limit"].kind == "memory"
    assert cat.params["cluster-compatibility-sample-ratio"].kind == "integer"
    assert (
        cat.params["cluster-compatibility-sample-ratio"].min,
        cat.params["cluster-compatibility-sample-ratio"].max,
    ) == (0, 100)
    v81 = cat.for_server("valkey", "8.1.1")
    assert v81.exists("rdb-version-check") and not cat.for_server("valkey", "8.0.1").exists(
        "rdb-version-check"
    )
    assert cat.params["rdb-version-check"].enum == ("strict", "relaxed")
    assert v81.exists("cluster-manual-failover-timeout")
    # from release notes only: a Valkey 8.0 parameter Redis adopted in 8.6
    assert cat.for_server("redis", "8.6.0").exists("cluster-slot-stats-enabled")
    assert not r80.exists("cluster-slot-stats-enabled")


def test_names_are_case_insensitive() -> None:
    view = catalog().for_server("redis", "7.0.15")
    assert view.exists("MaxMemory")
    look = view.lookup("MAXMEMORY")
    assert look is not None and look.canonical == "maxmemory" and look.via_alias is None


# -- for_server: what CONFIG GET * lists ----------------------------------------------------


def test_hidden_names_are_not_listed_but_exist() -> None:
    r70 = catalog().for_server("redis", "7.0.15")
    assert "key-load-delay" not in r70.names()
    assert "key-load-delay" in r70.hidden_names() and r70.exists("key-load-delay")
    assert "key-load-delay" in catalog().for_server("redis", "6.0.16").names()  # HIDDEN came with 7.0
    r80 = catalog().for_server("redis", "8.0.2")
    assert r80.exists("repl-rdb-channel") and "repl-rdb-channel" not in r80.names()
    assert "events-per-io-thread" in catalog().for_server("valkey", "8.0.1").names()
    assert "events-per-io-thread" in catalog().for_server("valkey", "8.1.1").hidden_names()


def test_redis_6_lists_slaveof_not_replicaof() -> None:
    r60 = catalog().for_server("redis", "6.0.16")
    assert "slaveof" in r60.names() and "replicaof" not in r60.names()
    assert r60.exists("replicaof")
    look = r60.lookup("slaveof")
    assert look is not None and look.canonical == "replicaof"
    assert "watchdog-period" in r60.names()
    assert {"slaveof", "replicaof"} <= catalog().for_server("redis", "7.0.15").names()


def test_tls_parameters_depend_on_the_build_before_redis_7() -> None:
    cat = catalog()
    assert "tls-port" in cat.for_server("redis", "6.0.16").names()
    assert not cat.for_server("redis", "6.0.16", tls=False).exists("tls-port")
    assert cat.for_server("redis", "7.0.15", tls=False).exists("tls-port")
    assert cat.for_server("valkey", "8.1.1", tls=False).exists("tls-port")
    # 6.2 added tls-client-cert-file; 6.0 has no such parameter even with TLS
    assert not cat.for_server("redis", "6.0.16").exists("tls-client-cert-file")
    assert cat.for_server("redis", "6.2.16").exists("tls-client-cert-file")


def test_test_build_only_parameters_do_not_exist() -> None:
    assert not catalog().for_server("redis", "7.2.4").exists("client-default-resp")  # LOG_REQ_RES builds
    assert not catalog().for_server("valkey", "8.1.1").exists("req-res-logfile")


# -- for_server: lookup resolves to the running server's primary name ------------------------


def test_masterauth_resolves_to_primaryauth_on_valkey_8() -> None:
    look = catalog().for_server("valkey", "8.1.1").lookup("masterauth")
    assert look is not None
    assert look.canonical == "primaryauth" and look.via_alias == "masterauth"
    assert look.param.sensitive
    redis = catalog().for_server("redis", "7.0.15").lookup("masterauth")
    assert redis is not None and redis.canonical == "masterauth" and redis.via_alias is None
    v72 = catalog().for_server("valkey", "7.2.7").lookup("masterauth")
    assert v72 is not None and v72.canonical == "masterauth"


def test_lookup_follows_renames_across_versions() -> None:
    cat = catalog()
    r60 = cat.for_server("redis", "6.0.16")
    look = r60.lookup("hash-max-listpack-entries")
    assert look is not None and look.canonical == "hash-max-ziplist-entries"
    busy = r60.lookup("busy-reply-threshold")
    assert busy is not None and busy.canonical == "lua-time-limit"
    prim = cat.for_server("redis", "7.0.15").lookup("primaryauth")
    assert prim is not None and prim.canonical == "masterauth" and prim.via_alias == "primaryauth"
    slow = cat.for_server("valkey", "8.1.1").lookup("slowlog-log-slower-than")
    assert slow is not None and slow.canonical == "commandlog-execution-slower-than"
    listpack = cat.for_server("redis", "7.0.15").lookup("hash-max-ziplist-entries")
    assert listpack is not None and listpack.canonical == "hash-max-listpack-entries"


def test_lookup_of_unknown_names() -> None:
    view = catalog().for_server("redis", "7.0.15")
    assert view.lookup("no-such-param") is None
    assert view.lookup("rdb-version-check") is None  # Valkey only
    assert not view.exists("rdb-version-check")


# -- versions and products ---------------------------------------------------------------------


def test_identify_from_info() -> None:
    assert identify({"redis_version": "7.0.15"}) == ("redis", "7.0.15")
    valkey = {"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "8.1.1"}
    assert identify(valkey) == ("valkey", "8.1.1")


@pytest.mark.parametrize(
    ("text", "expected"), [("7.0.15", (7, 0)), ("8.1", (8, 1)), ("255.255.255", (255, 255))]
)
def test_parse_version(text: str, expected: tuple[int, int]) -> None:
    assert parse_version(text) == expected


def test_bad_product_and_version() -> None:
    with pytest.raises(ValueError, match="product"):
        catalog().for_server("keydb", "6.3.4")
    with pytest.raises(ValueError, match="version"):
        catalog().for_server("redis", "unstable")


def test_patch_level_does_not_matter_and_views_are_cached() -> None:
    assert catalog().for_server("redis", "7.0.15") is catalog().for_server("redis", "7.0.15")
    assert catalog().for_server("redis", "7.0.0").names() == catalog().for_server("redis", "7.0.15").names()
    assert catalog().for_server("redis", "7.0.0").version == "7.0.0"


def test_covered_versions() -> None:
    cat = catalog()
    assert cat.for_server("redis", "6.0.16").covered
    assert cat.for_server("redis", "8.2.1").covered
    assert not cat.for_server("redis", "5.0.14").covered
    assert not cat.for_server("redis", "9.0.0").covered
    assert cat.for_server("valkey", "8.1.1").covered
    assert not cat.for_server("valkey", "7.0.0").covered
    assert not cat.for_server("redis", "5.0.14").names()


def test_versions_between_known_lines() -> None:
    # 7.1 / 7.3 were never released; a version between two lines is treated like the older one
    cat = catalog()
    assert cat.for_server("redis", "7.3.0").names() == cat.for_server("redis", "7.2.0").names()


# -- the generated table is consistent ---------------------------------------------------------


def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PARAMS_JSON.read_text())
    return data


def test_every_name_is_one_thing_per_version() -> None:
    data = _data()
    cat = Catalog(data)
    for product, versions in data["versions_known"].items():
        for version in versions:
            view = cat.for_server(product, version)
            primaries = view.primary_names()
            for name in view.names() | view.hidden_names():
                look = view.lookup(name)
                assert look is not None and look.canonical in primaries, (product, version, name)
                assert not (name in primaries and name != look.canonical), (product, version, name)


def test_ranges_are_ordered_and_disjoint() -> None:
    data = _data()
    entries = list(data["params"].values()) + list(data["aliases"].values())
    for e in entries:
        for key in ("versions", "hidden_versions"):
            for ranges in e.get(key, {}).values():
                ends = []
                for lo, hi in ranges:
                    ends.append(parse_version(lo))
                    if hi is not None:
                        assert parse_version(lo) < parse_version(hi), e
                        ends.append(parse_version(hi))
                assert ends == sorted(ends) and len(set(ends)) == len(ends), e
    for alias, a in data["aliases"].items():
        assert a["primary"] in data["params"], alias


def test_params_json_is_what_the_generator_makes() -> None:
    # the source table is vendored: a plain clone must regenerate params.json byte for byte
    gen = _gen()
    assert gen.RESEARCH == SOURCE_TABLE
    assert gen.render(SOURCE_TABLE, gen.OVERRIDES) == PARAMS_JSON.read_text(), (
        "params.json is stale: run python tools/gen_catalog.py"
    )


def test_the_generator_needs_nothing_outside_the_repository(tmp_path: Path) -> None:
    # run from elsewhere: the old default was a path relative to the working directory
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_catalog.py"), "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "is up to date" in done.stdout


def test_overrides_are_checked_against_their_base() -> None:
    gen = _gen()
    base = {"maxmemory": {"alias_of": None, "hidden": False, "build": None}}
    with pytest.raises(gen.OverrideError, match="no such name"):
        gen.apply_entry(base, {"removed": ["no-such-param"]}, "redis 9.9")
    with pytest.raises(gen.OverrideError, match="already has it"):
        gen.apply_entry(base, {"added": {"maxmemory": {"kind": "memory"}}}, "redis 9.9")
    with pytest.raises(gen.OverrideError, match="lists it already"):
        gen.apply_entry(base, {"listed": ["maxmemory"]}, "redis 9.9")
    out = gen.apply_entry(
        base, {"added": {"maxmem": {"alias_of": "maxmemory"}}, "unlisted": ["maxmemory"]}, "x"
    )
    assert out["maxmem"]["alias_of"] == "maxmemory" and out["maxmemory"]["hidden"]
    assert gen.to_ranges(["6.0", "6.2", "7.0", "8.0"], [False, True, True, False]) == [["6.2", "8.0"]]
    assert gen.to_ranges(["6.0", "6.2", "7.0"], [True, False, True]) == [["6.0", "6.2"], ["7.0", None]]
