"""The learned ranker's hot loops through the compiled core `edge._kernels` (edge/_kernels.c), when it was built.

Each function here answers exactly what the numpy function it stands for answers, bit for bit, and calls
that function when the compiled core is missing, switched off (`use(False)`: the shell does it for
`EDGE_KERNELS=off`, edge/settings.py) or handed something it does not take (blocked rows that are not sets,
an EASE table over part of the catalog, deeper trees, a NaN score):

    pool_small      `learned.pool_small` (and `pool_fast`, for a big catalog's sparse EASE scores): proposals,
                    blocked rows, source scores, the shown reason, item facts and the history features in C;
                    np.log of the price ratio, the float32 taste product (BLAS) and log1p stay in numpy (C's
                    libm and a plain loop differ from them in the last bit)
    predict         `Trees.predict` for the table form (depth <= 3)
    order           `np.lexsort((rows, -shown))`: the best shown first, the lower row on a tie
    ease_scores     `learned.ease_scores` over a whole-catalog EASE table (the decay powers stay numpy's)
    ease_scores_sparse  `learned.ease_scores_sparse`, a big catalog's EASE scores over part of it (`ease_items`)
    ease_source     `learned.ease_source` of dense scores: the best k + 64 by a heap, not np.argpartition (numpy
                    answers when a tie among the positive best would leave the order to np.argpartition)
    similar_source  `recommend._similar_source_quick`'s loop

Why C and not numba: the same kernels in numba cost +122 MB RSS per worker (libllvmlite), a 4 s cold JIT,
a 207 MB install and a numpy pin. The reference path (`Model.as_plain`, tests/test_differential.py) never
comes here, so the differential test checks these kernels against the numpy code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Container, Mapping, Sequence
from types import ModuleType

import numpy as np

from edge.core import learned as numpy_path
from edge.core.learned import (
    _SOURCE_COLUMN,
    _TABLE_NODES,
    EASE_DECAY,
    EASE_HISTORY,
    FEATURES,
    ITEM_FACTS,
    SOURCE_KEYS,
    SOURCE_REASON,
    Learned,
    Pool,
    SparseScores,
    Trees,
)
from edge.core.ranking import Source


def _load() -> ModuleType | None:
    try:
        from edge import _kernels
    except ImportError:
        return None
    return _kernels


COMPILED = _load()  # edge._kernels (edge/_kernels.pyi), None when it was not built
_C = COMPILED  # what the functions below call
ENABLED = _C is not None  # the decision path uses the compiled core


def use(enabled: bool) -> bool:
    """Run the compiled core (where it was built) or the numpy code from now on, in this whole process (the
    shell calls it with `Settings.kernels` when it opens a runtime); True when the compiled core runs."""
    global _C, ENABLED
    _C = COMPILED if enabled else None
    ENABLED = _C is not None
    return ENABLED


_WIDTH = len(SOURCE_KEYS)
_COLUMN = _WIDTH + 1 + len(ITEM_FACTS)  # category_affinity; then price_vs_usual, log_history, taste, ease
_EMPTY_ROWS = np.zeros(0, dtype=np.int64)
_DECAY: dict[int, np.ndarray] = {}  # history length -> numpy's float32 decay powers (the same expression)


_FROZEN_ROWS: dict[int, tuple[frozenset[int], np.ndarray]] = {}  # id -> (a catalog's frozen set, its rows sorted)
FROZEN_ROWS_MEMO = 1024  # frozen sets remembered (a catalog's out-of-stock set per country)


def _rows(rows: set[int] | frozenset[int]) -> np.ndarray:
    """A set of rows as ascending int64, as the kernel looks rows up in it. A frozen set (a catalog's out-of-stock
    rows per country, most of a big catalog's perhaps) is converted once and remembered by identity: it cannot
    change, and the memo holds it, so its id is not reused while remembered."""
    if not rows:
        return _EMPTY_ROWS
    if isinstance(rows, frozenset):
        found = _FROZEN_ROWS.get(id(rows))
        if found is not None and found[0] is rows:
            return found[1]
    ordered = np.sort(np.fromiter(rows, np.int64, len(rows)))
    if isinstance(rows, frozenset):
        if len(_FROZEN_ROWS) >= FROZEN_ROWS_MEMO:
            _FROZEN_ROWS.clear()
        _FROZEN_ROWS[id(rows)] = (rows, ordered)
    return ordered


def pool_small(
    learned: Learned,
    sources: Sequence[tuple[str, Source]],
    blocked: tuple[Container[int], Container[int]],
    history: Sequence[int],
    category_codes: np.ndarray,
    prices: np.ndarray,
    weights: Mapping[str, float],
    taste: tuple[np.ndarray, np.ndarray] | None = None,
    ease: np.ndarray | SparseScores | None = None,
) -> Pool:
    """`edge.core.learned.pool_small` (and `pool_fast`: the same answer), bit for bit, its loops in C.

    The work grows with the proposals, not the catalog (their rows are looked up in a table of their own), so
    a big catalog's decision takes this path too, its EASE scores given as `SparseScores`."""
    sparse = ease if isinstance(ease, SparseScores) else None
    dense = None if isinstance(ease, SparseScores) else ease
    first_blocked, second_blocked = blocked
    facts = learned.item_facts
    lengths = [len(source.rows) for _, source in sources]
    total = sum(lengths)
    if (
        _C is None
        or total == 0
        or not isinstance(first_blocked, (set, frozenset))
        or not isinstance(second_blocked, (set, frozenset))
        or category_codes.dtype != np.int32
        or prices.dtype != np.float64
        or facts.dtype != np.float32
        or len(category_codes) != len(facts)
        or (dense is not None and (dense.dtype != np.float64 or len(dense) != len(facts)))
    ):
        return _numpy_pool(learned, sources, blocked, history, category_codes, prices, weights, taste, ease)
    chain = itertools.chain.from_iterable
    candidates = np.empty(total, dtype=np.int64)
    x = np.zeros((total, len(FEATURES)), dtype=np.float64)
    reason = np.empty(total, dtype=np.int64)
    ratio = np.empty(total, dtype=np.float64)
    n = _C.pool(
        np.fromiter(chain(source.rows for _, source in sources), np.int64, total),
        np.fromiter(chain(source.scores for _, source in sources), np.float64, total),
        np.asarray(lengths, dtype=np.int64),
        np.asarray([_SOURCE_COLUMN[key] for key, _ in sources], dtype=np.int64),
        np.asarray([weights.get(SOURCE_REASON[key], 0.0) for key, _ in sources], dtype=np.float64),
        _rows(first_blocked),
        _rows(second_blocked),
        np.ascontiguousarray(facts),
        np.asarray(history, dtype=np.int64) if history else _EMPTY_ROWS,
        np.ascontiguousarray(category_codes),
        np.ascontiguousarray(prices),
        None if dense is None else np.ascontiguousarray(dense),
        candidates, x, reason, ratio, _WIDTH, len(FEATURES) - 1,
    )  # fmt: skip
    if n < 0:  # a NaN score or weight: numpy's answer (NaN propagation, its IndexError) is the reference
        return _numpy_pool(learned, sources, blocked, history, category_codes, prices, weights, taste, ease)
    if n == 0:
        return Pool(_EMPTY_ROWS.copy(), np.zeros((0, len(FEATURES)), dtype=np.float64), [])
    rows, x = candidates[:n], x[:n]
    if history:
        x[:, _COLUMN + 1] = np.log(ratio[:n])
        x[:, _COLUMN + 2] = math.log1p(len(history))
    if taste is not None:
        item_vectors, vector = taste
        x[:, _COLUMN + 3] = item_vectors[rows] @ vector
    if sparse is not None:
        x[:, _COLUMN + 4] = sparse[rows]
    source_reason = [SOURCE_REASON[key] for key, _ in sources]
    return Pool(rows, x, [source_reason[i] for i in reason[:n].tolist()])


def _numpy_pool(
    learned: Learned,
    sources: Sequence[tuple[str, Source]],
    blocked: tuple[Container[int], Container[int]],
    history: Sequence[int],
    category_codes: np.ndarray,
    prices: np.ndarray,
    weights: Mapping[str, float],
    taste: tuple[np.ndarray, np.ndarray] | None,
    ease: np.ndarray | SparseScores | None,
) -> Pool:
    """The numpy pool this one stands for: `pool_fast` for sparse EASE scores (a big catalog), else `pool_small`."""
    if isinstance(ease, SparseScores):
        return numpy_path.pool_fast(learned, sources, blocked, history, category_codes, prices, weights, taste, ease)
    return numpy_path.pool_small(learned, sources, blocked, history, category_codes, prices, weights, taste, ease)


def predict(trees: Trees, x: np.ndarray) -> np.ndarray:
    """`trees.predict(x)`, the same scores bit for bit; the table form (depth <= 3) in C."""
    table = trees.table
    if (
        _C is None
        or table is None
        or len(x) == 0
        or x.dtype != np.float64
        or x.ndim != 2
        or table.feature.dtype != np.int64
        or table.node_rows.dtype != np.int64
        or len(table.node_rows) != _TABLE_NODES * len(trees.roots)
    ):
        return trees.predict(x)
    out = np.empty(len(x), dtype=np.float64)
    _C.predict(np.ascontiguousarray(x), table.feature, table.threshold, table.node_rows, table.leaf, out)
    return out


def order(shown: np.ndarray, rows: np.ndarray) -> list[int]:
    """`np.lexsort((rows, -shown)).tolist()`: the best shown first, the lower row on a tie."""
    if _C is None or shown.dtype != np.float64 or rows.dtype != np.int64:
        ordered: list[int] = np.lexsort((rows, -shown)).tolist()
        return ordered
    out = np.empty(len(shown), dtype=np.int64)
    _C.order(np.ascontiguousarray(shown), np.ascontiguousarray(rows), out)
    ordered = out.tolist()
    return ordered


def _decay(n: int) -> np.ndarray:
    """`_ease_terms`' float32 decay powers for a history of `n` (numpy's own expression, remembered per length)."""
    decay = _DECAY.get(n)
    if decay is None:
        decay = _DECAY[n] = EASE_DECAY ** np.arange(n - 1, -1, -1, dtype=np.float32)
    return decay


def ease_scores(learned: Learned, history: Sequence[int]) -> np.ndarray | None:
    """`edge.core.learned.ease_scores`, the same scores bit for bit; the sums in C."""
    ease_rows, ease_weights = learned.ease_rows, learned.ease_weights
    if (
        _C is None
        or not history
        or learned.ease_items is not None
        or ease_rows.dtype != np.int32
        or ease_weights.dtype != np.float32
        or ease_rows.shape != ease_weights.shape
        or len(ease_rows) != len(learned.item_facts)
    ):
        return numpy_path.ease_scores(learned, history)
    recent = np.asarray(history[-EASE_HISTORY:], dtype=np.int64)
    decay = _decay(len(recent))
    scores = np.zeros(len(learned.item_facts), dtype=np.float64)
    if _C.ease_scores(np.ascontiguousarray(ease_rows), np.ascontiguousarray(ease_weights), recent, decay, scores) == 0:
        return numpy_path.ease_scores(learned, history)  # np.bincount of nothing is an int64 array
    return scores


def ease_scores_sparse(learned: Learned, history: Sequence[int]) -> SparseScores | None:
    """`edge.core.learned.ease_scores_sparse` (a big catalog's EASE scores), the same rows and scores bit for bit;
    the lookups and sums in C."""
    ease_items, ease_rows, ease_weights = learned.ease_items, learned.ease_rows, learned.ease_weights
    if (
        _C is None
        or not history
        or ease_items is None
        or len(ease_items) == 0
        or ease_items.dtype != np.int32
        or ease_rows.dtype != np.int32
        or ease_weights.dtype != np.float32
        or ease_rows.shape != ease_weights.shape
        or len(ease_rows) != len(ease_items)
    ):
        return numpy_path.ease_scores_sparse(learned, history)
    recent = np.asarray(history[-EASE_HISTORY:], dtype=np.int64)
    decay = _decay(len(recent))
    room = len(recent) * ease_rows.shape[1]
    found = np.empty(room, dtype=np.int32)
    scores = np.empty(room, dtype=np.float64)
    n = _C.ease_sparse(
        ease_items, np.ascontiguousarray(ease_rows), np.ascontiguousarray(ease_weights), recent, decay, found, scores
    )
    if n == 0:
        return numpy_path.ease_scores_sparse(learned, history)  # np.bincount of nothing is an int64 array
    return SparseScores(found[:n], scores[:n])


def ease_source(scores: np.ndarray | SparseScores | None, k: int, skip: Container[int]) -> Source | None:
    """`edge.core.learned.ease_source` of dense scores, the same source bit for bit."""
    if (
        _C is None
        or scores is None
        or not isinstance(scores, np.ndarray)
        or scores.dtype != np.float64
        or not 1 <= k + 64 < len(scores)
    ):
        return numpy_path.ease_source(scores, k, skip)
    status, rows, values = _C.ease_source(np.ascontiguousarray(scores), k, skip)
    if status < 0:  # a NaN, or a tie among the best that np.argpartition's order settles
        return numpy_path.ease_source(scores, k, skip)
    return Source("for_you", rows, values) if status else None


def similar_source(
    found: tuple[Sequence[int], Sequence[float]],
    k: int,
    reason: str,
    blocked: tuple[Container[int], Container[int]],
    codes: np.ndarray,
    n_categories: int,
    per_category: int,
    skip: Container[int] = (),
) -> Source:
    """`edge.core.recommend._similar_source_quick` with the category codes as an int32 array (`codes`, one per
    catalog row, each below `n_categories`): the same source bit for bit, its loop in C."""
    assert _C is not None, "similar_source needs the compiled core (check ENABLED)"
    rows, scores = _C.similar(found[0], found[1], k, codes, n_categories, per_category, *blocked, skip)
    return Source(reason, rows, scores)  # type: ignore[arg-type]
