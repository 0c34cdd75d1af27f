"""Strict YAML loading: one mapping, no duplicate keys, `yes` kept as written, bounded
aliases, no tags, and every node with its line and column."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from redispolicy.policy.nodes import MapNode, ScalarNode, SeqNode, find
from redispolicy.policy.yamlload import MAX_FILE_BYTES, load_bytes, load_text


def rules(loaded: object) -> list[str]:
    return [d.rule for d in loaded.diagnostics]  # type: ignore[attr-defined]


def test_duplicate_key_names_both_lines() -> None:
    loaded = load_text("config:\n  maxmemory: 1gb\n  hz: 10\n  maxmemory: 2gb\n", "p.yaml")
    (d,) = loaded.diagnostics
    assert d.rule == "yaml-duplicate-key"
    assert "line 2" in d.message and "line 4" in d.message and "maxmemory" in d.message
    assert (d.location.line, d.location.col) == (4, 3)
    assert [(r.line, r.col) for r in d.related] == [(2, 3)]


def test_duplicate_keys_at_top_level_and_deep() -> None:
    loaded = load_text("a: 1\nb: {c: 1, c: 2}\na: 2\n", "p.yaml")
    assert sorted((d.location.line, d.location.col) for d in loaded.diagnostics) == [(2, 11), (3, 1)]


def test_yes_is_kept_as_written() -> None:
    loaded = load_text("appendonly: yes\na: no\nb: on\nc: True\nd: 'yes'\ne: ~\nf: 010\ng: 1_000\n", "p.yaml")
    root = loaded.root
    assert root is not None
    node = root.entries["appendonly"]
    assert isinstance(node, ScalarNode)
    assert node.value is True  # what YAML 1.1 says, for the schema ...
    assert node.raw == "yes" and node.text == "yes"  # ... and what Redis gets
    texts = {k: n.text for k, n in root.entries.items() if isinstance(n, ScalarNode)}
    assert texts == {
        "appendonly": "yes",
        "a": "no",
        "b": "on",
        "c": "True",
        "d": "yes",
        "e": "",
        "f": "010",
        "g": "1_000",
    }
    d = root.entries["d"]
    assert isinstance(d, ScalarNode) and d.value == "yes" and d.quoted


def test_dates_and_nan_stay_text() -> None:
    root = load_text("until: 2027-01-31\nx: .nan\n", "p.yaml").root
    assert root is not None
    until, x = root.entries["until"], root.entries["x"]
    assert isinstance(until, ScalarNode) and until.value == "2027-01-31"
    assert isinstance(x, ScalarNode) and x.value == ".nan"


def test_nodes_keep_line_and_column() -> None:
    text = "apiVersion: redispolicy/v1\nkeys:\n  - name: ocr\n    ttl: {max: 3d}\n"
    root = load_text(text, "dir/p.yaml").root
    assert root is not None
    assert (root.loc.file, root.loc.line, root.loc.col) == ("dir/p.yaml", 1, 1)
    assert (root.key_locs["keys"].line, root.key_locs["keys"].col) == (2, 1)
    item = find(root, ("keys", 0))
    assert isinstance(item, MapNode) and (item.loc.line, item.loc.col) == (3, 5)
    ttl_max = find(root, ("keys", 0, "ttl", "max"))
    assert isinstance(ttl_max, ScalarNode) and (ttl_max.loc.line, ttl_max.loc.col) == (4, 16)
    seq = find(root, ("keys",))
    assert isinstance(seq, SeqNode) and seq.loc.line == 3


def test_billion_laughs_is_refused_quickly() -> None:
    """~9^9 = 387 million nodes once expanded, from a file under 1 KB; refused in well under a
    second. Run in a child process so a regression (expanding it) fails on the timeout, not by hanging."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    text = "\n".join(lines) + "\n"
    assert len(text) < 1000
    code = (
        "import json, sys, time\n"
        "from redispolicy.policy.yamlload import load_text\n"
        "start = time.perf_counter()\n"
        "loaded = load_text(sys.stdin.read(), 'p.yaml')\n"
        "print(json.dumps([loaded.root is None, [d.rule for d in loaded.diagnostics], time.perf_counter() - start]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=20, env=env
    )
    assert proc.returncode == 0, proc.stderr
    # Bounded expansion is shown by the rule firing (the 100 000-node limit); the subprocess
    # timeout only guards the suite against a hang, it is not a speed assertion.
    refused, found, _ = json.loads(proc.stdout)
    assert refused is True
    assert found == ["yaml-alias-limit"]


def test_recursive_alias_is_refused() -> None:
    loaded = load_text("a: &a [*a]\n", "p.yaml")
    assert loaded.root is None and rules(loaded) == ["yaml-alias-limit"]


def test_modest_aliases_are_fine() -> None:
    loaded = load_text("x: &x {a: 1}\ny: *x\n", "p.yaml")
    assert loaded.root is not None and loaded.diagnostics == ()


def test_multiple_documents_are_refused() -> None:
    loaded = load_text("a: 1\n---\nb: 2\n", "p.yaml")
    assert loaded.root is None and rules(loaded) == ["yaml-not-mapping"]
    assert "2 documents" in loaded.diagnostics[0].message


def test_explicit_single_document_is_fine() -> None:
    assert load_text("---\na: 1\n...\n", "p.yaml").root is not None


def test_empty_and_non_mappings_are_refused() -> None:
    for text in ("", "# nothing\n", "---\n", "- a\n", "just text\n", "42\n"):
        loaded = load_text(text, "p.yaml")
        assert loaded.root is None and rules(loaded) == ["yaml-not-mapping"], text


def test_tags_are_refused() -> None:
    for text, tag in (
        ("a: !!python/object:os.system x\n", "python"),
        ("a: !secret x\n", "!secret"),
        ("a: !!binary AAAA\n", "binary"),
        ("a: !!set {x: null}\n", None),
        ("a: !!python/name:os.system\n", "python"),
    ):
        loaded = load_text(text, "p.yaml")
        assert "yaml-unsupported-tag" in rules(loaded), text
        if tag:
            assert any(tag in d.message for d in loaded.diagnostics)


def test_standard_scalar_tags_are_accepted() -> None:
    root = load_text("a: !!str 123\nb: !!int '12'\n", "p.yaml").root
    assert root is not None
    a = root.entries["a"]
    assert isinstance(a, ScalarNode) and a.value == "123"


def test_merge_keys_are_refused() -> None:
    loaded = load_text("x: &x {a: 1}\ny:\n  <<: *x\n  b: 2\n", "p.yaml")
    assert loaded.root is None and rules(loaded) == ["yaml-unsupported-tag"]
    assert loaded.diagnostics[0].location.line == 3


def test_complex_keys_are_refused() -> None:
    loaded = load_text("? [a, b]\n: 1\n", "p.yaml")
    assert loaded.root is None and rules(loaded) == ["yaml-syntax"]


def test_syntax_error_position() -> None:
    loaded = load_text("a: 1\nb: [1, 2\n", "p.yaml")
    (d,) = loaded.diagnostics
    assert d.rule == "yaml-syntax" and d.location.line >= 2 and d.location.col >= 1


def test_encoding() -> None:
    loaded = load_bytes(b"a: 1\nb: caf\xe9\n", "p.yaml")
    (d,) = loaded.diagnostics
    assert d.rule == "yaml-encoding" and (d.location.line, d.location.col) == (2, 7)
    assert "0xe9" in d.message
    assert rules(load_bytes(b"a: \x00\n", "p.yaml")) == ["yaml-encoding"]
    assert rules(load_bytes("a: 1\n".encode("utf-16"), "p.yaml")) == ["yaml-encoding"]
    bom = load_bytes(b"\xef\xbb\xbfa: caf\xc3\xa9\n", "p.yaml")
    assert bom.root is not None and bom.diagnostics == ()


def test_too_large() -> None:
    data = b"a: 1\n" + b"#" * MAX_FILE_BYTES
    loaded = load_bytes(data, "p.yaml")
    assert loaded.root is None and rules(loaded) == ["yaml-too-large"]
    assert str(MAX_FILE_BYTES) in loaded.diagnostics[0].message
    assert load_bytes(b"a: 1\n" + b"#" * (MAX_FILE_BYTES - 10), "p.yaml").root is not None


def test_too_large_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from redispolicy.policy.yamlload import load_file

    path = tmp_path / "p.yaml"
    with open(path, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES * 50)  # sparse: huge on paper, cheap on disk

    def refuse(self: Path) -> bytes:
        raise AssertionError("a file over the limit must be refused before it is read")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    loaded = load_file(path)
    assert rules(loaded) == ["yaml-too-large"]
    assert str(MAX_FILE_BYTES * 50) in loaded.diagnostics[0].message


def test_deep_nesting_is_bounded() -> None:
    loaded = load_text("a: " + "[" * 100 + "]" * 100 + "\n", "p.yaml")
    assert loaded.root is None and rules(loaded) == ["yaml-alias-limit"]
    assert "deeper" in loaded.diagnostics[0].message
