"""Recommend on a seeded synthetic build: known structure in, known answers out."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from edge.core.ranking import RankingParams
from edge.core.recommend import Model, Signals, _similar_source, _similar_source_quick, recommend
from edge.model.index import ItemIndex


def model_of(catalog: dict[str, Any]) -> Model:
    art = catalog["artifacts"]
    return Model.from_artifacts(art, ItemIndex.load(art.index_path, art.item_vectors))


def test_views_pull_in_their_own_category(catalog: dict[str, Any]) -> None:
    model = model_of(catalog)
    for category, ids in catalog["by_category"].items():
        viewed = model.catalog.rows(ids[:3])
        result = recommend(model, Signals(viewed=viewed), 12, RankingParams())
        similar = [r for r in result if r.reason == "similar_to_viewed"]
        assert len(similar) == 4  # the category cap of a 12-item list
        assert all(model.catalog.items[r.row].category == category for r in similar)
        assert not {r.row for r in similar} & set(viewed)


def test_cart_brings_complements_not_the_cart(catalog: dict[str, Any]) -> None:
    model = model_of(catalog)
    cart = [int(r) for r in model.popularity.global_rows[:2]]
    result = recommend(model, Signals(cart=cart), 12, RankingParams())
    assert "in_cart_complement" in {r.reason for r in result}
    assert not {r.row for r in result} & set(cart)


def test_for_you_follows_the_customer_vector(catalog: dict[str, Any]) -> None:
    model = model_of(catalog)
    art = catalog["artifacts"]
    vectors = art.item_vectors
    row = 5
    result = recommend(model, Signals(user_vector=art.user_vectors[row]), 12, RankingParams())
    for_you = [r for r in result if r.reason == "for_you"]
    assert for_you
    exact = vectors @ art.user_vectors[row]
    threshold = np.sort(exact)[-60]
    assert all(exact[r.row] >= threshold for r in for_you)


def test_strategy_popular_uses_only_popularity(catalog: dict[str, Any]) -> None:
    model = model_of(catalog)
    art = catalog["artifacts"]
    signals = Signals(viewed=[1, 2], user_vector=art.user_vectors[0])
    result = recommend(model, signals, 12, RankingParams(strategy="popular"))
    assert {r.reason for r in result} <= {"trending_local", "best_seller", "on_sale"}


def test_the_quick_similar_source_picks_what_the_reference_picks() -> None:
    """The served `_similar_source_quick` against the plain `_similar_source`: blocked, skipped and
    category-capped rows in random found lists (scores outside [0, 1] clipped alike)."""
    rng = random.Random(5)
    categories = [rng.randrange(6) for _ in range(400)]
    for case in range(300):
        rows = rng.sample(range(400), rng.randint(0, 200))
        found = (rows, [rng.uniform(-0.2, 1.2) for _ in rows])
        blocked = (frozenset(rng.sample(range(400), 20)), set(rng.sample(range(400), rng.randint(0, 40))))
        skip = set(rng.sample(range(400), 5)) if case % 2 else ()
        k, per_category = rng.randint(1, 30), rng.randint(1, 8)
        expected = _similar_source(found, k, "for_you", blocked, categories, per_category, skip)
        got = _similar_source_quick(found, k, "for_you", blocked, categories, per_category, skip)
        assert (got.rows, got.scores) == (expected.rows, expected.scores), case
