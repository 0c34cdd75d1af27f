"""The extends merge rule (docs/policy-format.md, Layering): mappings deep-merge, scalars and lists replace, an
explicit null removes, key classes merge by name, and every node remembers what it overrode."""

from __future__ import annotations

from redispolicy.policy.merge import Removal, merge
from redispolicy.policy.nodes import MapNode, Node, ScalarNode, SeqNode, find, to_plain
from redispolicy.policy.yamlload import load_text


def tree(text: str, name: str) -> MapNode:
    loaded = load_text(text, name)
    assert loaded.root is not None, loaded.diagnostics
    return loaded.root


def merged(*docs: tuple[str, str]) -> tuple[MapNode, list[Removal]]:
    removals: list[Removal] = []
    result: Node = tree(*docs[0])
    for doc in docs[1:]:
        out = merge(result, tree(*doc), (), removals)
        assert out is not None
        result = out
    assert isinstance(result, MapNode)
    return result, removals


BASE = (
    """\
config:
  maxmemory: 512mb
  maxmemory-policy: allkeys-lru
  maxmemory-samples: 10
target:
  url: redis://base:6379
  tls: {verify: true, ca_file: /etc/ca.pem}
keys:
  - name: ocr
    pattern: "ocr:*"
    ttl: {max: 7d}
    max_size: 16mb
  - name: locks
    pattern: "lock:*"
    ttl: {max: 10m}
ignore:
  - {parameter: save, reason: a}
  - {parameter: hz, reason: b}
""",
    "base.yaml",
)

PROD = (
    """\
config:
  maxmemory: 1gb
  maxmemory-samples: null
  appendonly: yes
target:
  tls: {verify: false}
keys:
  - name: ocr
    ttl: {max: 3d}
  - name: chunks
    pattern: "chunks:*"
ignore:
  - {parameter: timeout, reason: c}
""",
    "production.yaml",
)


def test_mappings_deep_merge() -> None:
    result, _ = merged(BASE, PROD)
    assert to_plain(result)["config"] == {
        "maxmemory": "1gb",
        "maxmemory-policy": "allkeys-lru",
        "appendonly": True,
    }
    assert to_plain(result)["target"] == {
        "url": "redis://base:6379",
        "tls": {"verify": False, "ca_file": "/etc/ca.pem"},
    }


def test_scalars_keep_their_source_and_what_they_overrode() -> None:
    result, _ = merged(BASE, PROD)
    mm = find(result, ("config", "maxmemory"))
    assert isinstance(mm, ScalarNode)
    assert (mm.loc.file, mm.loc.line) == ("production.yaml", 2)
    assert [(n.raw, n.loc.file, n.loc.line) for n in mm.overrode] == [("512mb", "base.yaml", 2)]
    policy = find(result, ("config", "maxmemory-policy"))
    assert isinstance(policy, ScalarNode) and policy.loc.file == "base.yaml" and policy.overrode == ()
    # the key's own location follows the file that wrote it
    cfg = find(result, ("config",))
    assert isinstance(cfg, MapNode)
    assert cfg.key_locs["maxmemory"].file == "production.yaml"
    assert cfg.key_locs["maxmemory-policy"].file == "base.yaml"


def test_yes_keeps_its_text_through_a_merge() -> None:
    result, _ = merged(BASE, PROD)
    node = find(result, ("config", "appendonly"))
    assert isinstance(node, ScalarNode)
    assert node.value is True and node.raw == "yes" and node.text == "yes"


def test_lists_replace() -> None:
    result, _ = merged(BASE, PROD)
    assert to_plain(result)["ignore"] == [{"parameter": "timeout", "reason": "c"}]
    ignore = find(result, ("ignore",))
    assert isinstance(ignore, SeqNode) and ignore.loc.file == "production.yaml"
    assert ignore.overrode and ignore.overrode[0].loc.file == "base.yaml"


def test_null_removes_and_is_recorded() -> None:
    result, removals = merged(BASE, PROD)
    assert "maxmemory-samples" not in to_plain(result)["config"]
    cfg = find(result, ("config",))
    assert isinstance(cfg, MapNode) and "maxmemory-samples" not in cfg.key_locs
    (removal,) = removals
    assert removal.path == ("config", "maxmemory-samples")
    assert (removal.at.file, removal.at.line) == ("production.yaml", 3)
    assert (
        isinstance(removal.was, ScalarNode)
        and removal.was.raw == "10"
        and removal.was.loc.file == "base.yaml"
    )


def test_null_without_anything_to_remove_stays() -> None:
    result, removals = merged(("config: {a: 1}\n", "base.yaml"), ("config: {b: null}\n", "env.yaml"))
    assert removals == []
    assert to_plain(result)["config"] == {"a": 1, "b": None}


def test_keys_merge_by_name_in_order() -> None:
    result, _ = merged(BASE, PROD)
    keys = to_plain(result)["keys"]
    assert [k["name"] for k in keys] == ["ocr", "locks", "chunks"]
    assert keys[0] == {"name": "ocr", "pattern": "ocr:*", "ttl": {"max": "3d"}, "max_size": "16mb"}
    assert keys[1] == {"name": "locks", "pattern": "lock:*", "ttl": {"max": "10m"}}
    ttl = find(result, ("keys", 0, "ttl", "max"))
    assert isinstance(ttl, ScalarNode) and ttl.loc.file == "production.yaml"
    assert [(n.raw, n.loc.file) for n in ttl.overrode] == [("7d", "base.yaml")]
    pattern = find(result, ("keys", 0, "pattern"))
    assert isinstance(pattern, ScalarNode) and pattern.loc.file == "base.yaml"


def test_other_lists_do_not_merge_by_name() -> None:
    result, _ = merged(
        ("targets: [{name: a, url: x}, {name: b, url: y}]\n", "base.yaml"),
        ("targets: [{name: a, url: z}]\n", "env.yaml"),
    )
    assert to_plain(result)["targets"] == [{"name": "a", "url": "z"}]


def test_overrode_chain_across_three_files() -> None:
    result, _ = merged(
        ("config: {maxmemory: 256mb}\n", "base.yaml"),
        ("config: {maxmemory: 512mb}\n", "mid.yaml"),
        ("config: {maxmemory: 1gb}\n", "top.yaml"),
    )
    node = find(result, ("config", "maxmemory"))
    assert isinstance(node, ScalarNode) and node.loc.file == "top.yaml"
    assert [(n.raw, n.loc.file) for n in node.overrode] == [("512mb", "mid.yaml"), ("256mb", "base.yaml")]


def test_a_scalar_may_replace_a_mapping() -> None:
    result, _ = merged(
        ("keys: [{name: s, pattern: 's:*', ttl: {max: 1d}}]\n", "base.yaml"),
        ("keys: [{name: s, ttl: persistent}]\n", "env.yaml"),
    )
    assert to_plain(result)["keys"] == [{"name": "s", "pattern": "s:*", "ttl": "persistent"}]


def test_inputs_are_not_modified() -> None:
    base, prod = tree(*BASE), tree(*PROD)
    before = to_plain(base)
    merge(base, prod, (), [])
    assert to_plain(base) == before
