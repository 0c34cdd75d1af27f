"""The schema's errors become located diagnostics with the most useful rule and place."""

from __future__ import annotations

from redispolicy.policy.schema import schema, validate
from redispolicy.policy.yamlload import load_text

HEAD = "apiVersion: redispolicy/v1\nkind: RedisPolicy\n"


def diags(text: str) -> list[tuple[str, int, int, str]]:
    loaded = load_text(HEAD + text, "p.yaml")
    assert loaded.root is not None, loaded.diagnostics
    return sorted((d.rule, d.location.line, d.location.col, d.message) for d in validate(loaded.root))


def test_valid_minimal() -> None:
    assert diags("") == []


def test_bad_duration_inside_ttl_is_duration_invalid_at_max() -> None:
    """Regression: the ttl oneOf used to hide the duration error behind a generic schema-invalid."""
    ((rule, line, col, message),) = diags("keys:\n  - {name: a, pattern: 'a:*', ttl: {max: 3 days}}\n")
    assert (rule, line, col) == ("duration-invalid", 4, 42)
    assert "'3 days'" in message


def test_unknown_key_inside_ttl_is_reported_at_the_key() -> None:
    ((rule, line, col, message),) = diags("keys:\n  - name: a\n    ttl:\n      max: 3d\n      min: 1h\n")
    assert (rule, line, col) == ("schema-unknown-key", 7, 7)
    assert "'min'" in message


def test_a_wrong_ttl_shape_keeps_the_summary() -> None:
    ((rule, line, _, message),) = diags("keys:\n  - {name: a, ttl: forever}\n")
    assert rule == "schema-invalid" and line == 4
    assert "persistent" in message


def test_extends_items_are_located() -> None:
    found = diags('extends: [base.yaml, "", 3]\n')
    assert [(r, c) for r, _, c, _ in found] == [("schema-invalid", 22), ("schema-type", 26)]


def test_workload_needs_exactly_one_sizing() -> None:
    for workload in (
        "{class: a, item_size: 1mb}",
        "{class: a, item_size: 1mb, items: 1, arrivals_per_day: 1}",
    ):
        ((rule, _, _, message),) = diags(f"capacity:\n  workloads:\n    - {workload}\n")
        assert rule == "schema-invalid" and "exactly one of 'items'" in message


def test_every_error_at_once() -> None:
    found = diags("bogus: 1\npersist: maybe\nunclassified: sometimes\n")
    assert [r for r, *_ in found] == ["schema-invalid", "schema-type", "schema-unknown-key"]


def test_x_rules_are_known_rule_ids() -> None:
    from redispolicy.rules import RULES

    def walk(node: object) -> list[str]:
        if isinstance(node, dict):
            return ([node["x-rule"]] if "x-rule" in node else []) + [
                r for v in node.values() for r in walk(v)
            ]
        if isinstance(node, list):
            return [r for v in node for r in walk(v)]
        return []

    x_rules = walk(schema())
    assert set(x_rules) == {"duration-invalid", "size-invalid"}
    assert set(x_rules) <= set(RULES)
