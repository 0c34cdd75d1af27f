"""The key audit against a seeded keyspace with known ground truth, on every matrix server.

Exact mode must report every count exactly. Sample mode must produce intervals that
contain the truth, audit rare classes exactly through SCAN MATCH, and state an upper
bound, never "none", for a class whose sample showed no violation.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from keys_dataset import BIG, CLASSES, KINDS, POLICY, RARE, Truth, seed

from redispolicy.main import run
from redispolicy.plan.stats import wilson, zero_upper_bound

SCHEMA = json.loads(resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text())


def _seeded(server: Any) -> Truth:
    return seed(server.client(db=0, decode_responses=False), server.client(db=1, decode_responses=False))


def _keys(tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str], sampling: str = "") -> dict[str, Any]:
    (tmp_path / "test.yaml").write_text(POLICY.format(sampling=sampling))
    code = run(
        [
            "plan",
            "--policy-dir",
            str(tmp_path),
            "-e",
            "test",
            "--url",
            url,
            "-o",
            "json",
            "--max-rate",
            "0",
            "--examples",
        ]
    )  # the examples are checked against the truth: ask for key names
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)  # the shipped contract describes `keys` too
    keys: dict[str, Any] = doc["targets"][0]["keys"]
    return keys


def test_exact_mode_reports_every_count_exactly(matrix_server, tmp_path, capsys):
    truth = _seeded(matrix_server)
    assert truth.total == 15547
    keys = _keys(tmp_path, matrix_server.url, capsys)

    assert keys["mode"] == "exact"
    assert keys["dbsize"] == keys["scanned"] == truth.total
    assert [c["name"] for c in keys["classes"]] == list(CLASSES)
    for c in keys["classes"]:
        name = c["name"]
        want = truth.violations[name]
        assert c["exact"] is True, name
        assert c["matched"] == truth.matched[name], name
        assert c["vanished"] == 0, name
        assert c["violations"] == want, name
        assert c["violating_keys"] == truth.violating_keys(name), name
        n_bad = truth.violating_keys(name)
        assert c["estimated_violating"] == {"value": n_bad, "low": n_bad, "high": n_bad}, name
        assert c["estimated_matched"] == {"value": c["matched"], "low": c["matched"], "high": c["matched"]}
        assert c["estimated_violations"] == {k: {"value": v, "low": v, "high": v} for k, v in want.items()}
        assert set(c["examples"]) <= truth.violators[name], name
        assert len(c["examples"]) == min(5, n_bad), name
        assert "upper_bound_rate" not in c and "upper_bound" not in c["estimated_violating"]
    # spot checks of the truth itself, so a bug in the dataset cannot hide one in the audit
    locks = truth.violations["locks"]
    assert (locks["no_ttl"], locks["ttl_over_max"], locks["wrong_type"], truth.violating_keys("locks")) == (
        36,
        15,
        26,
        71,
    )
    assert truth.violations["rate-limits"]["oversized"] == 7
    assert truth.violations["document-state"]["ttl_forbidden"] == 45

    unclassified = keys["unclassified"]
    assert unclassified["matched"] == truth.unclassified == 622
    assert unclassified["estimated"] == {"value": 622, "low": 622, "high": 622}
    assert unclassified["suggested_patterns"] == [
        {"pattern": "misc:queue:*", "count": 300},
        {"pattern": "tmp:*", "count": 200},
        {"pattern": "user:*:profile", "count": 60},
        {"pattern": "user:*:settings", "count": 60},
        {"pattern": "weird\\*key:*", "count": 2},
    ]


def test_exact_mode_text_report(redis_server, tmp_path, capsys):
    _seeded(redis_server)
    (tmp_path / "test.yaml").write_text(POLICY.format(sampling=""))
    assert (
        run(
            [
                "plan",
                "--policy-dir",
                str(tmp_path),
                "-e",
                "test",
                "--url",
                redis_server.url,
                "--max-rate",
                "0",
                "--color",
                "never",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Keys (exact: 15547 of 15547 keys inspected)" in out
    assert "4000 keys  60 no_ttl, 25 ttl_over_max" in out
    assert "36 no_ttl, 15 ttl_over_max, 26 wrong_type" in out
    assert (
        "suggested classes: misc:queue:* (300 keys), tmp:* (200 keys), user:*:profile (60 keys), "
        "user:*:settings (60 keys), weird\\*key:* (2 keys)"
    ) in out


# -- sample mode --------------------------------------------------------------------------------

N_SAMPLE = 2000
REPEATS = 3
WIDE_Z = 4.5  # a miss at this width has probability ~7e-6 per interval under the binomial model


def _intervals(keys: dict[str, Any], truth: Truth) -> list[tuple[str, dict[str, float], float, int]]:
    """(label, reported 95 % interval, truth, k drawn) for every non-trivial estimate of the big classes."""
    out = []
    by_name = {c["name"]: c for c in keys["classes"]}
    for name in BIG:
        c = by_name[name]
        out.append((f"{name} matched", c["estimated_matched"], truth.matched[name], c["matched"]))
        if truth.violating_keys(name):
            out.append(
                (
                    f"{name} violating",
                    c["estimated_violating"],
                    truth.violating_keys(name),
                    c["violating_keys"],
                )
            )
        for kind in KINDS:
            if truth.violations[name][kind]:
                out.append(
                    (
                        f"{name} {kind}",
                        c["estimated_violations"][kind],
                        truth.violations[name][kind],
                        c["violations"][kind],
                    )
                )
    out.append(
        (
            "unclassified",
            keys["unclassified"]["estimated"],
            truth.unclassified,
            keys["unclassified"]["matched"],
        )
    )
    return out


def test_sample_mode_intervals_contain_the_truth(matrix_server, tmp_path, capsys):
    """Statistical assertion, made robust against chance.

    RANDOMKEY's randomness lives in the server and cannot be seeded, so the audit is
    repeated REPEATS times (14 non-trivial intervals each: 42 per server). Two checks:

    1. Every truth lies inside the Wilson interval recomputed from the same draws at
       z = 4.5: a per-interval false failure of ~7e-6, ~3e-4 for 42 intervals. A miss
       here means a biased estimator or a wrong denominator, not bad luck.
    2. The reported 95 % intervals miss the truth at most 12 times out of 42. Misses are
       ~Binomial(42, 0.05) (mean 2.1): P(> 12) ≈ 8e-8; still ≈ 4e-6 if residual RANDOMKEY
       non-uniformity cut the coverage to 93 %, 2e-4 at 90 %. Intervals that
       were plainly wrong (coverage near 50 %) would miss ~21 times.
    Everything that does not depend on chance is asserted exactly.
    """
    truth = _seeded(matrix_server)
    sampling = f"sampling: {{mode: sample, keys: {N_SAMPLE}}}"
    misses = []
    checked = 0
    for _ in range(REPEATS):
        keys = _keys(tmp_path, matrix_server.url, capsys, sampling)
        assert keys["mode"] == "sample"
        assert keys["dbsize"] == truth.total
        n = keys["sample"]["draws"]
        assert n == N_SAMPLE  # nothing expires or vanishes in this dataset
        assert keys["sample"]["with_replacement"] is True
        by_name = {c["name"]: c for c in keys["classes"]}

        # rare classes: exact through a full SCAN MATCH pass, first match still wins
        for name in RARE:
            c = by_name[name]
            assert c["exact"] is True and c["audited_by"] == "scan_match", name
            assert c["matched"] == truth.matched[name], name
            assert c["violations"] == truth.violations[name], name
            v = truth.violating_keys(name)
            assert c["estimated_violating"] == {"value": v, "low": v, "high": v}, name
            assert set(c["examples"]) <= truth.violators[name], name

        # big classes: sampled; what was found is real, what was not is bounded
        for name in BIG:
            c = by_name[name]
            assert c["exact"] is False, name
            assert c["matched"] >= 300, name  # else it would have been a MATCH class
            for kind in KINDS:
                if truth.violations[name][kind] == 0:
                    assert c["violations"][kind] == 0, (name, kind)  # a violation found is definitive
            assert set(c["examples"]) <= truth.violators[name], name
            if c["violating_keys"] == 0:
                ub = c["estimated_violating"]["upper_bound"]
                assert ub == pytest.approx((1 - 0.05 ** (1 / n)) * truth.total, abs=0.1)
                assert c["estimated_violating"]["high"] == ub
                assert c["upper_bound_rate"] == pytest.approx(zero_upper_bound(c["matched"]), abs=1e-6)
        chunks = by_name["chunks"]  # no violator exists: always an upper bound, never "none"
        assert chunks["violating_keys"] == 0 and chunks["estimated_violating"]["upper_bound"] > 0
        assert 0 < chunks["upper_bound_rate"] < 0.02

        for label, interval, true_value, k in _intervals(keys, truth):
            checked += 1
            wide = wilson(k, n, z=WIDE_Z).scaled(truth.total)
            assert wide.low - 0.1 <= true_value <= wide.high + 0.1, (label, k, n, interval, true_value)
            if not interval["low"] <= true_value <= interval["high"]:
                misses.append((label, interval, true_value))
        # repeated draws of one key are counted and reported
        assert keys["sample"]["repeated_draws"] >= 0
    assert checked == REPEATS * 14
    assert len(misses) <= 12, misses


def test_sample_mode_text_report(redis_server, tmp_path, capsys):
    _seeded(redis_server)
    (tmp_path / "test.yaml").write_text(POLICY.format(sampling="sampling: {mode: sample, keys: 2000}"))
    assert (
        run(
            [
                "plan",
                "--policy-dir",
                str(tmp_path),
                "-e",
                "test",
                "--url",
                redis_server.url,
                "--max-rate",
                "0",
                "--color",
                "never",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "Keys (sample: 2000 random draws of 15547 keys, 95 % intervals; 5 rare class(es) counted exactly "
        "by SCAN MATCH)" in out
    )
    lines = {
        line.split()[1]: line for line in out.splitlines() if line.startswith("  ") and len(line.split()) > 2
    }
    assert "≈ " in lines["ocr-cache"] and "keys (95 % CI " in lines["ocr-cache"]
    assert "no_ttl ≈ " in lines["ocr-cache"]
    assert "0 sampled violations: < " in lines["chunks"] and "% (95 %)" in lines["chunks"]
    assert "40 keys (exact, SCAN MATCH)  3 no_ttl, 2 ttl_over_max" in lines["sessions"]
    assert "0 keys (exact, SCAN MATCH)  ok" in lines["archive"]
    # the most-drawn shape (~39 of ~80 unclassified draws) is usually first; tmp:* (~26) can overtake it
    suggested = next(line for line in out.splitlines() if "suggested classes: " in line)
    assert "misc:queue:* (" in suggested


def test_auto_mode_samples_when_the_keyspace_does_not_fit_the_budget(redis_server, tmp_path, capsys):
    """15547 keys at 10000 keys/s need ~1.6 s: over a 1 s budget, so auto samples (rate-limited)."""
    import time

    truth = _seeded(redis_server)
    (tmp_path / "test.yaml").write_text(
        POLICY.format(sampling="sampling: {mode: auto, keys: 2000, time_budget: 1s, max_rate: 10000}")
    )
    start = time.monotonic()
    assert (
        run(["plan", "--policy-dir", str(tmp_path), "-e", "test", "--url", redis_server.url, "-o", "json"])
        == 0
    )
    elapsed = time.monotonic() - start
    keys = json.loads(capsys.readouterr().out)["targets"][0]["keys"]
    assert keys["mode"] == "sample" and keys["sample"]["draws"] == 2000
    # 2000 draws + a MATCH pass per rare class, each charging its matches + 1/4 of the keys visited
    rare = [c for c in keys["classes"] if c["exact"]]
    charged = 2000 + sum(c["matched"] for c in rare) + len(rare) * truth.total // 4
    assert elapsed >= 0.8 * charged / 10000
    # the limit paced it: with --max-rate 0 the same work takes a fraction of that
    (tmp_path / "test.yaml").write_text(POLICY.format(sampling="sampling: {mode: exact}"))
    assert (
        run(
            [
                "plan",
                "--policy-dir",
                str(tmp_path),
                "-e",
                "test",
                "--url",
                redis_server.url,
                "-o",
                "json",
                "--max-rate",
                "0",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["targets"][0]["keys"]["mode"] == "exact"


def test_auto_mode_choice():
    from redispolicy.commands.keyaudit import choose_mode

    assert choose_mode("auto", 1_000_000, 20_000, 60) == "exact"  # 50 s fits 60 s
    assert choose_mode("auto", 2_000_000, 20_000, 60) == "sample"  # 100 s does not
    assert choose_mode("auto", 10**9, 0, 60) == "exact"  # unlimited rate
    assert choose_mode("sample", 10, 20_000, 60) == "sample" and choose_mode("exact", 10**9, 1, 1) == "exact"
