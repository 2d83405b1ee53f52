"""The stats engine against GrowthBook's (gbstats 0.8.0 golden cases), A/A calibration and SRM."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from edge.core.stats import Moments, compare, srm

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "gbstats-golden" / "cases.json"
TOLERANCE = 1e-6


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(GOLDEN.read_text())["cases"]
    return cases


def _moments(side: dict[str, Any]) -> Moments:
    return Moments(int(side["n"]), float(side["sum"]), float(side.get("sum_squares", 0.0)))


def test_golden_file_has_sixty_cases() -> None:
    assert len(_cases()) == 60


@pytest.mark.parametrize("index", range(60))
def test_agrees_with_gbstats(index: int) -> None:
    case = _cases()[index]
    result = compare(_moments(case["control"]), _moments(case["treatment"]), case["metric_kind"])
    freq, bayes = case["frequentist_relative"], case["bayesian_relative"]
    assert result.error is None
    assert result.uplift == pytest.approx(freq["expected"], abs=TOLERANCE)
    assert result.stddev == pytest.approx(freq["uplift_stddev"], abs=TOLERANCE)
    assert result.ci == pytest.approx(tuple(freq["ci"]), abs=TOLERANCE)
    assert result.p_value == pytest.approx(freq["p_value"], abs=TOLERANCE)
    assert result.bayes_ci == pytest.approx(tuple(bayes["ci"]), abs=TOLERANCE)
    assert result.chance_to_win == pytest.approx(bayes["chance_to_win"], abs=TOLERANCE)
    assert result.risk == pytest.approx(tuple(bayes["risk"]), abs=TOLERANCE)


def test_undefined_comparisons_say_why() -> None:
    assert compare(Moments(0, 0), Moments(10, 1), "proportion").error == "not enough units"
    assert compare(Moments(100, 0), Moments(100, 5), "proportion").error == "zero control mean"
    # an arm that has not converted yet beside a control that has: no interval, and no crash (the reports
    # answered 500 while a new arm had no conversion)
    assert compare(Moments(30, 2.0, 2.0), Moments(30, 0.0), "proportion").error == "zero variance"
    assert compare(Moments(30, 2.0, 2.0), Moments(30, 0.0), "mean").error == "zero variance"


def _proportion_arm(rng: random.Random, n: int, p: float) -> Moments:
    conversions = sum(1 for _ in range(n) if rng.random() < p)
    return Moments(n, float(conversions), float(conversions))


def test_aa_runs_flag_about_five_percent() -> None:
    """200 A/A tests (same truth in both arms): p < 0.05 in 3-8 % of them."""
    rng = random.Random(20261128)
    flagged = 0
    for _ in range(200):
        a, b = _proportion_arm(rng, 2000, 0.1), _proportion_arm(rng, 2000, 0.1)
        p_value = compare(a, b, "proportion").p_value
        assert p_value is not None
        flagged += p_value < 0.05
    assert 6 <= flagged <= 16, f"{flagged}/200 A/A runs flagged"


def test_known_uplift_is_inside_the_interval() -> None:
    rng = random.Random(7)
    control, treatment = _proportion_arm(rng, 20000, 0.10), _proportion_arm(rng, 20000, 0.11)
    result = compare(control, treatment, "proportion")
    assert result.ci is not None and result.ci[0] <= 0.10 <= result.ci[1]
    assert result.chance_to_win is not None and result.chance_to_win > 0.95


def test_srm_flags_a_skewed_split_only() -> None:
    assert srm([5012, 4988], [0.5, 0.5]).ok
    skewed = srm([5400, 4600], [0.5, 0.5])
    assert not skewed.ok and skewed.p_value is not None and skewed.p_value < 0.001
    assert srm([3000, 7000], [0.3, 0.7]).ok
    assert srm([0, 0], [0.5, 0.5]).p_value is None
