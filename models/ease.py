"""EASE: a closed-form item-item model (Steck, "Embarrassingly Shallow Autoencoders", 2019).

    G = XᵀX + λI,  P = G⁻¹,  B = -P / diag(P),  diag(B) = 0

X is customers x items (bought = 1). At this catalog's size (a few thousand items) the inverse
takes seconds. Only the strongest `top_k` weights of each item are kept: the service scores a
visitor as the sum of the kept rows of what they bought (`edge.core.learned.ease_scores`), and the
offline evaluation scores exactly the same truncated model.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from models.dataset import Dataset

LAMBDA = 200.0
TOP_K = 50


def fit(ds: Dataset, lam: float = LAMBDA, top_k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """Per item, its `top_k` strongest positive EASE weights: rows (int32, -1 padded) and weights (float32)."""
    lines = ds.interactions
    n_items = len(ds.items)
    users, user_rows = lines.customer_rows()
    known = user_rows >= 0
    x = sparse.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float64), (user_rows[known], lines.item[known])),
        shape=(len(users), n_items),
    )
    return from_bought(x, lam, top_k)


def from_bought(bought: sparse.spmatrix, lam: float = LAMBDA, top_k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """`fit` from customers x items (any positive entry counts as bought once), e.g. aggregated by Spark."""
    n_items = bought.shape[1]
    x = sparse.csr_matrix(bought, dtype=np.float64, copy=True)
    x.sum_duplicates()
    x.eliminate_zeros()
    x.data[:] = 1.0
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
