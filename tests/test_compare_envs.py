"""redispolicy compare ENV_A ENV_B [--live] (issue 14, item 4): the difference between two environments'
effective policies or live servers, with the intended differences declared under expected_differences.

The repository's own policies are the first case: `compare dev production` shows exactly the documented
differences, every one expected. The rest run on small policy directories written here and, for
--live, on two real redis-servers.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

import pytest
from redis_servers import RedisServerFactory

from redispolicy.diagnostics import Location
from redispolicy.main import run
from redispolicy.plan.envdiff import PER_INSTANCE, matches
from redispolicy.policy.model import ExpectedDifference

REPO = Path(__file__).resolve().parent.parent
FORMATS = ("text", "json", "markdown", "github")

# docs/policy-format.md (expected_differences) and the comments in policies/: what dev and production
# are meant to differ in, and which file declares each.
DEV_VS_PRODUCTION = {
    "config.maxmemory": ("2gb", "1gb", "policies/dev.yaml"),
    "config.requirepass": (None, "(sensitive)", "policies/dev.yaml"),
    "config.appendonly": ("no", "yes", "policies/production.yaml"),
    "config.appendfsync": (None, "everysec", "policies/production.yaml"),
    "persist": ("false", "true", "policies/dev.yaml"),
    "unclassified": ("warn", "error", "policies/production.yaml"),
    "keys.ocr-cache.ttl": ("max 7d", "max 3d", "policies/dev.yaml"),
    "keys.chunks.ttl": ("max 2d", "max 1d", "policies/dev.yaml"),
    "capacity.workloads.ocr-cache.arrivals_per_day": ("20", "15", "policies/dev.yaml"),
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("REDIS_", "CMP_")) or name == "GITHUB_STEP_SUMMARY":
            monkeypatch.delenv(name)


def _compare(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["compare", "--color", "never", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = _compare(capsys, *args, "-o", "json")
    return code, json.loads(out)


# -- the repository's own policies ---------------------------------------------------------------


def test_dev_and_production_differ_exactly_as_documented(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code, doc = _json(capsys, "dev", "production")
    assert code == 0, doc
    found = {d["path"]: (d["a"], d["b"], d["declared_at"].split(":")[0]) for d in doc["differences"]}
    assert found == DEV_VS_PRODUCTION
    assert all(d["expected"] and d["reason"] for d in doc["differences"])
    assert doc["stale"] == [] and doc["summary"]["unexpected"] == 0 and doc["summary"]["same"] is True
    code, text, _ = _compare(capsys, "dev", "production")
    assert code == 0
    assert "✓ dev and production differ only as declared: 9 expected differences" in text
    assert "UNEXPECTED" not in text and "warning" not in text


@pytest.mark.parametrize(("a", "b"), [("dev", "staging"), ("staging", "production"), ("production", "dev")])
def test_every_pair_of_the_repositorys_environments_differs_only_as_declared(
    a: str, b: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code, doc = _json(capsys, a, b)
    assert code == 0 and doc["summary"]["unexpected"] == 0 and doc["stale"] == [], doc


# -- small policy directories ----------------------------------------------------------------------

BASE = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
config:
  maxmemory: 512mb
  maxmemory-policy: allkeys-lru
keys:
  - name: cache
    pattern: "cache:*"
    ttl: {max: 1d}
"""


def _env(name: str, body: str = "", url: str = "redis://127.0.0.1:1/0") -> str:
    return (
        f"apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: {name}\nextends: [base.yaml]\n"
        f"target:\n  url: {url}\n{body}"
    )


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "policies"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def test_an_undeclared_difference_exits_2_and_a_declared_one_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _write(
        tmp_path,
        {
            "base.yaml": BASE,
            "a.yaml": _env("a"),
            "b.yaml": _env("b", "config:\n  hz: 50\nkeys:\n  - name: cache\n    ttl: {max: 2h}\n"),
        },
    )
    code, doc = _json(capsys, "a", "b", "--policy-dir", str(d))
    assert code == 2
    assert {x["path"]: (x["a"], x["b"], x["expected"]) for x in doc["differences"]} == {
        "config.hz": (None, "50", False),
        "keys.cache.ttl": ("max 1d", "max 2h", False),
    }
    code, text, _ = _compare(capsys, "a", "b", "--policy-dir", str(d))
    assert code == 2 and "config.hz" in text and "UNEXPECTED" in text
    assert "✗ a and b differ unexpectedly: 2 unexpected, 0 expected" in text

    (d / "b.yaml").write_text(
        _env(
            "b",
            "config:\n  hz: 50\nkeys:\n  - name: cache\n    ttl: {max: 2h}\n"
            "expected_differences:\n  - parameter: hz\n    reason: b serves more clients\n"
            "  - path: keys.cache\n    reason: b's cache turns over faster\n",
        )
    )
    code, text, _ = _compare(capsys, "a", "b", "--policy-dir", str(d))
    assert code == 0, text
    assert "expected (b serves more clients)" in text and "expected (b's cache turns over faster)" in text
    code, doc = _json(capsys, "b", "a", "--policy-dir", str(d))  # either side's entries count
    assert code == 0 and doc["summary"] == {
        "compared": doc["summary"]["compared"],
        "differences": 2,
        "expected": 2,
        "unexpected": 0,
        "stale": 0,
        "same": True,
    }


def test_normalized_values_and_aliases_are_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _write(
        tmp_path,
        {
            "base.yaml": BASE,
            "a.yaml": _env(
                "a", "config:\n  maxmemory: 1gb\n  slave-read-only: yes\n  notify-keyspace-events: Ex\n"
            ),
            "b.yaml": _env(
                "b",
                "config:\n  maxmemory: 1073741824\n  replica-read-only: 'true'\n  notify-keyspace-events: xE\n",
            ),
        },
    )
    code, text, _ = _compare(capsys, "a", "b", "--policy-dir", str(d))
    assert code == 0 and "are the same" in text, text


def test_a_stale_entry_is_a_warning_that_does_not_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _write(
        tmp_path,
        {
            "base.yaml": BASE,
            "a.yaml": _env(
                "a", "expected_differences:\n  - parameter: maxmemory\n    reason: a was bigger once\n"
            ),
            "b.yaml": _env("b"),
        },
    )
    code, text, _ = _compare(capsys, "a", "b", "--policy-dir", str(d))
    assert code == 0
    assert "warning: stale expected_differences entry at" in text and "a.yaml:8" in text
    assert "parameter maxmemory" in text and "are the same" in text
    code, doc = _json(capsys, "a", "b", "--policy-dir", str(d))
    assert doc["stale"] == [
        {
            "path": None,
            "parameter": "maxmemory",
            "reason": "a was bigger once",
            "source": doc["stale"][0]["source"],
        }
    ]
    assert doc["stale"][0]["source"].endswith("a.yaml:8")
    code, out, _ = _compare(capsys, "a", "b", "--policy-dir", str(d), "-o", "github")
    assert "::warning file=" in out and "stale expected_differences entry" in out


def test_a_secret_difference_shows_as_differs_never_the_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMP_PW_A", "alpha-pass-1")
    monkeypatch.setenv("CMP_PW_B", "bravo-pass-2")
    d = _write(
        tmp_path,
        {
            "base.yaml": BASE,
            "a.yaml": _env("a", "config:\n  requirepass: ${CMP_PW_A}\n"),
            "b.yaml": _env("b", "config:\n  requirepass: ${CMP_PW_B}\n"),
        },
    )
    for fmt in FORMATS:
        code, out, err = _compare(capsys, "a", "b", "--policy-dir", str(d), "-o", fmt)
        assert code == 2, (fmt, out)
        assert "alpha-pass-1" not in out + err and "bravo-pass-2" not in out + err, fmt
        assert "requirepass" in out, fmt
    code, doc = _json(capsys, "a", "b", "--policy-dir", str(d))
    assert doc["differences"] == [
        {
            "path": "config.requirepass",
            "a": "(sensitive)",
            "b": "(sensitive)",
            "sensitive": True,
            "a_source": doc["differences"][0]["a_source"],
            "b_source": doc["differences"][0]["b_source"],
            "expected": False,
            "reason": None,
            "declared_at": None,
        }
    ]
    monkeypatch.setenv("CMP_PW_B", "alpha-pass-1")  # the same secret by another variable: no difference
    code, text, _ = _compare(capsys, "a", "b", "--policy-dir", str(d))
    assert code == 0 and "are the same" in text


def test_a_missing_environment_is_an_error_naming_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _write(tmp_path, {"base.yaml": BASE, "a.yaml": _env("a")})
    code, out, err = _compare(capsys, "a", "nope", "--policy-dir", str(d))
    assert code == 1 and out == ""
    assert "no policy for environment 'nope'" in err and "environments found: a" in err


def test_an_invalid_policy_is_an_error_with_its_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _write(
        tmp_path,
        {
            "base.yaml": BASE,
            "a.yaml": _env("a", 'expected_differences:\n  - path: "*"\n    reason: anything\n'),
            "b.yaml": _env("b"),
        },
    )
    code, out, _ = _compare(capsys, "a", "b", "--policy-dir", str(d))
    assert code == 1 and "a.yaml:8:11" in out and "expected-differences-catch-all" in out


@pytest.mark.parametrize("args", [["a"], ["a", "b", "-o", "sarif"], ["a", "b", "--report", "junit=x.xml"]])
def test_usage_errors_exit_64(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["compare", *args]) == 64


def test_markdown_has_a_row_per_difference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _write(tmp_path, {"base.yaml": BASE, "a.yaml": _env("a"), "b.yaml": _env("b", "config:\n  hz: 50\n")})
    code, out, _ = _compare(capsys, "a", "b", "--policy-dir", str(d), "-o", "markdown")
    assert code == 2
    assert out.startswith("### redispolicy compare a → b: ❌ 1 unexpected difference(s)")
    assert "| `config.hz` | *(not set)* | `50` | ❌ unexpected |" in out


# -- --live: two real servers ----------------------------------------------------------------------


def test_live_shows_exactly_the_parameter_the_servers_differ_in(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_server_factory: RedisServerFactory,
) -> None:
    one, two = redis_server_factory.start(), redis_server_factory.start()
    two.client().config_set("maxmemory-samples", "7")  # different ports, dirs and pid files too: left out
    monkeypatch.setenv("CMP_URL_A", one.url)
    monkeypatch.setenv("CMP_URL_B", two.url)
    d = _write(
        tmp_path,
        {"base.yaml": BASE, "a.yaml": _env("a", url="${CMP_URL_A}"), "b.yaml": _env("b", url="${CMP_URL_B}")},
    )
    code, doc = _json(capsys, "a", "b", "--live", "--policy-dir", str(d))
    assert code == 2, doc
    assert [(x["path"], x["a"], x["b"], x["expected"]) for x in doc["differences"]] == [
        ("config.maxmemory-samples", "5", "7", False)
    ]
    assert doc["mode"] == "live" and {"port", "dir", "pidfile"} <= set(doc["not_compared"])
    assert doc["a"]["from"].endswith(f"at 127.0.0.1:{one.port}")

    # A secret difference: "differs", never either value.
    one.client().config_set("masterauth", "alpha-secret-1")
    two.client().config_set("masterauth", "bravo-secret-2")
    two.client().config_set("maxmemory-samples", "5")
    for fmt in FORMATS:
        code, out, err = _compare(capsys, "a", "b", "--live", "--policy-dir", str(d), "-o", fmt)
        assert code == 2, (fmt, out, err)
        assert "alpha-secret-1" not in out + err and "bravo-secret-2" not in out + err, fmt
    code, doc = _json(capsys, "a", "b", "--live", "--policy-dir", str(d))
    assert [(x["path"], x["a"], x["b"], x["sensitive"]) for x in doc["differences"]] == [
        ("config.masterauth", "(sensitive)", "(sensitive)", True)
    ]
    code, text, _ = _compare(capsys, "a", "b", "--live", "--policy-dir", str(d))
    assert "differs (values not shown)" in text

    # Declared in b's policy: expected, exit 0; b's key-class entry is not about config: not stale here.
    (d / "b.yaml").write_text(
        _env(
            "b",
            "expected_differences:\n  - parameter: masterauth\n    reason: each replica set has its own\n"
            "  - path: keys.cache\n    reason: not a live matter\n",
            url="${CMP_URL_B}",
        )
    )
    code, text, _ = _compare(capsys, "a", "b", "--live", "--policy-dir", str(d))
    assert code == 0, text
    assert "expected (each replica set has its own)" in text and "stale" not in text


def test_live_with_a_server_down_is_an_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_server_factory: RedisServerFactory,
) -> None:
    up = redis_server_factory.start()
    monkeypatch.setenv("CMP_URL_A", up.url)
    d = _write(
        tmp_path,
        {
            "base.yaml": BASE,
            "a.yaml": _env("a", url="${CMP_URL_A}"),
            "b.yaml": _env("b", "  connect_timeout: 1s\n", url="redis://127.0.0.1:1/0"),
        },
    )
    code, out, err = _compare(capsys, "a", "b", "--live", "--policy-dir", str(d))
    assert code == 1 and out == "" and "cannot connect to" in err


def test_live_needs_every_variable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _write(
        tmp_path,
        {"base.yaml": BASE, "a.yaml": _env("a", url="${CMP_URL_A}"), "b.yaml": _env("b", url="${CMP_URL_B}")},
    )
    code, out, _ = _compare(capsys, "a", "b", "--live", "--policy-dir", str(d))
    assert code == 1 and "CMP_URL_A" in out and "env-required" in out
    code, out, _ = _compare(capsys, "a", "b", "--policy-dir", str(d))  # the policies alone need none
    assert code == 0


# -- pure parts ----------------------------------------------------------------------------------


def _entry(path: str | None = None, parameter: str | None = None) -> ExpectedDifference:
    return ExpectedDifference("why", Location("p.yaml", 1), path, parameter)


def test_a_path_covers_what_is_below_it_and_a_parameter_any_of_its_names() -> None:
    assert matches(_entry("keys.temp"), "keys.temp.ttl")
    assert matches(_entry("keys.temp"), "keys.temp")
    assert not matches(_entry("keys.temp"), "keys.temporary.ttl")
    assert matches(_entry("keys.*.ttl"), "keys.ocr-cache.ttl")
    assert matches(_entry(parameter="slave-read-only"), "config.replica-read-only")
    assert matches(_entry(parameter="append*"), "config.appendfsync")
    assert not matches(_entry(parameter="maxmemory"), "config.maxmemory-policy")
    assert not matches(_entry(parameter="maxmemory"), "keys.maxmemory")


def test_per_instance_parameters_are_addresses_and_paths_only() -> None:
    assert "maxmemory" not in PER_INSTANCE and "requirepass" not in PER_INSTANCE
    assert {"port", "dir", "pidfile", "logfile"} <= PER_INSTANCE


def test_deepdiff_has_one_door() -> None:
    package = REPO / "redispolicy"
    users = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "deepdiff" for n in names):
                users.add(path.relative_to(package).as_posix())
    assert users == {"plan/structdiff.py"}
