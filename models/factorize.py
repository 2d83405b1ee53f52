"""Factorize: item and customer vectors from implicit feedback (who bought what), by ALS.

The customer x item matrix counts the orders in which a customer bought an item (older orders
weigh less with a half-life); guest orders join as pseudo-customers (they shape item vectors, not
profiles). Counts become confidences with BM25 or log weighting, and `implicit`'s CPU ALS
(conjugate gradient, seeded, threads fixed) factorizes them. `serving_vectors` then makes item
vectors unit length without changing any customer's ranking and calibrates customer vectors, so
the service's inner-product index over items answers `for_you` exactly as ALS would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from models.dataset import Dataset

Weighting = Literal["bm25", "log", "none"]


@dataclass(frozen=True, slots=True)
class ALSParams:
    """ALS settings; the defaults are tuned on a validation split of the Online Retail training data."""

    factors: int = 64
    regularization: float = 1.0
    alpha: float = 1.0
    iterations: int = 15
    weighting: Weighting = "bm25"
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    guests: bool = True  # guest orders as pseudo-customers
    half_life_days: float | None = 60.0  # older orders count less (None: all count the same)
    seed: int = 0
    threads: int = 2


DEFAULT_ALS = ALSParams()


@dataclass(frozen=True, slots=True)
class Factors:
    """Vectors for every catalog row and for every known customer (`user_ids[i]` owns row i)."""

    item_vectors: np.ndarray  # float32 [n_items, factors]
    user_ids: tuple[str, ...]
    user_vectors: np.ndarray  # float32 [n_users, factors]


def order_counts(
    ds: Dataset, guests: bool = True, half_life_days: float | None = None
) -> tuple[sparse.csr_matrix, tuple[str, ...]]:
    """Customers (then guest orders) x items: in how many orders each bought each item.

    With `half_life_days`, an order counts 0.5 ** (age / half_life) instead of 1, its age taken
    from the end of the data.
    """
    lines = ds.interactions
    names, owner = lines.customer_rows()  # owner: a new array, -1 on guest lines
    users = tuple(names.tolist())
    is_guest = owner < 0
    orders = lines.codes("order")[1]
    if guests and is_guest.any():
        _, guest_order = np.unique(orders[is_guest], return_inverse=True)
        owner[is_guest] = len(users) + guest_order
    keep = owner >= 0
    n_rows = int(owner.max()) + 1 if keep.any() else 0
    n_orders, n_items = int(orders.max()) + 1 if len(orders) else 1, len(ds.items)
    # one entry per (owner, order, item): an item bought twice in one order counts once
    keys, first = np.unique(
        (owner[keep] * n_orders + orders[keep]) * n_items + lines.item[keep].astype(np.int64), return_index=True
    )
    weights = np.ones(len(keys), dtype=np.float32)
    if half_life_days is not None:
        age_days = (ds.end - lines.ts[keep][first]).astype("timedelta64[s]").astype(np.float64) / 86400.0
        weights = np.power(0.5, age_days / half_life_days).astype(np.float32)
    rows, cols = keys // (n_orders * n_items), keys % n_items
    matrix = sparse.csr_matrix((weights, (rows, cols)), shape=(n_rows, n_items))
    matrix.sum_duplicates()
    return matrix, users


def confidence(counts: sparse.csr_matrix, params: ALSParams) -> sparse.csr_matrix:
    """Counts -> ALS confidences (`alpha` times BM25, log1p or raw counts)."""
    if params.weighting == "bm25":
        weighted = bm25(counts, params.bm25_k1, params.bm25_b)
    elif params.weighting == "log":
        weighted = counts.copy()
        weighted.data = np.log1p(weighted.data)
    else:
        weighted = counts.copy()
    weighted.data = (params.alpha * weighted.data).astype(np.float32)
    return weighted.tocsr()


def bm25(counts: sparse.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sparse.csr_matrix:
    """BM25 weights with customers as documents and items as terms (rare items weigh more)."""
    coo = counts.tocoo()
    n_rows = max(counts.shape[0], 1)
    idf = np.log(n_rows) - np.log1p(np.bincount(coo.col, minlength=counts.shape[1]))
    length = np.asarray(counts.sum(axis=1)).ravel()
    norm = (1.0 - b) + b * length / max(float(length.mean()), 1e-9)
    data = coo.data * (k1 + 1.0) / (k1 * norm[coo.row] + coo.data) * idf[coo.col]
    return sparse.csr_matrix((data.astype(np.float32), (coo.row, coo.col)), shape=counts.shape)


def factorize(ds: Dataset, params: ALSParams | None = None) -> Factors:
    """Item and customer vectors of `ds` by implicit ALS."""
    params = params or DEFAULT_ALS
    from implicit.cpu.als import AlternatingLeastSquares  # heavy import, only when building

    counts, users = order_counts(ds, params.guests, params.half_life_days)
    # ALS threads itself; a threaded BLAS underneath only contends (and `implicit` warns about it)
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=1.0,
            iterations=params.iterations,
            random_state=params.seed,
            num_threads=params.threads,
        )
        model.fit(confidence(counts, params), show_progress=False)
    items = np.asarray(model.item_factors, dtype=np.float32)
    customers = np.asarray(model.user_factors, dtype=np.float32)[: len(users)]
    return Factors(item_vectors=items, user_ids=users, user_vectors=customers)


def inner_product_space(factors: Factors) -> Factors:
    """Unit-length item vectors whose inner product with a customer vector ranks items as ALS scores do.

    ALS scores are user . item with unnormalised items, while the served index holds unit vectors.
    Appending one dimension, item -> [item / M, sqrt(1 - |item|^2 / M^2)] with M the largest item
    norm, and customer -> [customer, 0], makes every item unit length and keeps every customer's
    ranking (user . item / M); Bachrach et al., RecSys 2014.
    """
    items = factors.item_vectors.astype(np.float64)
    norms = np.linalg.norm(items, axis=1)
    largest = float(norms.max()) if len(norms) and norms.max() > 0 else 1.0
    extra = np.sqrt(np.clip(1.0 - (norms / largest) ** 2, 0.0, 1.0))
    unit_items = np.hstack([items / largest, extra[:, None]]).astype(np.float32)
    users = np.hstack([factors.user_vectors, np.zeros((len(factors.user_vectors), 1), dtype=np.float32)])
    return Factors(item_vectors=unit_items, user_ids=factors.user_ids, user_vectors=users.astype(np.float32))


def calibrate(factors: Factors, bought: sparse.csr_matrix, chunk: int = 2048) -> Factors:
    """Customer vectors scaled so the best item each customer has not bought scores 1.0.

    Raw ALS scores differ in scale from customer to customer and sit far below 1 after
    `inner_product_space`; the service blends `for_you` scores with other sources' scores in
    [0, 1], so the top new item should weigh like the top of any other list. `bought` is
    customers x items, rows in `factors.user_ids` order.
    """
    users = factors.user_vectors.copy()
    items = factors.item_vectors
    for start in range(0, len(users), chunk):
        block = users[start : start + chunk]
        scores = block @ items.T
        mine = bought[start : start + len(block)].tocoo()
        scores[mine.row, mine.col] = -np.inf
        best = scores.max(axis=1) if scores.shape[1] else np.zeros(len(block), dtype=np.float32)
        scale = np.where(best > 0, 1.0 / np.maximum(best, 1e-12), 1.0).astype(np.float32)
        users[start : start + len(block)] = block * scale[:, None]
    return replace(factors, user_vectors=users)


def serving_vectors(ds: Dataset, factors: Factors) -> Factors:
    """ALS factors as the service uses them: unit item vectors for the index, calibrated customer vectors."""
    counts, users = order_counts(ds, guests=False)
    if users != factors.user_ids:
        raise ValueError("factors were not fitted on this dataset's customers")
    return calibrate(inner_product_space(factors), counts)
