"""EASE: a closed-form item-item model (Steck, "Embarrassingly Shallow Autoencoders", 2019).

    G = XᵀX + λI,  P = G⁻¹,  B = -P / diag(P),  diag(B) = 0

X is customers x items (bought = 1). At this catalog's size (a few thousand items) the inverse
takes seconds. Only the strongest `top_k` weights of each item are kept: the service scores a
visitor as the sum of the kept rows of what they bought (`edge.core.learned.ease_scores`), and the
offline evaluation scores exactly the same truncated model.

The gram matrix is dense (items x items) and its inverse cubic, so a big catalog fits EASE over its
`EASE_MAX_ITEMS` most-bought items only (most customers bought; ties to the lower row): 5,000 items
take 0.2 GB per dense matrix and seconds (10,000 took 120 s on the shared two-core machine), where a
million would need 8 TB. The other
items have no EASE row (they neither propose nor receive EASE candidates; every other source still
covers them). A catalog up to that size is fitted whole, exactly as before.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from models.dataset import Dataset

LAMBDA = 200.0
TOP_K = 50
EASE_MAX_ITEMS = 5_000  # EASE over at most this many items, the most bought (see the module doc)


def fit(ds: Dataset, lam: float = LAMBDA, top_k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """Per item, its `top_k` strongest positive EASE weights: rows (int32, -1 padded) and weights (float32)."""
    return from_bought(bought_matrix(ds), lam, top_k)


def fit_top(
    ds: Dataset, lam: float = LAMBDA, top_k: int = TOP_K, max_items: int = EASE_MAX_ITEMS
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """`fit` in the compact form of `top_rows` (what a build ships)."""
    return top_rows(bought_matrix(ds), lam, top_k, max_items)


def bought_matrix(ds: Dataset) -> sparse.csr_matrix:
    """Customers x items, 1 per purchase line of a known customer (duplicates summed)."""
    lines = ds.interactions
    n_items = len(ds.items)
    users, user_rows = lines.customer_rows()
    known = user_rows >= 0
    x = sparse.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float64), (user_rows[known], lines.item[known])),
        shape=(len(users), n_items),
    )
    return x


def from_bought(
    bought: sparse.spmatrix, lam: float = LAMBDA, top_k: int = TOP_K, max_items: int = EASE_MAX_ITEMS
) -> tuple[np.ndarray, np.ndarray]:
    """`fit` from customers x items (any positive entry counts as bought once), e.g. aggregated by Spark:
    a row per catalog item (those outside the fitted items all -1 / 0)."""
    rows, weights, items = top_rows(bought, lam, top_k, max_items)
    if items is None:
        return rows, weights
    n_items = bought.shape[1]
    all_rows = np.full((n_items, rows.shape[1]), -1, dtype=np.int32)
    all_weights = np.zeros((n_items, rows.shape[1]), dtype=np.float32)
    all_rows[items], all_weights[items] = rows, weights
    return all_rows, all_weights


def top_rows(
    bought: sparse.spmatrix, lam: float = LAMBDA, top_k: int = TOP_K, max_items: int = EASE_MAX_ITEMS
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """EASE rows and weights (catalog rows, as `fit`), and the items they belong to: None when every
    catalog item has its row (up to `max_items` items), else the fitted items, ascending: the
    `max_items` bought by the most customers (ties to the lower row)."""
    x = sparse.csr_matrix(bought, dtype=np.float64, copy=True)
    x.sum_duplicates()
    x.eliminate_zeros()
    x.data[:] = 1.0
    n_items = x.shape[1]
    if n_items <= max_items:
        rows, weights = _fit_binary(x, lam, top_k)
        return rows, weights, None
    buyers = np.bincount(x.indices, minlength=n_items)
    ranked = np.argsort(-buyers, kind="stable")[:max_items]
    items = np.sort(ranked[buyers[ranked] > 0]).astype(np.int32)
    if len(items) == 0:
        return np.zeros((0, 0), dtype=np.int32), np.zeros((0, 0), dtype=np.float32), items
    rows, weights = _fit_binary(x[:, items], lam, top_k)
    rows = np.where(rows >= 0, items[np.maximum(rows, 0)], -1).astype(np.int32)
    return rows, weights, items


def _fit_binary(x: sparse.csr_matrix, lam: float, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """EASE on a binary customers x items matrix: each item's `top_k` positive weights (rows, weights)."""
    n_items = x.shape[1]
    gram = (x.T @ x).toarray()
    gram[np.diag_indices(n_items)] += lam
    precision = np.linalg.inv(gram)
    weights = -precision / np.diag(precision)[None, :]  # column j divided by P_jj
    weights[np.diag_indices(n_items)] = 0.0
    k = min(top_k, max(n_items - 1, 1))
    best = np.argpartition(-weights, k - 1, axis=1)[:, :k] if n_items > 1 else np.zeros((n_items, 0), np.int64)
    picked = np.take_along_axis(weights, best, axis=1)
    order = np.argsort(-picked, axis=1, kind="stable")
    best = np.take_along_axis(best, order, axis=1)
    picked = np.take_along_axis(picked, order, axis=1)
    rows = np.where(picked > 0, best, -1).astype(np.int32)
    return rows, np.where(picked > 0, picked, 0.0).astype(np.float32)
