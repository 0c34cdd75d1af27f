"""Property tests: whatever the input, `validate` reports diagnostics and never raises.

Three kinds of input: (a) arbitrary bytes and text as a policy file, (b) arbitrary YAML
built from recursive dicts/lists/scalars, (c) documents shaped like policies, with real
parameter names and plausible-but-wrong values, key classes, capacity workloads and
extends chains (cycles included). For every report we also render every output format,
since a renderer crashing on an odd diagnostic is as bad as the stage crashing.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from redispolicy.catalog.params import catalog
from redispolicy.diagnostics import Severity
from redispolicy.main import run
from redispolicy.policy.validate import validate_paths
from redispolicy.policy.yamlload import load_bytes
from redispolicy.render import VALIDATE_FORMATS as FORMATS
from redispolicy.render import renderer
from redispolicy.render.style import Style
from redispolicy.report import ValidationReport
from redispolicy.rules import RULES

SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("RP_EXAMPLES", 60)),
    deadline=None,
    derandomize=not __import__("os").environ.get("RP_EXAMPLES"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ENV = {"RP_SET": "value", "RP_EMPTY": "", "RP_URL": "redis://127.0.0.1:6379/0", "RP_SIZE": "1gb"}


@contextlib.contextmanager
def policy_dir(files: dict[str, bytes]) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="rp-prop-"))
    try:
        for name, data in files.items():
            (d / name).write_bytes(data)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def check_report(report: ValidationReport) -> None:
    assert isinstance(report, ValidationReport)
    for d in report.diagnostics:
        assert d.rule in RULES, d
        assert isinstance(d.severity, Severity)
        assert d.location.file
        assert d.location.line >= 0 and d.location.col >= 0
        assert d.message
    for fmt in FORMATS:
        out = renderer(fmt, "validation")(report, Style(verbose=1))
        assert isinstance(out, str) and out
    json.loads(renderer("json", "validation")(report, Style()))
    json.loads(renderer("sarif", "validation")(report, Style()))
    ET.fromstring(renderer("junit", "validation")(report, Style()).encode("utf-8"))


def validate_files(files: dict[str, bytes], strict_env: bool = False) -> ValidationReport:
    with policy_dir(files) as d:
        paths = [d / name for name in sorted(files)]
        report = validate_paths(paths, d, ENV, strict_env=strict_env)
    check_report(report)
    return report


# -- (a) arbitrary bytes and text ---------------------------------------------------------------
SMALLEST_POLICY = b"apiVersion: redispolicy/v1\nkind: RedisPolicy\nenvironment: test\n"


def cannot_be_a_policy(data: bytes) -> bool:
    """An oracle that shares no code with redispolicy: PyYAML's safe loader on the UTF-8 text.

    Whatever else a policy needs, it is UTF-8 (a BOM allowed), one YAML document, and a mapping
    with the v1 header; bytes that are not can never validate. (The converse does not hold: a
    header alone does not make a policy, so the oracle only ever says "invalid".)
    """
    try:
        doc = yaml.safe_load(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError, ValueError):
        return True
    return not (
        isinstance(doc, dict)
        and doc.get("apiVersion") == "redispolicy/v1"
        and doc.get("kind") == "RedisPolicy"
    )


@SETTINGS
@given(st.binary(max_size=2000))
@example(SMALLEST_POLICY)  # valid: the property's positive side
@example(b"\xef\xbb\xbf" + SMALLEST_POLICY)  # a BOM is fine
@example(SMALLEST_POLICY + b"x: \xff\n")  # not UTF-8
@example(SMALLEST_POLICY.replace(b"v1", b"v2"))  # another apiVersion
@example(SMALLEST_POLICY + b"---\n" + SMALLEST_POLICY)  # two documents
@example(b"- " + SMALLEST_POLICY)  # a sequence
@example(SMALLEST_POLICY + b"config: {hz: [\n")  # broken YAML after a good header
def test_arbitrary_bytes(data: bytes) -> None:
    report = validate_files({"policy.yaml": data})
    if data.removeprefix(b"\xef\xbb\xbf") == SMALLEST_POLICY:
        assert report.valid, report.diagnostics
    elif cannot_be_a_policy(data):
        # Random bytes are hardly ever a policy: validate must say so with an error, not pass them.
        assert not report.valid and report.count(Severity.ERROR) > 0, (data, report.diagnostics)


@SETTINGS
@given(st.text(max_size=1000))
def test_arbitrary_text(text: str) -> None:
    validate_files({"policy.yaml": text.encode("utf-8", "surrogatepass")})


YAML_SYMBOLS = st.sampled_from(
    [
        "apiVersion: redispolicy/v1\n",
        "kind: RedisPolicy\n",
        ": ",
        "- ",
        "  ",
        "\n",
        "&a ",
        "*a",
        "!!str ",
        "!tag ",
        "<<: ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "'",
        '"',
        "#",
        "---\n",
        "...\n",
        "? ",
        "|\n",
        ">\n",
        "${X}",
        "yes",
        "no",
        "~",
        "null",
        "1gb",
        "\t",
        "%YAML 1.1\n",
        "config:\n",
        "keys:\n",
    ]
)


@SETTINGS
@given(st.lists(st.one_of(YAML_SYMBOLS, st.text(max_size=5)), max_size=60))
def test_yaml_token_soup(parts: list[str]) -> None:
    """Text made of YAML punctuation reaches the parser's corners faster than random text."""
    validate_files({"policy.yaml": "".join(parts).encode("utf-8", "surrogatepass")})


# -- (b) arbitrary YAML documents -----------------------------------------------------------------
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "yes",
            "no",
            "on",
            "off",
            "~",
            "1gb",
            "3d",
            "${RP_SET}",
            "${RP_UNSET}",
            "${",
            "0x1F",
            "2024-01-01",
            "persistent",
            ".inf",
            "-.inf",
        ]
    ),
)
KEYS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "apiVersion",
            "kind",
            "environment",
            "extends",
            "config",
            "keys",
            "capacity",
            "target",
            "targets",
            "ignore",
            "health",
            "sampling",
            "persist",
            "unclassified",
            "name",
            "pattern",
            "ttl",
            "max",
        ]
    ),
)
DOCS = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(KEYS, children, max_size=6)),
    max_leaves=40,
)


def dump(doc: object) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


@SETTINGS
@given(DOCS)
def test_arbitrary_yaml(doc: object) -> None:
    validate_files({"policy.yaml": dump(doc)})


@SETTINGS
@given(st.dictionaries(KEYS, DOCS, max_size=8))
def test_arbitrary_yaml_with_policy_header(doc: dict[str, object]) -> None:
    """The same, past the apiVersion/kind gate, so the schema and later stages see the data."""
    full = {"apiVersion": "redispolicy/v1", "kind": "RedisPolicy", **doc}
    validate_files({"policy.yaml": dump(full)})


# -- (c) policy-shaped documents --------------------------------------------------------------------
_CAT = catalog()
PARAM_NAMES = sorted(_CAT.params) + sorted(_CAT.aliases) + sorted(_CAT.config_file_only)
UNITS = ["", "b", "k", "kb", "m", "mb", "g", "gb", "K", "MB", "Gb", "tb", "%", " mb"]
DURATION_UNITS = ["s", "m", "h", "d", "w", "", "ms", " d", "y"]
ENUM_WORDS = sorted({e for p in _CAT.params.values() for e in p.enum})

size_text = st.builds(
    lambda n, u: f"{n}{u}", st.integers(min_value=-5, max_value=2**70), st.sampled_from(UNITS)
)
duration_text = st.builds(
    lambda n, u: f"{n}{u}", st.integers(min_value=-1, max_value=10**30), st.sampled_from(DURATION_UNITS)
)
interp = st.builds(
    lambda a, b, c: f"{a}${{{b}}}{c}",
    st.text(max_size=5),
    st.sampled_from(
        [
            "RP_SET",
            "RP_UNSET",
            "RP_EMPTY",
            "RP_SET:-x",
            "RP_UNSET:-hunter2",
            "RP_UNSET:?give it",
            "RP_EMPTY:?",
            "1BAD",
            "",
            "RP_UNSET-d",
            "RP_EMPTY?m",
            "RP_SIZE",
        ]
    ),
    st.text(max_size=5),
)
config_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.text(max_size=15),
    size_text,
    interp,
    st.sampled_from(ENUM_WORDS),
    st.sampled_from(
        [
            "yes",
            "no",
            "Ex",
            "AKE",
            "xE",
            "g$lshzxetdKE",
            "3600 1 300 100",
            '""',
            "",
            "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60",
            "10%",
            "0%",
            "101%",
            "010",
            "+1",
            " 1",
            "-0",
            "relative",
            'FLUSHALL ""',
            "50 99 99.9",
            "0 200 800",
        ]
    ),
)
config = st.dictionaries(
    st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=10)), config_value, max_size=12
)
pattern = st.one_of(
    st.text(alphabet="ab:*?[]^-\\", max_size=8),
    st.sampled_from(["ocr:*", "ocr:1:*", "doc:*:state", "doc:*:temp", "*", "", "[", "a\\"]),
)
class_names = st.sampled_from(["ocr-cache", "chunks", "locks", "temp", "x", "Bad Name", ""])
ttl = st.one_of(
    st.just("persistent"),
    st.builds(lambda d: {"max": d}, duration_text),
    st.text(max_size=4),
    st.integers(),
    st.none(),
    st.just({"max": "3d", "min": "1d"}),
)
key_class = st.fixed_dictionaries(
    {"name": class_names},
    optional={
        "pattern": pattern,
        "ttl": ttl,
        "max_size": st.one_of(size_text, st.integers()),
        "cleanup": st.builds(lambda d: {"idle_over": d}, duration_text),
        "type": st.sampled_from(["hash", "zset", "bogus"]),
        "remediate": st.booleans(),
    },
)
number = st.one_of(
    st.integers(min_value=-10, max_value=10**400), st.floats(allow_nan=False), st.text(max_size=3)
)
workload = st.fixed_dictionaries(
    {"class": class_names},
    optional={
        "items": number,
        "arrivals_per_day": number,
        "item_size": st.one_of(size_text, st.integers(min_value=-1, max_value=2**80)),
    },
)
capacity = st.fixed_dictionaries(
    {}, optional={"utilization_limit_percent": number, "workloads": st.lists(workload, max_size=4)}
)
target = st.fixed_dictionaries(
    {
        "url": st.one_of(
            interp,
            st.sampled_from(
                [
                    "redis://127.0.0.1:6379",
                    "redis://:hunter2@h:6379",
                    "redis://u:${RP_UNSET}@h",
                    "redis://[::1",
                    "",
                    "redis://u:p@${RP_URL}",
                    "rediss://${RP_SET}@h",
                ]
            ),
        )
    },
    optional={
        "password": st.one_of(interp, st.text(max_size=5)),
        "connect_timeout": duration_text,
        "username": st.text(max_size=4),
        "topology": st.sampled_from(["cluster", "ring"]),
    },
)
ignore_entry = st.fixed_dictionaries(
    {"reason": st.text(max_size=5)},
    optional={
        "parameter": st.sampled_from(PARAM_NAMES[:20]),
        "class": class_names,
        "until": st.one_of(
            st.dates().map(str), st.text(max_size=10), st.sampled_from(["2020-13-45", "2999-01-01"])
        ),
    },
)
policy = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["redispolicy/v1", "redispolicy/v1", "redispolicy/v2"]),
        "kind": st.just("RedisPolicy"),
    },
    optional={
        "environment": st.sampled_from(["production", "dev", "bad env", ""]),
        "extends": st.one_of(
            st.sampled_from(["base.yaml", "policy.yaml", "../x.yaml", "/etc/passwd", "nope.yaml", "", "."]),
            st.lists(st.sampled_from(["base.yaml", "policy.yaml", "other.yaml"]), max_size=3),
        ),
        "target": target,
        "targets": st.lists(st.fixed_dictionaries({"name": st.text(max_size=3), "url": interp}), max_size=2),
        "config": st.one_of(config, st.none()),
        "keys": st.lists(key_class, max_size=6),
        "capacity": capacity,
        "ignore": st.lists(ignore_entry, max_size=3),
        "persist": st.one_of(st.booleans(), st.text(max_size=3)),
        "unclassified": st.sampled_from(["warn", "error", "ignore", "sometimes"]),
        "sampling": st.fixed_dictionaries(
            {},
            optional={
                "mode": st.sampled_from(["auto", "exact", "x"]),
                "keys": st.integers(),
                "time_budget": duration_text,
            },
        ),
    },
)


HEAD = {"apiVersion": "redispolicy/v1", "kind": "RedisPolicy", "environment": "production"}
CLASS = {"name": "ocr-cache", "pattern": "ocr:*", "ttl": {"max": "1d"}}


@SETTINGS
@given(policy)
# Inputs that once crashed validate (kept so every run tries them):
@example({**HEAD, "extends": "\x00"})  # NUL in a path
@example({**HEAD, "extends": "a" * 5000})  # ENAMETOOLONG
@example(
    {**HEAD, "keys": [{"name": "a", "pattern": "a" * 3000}, {"name": "b", "pattern": "a" * 3000}]}
)  # recursion
@example({**HEAD, "config": {"maxmemory": "1gb"}, "keys": [{**CLASS, "max_size": "99999999999999999999gb"}]})
@example(
    {
        **HEAD,
        "config": {"maxmemory": "1gb"},
        "keys": [CLASS],
        "capacity": {
            "workloads": [{"class": "ocr-cache", "arrivals_per_day": float("inf"), "item_size": "1gb"}]
        },
    }
)
@example(
    {
        **HEAD,
        "config": {"maxmemory": "1gb"},
        "keys": [CLASS],
        "capacity": {"workloads": [{"class": "ocr-cache", "items": 10**400, "item_size": "1gb"}]},
    }
)
@example(
    {
        **HEAD,
        "config": {"maxmemory": "1gb"},
        "keys": [{**CLASS, "ttl": {"max": "9" * 400 + "d"}}],
        "capacity": {"workloads": [{"class": "ocr-cache", "arrivals_per_day": 10**400, "item_size": 1}]},
    }
)
@example({**HEAD, "\x01": 1, "description": "\x1b[31m"})  # control characters into JUnit XML
def test_policy_shaped(doc: dict[str, object]) -> None:
    validate_files({"policy.yaml": dump(doc)})


@SETTINGS
@given(policy, policy, st.booleans())
def test_layered_policy_shaped(env_doc: dict[str, object], base_doc: dict[str, object], strict: bool) -> None:
    """Two generated files, the first extending the second (and the second maybe the first)."""
    env_doc = {**env_doc, "extends": ["base.yaml"]}
    base_doc = {k: v for k, v in base_doc.items() if k != "environment"}
    validate_files({"policy.yaml": dump(env_doc), "base.yaml": dump(base_doc)}, strict_env=strict)


@pytest.fixture(scope="module")
def cli_dir() -> Iterator[Path]:
    with policy_dir({}) as d:
        yield d


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(doc=policy, fmt=st.sampled_from(FORMATS), strict=st.booleans())
def test_cli_never_raises(
    cli_dir: Path, doc: dict[str, object], fmt: str, strict: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole CLI, in process: an exit code of 0 or 1 and no traceback, whatever the policy."""
    path = cli_dir / "policy.yaml"
    path.write_bytes(dump(doc))
    args = ["validate", "--policy-dir", str(cli_dir), "-o", fmt, str(path)]
    code = run([*args, "--strict-env"] if strict else args)
    out, err = capsys.readouterr()
    assert code in (0, 1)
    assert "Traceback" not in err
    if fmt in ("json", "sarif"):
        json.loads(out)


def test_load_bytes_on_fixed_nasties() -> None:
    """Inputs that have crashed YAML front ends elsewhere: each gives a diagnostic, not an exception."""
    nasties = [
        b"",
        b"\xef\xbb\xbf",
        b"\x00",
        b"a: \x00",
        b"\xff\xfe",
        b"&a [*a]",
        b"a: &a [*a]",
        b"? [a]\n: 1",
        b"!!python/object:os.system x",
        b"%YAML 9.9\n---\na: 1",
        b"a: !!binary AAA",
        b"[" * 5000,
        b"- " * 5000 + b"a",
        b"a: 1\n---\nb: 2",
        b"--- |\n  x",
        b"\t\ta: 1",
        b"a: 2001-02-30",
        b"a: .nan",
        b"a: 1e1000",
        b"a: 0o999",
    ]
    for data in nasties:
        loaded = load_bytes(data, "policy.yaml")
        assert loaded.root is not None or loaded.diagnostics, data
        report = validate_files({"policy.yaml": data})
        assert isinstance(report, ValidationReport)


def test_property_inputs_exercise_more_than_yaml_errors() -> None:
    """Guard against a vacuous property: the policy strategy really reaches the semantic checks."""
    from hypothesis import find

    def reaches_checks(doc: dict[str, object]) -> bool:
        report = validate_files({"policy.yaml": dump(doc)})
        return any(d.rule.startswith(("config-", "capacity-", "keys-")) for d in report.diagnostics)

    found = find(
        policy,
        reaches_checks,
        settings=settings(
            max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        ),
    )
    assert found["apiVersion"] == "redispolicy/v1"


def test_stdout_is_not_polluted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("apiVersion: redispolicy/v1\nkind: RedisPolicy\nconfig: {hz: x}\n")
    code = run(["validate", "--policy-dir", str(tmp_path), "-o", "json"])
    out, _ = capsys.readouterr()
    assert code == 1
    doc = json.loads(io.StringIO(out).read())
    assert [d["rule"] for d in doc["diagnostics"]] == ["config-type"]
