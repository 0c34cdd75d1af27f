"""drift against real servers: the must-hold cases of the drift issue.

A server seeded with known drift — config (a runtime parameter, a restart-only one and a
sensitive one), keys (a class with 3 keys without a TTL and 2 above its max, 2 keys no class
matches) and memory pushed past 90 % of a small maxmemory — yields exactly the expected
findings in every format, on every matrix server, and once more with every format from one
run. Then: an in-sync server, ignore rules, --fail-on, --since-plan and fleets.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import redis_servers
from junitparser import Failure, JUnitXml, Skipped
from prometheus_client.parser import text_string_to_metric_families
from redis_servers import RedisServer, RedisServerFactory, configured_servers
from sarif_check import check_sarif

from redispolicy.main import run

SECRET = "s3cr3t-Drift-Pw"
MAXMEMORY = 8 * 1024 * 1024  # 8mb: small, so a few MB of values pass 90 %
FILL_TO = (0.915, 0.935)  # used_memory / maxmemory after seeding: past 90 %, clear of the limit
SPECS = configured_servers()

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${URL}
config:
  maxmemory: 8mb
  maxmemory-policy: allkeys-lru
  databases: 32
  requirepass: ${TEST_PW}
keys:
  - name: cache
    pattern: "cache:*"
    ttl: {max: 1h}
  - name: blob
    pattern: "blob:*"
    ttl: persistent
unclassified: warn
health:
  memory_used_percent: {warning: 80, critical: 90}
"""
F = "policies/test.yaml"

# (kind, subject, severity, policy line, message or a regex for it)
EXPECTED: list[tuple[str, str, str, int, str]] = [
    (
        "value_drift",
        "maxmemory-policy",
        "warning",
        8,
        "maxmemory-policy: live noeviction, policy allkeys-lru",
    ),
    ("restart_pending", "databases", "warning", 9, "databases: live 16, policy 32"),
    (
        "value_drift",
        "requirepass",
        "warning",
        10,
        "requirepass: the (sensitive) live value differs from the policy",
    ),
    ("ttl_policy", "cache", "warning", 12, "key class cache (cache:*): 3 no_ttl, 2 ttl_over_max"),
    ("unclassified_keys", "unclassified", "warning", 18, "2 keys match no class"),
    (
        "health",
        "memory_used_percent",
        "critical",
        20,
        r"re:memory_used_percent 9\d(\.\d)? \(threshold 90\) \d+ of maxmemory 8388608 bytes",
    ),
]
FAILING = {
    "maxmemory-policy",
    "databases",
    "requirepass",
    "cache",
    "memory_used_percent",
}  # at --fail-on critical


def matches(message: str, expected: str) -> bool:
    return (
        re.fullmatch(expected[3:], message) is not None if expected.startswith("re:") else message == expected
    )


@dataclass
class Seeded:
    server: RedisServer
    root: Path  # the working directory: policies/ lives here


def fill_memory(client: Any, maxmemory: int, low: float, high: float) -> float:
    """Write blob:N values until used_memory is between low and high x maxmemory; sized as we go."""
    i = 0
    while True:
        used = int(client.info("memory")["used_memory"])
        share = used / maxmemory
        if share >= low:
            assert share < high, f"overshot: {share:.3f}"
            return share
        room = high * maxmemory - used
        size = int(max(1024, min(64 * 1024, (low * maxmemory - used) / 2 + 1024, room / 4)))
        client.set(f"blob:{i}", b"x" * size)
        i += 1
        assert i < 10_000, "memory did not grow"


def seed(server: RedisServer) -> None:
    c = server.client()
    c.config_set("maxmemory", str(MAXMEMORY))  # what the policy says: not drift
    for i in range(3):
        c.set(f"cache:nottl:{i}", "v")
    for i in range(2):
        c.set(f"cache:long:{i}", "v", ex=7200)  # above the class's max of 1h
    for i in range(4):
        c.set(f"cache:ok:{i}", "v", ex=1800)
    c.set("stray:1", "x")
    c.set("stray:2", "x")
    fill_memory(c, MAXMEMORY, *FILL_TO)


@pytest.fixture(scope="module", params=SPECS, ids=[s.name for s in SPECS])
def seeded(
    request: pytest.FixtureRequest,
    redis_server_factory: RedisServerFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Seeded]:
    server = redis_server_factory.start(request.param)
    root = tmp_path_factory.mktemp("drift")
    (root / "policies").mkdir()
    (root / F).write_text(POLICY)
    seed(server)
    try:
        yield Seeded(server, root)
    finally:
        server.stop()


@pytest.fixture
def in_seeded(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    monkeypatch.chdir(seeded.root)
    monkeypatch.setenv("URL", seeded.server.url)
    monkeypatch.setenv("TEST_PW", SECRET)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return seeded


def drift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = run(["drift", "--policy-dir", "policies", "-e", "test", *args])
    out, err = capsys.readouterr()
    assert SECRET not in out and SECRET not in err
    return code, out


# --- parsers: one per format, each returning [(kind, subject, severity, line, message)] -----------------
def from_json(text: str) -> list[tuple[str, str, str, int, str]]:
    doc = json.loads(text)
    schema = json.loads(resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    (t,) = doc["targets"]
    return [
        (f["kind"], f["subject"], f["severity"], int(f["source"].rsplit(":", 1)[1]), f["message"])
        for f in t["findings"]
        if not f["ignored"]
    ]


def from_text(text: str) -> list[tuple[str, str, str, int, str]]:
    out = []
    for line in text.splitlines():
        m = re.fullmatch(r"  (warning|critical) (\w+): (.*)  policies/test\.yaml:(\d+)", line)
        if m:
            message = m.group(3)
            subject = next(e[1] for e in EXPECTED if e[0] == m.group(2) and matches(message, e[4]))
            out.append((m.group(2), subject, m.group(1), int(m.group(4)), message))
    return out


def parse_annotation(line: str) -> tuple[str, dict[str, str], str]:
    head, sep, message = line[2:].partition("::")
    assert line.startswith("::") and sep, line
    level, _, props = head.partition(" ")
    fields = dict(p.split("=", 1) for p in props.split(",")) if props else {}
    unesc = {k: v.replace("%3A", ":").replace("%2C", ",").replace("%25", "%") for k, v in fields.items()}
    return level, unesc, message.replace("%0A", "\n").replace("%25", "%")


def from_github(text: str) -> list[tuple[str, str, str, int, str]]:
    lines = text.splitlines()
    assert lines[-1].startswith("redispolicy drift test: drift: 6 finding(s)")
    out = []
    for line in lines[:-1]:
        level, props, message = parse_annotation(line)
        kind = props["title"].removeprefix("redispolicy drift ")
        assert props["file"] == F
        subject = next(e[1] for e in EXPECTED if e[0] == kind and matches(message, e[4]))
        out.append(
            (kind, subject, {"warning": "warning", "error": "critical"}[level], int(props["line"]), message)
        )
    return out


def from_sarif(text: str) -> list[tuple[str, str, str, int, str]]:
    doc = json.loads(text)
    check_sarif(doc)
    out = []
    for r in doc["runs"][0]["results"]:
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == F
        out.append(
            (
                r["ruleId"].removeprefix("drift/"),
                r["properties"]["subject"],
                {"warning": "warning", "error": "critical"}[r["level"]],
                loc["region"]["startLine"],
                r["message"]["text"],
            )
        )
    return out


def from_markdown(text: str) -> list[tuple[str, str, str, int, str]]:
    assert "| | kind | subject | message | source |\n|---|---|---|---|---|\n" in text
    assert "| health check | value | status | threshold | detail |" in text
    out = []
    for line in text.splitlines():
        m = re.fullmatch(
            r"\| \S+ (warning|critical) \| (\w+) \| `([^`]+)` \| (.*) \| `policies/test\.yaml:(\d+)` \|", line
        )
        if m:
            out.append((m.group(2), m.group(3), m.group(1), int(m.group(5)), m.group(4).replace("\\|", "|")))
    return out


def junit_failing(text: str) -> set[str]:
    xml = JUnitXml.fromstring(text)
    (suite,) = list(xml)
    cases = list(suite)
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "one case per check"
    assert {
        "maxmemory",
        "maxmemory-policy",
        "databases",
        "requirepass",
        "cache",
        "blob",
        "unclassified",
        "memory_used_percent",
        "hit_rate_percent",
        "last_save",
    } <= set(names)
    failing = {c.name for c in cases if any(isinstance(r, Failure) for r in c.result)}
    assert int(ET.fromstring(text).attrib["failures"]) == len(failing)
    return failing


def prometheus_counts(text: str, port: int) -> dict[str, Any]:
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    inst = f"127.0.0.1:{port}"
    findings = {
        s.labels["kind"]: s.value
        for s in fams["redispolicy_drift_findings"].samples
        if s.labels["instance"] == inst and s.labels["environment"] == "test"
    }
    health = {s.labels["check"]: s.value for s in fams["redispolicy_health_status"].samples}
    success = [s.value for s in fams["redispolicy_drift_check_success"].samples]
    last = [s.value for s in fams["redispolicy_drift_last_success_timestamp_seconds"].samples]
    return {"findings": findings, "health": health, "success": success, "last": last}


def check_prometheus(text: str, port: int) -> None:
    got = prometheus_counts(text, port)
    assert got["findings"] == {
        "value_drift": 2,
        "restart_pending": 1,
        "protected": 0,
        "unsupported": 0,
        "ttl_policy": 1,
        "unclassified_keys": 1,
        "health": 1,
        "server_restarted": 0,
        "topology": 0,
    }
    assert got["health"]["memory_used_percent"] == 2
    assert all(v == 0 for k, v in got["health"].items() if k != "memory_used_percent")
    assert got["success"] == [1] and len(got["last"]) == 1
    for value in ("noeviction", "allkeys-lru", "8388608", "stray", "cache:nottl"):
        assert value not in text, f"{value} in the metrics"


def assert_exact(got: list[tuple[str, str, str, int, str]]) -> None:
    assert sorted(g[:4] for g in got) == sorted(e[:4] for e in EXPECTED)
    for kind, subject, _, _, message in got:
        (want,) = [e[4] for e in EXPECTED if (e[0], e[1]) == (kind, subject)]
        assert matches(message, want), (message, want)


PARSERS = {
    "json": from_json,
    "text": from_text,
    "github": from_github,
    "sarif": from_sarif,
    "markdown": from_markdown,
}


# --- the seeded server, once per format -----------------------------------------------------------
@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "github", "sarif"])
def test_seeded_drift_exact_findings(in_seeded: Seeded, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out = drift(capsys, "-o", fmt)
    assert code == 2, out
    assert_exact(PARSERS[fmt](out))


def test_seeded_drift_junit(in_seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = drift(capsys, "-o", "junit")
    assert code == 2
    assert junit_failing(out) == FAILING
    # --fail-on warning: the unclassified-keys warning fails too (and the exit is 2 either way)
    code, out = drift(capsys, "-o", "junit", "--fail-on", "warning")
    assert code == 2 and junit_failing(out) == FAILING | {"unclassified"}


def test_seeded_drift_prometheus(in_seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = drift(capsys, "-o", "prometheus")
    assert code == 2
    check_prometheus(out, in_seeded.server.port)


def test_every_format_from_one_run(in_seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    reports = {
        fmt: Path("out") / f"drift.{fmt}"
        for fmt in ("text", "json", "markdown", "github", "sarif", "junit", "prometheus")
    }
    args = [a for fmt, path in reports.items() for a in ("--report", f"{fmt}={path}")]
    code, out = drift(capsys, "-o", "text", *args, "--textfile-dir", "textfile")
    assert code == 2
    assert_exact(from_text(out))
    texts = {fmt: path.read_text() for fmt, path in reports.items()}
    for fmt, text in texts.items():
        assert SECRET not in text, fmt
    for fmt, parse in PARSERS.items():
        assert_exact(parse(texts[fmt]))
    assert junit_failing(texts["junit"]) == FAILING
    check_prometheus(texts["prometheus"], in_seeded.server.port)
    # the textfile: written atomically under its fixed name, nothing else left in the directory
    assert sorted(p.name for p in Path("textfile").iterdir()) == ["redispolicy_test.prom"]
    prom = Path("textfile/redispolicy_test.prom").read_text()
    assert SECRET not in prom
    check_prometheus(prom, in_seeded.server.port)
    # the same findings: compare the JSON and SARIF views of this one run
    assert sorted(f[:2] for f in from_json(texts["json"])) == sorted(
        f[:2] for f in from_sarif(texts["sarif"])
    )


def test_step_summary_is_the_markdown(
    in_seeded: Seeded, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, _ = drift(capsys, "-o", "github")
    assert code == 2
    text = summary.read_text()
    assert text.startswith("earlier step\n### redispolicy drift: test — ❌ 6 finding(s)")
    assert_exact(from_markdown(text))
    assert SECRET not in text


# --- an in-sync server ----------------------------------------------------------------------------------
IN_SYNC = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${URL}
config:
  maxmemory-policy: allkeys-lru
  notify-keyspace-events: Ex
keys:
  - name: session
    pattern: "session:*"
    ttl: {max: 1h}
unclassified: error
"""


def test_in_sync_server_exits_0_with_one_line(
    matrix_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = matrix_server.client()
    c.config_set("maxmemory-policy", "allkeys-lru")
    c.config_set("notify-keyspace-events", "Ex")
    for i in range(20):
        c.set(f"session:{i}", "v", ex=1800)
    (tmp_path / "policies").mkdir()
    (tmp_path / F).write_text(IN_SYNC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("URL", matrix_server.url)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    code, out = drift(capsys)
    assert code == 0, out
    assert out.count("\n") == 1
    ident = f"{matrix_server.product} {matrix_server.version}"
    assert out == (
        f"✓ in sync: test · 127.0.0.1:{matrix_server.port} ({ident}, master): "
        "config, keys and health match the policy\n"
    )
    code, md = drift(capsys, "-o", "markdown")
    assert code == 0 and md.count("\n") == 1 and "in sync" in md
    code, js = drift(capsys, "-o", "json")
    doc = json.loads(js)
    assert code == 0 and doc["summary"]["drift"] is False and doc["targets"][0]["findings"] == []
    code, xml = drift(capsys, "-o", "junit")
    assert code == 0 and ET.fromstring(xml).attrib["failures"] == "0"
    code, prom = drift(capsys, "-o", "prometheus")
    assert code == 0 and set(prometheus_counts(prom, matrix_server.port)["findings"].values()) == {0}
    code, gh = drift(capsys, "-o", "github")
    assert code == 0 and gh == "redispolicy drift test: in sync across 1 target(s); 0 ignored\n"
    code, sarif = drift(capsys, "-o", "sarif")
    assert code == 0 and json.loads(sarif)["runs"][0]["results"] == []
    # one key without a TTL, unclassified: error -> both fail the run
    c.set("session:bad", "v")
    c.set("stray", "v")
    code, out = drift(capsys, "-o", "json")
    kinds = sorted((f["kind"], f["severity"]) for f in json.loads(out)["targets"][0]["findings"])
    assert code == 2 and kinds == [("ttl_policy", "warning"), ("unclassified_keys", "critical")]


# --- ignore rules ------------------------------------------------------------------------------------------
def _ignore_policy(until: datetime.date, klass: str = "") -> str:
    rules = f"ignore:\n  - parameter: maxmemory-policy\n    reason: migrating to LFU\n    until: {until.isoformat()}\n"
    if klass:
        rules += f'  - class: "{klass}"\n    reason: legacy writer\n'
    return (
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\ntarget:\n  url: ${URL}\n"
        'config:\n  maxmemory-policy: allkeys-lru\nkeys:\n  - name: cache\n    pattern: "cache:*"\n'
        "    ttl: {max: 1h}\n" + rules
    )


def test_ignore_rules_hide_until_they_expire(
    redis_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = redis_server.client()
    c.set("cache:1", "v")  # no TTL: a ttl_policy finding
    (tmp_path / "policies").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("URL", redis_server.url)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    today = datetime.date.today()
    policy = tmp_path / F

    # the parameter rule in force, the class rule too: everything hidden, counted, exit 0
    policy.write_text(_ignore_policy(today + datetime.timedelta(days=30), klass="cach*"))
    code, out = drift(capsys, "-o", "json")
    doc = json.loads(out)
    assert code == 0, out
    found = {(f["kind"], f["subject"]): f for f in doc["targets"][0]["findings"]}
    assert set(found) == {("value_drift", "maxmemory-policy"), ("ttl_policy", "cache")}
    assert found[("value_drift", "maxmemory-policy")]["ignore_reason"] == "migrating to LFU"
    assert found[("ttl_policy", "cache")]["ignore_reason"] == "legacy writer"
    assert all(f["ignored"] and not f["failing"] for f in found.values())
    assert (
        doc["summary"]["ignored"] == 2
        and doc["summary"]["findings"] == 0
        and doc["summary"]["drift"] is False
    )
    code, text = drift(capsys)
    assert code == 0
    assert (
        "  - ignored (migrating to LFU): value_drift: maxmemory-policy: live noeviction, policy allkeys-lru"
        in text
    )
    assert text.rstrip().endswith("✓ in sync: 1 target(s); 2 ignored")
    code, xml = drift(capsys, "-o", "junit")
    (suite,) = list(JUnitXml.fromstring(xml))
    skipped = {c.name: c.result[0].message for c in suite if any(isinstance(r, Skipped) for r in c.result)}
    assert skipped == {"maxmemory-policy": "ignored: migrating to LFU", "cache": "ignored: legacy writer"}
    code, prom = drift(capsys, "-o", "prometheus")
    fams = {f.name: f for f in text_string_to_metric_families(prom)}
    hidden = {s.labels["kind"]: s.value for s in fams["redispolicy_drift_ignored_findings"].samples}
    assert hidden["value_drift"] == 1 and hidden["ttl_policy"] == 1
    code, md = drift(capsys, "-o", "markdown")
    assert "<details><summary>2 ignored finding(s)</summary>" in md

    # only the parameter rule, its until passed yesterday: it hides nothing any more
    policy.write_text(_ignore_policy(today - datetime.timedelta(days=1)))
    code, out = drift(capsys, "-o", "json")
    doc = json.loads(out)
    assert code == 2
    assert sorted((f["kind"], f["subject"], f["ignored"]) for f in doc["targets"][0]["findings"]) == [
        ("ttl_policy", "cache", False),
        ("value_drift", "maxmemory-policy", False),
    ]
    assert doc["summary"]["ignored"] == 0


# --- --fail-on ---------------------------------------------------------------------------------------------
def test_fail_on_warning_includes_health_warnings(
    redis_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = redis_server.client()
    c.set("a", "1")
    c.get("a")  # one hit
    c.get("missing")  # one miss: a 50 % hit rate
    (tmp_path / "policies").mkdir()
    (tmp_path / F).write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\ntarget:\n  url: ${URL}\n"
        "health:\n  hit_rate_percent: {warning_below: 60, critical_below: 10}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("URL", redis_server.url)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    code, out = drift(capsys, "--no-keys")
    assert code == 0, out
    assert (
        "  warning health: hit_rate_percent 50 (threshold 60) over the server's lifetime (2 lookups)  "
        "policies/test.yaml:7" in out
    )
    assert "⚠ 1 warning(s) across 1 target(s), below --fail-on critical: not failing" in out
    code, out = drift(capsys, "--no-keys", "--fail-on", "warning")
    assert code == 2
    assert out.rstrip().endswith("✗ 1 finding(s) across 1 target(s)")
    code, out = drift(capsys, "--no-keys", "--fail-on", "warning", "-o", "github")
    level, props, _ = parse_annotation(out.splitlines()[0])
    assert (level, props["file"], props["line"]) == ("warning", F, "7")


# --- --since-plan --------------------------------------------------------------------------------------------
def test_since_plan_reports_a_restart(
    redis_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / F).write_text(
        "apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\ntarget:\n  url: ${URL}\n"
        "config:\n  maxmemory-policy: noeviction\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("URL", redis_server.url)
    monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "test-key")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert run(["plan", "--policy-dir", "policies", "-e", "test", "--out", "before.plan"]) == 0
    capsys.readouterr()
    code, out = drift(capsys, "--since-plan", "before.plan")
    assert code == 0 and out.startswith("✓ in sync:"), out

    port, old_run_id = redis_server.port, redis_server.client().info("server")["run_id"]
    redis_server.stop()
    monkeypatch.setattr(redis_servers, "free_port", lambda: port)  # the same address, a new process
    redis_server.start()
    new_run_id = redis_server.client().info("server")["run_id"]
    assert new_run_id != old_run_id
    code, out = drift(capsys, "--since-plan", "before.plan", "-o", "json")
    assert code == 2
    (f,) = json.loads(out)["targets"][0]["findings"]
    assert (f["kind"], f["subject"]) == ("server_restarted", "run_id")
    assert f["message"] == f"the server restarted since the plan (run_id {old_run_id} -> {new_run_id})"
    code, xml = drift(capsys, "--since-plan", "before.plan", "-o", "junit")
    (suite,) = list(JUnitXml.fromstring(xml))
    assert [c.name for c in suite if any(isinstance(r, Failure) for r in c.result)] == ["run_id"]


# --- fleets ------------------------------------------------------------------------------------------------------
FLEET = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
targets:
  - {name: cache-a, url: "${URL_A}"}
  - {name: cache-b, url: "${URL_B}"}
config:
  maxmemory-policy: allkeys-lru
"""


def test_fleet_aggregates_per_target(
    redis_server_factory: RedisServerFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = redis_server_factory.start()
    b = redis_server_factory.start()
    try:
        b.client().config_set("maxmemory-policy", "allkeys-lru")  # b in sync, a drifted
        (tmp_path / "policies").mkdir()
        (tmp_path / F).write_text(FLEET)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("URL_A", a.url)
        monkeypatch.setenv("URL_B", b.url)
        monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
        code, out = drift(capsys, "-o", "json", "--report", "text=out.txt", "--report", "junit=out.xml")
        assert code == 2
        doc = json.loads(out)
        by = {t["name"]: t for t in doc["targets"]}
        assert set(by) == {"cache-a", "cache-b"}
        assert by["cache-a"]["address"] == a.address and by["cache-b"]["address"] == b.address
        assert [(f["kind"], f["subject"]) for f in by["cache-a"]["findings"]] == [
            ("value_drift", "maxmemory-policy")
        ]
        assert by["cache-b"]["findings"] == []
        text = Path("out.txt").read_text()
        assert f"redispolicy drift · test · cache-a ({a.address})" in text
        assert f"redispolicy drift · test · cache-b ({b.address})" in text
        assert text.rstrip().endswith("✗ 1 finding(s) across 2 target(s)")
        suites = list(JUnitXml.fromstring(Path("out.xml").read_text()))
        assert len(suites) == 2

        # --since-plan with b's plan: only b is compared with it (a is another server, not a restart)
        monkeypatch.setenv("REDISPOLICY_FINGERPRINT_KEY", "test-key")
        assert run(["plan", "--policy-dir", "policies", "-e", "test", "--url", b.url, "--out", "b.plan"]) == 0
        capsys.readouterr()
        code, out = drift(capsys, "-o", "json", "--since-plan", "b.plan")
        by = {
            t["name"]: [(f["kind"], f["subject"]) for f in t["findings"]] for t in json.loads(out)["targets"]
        }
        assert code == 2 and by == {"cache-a": [("value_drift", "maxmemory-policy")], "cache-b": []}

        # b unreachable (a closed port; its URL carries a password): exit 1, a is still reported
        monkeypatch.setenv("URL_B", "redis://:fleet-pw-9@127.0.0.1:1/0")
        code = run(
            [
                "drift",
                "--policy-dir",
                "policies",
                "-e",
                "test",
                "-o",
                "json",
                "--report",
                "text=out.txt",
                "--report",
                "prometheus=out.prom",
            ]
        )
        out, err = capsys.readouterr()
        assert code == 1
        doc = json.loads(out)
        by = {t["name"]: t for t in doc["targets"]}
        assert [(f["kind"], f["subject"]) for f in by["cache-a"]["findings"]] == [
            ("value_drift", "maxmemory-policy")
        ]
        assert by["cache-b"]["error"].startswith("cannot connect to redis://:***@127.0.0.1:1")
        assert by["cache-b"]["address"] == "127.0.0.1:1"
        assert doc["summary"]["errors"] == 1
        for text in (out, err, Path("out.txt").read_text(), Path("out.prom").read_text()):
            assert "fleet-pw-9" not in text
        assert (
            "✗ 1 of 2 target(s) could not be checked; 1 finding(s) on the others"
            in Path("out.txt").read_text()
        )
        fams = {f.name: f for f in text_string_to_metric_families(Path("out.prom").read_text())}
        ok = {s.labels["instance"]: s.value for s in fams["redispolicy_drift_check_success"].samples}
        assert ok == {a.address: 1, "127.0.0.1:1": 0}
    finally:
        a.stop()
        b.stop()
