"""plan/keys.py and plan/suggest.py without a server: judging observations, sample-mode estimates,
suggested patterns."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redispolicy.diagnostics import Location
from redispolicy.live.model import Batch, Observation
from redispolicy.plan.keys import KeyJudge
from redispolicy.plan.stats import estimate_total, zero_upper_bound
from redispolicy.plan.suggest import PatternSuggester, glob_escape, key_shape, looks_like_id, render_shape
from redispolicy.policy.glob import matches, to_regex
from redispolicy.policy.model import KeyClass

HERE = Location("test.yaml", 1, 1)
CLASSES = (
    KeyClass("cache", "c:*", HERE, ttl_max=3600),
    KeyClass("state", "s:*", HERE, persistent=True),
    KeyClass("rare", "r:*", HERE, ttl_max=60),
)


def ob(key: str, pttl: int, typ: str | None = None) -> Observation:
    return Observation(key.encode(), 0, pttl, typ)


def test_exact_judging_counts_and_first_match_wins():
    judge = KeyJudge(
        (KeyClass("a", "x:*:state", HERE, persistent=True), KeyClass("b", "x:*", HERE, ttl_max=10))
    )
    judge.add(
        Batch.of(
            [
                ob("x:1:state", -1),
                ob("x:2:state", 5000),
                ob("x:1", -1),
                ob("x:2", 20_000),
                ob("x:3", 1000),
                ob("x:4", -2),
                ob("y:1", -1),
                ob("y:1", -1),
            ]
        )
    )
    f = judge.finish("exact", 8, 8)
    a, b = f.classes
    assert (a.matched, a.violations["ttl_forbidden"], a.keys_violating) == (2, 1, 1)
    assert (b.matched, b.vanished, b.violations["no_ttl"], b.violations["ttl_over_max"]) == (3, 1, 1, 1)
    assert b.exact and b.matched_estimate() == (3, 3, 3) and b.violating_estimate() == (2, 2, 2)
    assert f.unclassified == 2 and f.unclassified_examples == ("y:1",)  # examples are distinct names
    assert f.suggestions == (("y:*", 2),)


def test_two_violations_on_one_key_count_once_as_a_violating_key():
    judge = KeyJudge((KeyClass("locks", "l:*", HERE, ttl_max=60, type="string"),))
    judge.add(Batch.of([ob("l:1", -1, "hash"), ob("l:2", -1, "string"), ob("l:3", 1000, "string")]))
    (c,) = judge.finish("exact", 3, 3).classes
    assert c.violations["no_ttl"] == 2 and c.violations["wrong_type"] == 1
    assert c.violating == 3 and c.keys_violating == 2


def _sampled_judge() -> KeyJudge:
    """1000 draws: 600 cache (30 without TTL), 390 state (no violation), 10 unclassified; rare unseen."""
    judge = KeyJudge(CLASSES)
    batch = [ob(f"c:{i}", -1 if i < 30 else 1000) for i in range(600)]
    batch += [ob(f"s:{i}", -1) for i in range(390)]
    batch += [ob(f"u:{i}", -1) for i in range(10)]
    batch += [ob("c:gone", -2)]  # vanished draws are not part of n
    judge.add(Batch.of(batch))
    return judge


def test_sample_mode_estimates_with_wilson_intervals():
    judge = _sampled_judge()
    assert judge.sample_size == 1000
    assert judge.rare_classes(300) == [2]
    judge.add_exact(
        2, Batch.of([ob("r:1", -1), ob("r:2", 500_000), ob("c:1", -1)])
    )  # c:1 is not rare's (first match)
    f = judge.finish("sample", 100_000, 1003)
    cache, state, rare = f.classes
    assert f.mode == "sample" and f.sample_size == 1000
    assert not cache.exact and cache.via == "sample"
    assert cache.matched == 600 and cache.vanished == 1
    assert cache.estimated_matched == estimate_total(600, 1000, 100_000)
    assert cache.estimated_matched.value == pytest.approx(60_000)
    assert cache.estimated_violations["no_ttl"] == estimate_total(30, 1000, 100_000)
    assert cache.estimated_violating == estimate_total(30, 1000, 100_000)
    assert cache.upper_bound_violating is None and cache.upper_bound_rate is None
    # no violation sampled: a one-sided bound, never "none"
    assert state.violating == 0
    assert state.upper_bound_violating == pytest.approx((1 - 0.05 ** (1 / 1000)) * 100_000)
    assert state.upper_bound_rate == pytest.approx(zero_upper_bound(390))
    assert state.estimated_violating == (0.0, 0.0, state.upper_bound_violating)
    # the rare class came from the MATCH pass: exact, sampled draws discarded
    assert rare.exact and rare.via == "match"
    assert (rare.matched, rare.violations["no_ttl"], rare.violations["ttl_over_max"]) == (2, 1, 1)
    assert rare.matched_estimate() == (2, 2, 2)
    assert f.estimated_unclassified == estimate_total(10, 1000, 100_000)
    assert f.violations == 30 + 2


def test_a_class_with_no_key_still_comes_out_exact():
    judge = _sampled_judge()
    judge.add_exact(2, Batch.of([]))
    rare = judge.finish("sample", 100_000, 1000).classes[2]
    assert rare.exact and rare.matched == 0 and rare.violating_estimate() == (0, 0, 0)


def test_sampled_memory_is_scaled_to_the_keyspace():
    judge = KeyJudge((KeyClass("z", "z:*", HERE, max_size=100),))
    judge.add(Batch.of([Observation(b"z:1", 0, -1, None, 50), Observation(b"z:2", 0, -1, None, 150)] * 200))
    (z,) = judge.finish("sample", 4000, 2).classes
    assert z.memory_bytes == 4000 * 100  # mean 100 bytes per draw, over 4000 keys
    assert z.violations["oversized"] == 200


# -- the column-wise path (PTTL only) against a key-by-key reference -------------------------

RULES = st.sampled_from(
    [{"ttl_max": 10}, {"ttl_max": 1}, {"persistent": True}, {}, {"ttl_max": 5, "persistent": True}]
)
ROWS = st.lists(
    st.tuples(
        st.sampled_from(["a:1", "a:2", "a:12", "b:1", "b:x", "c", "a:\n", ""]),
        st.sampled_from([-2, -1, 0, 999, 1000, 1001, 5000, 10_000, 10_001, 99_000]),
    ),
    max_size=60,
)


@given(
    st.lists(st.tuples(st.sampled_from(["a:*", "a:1*", "b:*", "*:1", "?"]), RULES), min_size=1, max_size=4),
    st.lists(ROWS, min_size=1, max_size=3),
    st.booleans(),
)
def test_columns_count_what_a_key_by_key_reference_counts(classes, batches, with_types):
    """Every count, TTL quantile and example of the fast path (PTTL only) and of the
    key-by-key path (taken when a TYPE column is present), checked against a plain
    per-key reading of the rules (first match wins, vanished keys excluded)."""
    kcs = tuple(KeyClass(f"k{i}", p, HERE, **rule) for i, (p, rule) in enumerate(classes))
    judge = KeyJudge(kcs)
    for rows in batches:
        types: list[str | None] | None = ["string"] * len(rows) if with_types else None
        judge.add(Batch(0, [k.encode() for k, _ in rows], [p for _, p in rows], types))
    found = judge.finish("exact", 0, 0)
    rows = [r for b in batches for r in b]
    unclassified = 0
    for i, kc in enumerate(kcs):
        mine = [
            (k, p)
            for k, p in rows
            if next((j for j, c in enumerate(kcs) if matches(c.pattern, k)), None) == i
        ]
        live = [(k, p) for k, p in mine if p != -2]
        forbidden = {k for k, p in live if kc.persistent and p >= 0}
        no_ttl = [k for k, p in live if kc.ttl_max is not None and p == -1]
        over = [k for k, p in live if kc.ttl_max is not None and p > kc.ttl_max * 1000]
        violating = [
            k
            for k, p in live
            if (kc.persistent and p >= 0) or (kc.ttl_max is not None and (p == -1 or p > kc.ttl_max * 1000))
        ]
        ttls = sorted(p // 1000 for _, p in live if p >= 0)
        c = found.classes[i]
        assert (c.matched, c.vanished) == (len(live), len(mine) - len(live))
        assert c.violations["ttl_forbidden"] == sum(1 for k, p in live if kc.persistent and p >= 0)
        assert (c.violations["no_ttl"], c.violations["ttl_over_max"]) == (len(no_ttl), len(over))
        assert c.keys_violating == len(violating)
        assert c.ttl_max == (ttls[-1] if ttls else None)
        assert c.ttl_p50 == (ttls[min(len(ttls) - 1, len(ttls) // 2)] if ttls else None)
        assert set(c.examples) <= set(violating) | forbidden and len(c.examples) == min(
            5, len(set(violating))
        )
    for k, p in rows:
        if p != -2 and not any(matches(c.pattern, k) for c in kcs):
            unclassified += 1
    assert found.unclassified == unclassified
    assert len(found.unclassified_examples) == min(
        5, len({k for k, p in rows if p != -2 and not any(matches(c.pattern, k) for c in kcs)})
    )


# -- suggested patterns ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "is_id"),
    [
        ("12345", True),
        ("0", True),
        ("deadbeef01", True),
        ("DEADBEEF", True),
        (str(uuid.UUID(int=7)), True),
        ("dGhpcyBpcyBhIHRlc3Q1", True),
        ("abc", False),
        ("queue", False),
        ("state", False),
        ("deadbee", False),
        ("configuration_cache", False),
        ("", False),
    ],
)
def test_looks_like_id(token, is_id):
    assert looks_like_id(token) is is_id


def test_shapes_collapse_ids_and_escape_literals():
    assert render_shape(key_shape("misc:queue:42")) == "misc:queue:*"
    assert render_shape(key_shape(f"tmp:{uuid.uuid4()}")) == "tmp:*"
    assert render_shape(key_shape("doc12345:state")) == "doc*:state"
    assert render_shape(key_shape("{123}:cache:9")) == "{*}:cache:*"
    assert render_shape(key_shape("a*b:[x]?:\\:1")) == "a\\*b:\\[x\\]\\?:\\\\:*"
    assert glob_escape("a*?[]\\b") == "a\\*\\?\\[\\]\\\\b"


def test_suggestions_group_count_and_rank():
    s = PatternSuggester()
    for i in range(300):
        s.add(f"misc:queue:{i}")
    for i in range(200):
        s.add(f"tmp:{uuid.UUID(int=i * 7919 + 1)}")
    names = [f"user{chr(97 + i % 26)}{chr(97 + i // 26)}x" for i in range(60)]
    for name in names:
        s.add(f"user:{name}:profile")
    for metric in ("views", "clicks"):  # a few literals with many keys each stay apart
        for i in range(100):
            s.add(f"stats:{metric}:{i}")
    assert s.suggestions() == (
        ("misc:queue:*", 300),
        ("tmp:*", 200),
        ("stats:clicks:*", 100),
        ("stats:views:*", 100),
        ("user:*:profile", 60),
    )
    assert s.suggestions(top=2) == (("misc:queue:*", 300), ("tmp:*", 200))


def test_suggestions_from_a_sparse_sample_still_collapse_names():
    s = PatternSuggester()
    for name in ("alice", "bob", "carol"):
        s.add(f"user:{name}:profile")
    s.add("user:dave:settings")
    assert s.suggestions() == (("user:*:profile", 3), ("user:dave:settings", 1))


def test_no_suggestion_that_swallows_everything():
    s = PatternSuggester()
    for i in range(10):
        s.add(str(i))
        s.add(f"{i}:{i}")
    assert s.suggestions() == ()


def test_cap_on_distinct_shapes():
    s = PatternSuggester(cap=3)
    for key in ("a:1", "b:1", "c:1", "d:1", "a:2"):
        s.add(key)
    assert len(s.shapes) == 3 and s.overflow == 1 and s.shapes[key_shape("a:1")] == 2


@given(st.lists(st.text(alphabet="ab:*?[]\\{}0123456789-", min_size=1, max_size=12), min_size=1, max_size=30))
def test_every_suggestion_matches_the_keys_it_counts(keys):
    """Suggested globs are valid Redis globs that match (Redis semantics) every key counted under them."""
    s = PatternSuggester(fanout=3)
    for k in keys:
        s.add(k)
    for pattern, count in s.suggestions(top=100):
        matched = sum(1 for k in keys if to_regex(pattern).fullmatch(k))
        assert matched >= count
        assert all(matches(pattern, k) == bool(to_regex(pattern).fullmatch(k)) for k in keys)
