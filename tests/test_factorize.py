"""Factorize: ALS on seeded synthetic purchases recovers the planted category structure."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from scipy import sparse

from models.dataset import Dataset
from models.factorize import (
    ALSParams,
    Factors,
    calibrate,
    factorize,
    inner_product_space,
    order_counts,
    serving_vectors,
)
from models.synthetic import generate

PARAMS = ALSParams(factors=16, iterations=10, threads=1)


@pytest.fixture(scope="module")
def store() -> Dataset:
    return generate(n_items=600, n_customers=600, seed=3, anchor=date(2011, 12, 1))


@pytest.fixture(scope="module")
def factors(store: Dataset) -> Factors:
    return factorize(store, PARAMS)


def _categories(ds: Dataset) -> np.ndarray:
    return np.array([item.category for item in ds.items])


def test_item_vectors_cluster_by_planted_category(store: Dataset, factors: Factors) -> None:
    unit = factors.item_vectors / np.linalg.norm(factors.item_vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -2.0)
    nearest = np.argsort(-similarity, axis=1)[:, :10]
    category = _categories(store)
    agreement = float((category[nearest] == category[:, None]).mean())
    assert agreement > 0.9  # chance is 1/12


def test_customer_vectors_point_at_what_they_buy(store: Dataset, factors: Factors) -> None:
    category = _categories(store)
    lines = store.interactions
    hits = []
    for row, user in enumerate(factors.user_ids[:200]):
        bought = set(category[lines.item[lines.user == user]].tolist())
        top = np.argsort(-(factors.item_vectors @ factors.user_vectors[row]))[:10]
        hits.append(np.mean([category[t] in bought for t in top]))
    assert float(np.mean(hits)) > 0.9


def test_seeded_runs_are_identical(store: Dataset, factors: Factors) -> None:
    again = factorize(store, PARAMS)
    assert again.user_ids == factors.user_ids
    assert np.allclose(again.item_vectors, factors.item_vectors, atol=1e-5)


def test_order_counts_count_orders_and_add_guest_orders(store: Dataset) -> None:
    counts, users = order_counts(store, guests=True)
    customers = sorted(set(store.interactions.user.tolist()) - {""})
    guest_orders = len(set(store.interactions.order[store.interactions.user == ""].tolist()))
    assert list(users) == customers
    assert counts.shape == (len(customers) + guest_orders, len(store.items))
    alone, _ = order_counts(store, guests=False)
    assert alone.shape[0] == len(customers)
    # one entry per (customer, order, item): totals equal distinct order lines
    lines = store.interactions
    known = lines.user != ""
    distinct = {
        (u, o, i) for u, o, i in zip(lines.user[known], lines.order[known], lines.item[known].tolist(), strict=True)
    }
    assert alone.sum() == pytest.approx(len(distinct))


def test_half_life_weighs_old_orders_less(store: Dataset) -> None:
    plain, _ = order_counts(store, guests=False)
    decayed, _ = order_counts(store, guests=False, half_life_days=30.0)
    assert decayed.sum() < plain.sum()
    assert decayed.max() <= plain.max()


def test_inner_product_space_keeps_rankings_with_unit_items(factors: Factors) -> None:
    served = inner_product_space(factors)
    assert np.allclose(np.linalg.norm(served.item_vectors, axis=1), 1.0, atol=1e-5)
    raw = factors.user_vectors[:50] @ factors.item_vectors.T
    mapped = served.user_vectors[:50] @ served.item_vectors.T
    assert np.array_equal(np.argsort(-raw, axis=1)[:, :20], np.argsort(-mapped, axis=1)[:, :20])


def test_calibration_puts_the_best_unbought_item_at_one() -> None:
    items = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    users = np.array([[2.0, 0.0], [0.0, 0.5]], dtype=np.float32)
    bought = sparse.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]], dtype=np.float32))
    calibrated = calibrate(Factors(items, ("a", "b"), users), bought)
    scores = calibrated.user_vectors @ items.T
    assert scores[0].tolist() == pytest.approx([1.0 / 0.6, 1.0, 0.0])  # item 0 is bought: not the reference
    assert scores[1].max() == pytest.approx(1.0)


def test_serving_vectors_match_the_dataset(store: Dataset, factors: Factors) -> None:
    served = serving_vectors(store, factors)
    assert served.item_vectors.shape == (len(store.items), PARAMS.factors + 1)
    with pytest.raises(ValueError, match="not fitted"):
        serving_vectors(store, replace(factors, user_ids=factors.user_ids[1:]))


@pytest.mark.parametrize("weighting", ["bm25", "log", "none"])
def test_every_weighting_fits(store: Dataset, weighting: str) -> None:
    fitted = factorize(store, replace(PARAMS, weighting=weighting, iterations=2))  # type: ignore[arg-type]
    assert np.isfinite(fitted.item_vectors).all() and np.isfinite(fitted.user_vectors).all()
