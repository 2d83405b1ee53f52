"""Learned ranking: per-candidate features from every source, scored by trees trained at build time.

The build (`models.ranker`) writes `ranking.npz` beside the other artifacts: the EASE item-item
weights, per-item facts (popularity, recent popularity, age, price), a recency-weighted popularity
list, near-duplicate groups, and, when a ranker was trained, its trees. This module turns those
arrays into what a decision needs:

    pool(...)      every source's candidates for one visitor, blocked rows removed, as rows and a
                   feature matrix (one column per name in FEATURES)
    Trees.predict  the trained ensemble, evaluated for all candidates at once in numpy (LightGBM's
                   own predict costs ~0.5 ms per call; this costs tens of microseconds)

The same `pool` feeds training (`models.ranker`), the offline evaluation and `/v1/decide`, so what
is trained and measured is what is served. `pool_small` and `pool_fast` are `pool` in fewer steps (the
same answer bit for bit) for catalogs below and above `recommend.LARGE_CATALOG`. Where the compiled core
`edge._kernels` was built, a decision runs `pool_small`, the table form of `Trees.predict` and
`ease_scores` through `edge.core.kernels` (C loops, the same answers bit for bit; `EDGE_KERNELS=off`
and the plain reference path keep this module's numpy code; docs/ranker.md).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.core.ranking import Source, rank_scores
from edge.core.shapes import Reason
from edge.errors import ArtifactError

RANKING_FILE = "ranking.npz"
# sources that can propose a candidate; the ranker sees one score column per source
SOURCE_KEYS: tuple[str, ...] = (
    "for_you",
    "ease",
    "bought_together",
    "similar_to_viewed",
    "in_cart_complement",
    "preference",
    "trending_local",
    "best_seller",
    "on_sale",
    "recent_popular",
)
SOURCE_REASON: Mapping[str, Reason] = {
    "for_you": "for_you",
    "ease": "for_you",
    "bought_together": "bought_together",
    "similar_to_viewed": "similar_to_viewed",
    "in_cart_complement": "in_cart_complement",
    "preference": "preference",
    "trending_local": "trending_local",
    "best_seller": "best_seller",
    "on_sale": "on_sale",
    "recent_popular": "trending_local",
}
ITEM_FACTS: tuple[str, ...] = (
    "log_sales",
    "log_recent_sales",
    "log_week_sales",
    "log_previous_month_sales",
    "log_age_days",
    "log_price",
)
FEATURES: tuple[str, ...] = (
    *(f"score_{key}" for key in SOURCE_KEYS),
    "n_sources",
    *ITEM_FACTS,
    "category_affinity",
    "price_vs_usual",
    "log_history",
    "taste_similarity",
    "ease_weight",
)
EASE_HISTORY = 50  # most recent interactions that feed the EASE score
EASE_DECAY = 0.95  # weight per step back in the visitor's history (recency-weighted interactions)
_SOURCE_COLUMN = {key: i for i, key in enumerate(SOURCE_KEYS)}


TABLE_DEPTH = 3  # trees up to this depth are scored through a leaf table (2**7 codes per tree)
_TABLE_NODES = 2**TABLE_DEPTH  # comparisons per tree in the table form (7 nodes + 1 always-false pad)


_ROWS_STEP = 64  # the table form pads the candidates to a multiple of this (flat, same-shape comparisons)


@dataclass(frozen=True, slots=True)
class _Table:
    """Trees of depth <= TABLE_DEPTH in the form `Trees.predict` evaluates without any traversal.

    Every distinct (feature, threshold) split is compared once for all rows (`feature`, `threshold`,
    a last always-false row for padding); the 8 comparisons of a tree (`node_rows`, bit-plane major)
    form a 7-bit code per tree and row (a weighted sum of bit planes), and `leaf` holds, per tree,
    the leaf value every code leads to.
    """

    feature: np.ndarray  # intp [n_splits]
    threshold: np.ndarray  # float64 [n_splits, 1]
    node_rows: np.ndarray  # intp [8 * n_trees]: split row of bit b of tree t at b * n_trees + t
    weights: np.ndarray  # uint8 [8]: 2**b
    offsets: np.ndarray  # intp [n_trees, 1]: t * 128, the tree's block in `leaf`
    leaf: np.ndarray  # float64 [n_trees * 128]
    thresholds: dict[int, np.ndarray] = field(default_factory=dict)  # padded row count -> threshold per cell

    def padded_thresholds(self, rows: int) -> np.ndarray:
        """`threshold` repeated over `rows` columns (cached: a flat comparison is 3x a broadcast one)."""
        found = self.thresholds.get(rows)
        if found is None:
            found = self.thresholds[rows] = np.repeat(self.threshold, rows, axis=1)
        return found


def _table(depth: int, feature: np.ndarray, threshold: np.ndarray, leaf: np.ndarray, n_trees: int) -> _Table:
    internal, leaves, codes = 2**depth - 1, 2**depth, 2 ** (_TABLE_NODES - 1)
    splits: dict[tuple[int, float], int] = {}
    node_rows = np.zeros((_TABLE_NODES, n_trees), dtype=np.intp)
    padded: list[tuple[int, int]] = []
    for t in range(n_trees):
        for p in range(_TABLE_NODES):
            g = t * internal + p
            if p >= internal or math.isinf(float(threshold[g])):
                padded.append((p, t))  # always false: compared against nothing
                continue
            key = (int(feature[g]), float(threshold[g]))
            node_rows[p, t] = splits.setdefault(key, len(splits))
    for p, t in padded:
        node_rows[p, t] = len(splits)
    table = np.zeros((n_trees, codes))
    for code in range(codes):  # walk each tree as the comparisons in `code` say
        position = 0
        for _ in range(depth):
            position = 2 * position + 1 + ((code >> position) & 1)
        table[:, code] = leaf.reshape(n_trees, leaves)[:, position - internal]
    keys = list(splits)
    return _Table(
        feature=np.array([f for f, _ in keys], dtype=np.intp),
        threshold=np.array([[v] for _, v in keys], dtype=np.float64).reshape(len(keys), 1),
        node_rows=node_rows.ravel(),
        weights=(1 << np.arange(_TABLE_NODES)).astype(np.uint8),
        offsets=(np.arange(n_trees, dtype=np.intp) * codes)[:, None],
        leaf=table.ravel(),
    )


@dataclass(frozen=True, slots=True)
class Trees:
    """A trained tree ensemble as flat arrays: complete binary trees of one depth.

    Node ids: internal nodes 0 .. n_internal-1, leaves from n_internal on. An internal node g
    compares feature `feature[g]` with `threshold[g]`: at or below goes to `left[g]`, above to
    `left[g] + 1`. The prediction is the sum of each tree's leaf value.
    """

    name: str
    features: tuple[str, ...]
    depth: int
    feature: np.ndarray  # int32 [n_internal]
    threshold: np.ndarray  # float64 [n_internal]
    left: np.ndarray  # int32 [n_internal]
    leaf: np.ndarray  # float64 [n_leaves]
    roots: np.ndarray  # int32 [n_trees]
    table: _Table | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = None
        if 1 <= self.depth <= TABLE_DEPTH and len(self.roots):
            table = _table(self.depth, self.feature, self.threshold, self.leaf, len(self.roots))
        object.__setattr__(self, "table", table)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores of the rows of `x` (n x len(features)), summed over the trees in their order."""
        n = x.shape[0]
        if n == 0:
            return np.zeros(0)
        table = self.table
        if table is None:
            return self._walk(x)
        rows = -(-n // _ROWS_STEP) * _ROWS_STEP
        columns = np.zeros((x.shape[1], rows))
        columns[:, :n] = x.T
        values = columns.take(table.feature, axis=0)
        above = np.empty((len(table.feature) + 1, rows), dtype=bool)  # every distinct split, once
        above[-1] = False
        np.greater(values, table.padded_thresholds(rows), out=above[:-1])
        bits = above.take(table.node_rows, axis=0).reshape(_TABLE_NODES, -1).view(np.uint8)
        code = np.einsum("bc,b->c", bits, table.weights).astype(np.intp).reshape(len(self.roots), rows)
        code += table.offsets
        scores: np.ndarray = table.leaf.take(code).sum(axis=0)[:n]
        return scores

    def _walk(self, x: np.ndarray) -> np.ndarray:
        """`predict` for deeper trees: all trees one level at a time."""
        n, width = x.shape
        x = np.ascontiguousarray(x, dtype=np.float64)
        flat = x.ravel()
        offset = (np.arange(n, dtype=np.int32) * width)[:, None]
        feature, threshold, left = self.feature, self.threshold, self.left
        roots = self.roots  # the first level is the same node for every row: compare whole columns
        node = left.take(roots) + (x.take(feature.take(roots), axis=1) > threshold.take(roots))
        for _ in range(self.depth - 1):
            value = flat.take(feature.take(node) + offset)
            node = left.take(node) + (value > threshold.take(node))
        scores: np.ndarray = self.leaf.take(node - len(feature)).sum(axis=1)
        return scores

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "tree_feature": self.feature,
            "tree_threshold": self.threshold,
            "tree_left": self.left,
            "tree_leaf": self.leaf,
            "tree_roots": self.roots,
            "tree_depth": np.array([self.depth], dtype=np.int32),
        }


@dataclass(frozen=True, slots=True)
class Learned:
    """The build's learned-ranking arrays (see module doc)."""

    ease_rows: np.ndarray  # int32 [n_items, k] (or [len(ease_items), k]), catalog rows, -1 padded
    ease_weights: np.ndarray  # float32, the shape of ease_rows
    item_facts: np.ndarray  # float32 [n_items, len(ITEM_FACTS)]
    recent_rows: np.ndarray  # int32: rows by recency-weighted sales, best first
    duplicate_group: np.ndarray  # int32 [n_items]: near-duplicate group id, -1 = none
    trees: Trees | None = None
    # int32, ascending: the items EASE was fitted over when not the whole catalog (`models.ease.EASE_MAX_ITEMS`);
    # ease_rows[i] belongs to ease_items[i], the other items have no EASE row. None: row i is item i.
    ease_items: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """What `ranking.npz` holds."""
        out = {
            "ease_rows": self.ease_rows,
            "ease_weights": self.ease_weights,
            "item_facts": self.item_facts,
            "recent_rows": self.recent_rows,
            "duplicate_group": self.duplicate_group,
        }
        if self.trees is not None:
            out.update(self.trees.arrays())
        if self.ease_items is not None:
            out["ease_items"] = self.ease_items
        return out

    def ease_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The EASE rows and weights of these catalog rows (-1 / 0 for an item without an EASE row)."""
        if self.ease_items is None:
            return self.ease_rows[rows], self.ease_weights[rows]
        width = self.ease_rows.shape[1]
        out_rows = np.full((len(rows), width), -1, dtype=np.int32)
        out_weights = np.zeros((len(rows), width), dtype=np.float32)
        if len(self.ease_items):
            at = np.minimum(np.searchsorted(self.ease_items, rows), len(self.ease_items) - 1)
            found = self.ease_items[at] == rows
            out_rows[found] = self.ease_rows[at[found]]
            out_weights[found] = self.ease_weights[at[found]]
        return out_rows, out_weights


def from_arrays(
    arrays: Mapping[str, np.ndarray], n_items: int, ranker: Mapping[str, Any] | None, source: str
) -> Learned:
    """The arrays of `ranking.npz` (read from `source`), checked against the catalog size and FEATURES."""
    try:
        learned = Learned(
            ease_rows=arrays["ease_rows"].astype(np.int32),
            ease_weights=arrays["ease_weights"].astype(np.float32),
            item_facts=arrays["item_facts"].astype(np.float32),
            recent_rows=arrays["recent_rows"].astype(np.int32),
            duplicate_group=arrays["duplicate_group"].astype(np.int32),
        )
    except KeyError as exc:
        raise ArtifactError(f"{source}: missing array {exc}") from exc
    ease_items = arrays["ease_items"].astype(np.int32) if "ease_items" in arrays else None
    ease_length = n_items if ease_items is None else len(ease_items)
    for name in ("ease_rows", "ease_weights", "item_facts", "duplicate_group"):
        expected = ease_length if name.startswith("ease") else n_items
        if len(getattr(learned, name)) != expected:
            raise ArtifactError(f"{source}: {name} has {len(getattr(learned, name))} rows, expected {expected}")
    if ease_items is not None:
        if len(ease_items) and (ease_items[0] < 0 or ease_items[-1] >= n_items or np.any(np.diff(ease_items) <= 0)):
            raise ArtifactError(f"{source}: ease_items are not ascending catalog rows")
        learned = Learned(
            learned.ease_rows,
            learned.ease_weights,
            learned.item_facts,
            learned.recent_rows,
            learned.duplicate_group,
            ease_items=ease_items,
        )
    if "tree_feature" not in arrays:
        return learned
    features = tuple((ranker or {}).get("features", ()))
    if features != FEATURES:
        raise ArtifactError(f"{source}: the ranker's features {features} are not this Edge's {FEATURES}")
    trees = Trees(
        name=str((ranker or {}).get("name", "ranker")),
        features=features,
        depth=int(arrays["tree_depth"][0]),
        feature=arrays["tree_feature"].astype(np.int32),
        threshold=arrays["tree_threshold"].astype(np.float64),
        left=arrays["tree_left"].astype(np.int32),
        leaf=arrays["tree_leaf"].astype(np.float64),
        roots=arrays["tree_roots"].astype(np.int32),
    )
    if len(trees.feature) and int(trees.feature.max()) >= len(FEATURES):
        raise ArtifactError(f"{source}: a tree splits on an unknown feature")
    return Learned(
        learned.ease_rows,
        learned.ease_weights,
        learned.item_facts,
        learned.recent_rows,
        learned.duplicate_group,
        trees,
        learned.ease_items,
    )


def _ease_terms(learned: Learned, history: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recent history (most recent last) and the EASE rows and weights it adds up, each step back
    weighted by EASE_DECAY (recency-weighted interactions); padding rows left out."""
    recent = np.asarray(history[-EASE_HISTORY:], dtype=np.int64)
    decay = EASE_DECAY ** np.arange(len(recent) - 1, -1, -1, dtype=np.float32)
    rows, weights = learned.ease_of(recent)
    weights = weights * decay[:, None]
    valid = rows >= 0
    return recent, rows[valid], weights[valid]


def ease_scores(learned: Learned, history: Sequence[int]) -> np.ndarray | None:
    """EASE scores of every item for a history (`_ease_terms` summed per item; the history itself scores 0);
    None without history."""
    if not history:
        return None
    recent, rows, weights = _ease_terms(learned, history)
    scores: np.ndarray = np.bincount(rows, weights=weights, minlength=len(learned.item_facts))
    scores[recent] = 0.0
    return scores


class SparseScores:
    """Scores of a few rows, ascending (every other catalog row scores 0), read like the dense array
    they stand for: `scores[rows]`. What a big catalog's decision works with instead of catalog-length arrays."""

    __slots__ = ("rows", "scores")

    def __init__(self, rows: np.ndarray, scores: np.ndarray) -> None:
        self.rows, self.scores = rows, scores

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        if not len(self.rows):
            return np.zeros(len(rows), dtype=np.float64)
        at = np.minimum(np.searchsorted(self.rows, rows), len(self.rows) - 1)
        out: np.ndarray = np.where(self.rows[at] == rows, self.scores[at], 0.0)
        return out


def ease_scores_sparse(learned: Learned, history: Sequence[int]) -> SparseScores | None:
    """`ease_scores` as `SparseScores` (the same values, bit for bit): work that grows with the history."""
    if not history:
        return None
    recent, rows, weights = _ease_terms(learned, history)
    found, inverse = np.unique(rows, return_inverse=True)
    scores = np.bincount(inverse, weights=weights, minlength=len(found))
    if len(found):  # the history itself scores 0 (a sorted lookup: np.isin costs 4x more here)
        at = np.minimum(np.searchsorted(found, recent), len(found) - 1)
        scores[at[found[at] == recent]] = 0.0
    return SparseScores(found, scores)


def ease_source(scores: np.ndarray | SparseScores | None, k: int, skip: Container[int]) -> Source | None:
    """The EASE source: the best `k` rows by `ease_scores` not in `skip`, scores scaled to [0, 1]
    (from `SparseScores`, equal scores in row order)."""
    if scores is None:
        return None
    if isinstance(scores, SparseScores):
        order = np.argsort(-scores.scores, kind="stable")[: k + 64]
        top, values = scores.rows[order], scores.scores[order]
    else:
        n = min(len(scores), k + 64)
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        values = scores[top]
    best = float(values[0]) if len(top) else 0.0
    if best <= 0:
        return None
    out_rows: list[int] = []
    out_scores: list[float] = []
    for row, score in zip(top.tolist(), values.tolist(), strict=True):
        if score <= 0:
            break
        if row in skip:
            continue
        out_rows.append(row)
        out_scores.append(score / best)
        if len(out_rows) >= k:
            break
    return Source("for_you", out_rows, out_scores)


def recent_source(learned: Learned, k: int) -> Source:
    """Items by recency-weighted sales (a short half-life), best first."""
    top = learned.recent_rows[:k].tolist()
    return Source("trending_local", top, rank_scores(len(top)))


def _median(values: np.ndarray) -> float:
    """`np.median` of a non-empty 1-d array, without its overhead (the same value, bit for bit)."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


@dataclass(frozen=True, slots=True)
class Pool:
    """One visitor's candidates: rows, their feature matrix, and the reason each would be shown for."""

    rows: np.ndarray  # int64 [n]
    features: np.ndarray  # float64 [n, len(FEATURES)]
    reasons: list[Reason]


def pool(
    learned: Learned,
    sources: Sequence[tuple[str, Source]],
    blocked: tuple[Container[int], Container[int]],
    history: Sequence[int],
    category_codes: np.ndarray,
    prices: np.ndarray,
    weights: Mapping[str, float],
    taste: tuple[np.ndarray, np.ndarray] | None = None,
    ease: np.ndarray | None = None,
) -> Pool:
    """Every candidate the `sources` ((source key, Source) pairs) propose, minus `blocked`, with features.

    `history` (rows the visitor bought or touched) gives the category affinity, the usual price
    and the history length; `weights` (the blend's) pick the shown reason: the proposing source
    with the highest weighted score. `taste` (item vectors, the visitor's vector) and `ease`
    (`ease_scores`) score every candidate, whichever source proposed it.
    """
    width = len(SOURCE_KEYS)
    proposed = [source for _, source in sources]
    lengths = [len(source.rows) for source in proposed]
    total = sum(lengths)
    x = np.zeros((0, len(FEATURES)), dtype=np.float64)
    if total == 0:
        return Pool(np.zeros(0, dtype=np.int64), x, [])
    # one entry per (source, proposed row), in the sources' order
    entry_row = np.fromiter(itertools.chain.from_iterable(s.rows for s in proposed), np.int64, total)
    entry_score = np.fromiter(itertools.chain.from_iterable(s.scores for s in proposed), np.float64, total)
    source_code = [_SOURCE_COLUMN[key] for key, _ in sources]
    entry_column = np.repeat(np.asarray(source_code, dtype=np.int64), lengths)
    source_weight = [weights.get(SOURCE_REASON[key], 0.0) for key, _ in sources]
    entry_weighted = entry_score * np.repeat(np.asarray(source_weight), lengths)
    # candidates in order of first proposal, blocked ones dropped
    n_items = len(learned.item_facts)
    first = np.full(n_items, total, dtype=np.int64)
    np.minimum.at(first, entry_row, np.arange(total))
    first_blocked, second_blocked = blocked
    kept = [
        row for row in np.flatnonzero(first < total).tolist() if row not in first_blocked and row not in second_blocked
    ]
    n = len(kept)
    if n == 0:
        return Pool(np.zeros(0, dtype=np.int64), x, [])
    candidates = np.asarray(kept, dtype=np.int64)
    candidates = candidates[np.argsort(first[candidates], kind="stable")]
    slot = np.full(n_items, -1, dtype=np.int64)
    slot[candidates] = np.arange(n)
    entry_slot = slot[entry_row]
    entries = np.flatnonzero(entry_slot >= 0)
    at = entry_slot[entries]
    source_scores = np.zeros((n, width), dtype=np.float64)  # a source's best score for the candidate, >= 0
    np.maximum.at(source_scores.ravel(), at * width + entry_column[entries], entry_score[entries])
    # the shown reason: the proposer with the highest weighted score, the first proposer on a tie
    weighted = entry_weighted[entries]
    best = np.full(n, -np.inf)
    np.maximum.at(best, at, weighted)
    winners = weighted == best[at]
    winner = np.full(n, total, dtype=np.int64)
    np.minimum.at(winner, at[winners], entries[winners])
    reason_of = np.repeat(np.arange(len(sources)), lengths)[winner]
    source_reason = [SOURCE_REASON[key] for key, _ in sources]
    x = np.zeros((n, len(FEATURES)), dtype=np.float64)
    x[:, :width] = source_scores
    x[:, width] = (source_scores > 0).sum(axis=1)
    x[:, width + 1 : width + 1 + len(ITEM_FACTS)] = learned.item_facts[candidates]
    col = width + 1 + len(ITEM_FACTS)
    if history:
        past = np.asarray(history, dtype=np.int64)
        shares = np.bincount(category_codes[past], minlength=int(category_codes.max()) + 1) / len(past)
        x[:, col] = shares[category_codes[candidates]]
        usual = _median(prices[past])
        x[:, col + 1] = np.log((prices[candidates] + 0.01) / (usual + 0.01))
        x[:, col + 2] = math.log1p(len(history))
    if taste is not None:
        item_vectors, vector = taste
        x[:, col + 3] = item_vectors[candidates] @ vector
    if ease is not None:
        x[:, col + 4] = ease[candidates]
    return Pool(candidates, x, [source_reason[i] for i in reason_of.tolist()])


def pool_fast(
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
    """`pool`, the same answer bit for bit, in work that grows with the candidates, not the catalog.

    `pool` spends three arrays of catalog length per call (first proposal, slot, category shares);
    here the proposals are grouped by sorting them (`np.unique`) and the history's category shares
    are counted over the history alone, so a 1-million-item catalog costs what a small one does.
    """
    width = len(SOURCE_KEYS)
    proposed = [source for _, source in sources]
    lengths = [len(source.rows) for source in proposed]
    total = sum(lengths)
    x = np.zeros((0, len(FEATURES)), dtype=np.float64)
    if total == 0:
        return Pool(np.zeros(0, dtype=np.int64), x, [])
    entry_row = np.fromiter(itertools.chain.from_iterable(s.rows for s in proposed), np.int64, total)
    entry_score = np.fromiter(itertools.chain.from_iterable(s.scores for s in proposed), np.float64, total)
    entry_source = np.repeat(np.arange(len(sources)), lengths)
    source_code = np.asarray([_SOURCE_COLUMN[key] for key, _ in sources], dtype=np.int64)
    source_weight = np.asarray([weights.get(SOURCE_REASON[key], 0.0) for key, _ in sources])
    # distinct proposed rows (ascending), the first entry proposing each, and each entry's row index
    distinct, first, inverse = np.unique(entry_row, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct rows in order of first proposal
    first_blocked, second_blocked = blocked
    open_rows = [
        i
        for i, row in zip(order.tolist(), distinct[order].tolist(), strict=True)
        if row not in first_blocked and row not in second_blocked
    ]
    n = len(open_rows)
    if n == 0:
        return Pool(np.zeros(0, dtype=np.int64), x, [])
    kept = np.asarray(open_rows, dtype=np.int64)
    candidates = distinct[kept]
    slot = np.full(len(distinct), -1, dtype=np.int64)
    slot[kept] = np.arange(n)
    entry_slot = slot[inverse]
    entries = np.flatnonzero(entry_slot >= 0)
    at = entry_slot[entries]
    source_scores = np.zeros((n, width), dtype=np.float64)
    np.maximum.at(source_scores.ravel(), at * width + source_code[entry_source[entries]], entry_score[entries])
    weighted = entry_score[entries] * source_weight[entry_source[entries]]
    best = np.full(n, -np.inf)
    np.maximum.at(best, at, weighted)
    winners = weighted == best[at]
    winner = np.full(n, total, dtype=np.int64)
    np.minimum.at(winner, at[winners], entries[winners])
    reason_of = entry_source[winner]
    source_reason = [SOURCE_REASON[key] for key, _ in sources]
    x = np.zeros((n, len(FEATURES)), dtype=np.float64)
    x[:, :width] = source_scores
    x[:, width] = (source_scores > 0).sum(axis=1)
    x[:, width + 1 : width + 1 + len(ITEM_FACTS)] = learned.item_facts[candidates]
    col = width + 1 + len(ITEM_FACTS)
    if history:
        past = np.asarray(history, dtype=np.int64)
        past_codes = category_codes[past]
        codes, counts = np.unique(past_codes, return_counts=True)
        candidate_codes = category_codes[candidates]
        at_code = np.minimum(np.searchsorted(codes, candidate_codes), len(codes) - 1)
        x[:, col] = np.where(codes[at_code] == candidate_codes, counts[at_code], 0) / len(past)
        usual = _median(prices[past])
        x[:, col + 1] = np.log((prices[candidates] + 0.01) / (usual + 0.01))
        x[:, col + 2] = math.log1p(len(history))
    if taste is not None:
        item_vectors, vector = taste
        x[:, col + 3] = item_vectors[candidates] @ vector
    if ease is not None:
        x[:, col + 4] = ease[candidates]
    return Pool(candidates, x, [source_reason[i] for i in reason_of.tolist()])


def _block(first: np.ndarray, rows: Container[int], total: int) -> None:
    """Mark `rows` (a set of catalog rows) as never proposed in `first`; other containers are checked later."""
    if isinstance(rows, (set, frozenset)) and rows:
        first[np.fromiter(rows, np.int64, len(rows))] = total


def pool_small(
    learned: Learned,
    sources: Sequence[tuple[str, Source]],
    blocked: tuple[Container[int], Container[int]],
    history: Sequence[int],
    category_codes: np.ndarray,
    prices: np.ndarray,
    weights: Mapping[str, float],
    taste: tuple[np.ndarray, np.ndarray] | None = None,
    ease: np.ndarray | None = None,
) -> Pool:
    """`pool`, the same answer bit for bit, in fewer steps (what a catalog of thousands of items serves with).

    The blocked rows are struck out of the first-proposal array at once instead of row by row, each
    entry's source is looked up once, and the features of the history are computed over the history.
    """
    width = len(SOURCE_KEYS)
    lengths = [len(source.rows) for _, source in sources]
    total = sum(lengths)
    if total == 0:
        return Pool(np.zeros(0, dtype=np.int64), np.zeros((0, len(FEATURES)), dtype=np.float64), [])
    chain = itertools.chain.from_iterable
    entry_row = np.fromiter(chain(source.rows for _, source in sources), np.int64, total)
    entry_score = np.fromiter(chain(source.scores for _, source in sources), np.float64, total)
    entry_source = np.repeat(np.arange(len(sources)), lengths)
    n_items = len(learned.item_facts)
    first = np.full(n_items, total, dtype=np.int64)
    np.minimum.at(first, entry_row, np.arange(total))
    first_blocked, second_blocked = blocked
    _block(first, first_blocked, total)
    _block(first, second_blocked, total)
    candidates = np.flatnonzero(first < total)
    others = [b for b in blocked if not isinstance(b, (set, frozenset))]
    if others:
        candidates = np.asarray(
            [row for row in candidates.tolist() if all(row not in b for b in others)], dtype=np.int64
        )
    n = len(candidates)
    if n == 0:
        return Pool(np.zeros(0, dtype=np.int64), np.zeros((0, len(FEATURES)), dtype=np.float64), [])
    candidates = candidates[np.argsort(first[candidates], kind="stable")]
    slot = np.full(n_items, -1, dtype=np.int64)
    slot[candidates] = np.arange(n)
    entry_slot = slot[entry_row]
    entries = np.flatnonzero(entry_slot >= 0)
    at = entry_slot[entries]
    source_of = entry_source[entries]
    score = entry_score[entries]
    source_code = np.asarray([_SOURCE_COLUMN[key] for key, _ in sources], dtype=np.int64)
    source_weight = np.asarray([weights.get(SOURCE_REASON[key], 0.0) for key, _ in sources])
    x = np.zeros((n, len(FEATURES)), dtype=np.float64)
    source_scores = x[:, :width]  # a source's best score for the candidate, >= 0 (a view: written in place)
    np.maximum.at(x.ravel(), at * len(FEATURES) + source_code[source_of], score)
    # the shown reason: the proposer with the highest weighted score, the first proposer on a tie
    weighted = score * source_weight[source_of]
    best = np.full(n, -np.inf)
    np.maximum.at(best, at, weighted)
    winners = np.flatnonzero(weighted == best[at])
    winner = np.full(n, total, dtype=np.int64)
    np.minimum.at(winner, at[winners], entries[winners])
    reason_of = entry_source[winner]
    x[:, width] = np.count_nonzero(source_scores > 0, axis=1)
    x[:, width + 1 : width + 1 + len(ITEM_FACTS)] = learned.item_facts[candidates]
    col = width + 1 + len(ITEM_FACTS)
    if history:
        past = np.asarray(history, dtype=np.int64)
        past_codes = category_codes[past]
        shares = np.bincount(past_codes, minlength=int(past_codes.max()) + 1) / len(past)
        candidate_codes = category_codes[candidates]
        inside = candidate_codes < len(shares)
        x[:, col] = np.where(inside, shares[np.minimum(candidate_codes, len(shares) - 1)], 0.0)
        usual = _median(prices[past])
        x[:, col + 1] = np.log((prices[candidates] + 0.01) / (usual + 0.01))
        x[:, col + 2] = math.log1p(len(history))
    if taste is not None:
        item_vectors, vector = taste
        x[:, col + 3] = item_vectors[candidates] @ vector
    if ease is not None:
        x[:, col + 4] = ease[candidates]
    source_reason = [SOURCE_REASON[key] for key, _ in sources]
    return Pool(candidates, x, [source_reason[i] for i in reason_of.tolist()])
