from __future__ import annotations

import heapq

from edge.core.ranking import (
    REASON_CODE,
    RankingParams,
    Source,
    blend,
    category_cap,
    rank,
    rank_scores,
    select,
)

NOTHING: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())


def src(reason: str, rows: list[int], scores: list[float]) -> Source:
    return Source(reason, rows, scores)  # type: ignore[arg-type]


def test_category_cap_is_a_third_and_at_least_one() -> None:
    assert [category_cap(n) for n in (1, 2, 3, 12, 100)] == [1, 1, 1, 4, 33]


def test_blend_keeps_the_best_reason_and_rewards_agreement() -> None:
    weights = {"for_you": 1.0, "best_seller": 0.5}
    candidates = blend([src("for_you", [1, 2], [0.9, 0.3]), src("best_seller", [2, 3], [1.0, 0.8])], weights)
    assert [-c[1] for c in candidates] == [1, 2, 3]
    assert candidates[0][2] == REASON_CODE["for_you"]
    # row 2: the best is best_seller's 0.5, plus a bonus because for_you proposed it too
    assert candidates[1][0] > 0.5 and candidates[1][2] == REASON_CODE["best_seller"]
    assert candidates[2][0] == 0.8 * 0.5


def test_blend_counts_agreement_with_a_list_blended_before() -> None:
    alone = blend([src("for_you", [7], [0.5])], {"for_you": 1.0})
    agreed = blend([src("for_you", [7], [0.5])], {"for_you": 1.0}, known={7: 0.3})
    assert agreed[0][0] > alone[0][0]


def test_blocked_rows_and_the_category_cap() -> None:
    n = 30
    categories = [i % 3 for i in range(n)]  # three categories
    sources = [src("for_you", list(range(n)), rank_scores(n))]
    result = rank(sources, (frozenset({0}), {1}), categories, 9, RankingParams())
    assert len(result) == 9
    assert not {r.row for r in result} & {0, 1}
    counts = [sum(categories[r.row] == c for r in result) for c in range(3)]
    assert counts == [3, 3, 3]
    assert [r.score for r in result] == sorted((r.score for r in result), reverse=True)


def test_a_single_category_catalog_gives_a_short_list_not_a_broken_rule() -> None:
    result = rank([src("best_seller", list(range(10)), [0.5] * 10)], NOTHING, [0] * 10, 6, RankingParams())
    assert len(result) == 2


def test_backfill_tops_up_with_popular_items() -> None:
    categories = [i % 5 for i in range(20)]
    backfill = blend([src("best_seller", list(range(20)), rank_scores(20))], {"best_seller": 0.1})
    result = rank([src("for_you", [3], [0.9])], NOTHING, categories, 10, RankingParams(), backfill)
    assert len(result) == 10 and result[0].row == 3 and result[0].reason == "for_you"
    assert {r.reason for r in result[1:]} == {"best_seller"}


def test_select_respects_a_stricter_share_and_what_is_taken() -> None:
    categories = [0, 0, 0, 1, 1, 1]
    candidates = blend([src("for_you", list(range(6)), [1.0, 0.9, 0.8, 0.7, 0.6, 0.5])], {"for_you": 1.0})
    chosen = select(candidates, NOTHING, categories, 4, 0.25)
    assert [r.row for r in chosen] == [0, 3]
    more = select(candidates, NOTHING, categories, 6, 1 / 3, chosen)
    assert [r.row for r in more] == [0, 3, 1, 4]


def test_merged_lists_stay_best_first_and_unique() -> None:
    personal = blend([src("for_you", [1, 2], [0.9, 0.2])], {"for_you": 1.0})
    popular = blend([src("best_seller", [2, 3, 4], [1.0, 0.8, 0.6])], {"best_seller": 0.5})
    chosen = select(heapq.merge(personal, popular, reverse=True), NOTHING, [0, 1, 2, 3, 4], 4, 1.0)
    assert [r.row for r in chosen] == [1, 2, 3, 4]


def test_overrides_cannot_loosen_the_diversity_rule() -> None:
    from edge.core.experiments import RankingFile

    params = RankingParams().with_overrides(RankingFile(max_category_share=0.9, weights={"for_you": 2.0}))
    assert params.max_category_share <= 1 / 3
    assert params.weights["for_you"] == 2.0 and params.weights["best_seller"] == 0.45
