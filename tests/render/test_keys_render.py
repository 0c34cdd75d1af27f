"""keys_lines / keys_dict: exact counts stay plain; sampled ones carry intervals or an upper bound."""

from __future__ import annotations

from redispolicy.diagnostics import Location
from redispolicy.live.model import Batch, Observation
from redispolicy.plan.keys import KeyJudge
from redispolicy.policy.model import KeyClass
from redispolicy.render.json_ import keys_dict
from redispolicy.render.style import Style
from redispolicy.render.text.keys import keys_lines

HERE = Location("t.yaml", 1, 1)
CLASSES = (
    KeyClass("cache", "c:*", HERE, ttl_max=3600),
    KeyClass("state", "s:*", HERE, persistent=True),
    KeyClass("rare", "r:*", HERE, ttl_max=60),
)


def _findings(mode: str):
    judge = KeyJudge(CLASSES)
    obs = [Observation(f"c:{i}".encode(), 0, -1 if i < 20 else 1000) for i in range(600)]
    obs += [Observation(f"s:{i}".encode(), 0, -1) for i in range(390)]
    obs += [Observation(f"misc:queue:{i}".encode(), 0, -1) for i in range(10)]
    judge.add(Batch.of(obs))
    if mode == "sample":
        judge.add_exact(2, Batch.of([Observation(b"r:1", 0, -1), Observation(b"r:2", 0, 1000)]))
        return judge.finish("sample", 100_000, 1002, duplicates=4)
    return judge.finish("exact", 1000, 1000)


def test_exact_json_and_text():
    f = _findings("exact")
    doc = keys_dict(f, key_names=True)
    cache = doc["classes"][0]
    assert cache["exact"] is True and cache["matched"] == 600
    assert cache["estimated_violating"] == {"value": 20, "low": 20, "high": 20}
    assert cache["estimated_matched"] == {"value": 600, "low": 600, "high": 600}
    assert doc["unclassified"] == {
        "matched": 10,
        "examples": [f"misc:queue:{i}" for i in range(5)],
        "estimated": {"value": 10, "low": 10, "high": 10},
        "suggested_patterns": [{"pattern": "misc:queue:*", "count": 10}],
    }
    assert "sample" not in doc
    text = "\n".join(keys_lines(f, Style(color=False, key_names=True)))
    assert "Keys (exact: 1000 of 1000 keys inspected)" in text
    assert "600 keys  20 no_ttl" in text and "390 keys  ok" in text
    assert "suggested classes: misc:queue:* (10 keys)" in text


def test_sample_json_and_text():
    f = _findings("sample")
    doc = keys_dict(f, key_names=True)
    assert doc["mode"] == "sample"
    assert doc["sample"] == {
        "draws": 1000,
        "repeated_draws": 4,
        "confidence": 0.95,
        "interval": "wilson_cc",
        "with_replacement": True,
    }
    cache, state, rare = doc["classes"]
    assert cache["exact"] is False and cache["matched"] == 600
    assert cache["estimated_matched"]["value"] == 60000.0
    assert cache["estimated_matched"]["low"] < 60000 < cache["estimated_matched"]["high"]
    ev = cache["estimated_violating"]
    assert ev["value"] == 2000.0 and ev["low"] < 2000 < ev["high"] and "upper_bound" not in ev
    assert cache["estimated_violations"]["no_ttl"] == ev
    # zero violations sampled: an upper bound, not "none"
    sv = state["estimated_violating"]
    assert (
        sv["upper_bound"] == sv["high"] == round((1 - 0.05 ** (1 / 1000)) * 100_000, 1) and sv["value"] == 0
    )
    assert 0.0076 < state["upper_bound_rate"] < 0.0077  # 1 - 0.05^(1/390)
    assert rare["exact"] is True and rare["audited_by"] == "scan_match" and rare["matched"] == 2
    assert rare["estimated_violating"] == {"value": 1, "low": 1, "high": 1}
    assert doc["unclassified"]["suggested_patterns"] == [
        {"pattern": "misc:queue:*", "count": 10, "estimated_keys": 1000.0}
    ]

    text = "\n".join(keys_lines(f, Style(color=False, key_names=True)))
    assert (
        "Keys (sample: 1000 random draws of 100000 keys, 95 % intervals; 1 rare class(es) counted exactly"
        in text
    )
    lines = {
        line.split()[1]: line for line in text.splitlines() if line.startswith("  ") and len(line.split()) > 2
    }
    m, v = f.classes[0].matched_estimate(), f.classes[0].violating_estimate()
    assert f"≈ 60000 keys (95 % CI {m.low:.0f}–{m.high:.0f})" in lines["cache"]
    assert f"no_ttl ≈ 2000 ({v.low:.0f}–{v.high:.0f})" in lines["cache"]
    assert "0 sampled violations: < 0.77 % (95 %)" in lines["state"]
    assert "2 keys (exact, SCAN MATCH)  1 no_ttl" in lines["rare"]
    assert "≈ 1000 keys (95 % CI " in lines["unclassified"]
    assert "suggested classes: misc:queue:* (≈ 1000 keys, 10 sampled)" in text


def test_markdown_table_for_pull_request_comments():
    from redispolicy.render.markdown import keys_table

    exact = "\n".join(keys_table(_findings("exact"), key_names=True))
    assert "#### Keys — ❌ 1 of 3 class(es) with violations (exact: 1000 of 1000 keys inspected)" in exact
    rows = {line.split(" | ")[1]: line for line in exact.splitlines() if line.startswith("| ")}
    assert (
        rows["cache"].startswith("| ❌ | cache | `c:*` | 600 keys | 20 no_ttl |") and "`c:0`" in rows["cache"]
    )
    assert rows["state"].startswith("| ✅ | state | `s:*` | 390 keys | ok |")
    assert rows["unclassified"].startswith("| ❔ | unclassified | | 10 keys |")
    assert (
        "Suggested classes for the unclassified keys (paste into `keys:`): `misc:queue:*` (10 keys)" in exact
    )
    sample = "\n".join(keys_table(_findings("sample")))
    assert "(sample: 1000 random draws of 100000 keys, 95 % intervals;" in sample
    rows = {line.split(" | ")[1]: line for line in sample.splitlines() if line.startswith("| ")}
    assert "| ≈ 60000 keys (95 % CI " in rows["cache"] and "no_ttl ≈ 2000 (" in rows["cache"]
    assert "0 sampled violations: < " in rows["state"]  # an upper bound, never "none"
    assert "2 keys (exact, SCAN MATCH)" in rows["rare"]


def test_markdown_plan_shows_the_key_audit_even_without_config_changes():
    from redispolicy.live.model import Identity
    from redispolicy.plan.model import Plan
    from redispolicy.render import renderer

    plan = Plan(
        "test",
        Identity("redis", "7.0.15", "r", "master", "standalone", "127.0.0.1:6379"),
        (),
        True,
        "",
        keys=_findings("exact"),
    )
    out = renderer("markdown", "plan")(plan, Style(color=False))
    assert "No config changes." in out and "#### Keys — ❌ 1 of 3 class(es)" in out
    assert "| ❌ | cache | `c:*` | 600 keys | 20 no_ttl |" in out
