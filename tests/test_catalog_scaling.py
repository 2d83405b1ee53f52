"""Catalog scaling (issue 10): the build stages rewritten for a million items answer as before on a
small catalog, and work on a large one in seconds."""

from __future__ import annotations

import hashlib
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from edge import cli
from edge.core.learned import Learned, ease_scores, ease_scores_sparse, ease_source, from_arrays
from edge.errors import ArtifactError, ConfigError
from edge.model import artifacts
from models import build, ease, synthetic
from models.dataset import Dataset


def _neighbours_by_loop(co: sparse.csr_matrix, k: int) -> np.ndarray:
    """The per-item loop `build.neighbours_from_counts` replaced (the reference answer)."""
    co = co.copy()
    n_items = co.shape[0]
    counts = np.asarray(co.diagonal()).ravel()
    co.setdiag(0)
    co.eliminate_zeros()
    norm = np.sqrt(np.maximum(counts, 1.0))
    result = np.full((n_items, k), -1, dtype=np.int32)
    for row in range(n_items):
        start, end = co.indptr[row], co.indptr[row + 1]
        if start == end:
            continue
        cols = co.indices[start:end]
        scores = co.data[start:end] / (norm[row] * norm[cols])
        best = np.argsort(-scores, kind="stable")[:k]
        result[row, : len(best)] = cols[best]
    return result


@pytest.fixture(scope="module")
def small() -> Dataset:
    return synthetic.generate(n_items=1200, n_customers=400, seed=5, anchor=date(2026, 1, 15))


def _fingerprint(ds: Dataset) -> str:
    digest = hashlib.sha256()
    for column in ("user", "item", "ts", "quantity", "price", "country", "order"):
        digest.update(repr(getattr(ds.interactions, column).tolist()).encode())
    digest.update(repr(ds.items).encode())
    digest.update(repr(sorted(ds.customers.items())).encode())
    assert ds.item_vectors is not None
    digest.update(ds.item_vectors.tobytes())
    return digest.hexdigest()


def test_a_small_synthetic_store_is_the_one_it_always_was() -> None:
    # the digest of this store as generated before the large-catalog path existed (main at 759de38)
    ds = synthetic.generate(n_items=600, n_customers=200, seed=7, anchor=date(2026, 1, 15))
    assert _fingerprint(ds).startswith("dbbb5bd30bd7c0d4")


def test_a_large_synthetic_catalog_is_drawn_in_seconds() -> None:
    began = time.perf_counter()
    ds = synthetic.generate(n_items=synthetic.LARGE_ITEMS, n_customers=100, seed=7, anchor=date(2026, 1, 15))
    assert time.perf_counter() - began < 20  # ~2 s here; the per-item draw took ~25 s at this size
    assert len(ds.items) == synthetic.LARGE_ITEMS and len({item.id for item in ds.items}) == len(ds.items)
    bought = ds.interactions.item
    assert len(bought) > 100 and bought.max() < len(ds.items)
    categories = np.array([ds.items[r].category for r in ds.interactions.item[ds.interactions.user == "20000"]])
    assert len(set(categories.tolist())) <= 3  # a shopper buys from their favourite categories
    assert ds.items[0].stock is not None and set(ds.items[0].stock) == {c for c, _ in synthetic.COUNTRIES}


def test_neighbours_are_those_of_the_per_item_loop(small: Dataset) -> None:
    co = build.co_purchase_counts(small)
    before = co.copy()
    assert np.array_equal(build.neighbours_from_counts(co), _neighbours_by_loop(co, build.NEIGHBOURS))
    assert (co != before).nnz == 0  # the counts are left as they were
    ties = sparse.csr_matrix(np.array([[2, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1]], dtype=np.float32))
    assert build.neighbours_from_counts(ties, 2).tolist() == _neighbours_by_loop(ties, 2).tolist()


def test_neighbours_of_a_200k_item_catalog_take_seconds() -> None:
    rng = np.random.default_rng(0)
    n_items, n_orders = 200_000, 60_000
    order = np.repeat(np.arange(n_orders), 4)
    bought = rng.integers(0, n_items, len(order))
    basket = sparse.csr_matrix((np.ones(len(order), dtype=np.float32), (order, bought)), shape=(n_orders, n_items))
    basket.data[:] = 1.0
    co = (basket.T @ basket).tocsr().astype(np.float32)
    began = time.perf_counter()
    found = build.neighbours_from_counts(co)
    assert time.perf_counter() - began < 5  # the per-item loop took ~4 s here
    assert found.shape == (n_items, build.NEIGHBOURS)
    counts = co.diagonal()
    norm = np.sqrt(np.maximum(counts, 1.0))
    for row in rng.choice(np.flatnonzero(counts > 0), size=50, replace=False).tolist():
        cols, data = co[row].indices, co[row].data
        cols, data = cols[cols != row], data[cols != row]
        best = cols[np.argsort(-(data / (norm[row] * norm[cols])), kind="stable")[: build.NEIGHBOURS]]
        assert found[row].tolist() == [*best.tolist(), *[-1] * (build.NEIGHBOURS - len(best))]
    assert np.all(found[counts == 0] == -1)  # never bought: no neighbours


def test_ease_of_a_catalog_within_the_cap_is_the_whole_fit(small: Dataset) -> None:
    rows, weights = ease.fit(small)
    top, top_weights, items = ease.fit_top(small)
    assert items is None and np.array_equal(rows, top) and np.array_equal(weights, top_weights)


def test_ease_over_a_capped_catalog_fits_the_most_bought_items(small: Dataset) -> None:
    cap = 300
    rows, weights, items = ease.fit_top(small, max_items=cap)
    assert items is not None and len(items) == cap and np.all(np.diff(items) > 0)
    bought = ease.bought_matrix(small)
    bought.data[:] = 1.0
    bought.sum_duplicates()
    buyers = np.bincount(bought.indices, minlength=len(small.items))
    outside = np.setdiff1d(np.arange(len(small.items)), items)
    assert buyers[items].min() >= buyers[outside].max()  # the most bought made the cut
    sub_rows, sub_weights = ease.from_bought(bought[:, items], max_items=cap)
    assert np.array_equal(rows, np.where(sub_rows >= 0, items[np.maximum(sub_rows, 0)], -1))
    assert np.array_equal(weights, sub_weights)
    assert set(rows[rows >= 0].tolist()) <= set(items.tolist())
    # served compact or expanded to a row per item, a visitor's EASE scores are the same
    full_rows, full_weights = ease.from_bought(bought, max_items=cap)
    n = len(small.items)
    facts, recent, groups = np.zeros((n, 6), np.float32), np.arange(5, dtype=np.int32), np.full(n, -1, np.int32)
    compact = Learned(rows, weights, facts, recent, groups, ease_items=items)
    expanded = Learned(full_rows, full_weights, facts, recent, groups)
    history = [int(items[0]), int(outside[0]), int(items[7]), int(items[0])]
    a, b = ease_scores(compact, history), ease_scores(expanded, history)
    assert a is not None and b is not None and np.array_equal(a, b) and a.max() > 0
    assert ease_scores(compact, [int(outside[0])]) is not None
    assert not np.any(ease_scores(compact, [int(outside[0])]))  # an item without an EASE row proposes nothing
    loaded = from_arrays(compact.arrays(), n, None, "ranking.npz")
    assert loaded.ease_items is not None and np.array_equal(loaded.ease_items, items)
    with pytest.raises(ArtifactError, match="ease_items"):
        from_arrays({**compact.arrays(), "ease_items": items[::-1].copy()}, n, None, "ranking.npz")
    with pytest.raises(ArtifactError, match="ease_rows"):
        from_arrays({**compact.arrays(), "ease_items": items[:-1].copy()}, n, None, "ranking.npz")


def test_a_big_catalog_decision_reads_ease_scores_sparsely_with_the_same_values(small: Dataset) -> None:
    rows, weights, items = ease.fit_top(small, max_items=300)
    n = len(small.items)
    learned = Learned(
        rows, weights, np.zeros((n, 6), np.float32), np.arange(5, dtype=np.int32), np.full(n, -1), ease_items=items
    )
    assert items is not None
    history = [int(r) for r in items[[3, 50, 3, 120, 7]]] + [int(np.setdiff1d(np.arange(n), items)[0])]
    dense, sparse_scores = ease_scores(learned, history), ease_scores_sparse(learned, history)
    assert dense is not None and sparse_scores is not None
    assert np.array_equal(sparse_scores[np.arange(n)], dense)  # every row, bit for bit
    assert len(sparse_scores.rows) < n and np.all(np.diff(sparse_scores.rows) > 0)
    skip = {int(np.argmax(dense))}
    a, b = ease_source(dense, 30, skip), ease_source(sparse_scores, 30, skip)
    assert a is not None and b is not None and a.rows == b.rows and a.scores == b.scores
    assert ease_scores_sparse(learned, []) is None and ease_source(None, 30, set()) is None


def test_a_synthetic_build_can_ship_the_ranker_of_another_build(
    ranker_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.build_synthetic(tmp_path / "plain", items=600, customers=100, anchor=date(2026, 1, 15))
    with pytest.raises(ConfigError, match="no trained ranker"):
        cli.build_synthetic(tmp_path / "x", items=600, customers=100, ranker_from=tmp_path / "plain")
    cli.build_synthetic(tmp_path / "led", items=600, customers=100, anchor=date(2026, 1, 15), ranker_from=ranker_build)
    built, donor = artifacts.load(tmp_path / "led"), artifacts.load(ranker_build)
    assert built.learned is not None and built.learned.trees is not None and donor.learned is not None
    assert donor.learned.trees is not None
    assert np.array_equal(built.learned.trees.leaf, donor.learned.trees.leaf)
    assert built.manifest["ranker"]["borrowed_from"] == donor.version
    capsys.readouterr()
    assert cli.main(["build", "--data", str(tmp_path), "--ranker-from", str(ranker_build), "--out", str(tmp_path)]) == 2
    assert "--ranker-from is for synthetic builds" in capsys.readouterr().err
