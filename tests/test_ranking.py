from __future__ import annotations

import numpy as np

from edge.ranking import RankingParams, Source, blend, category_cap, rank, rank_scores, select


def src(reason: str, rows: list[int], scores: list[float]) -> Source:
    return Source(reason, np.array(rows), np.array(scores, dtype=np.float32))  # type: ignore[arg-type]


def test_category_cap_is_a_third_and_at_least_one() -> None:
    assert [category_cap(n) for n in (1, 2, 3, 12, 100)] == [1, 1, 1, 4, 33]


def test_blend_keeps_the_best_reason_and_rewards_agreement() -> None:
    weights = {"for_you": 1.0, "best_seller": 0.5}
    rows, scores, reasons = blend([src("for_you", [1, 2], [0.9, 0.3]), src("best_seller", [2, 3], [1.0, 0.8])], weights)
    assert rows.tolist() == [1, 2, 3]
    assert reasons.tolist()[0] == 3  # for_you
    # row 2: best is best_seller 0.5, plus a bonus for for_you agreeing
    assert scores[1] > 0.5 and scores[2] == np.float32(0.4)


def test_blocked_rows_and_the_category_cap() -> None:
    n = 30
    categories = np.arange(n) % 3  # three categories
    blocked = np.zeros(n, dtype=bool)
    blocked[[0, 1]] = True
    ranked_rows = list(range(n))
    params = RankingParams()
    sources = [src("for_you", ranked_rows, rank_scores(n).tolist())]
    result = rank(sources, blocked, categories, 9, params)
    assert len(result) == 9
    assert not {r.row for r in result} & {0, 1}
    counts = np.bincount(categories[[r.row for r in result]], minlength=3)
    assert counts.tolist() == [3, 3, 3]
    assert [r.score for r in result] == sorted((r.score for r in result), reverse=True)


def test_a_single_category_catalog_gives_a_short_list_not_a_broken_rule() -> None:
    categories = np.zeros(10, dtype=np.int64)
    result = rank([src("best_seller", list(range(10)), [0.5] * 10)], np.zeros(10, dtype=bool), categories, 6,
                  RankingParams())  # fmt: skip
    assert len(result) == 2


def test_backfill_tops_up_with_popular_items() -> None:
    categories = np.arange(20) % 5
    backfill = src("best_seller", list(range(20)), rank_scores(20).tolist())
    result = rank([src("for_you", [3], [0.9])], np.zeros(20, dtype=bool), categories, 10, RankingParams(), backfill)
    assert len(result) == 10 and result[0].row == 3 and result[0].reason == "for_you"
    assert {r.reason for r in result[1:]} == {"best_seller"}


def test_strict_arm_share_and_select_respects_taken() -> None:
    categories = np.array([0, 0, 0, 1, 1, 1])
    rows = np.arange(6)
    scores = np.linspace(1, 0.5, 6).astype(np.float32)
    reasons = np.zeros(6, dtype=np.int64)
    chosen = select(rows, scores, reasons, np.zeros(6, dtype=bool), categories, 4, 0.25)
    assert [r.row for r in chosen] == [0, 3]


def test_overrides_cannot_loosen_the_diversity_rule() -> None:
    params = RankingParams().with_overrides({"max_category_share": 0.9, "weights": {"for_you": 2.0}})
    assert params.max_category_share <= 1 / 3
    assert params.weights["for_you"] == 2.0 and params.weights["best_seller"] == 0.45
