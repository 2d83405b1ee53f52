"""edge.core.bucketing against GrowthBook's golden vectors, the growthbook package itself, and coverage stability."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

import pytest
from growthbook.core import chooseVariation, gbhash, getBucketRanges, inNamespace
from growthbook.core import fnv1a32 as gb_fnv1a32

from edge.core.bucketing import bucket_ranges, choose_arm, fnv1a32, hash_v1, hash_v2, hash_v2_seeded, in_namespace

CASES: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "bucketing_cases.json").read_text())
ALPHABET = string.ascii_letters + string.digits + "._:-"


def _ids(n: int, seed: int = 20111102) -> list[str]:
    """`n` unit ids in the contract's alphabet, plus a few non-ASCII ones (UTF-16 path, astral planes)."""
    rng = random.Random(seed)
    ids = ["".join(rng.choices(ALPHABET, k=rng.randint(1, 40))) for _ in range(n)]
    return [*ids, "é", "ünïcødé-1", "日本語", "😀", "a😀b", "\U0001f600\U0001f601", ""]


def _approx_ranges(expected: list[list[float]]) -> list[tuple[Any, Any]]:
    return [(pytest.approx(a, abs=1e-12), pytest.approx(b, abs=1e-12)) for a, b in expected]


@pytest.mark.parametrize("case", CASES["hash"], ids=lambda c: f"v{c['version']}-{c['seed']!r}-{c['value']!r}")
def test_hash_golden(case: dict[str, Any]) -> None:
    hasher = hash_v2 if case["version"] == 2 else hash_v1
    assert hasher(case["seed"], case["value"]) == case["expect"]


@pytest.mark.parametrize("case", CASES["bucket_ranges"], ids=lambda c: c["name"])
def test_bucket_ranges_golden(case: dict[str, Any]) -> None:
    if case.get("error"):
        with pytest.raises(ValueError):
            bucket_ranges(case["n_arms"], case["coverage"], case["weights"])
        # GrowthBook repairs the same input silently; the file records what it answers.
        assert getBucketRanges(case["n_arms"], case["coverage"], case["weights"]) == _approx_ranges(case["growthbook"])
    else:
        assert bucket_ranges(case["n_arms"], case["coverage"], case["weights"]) == _approx_ranges(case["expect"])


@pytest.mark.parametrize("case", CASES["choose_arm"], ids=lambda c: c["name"])
def test_choose_arm_golden(case: dict[str, Any]) -> None:
    assert choose_arm(case["bucket"], [tuple(r) for r in case["ranges"]]) == case["expect"]


@pytest.mark.parametrize("case", CASES["in_namespace"], ids=lambda c: c["name"])
def test_in_namespace_golden(case: dict[str, Any]) -> None:
    ns = case["namespace"]
    assert in_namespace(case["unit"], (ns["id"], ns["start"], ns["end"])) is case["expect"]


def test_fnv1a32_streams_and_known_value() -> None:
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C  # published FNV-1a 32 test vector
    assert fnv1a32("foobar") == 0xBF9CF968
    assert fnv1a32("bar", fnv1a32("foo")) == fnv1a32("foobar")
    assert hash_v2_seeded(fnv1a32("hero-test"), "s-8f2c01") == hash_v2("hero-test", "s-8f2c01")


@pytest.mark.parametrize(
    ("n_arms", "coverage", "weights"),
    [(0, 1.0, None), (2, 1.0, [1.1, -0.1]), (2, 1.0, [0.5, float("nan")]), (2, float("nan"), None)],
)
def test_bucket_ranges_rejects_invalid_input(n_arms: int, coverage: float, weights: list[float] | None) -> None:
    with pytest.raises(ValueError):
        bucket_ranges(n_arms, coverage, weights)


def test_hash_matches_growthbook_for_10000_ids() -> None:
    ids = _ids(10_000)
    for seed in ("hero-test", "global-holdout", "hero-test:v2", "", "sëed😀"):
        for unit in ids:
            assert hash_v2(seed, unit) == gbhash(seed, unit, 2), (seed, unit)
            assert hash_v1(seed, unit) == gbhash(seed, unit, 1), (seed, unit)
    for unit in ids:
        assert fnv1a32(unit) == gb_fnv1a32(unit), unit


COMBOS = [
    (2, 1.0, None),
    (2, 0.5, [0.5, 0.5]),
    (3, 0.8, [0.2, 0.3, 0.5]),
    (4, 1.0, [0.1, 0.2, 0.3, 0.4]),
    (3, 0.05, [1 / 3, 1 / 3, 1 / 3]),
    (2, 0.0, [0.9, 0.1]),
]


@pytest.mark.parametrize(("n_arms", "coverage", "weights"), COMBOS)
def test_arm_choice_matches_growthbook(n_arms: int, coverage: float, weights: list[float] | None) -> None:
    ours = bucket_ranges(n_arms, coverage, weights)
    theirs = getBucketRanges(n_arms, coverage, weights)
    assert ours == theirs
    chosen = set()
    for unit in _ids(10_000):
        bucket = hash_v2("exp-seed", unit)
        arm = choose_arm(bucket, ours)
        assert arm == chooseVariation(bucket, theirs), unit
        chosen.add(arm)
    expected_arms = {-1} if coverage == 0 else set(range(n_arms)) | ({-1} if coverage < 1 else set())
    assert chosen == expected_arms


def test_namespace_matches_growthbook() -> None:
    for unit in _ids(2_000):
        for namespace in (("homepage", 0.0, 0.5), ("homepage", 0.5, 1.0), ("pricing", 0.25, 0.3)):
            assert in_namespace(unit, namespace) is inNamespace(unit, namespace), (unit, namespace)


@pytest.mark.parametrize("weights", [None, [0.5, 0.5], [0.2, 0.3, 0.5], [0.7, 0.1, 0.1, 0.1]])
def test_raising_coverage_never_moves_an_enrolled_unit(weights: list[float] | None) -> None:
    n_arms = 2 if weights is None else len(weights)
    coverages = [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]
    ladder = [bucket_ranges(n_arms, c, weights) for c in coverages]
    enrolled_at_full = 0
    for unit in _ids(5_000):
        bucket = hash_v2("coverage-test", unit)
        arms = [choose_arm(bucket, ranges) for ranges in ladder]
        first = next((i for i, arm in enumerate(arms) if arm >= 0), None)
        if first is None:
            continue
        # once enrolled, every higher coverage keeps the unit, in the same arm
        assert arms[first:] == [arms[first]] * (len(arms) - first), (unit, arms)
        enrolled_at_full += 1
    assert enrolled_at_full >= 5_000  # coverage 1.0 enrolls everyone
