"""plan/propose.py and render/policy_yaml.py: what `redispolicy init` proposes, without a server."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from redispolicy.catalog.source import ConfigSource
from redispolicy.live.model import Batch
from redispolicy.main import run
from redispolicy.plan.propose import (
    ClassObserver,
    Namespaces,
    factor,
    name_patterns,
    propose,
    propose_config,
    ttl_ceiling,
)
from redispolicy.render.policy_yaml import render_policy, scalar
from redispolicy.secret import Secret

TODAY = datetime.date(2026, 1, 2)


def _source(product: str = "redis", version: str = "7.0.15", **values: str | Secret) -> ConfigSource:
    return ConfigSource(product, version, {k.replace("_", "-"): v for k, v in values.items()}, "test:6379")


def _names(source: ConfigSource) -> dict[str, str]:
    return {s.name: s.value for s in propose_config(source, "prod").settings}


def test_only_values_that_differ_from_the_default_after_normalization() -> None:
    got = _names(
        _source(
            save="3600 1 300 100 60 10000",  # the Redis 7 default, as CONFIG GET shows it
            maxmemory="1073741824",
            notify_keyspace_events="xE",
            hz="10",  # default
            appendonly="no",  # default
            maxmemory_policy="allkeys-lru",
        )
    )
    assert got == {"maxmemory": "1gb", "notify-keyspace-events": "xE", "maxmemory-policy": "allkeys-lru"}
    assert _names(_source(save="900 1")) == {"save": "900 1"}
    assert _names(_source(save="")) == {"save": ""}  # persistence off is a choice, and is kept


def test_product_and_version_defaults() -> None:
    valkey = _source("valkey", "8.1.1", lazyfree_lazy_eviction="yes", syslog_ident="valkey")
    assert _names(valkey) == {}  # Valkey 8 starts with these
    assert _names(_source(lazyfree_lazy_eviction="yes")) == {"lazyfree-lazy-eviction": "yes"}
    assert _names(_source("redis", "6.0.16", repl_diskless_sync="no")) == {}


def test_no_default_to_compare_with_is_left_out_and_counted() -> None:
    proposal = propose_config(_source(dir="/var/lib/redis"), "prod")
    assert proposal.settings == () and proposal.left_out == ("dir",)


def test_aliases_are_listed_once() -> None:
    assert _names(_source(**{"slave_read_only": "no", "replica_read_only": "no"})) == {
        "replica-read-only": "no"
    }


def test_secrets_become_variables_and_never_reach_the_file() -> None:
    p = propose(_source(requirepass=Secret("hunter2-secret"), masterauth=Secret("other-secret")), "prod")
    text = render_policy(p, TODAY)
    assert "hunter2" not in text and "other-secret" not in text
    assert "requirepass: ${REDIS_REQUIREPASS_PROD}" in text and "masterauth: ${REDIS_MASTERAUTH_PROD}" in text
    assert "password: ${REDIS_REQUIREPASS_PROD}" in text  # the tool connects as the default user
    assert p.variables == ("REDIS_URL_PROD", "REDIS_REQUIREPASS_PROD", "REDIS_MASTERAUTH_PROD")


def test_marked_parameters_and_allow_dangerous_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = propose(
        _source(io_threads="4", dbfilename="cache.rdb", enable_debug_command="local", hz="20"), "prod"
    )
    text = render_policy(p, TODAY)
    assert "io-threads: 4  # startup-only" in text
    assert "dbfilename: cache.rdb  # protected" in text
    assert "allow_dangerous: [dbfilename, enable-debug-command]" in text
    (tmp_path / "prod.yaml").write_text(text)
    assert run(["validate", str(tmp_path)]) == 0, capsys.readouterr().out


def test_values_keep_their_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A value that YAML would read as something else, or that holds ``${``, is quoted / escaped."""
    assert scalar("yes") == "yes" and scalar("512mb") == "512mb" and scalar("null") == '"null"'
    p = propose(_source(syslog_ident="${NOT_A_VAR}", cluster_announce_hostname="null"), "prod")
    (tmp_path / "prod.yaml").write_text(render_policy(p, TODAY))
    capsys.readouterr()
    assert run(["explain", "--policy-dir", str(tmp_path), "-e", "prod", "-o", "json"]) == 0
    written = {s["name"]: s["normalized"] for s in json.loads(capsys.readouterr().out)["settings"]}
    assert written["syslog-ident"] == "${NOT_A_VAR}" and written["cluster-announce-hostname"] == "null"


@pytest.mark.parametrize(
    ("ms", "want"),
    [(1, "10s"), (10_000, "10s"), (10_001, "30s"), (3_050_000, "1h"), (3_600_000, "1h"), (3_600_001, "2h"),
     (90_000_000, "2d"), (400 * 86_400_000, "400d")],
)  # fmt: skip
def test_ttl_is_rounded_up_to_a_readable_duration(ms: int, want: str) -> None:
    assert ttl_ceiling(ms) == want


def _batch(rows: list[tuple[str, int, str]]) -> Batch:
    return Batch(0, [k.encode() for k, _, _ in rows], [p for _, p, _ in rows], [t for _, _, t in rows])


def test_classes_from_namespaces() -> None:
    rows = [(f"session:{i}", 1000 * i, "string") for i in range(1, 30)]
    rows += [(f"doc:{i}:state", -1, "hash") for i in range(30)]
    rows += [(f"mixed:{i}", 5000 if i % 2 else -1, "string") for i in range(30)]
    rows += [(f"odd:{i}", -1, "string" if i % 2 else "list") for i in range(30)]
    rows += [("gone:1", -2, "none")]
    ns = Namespaces()
    ns.add(_batch(rows))
    patterns = ns.patterns()
    assert set(patterns) == {"session:*", "doc:*:state", "mixed:*", "odd:*"}
    observer = ClassObserver(patterns)
    observer.add(_batch(rows))
    got = {c.pattern: (c.name, c.ttl, c.type) for c in observer.classes(name_patterns(list(patterns)))}
    assert got == {
        "session:*": ("session", "30s", "string"),
        "doc:*:state": ("doc-state", "persistent", "hash"),
        "mixed:*": ("mixed", None, "string"),  # with and without a TTL: no rule plan could break
        "odd:*": ("odd", "persistent", None),  # two types: no type
    }


def test_factor_shares_only_what_every_environment_has() -> None:
    dev = propose(_source(maxmemory="104857600", hz="20", requirepass=Secret("a")), "dev")
    prod = propose(_source(maxmemory="104857600", hz="50", requirepass=Secret("a")), "prod")
    base, envs = factor({"dev": dev, "prod": prod})
    assert [s.name for s in base.settings] == ["maxmemory"]  # the secret stays per environment
    assert [s.name for s in envs["dev"].settings] == ["hz", "requirepass"]
    assert envs["dev"].extends == ("base.yaml",) and not envs["dev"].health and base.health
