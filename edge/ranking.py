"""Ranking: blend candidate sources into one list under the contract's rules; pure numpy.

Each source scores its candidates in [0, 1]; an item's score is its best weighted contribution
plus a small bonus for every other source that also proposed it, and its `reason` is the source
of the best contribution. Selection then drops blocked items (excluded, already bought, out of
stock, in the cart) and caps any one category at a third of the list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

Reason = Literal[
    "similar_to_viewed",
    "in_cart_complement",
    "bought_together",
    "for_you",
    "preference",
    "trending_local",
    "best_seller",
    "on_sale",
]
REASONS: tuple[Reason, ...] = (
    "similar_to_viewed",
    "in_cart_complement",
    "bought_together",
    "for_you",
    "preference",
    "trending_local",
    "best_seller",
    "on_sale",
)
REASON_CODE = {reason: code for code, reason in enumerate(REASONS)}
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "similar_to_viewed": 1.0,
    "in_cart_complement": 0.95,
    "bought_together": 0.8,
    "for_you": 0.85,
    "preference": 0.6,
    "trending_local": 0.5,
    "best_seller": 0.45,
    "on_sale": 0.35,
}
SUPPORT_BONUS = 0.1  # per additional source proposing the same item
MAX_CATEGORY_SHARE = 1.0 / 3.0


@dataclass(frozen=True, slots=True)
class RankingParams:
    """Knobs an experiment arm may turn."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    max_category_share: float = MAX_CATEGORY_SHARE
    strategy: Literal["blend", "popular"] = "blend"
    per_source: int = 60  # candidates fetched per source

    def with_overrides(self, overrides: Mapping[str, Any]) -> RankingParams:
        """A copy with an arm's `ranking` overrides applied (validated when the config loads)."""
        params = self
        if "weights" in overrides:
            params = replace(params, weights={**params.weights, **overrides["weights"]})
        if "max_category_share" in overrides:
            share = min(float(overrides["max_category_share"]), MAX_CATEGORY_SHARE)
            params = replace(params, max_category_share=share)
        if "strategy" in overrides:
            params = replace(params, strategy=overrides["strategy"])
        return params


@dataclass(frozen=True, slots=True)
class Source:
    """Candidates from one signal, each with a score in [0, 1]."""

    reason: Reason
    rows: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True, slots=True)
class Ranked:
    row: int
    score: float
    reason: Reason


def rank_scores(n: int, half_life: float = 10.0) -> np.ndarray:
    """Scores for a ranked list: 1.0 at the top, 0.5 at position `half_life`."""
    return (1.0 / (1.0 + np.arange(n, dtype=np.float32) / half_life)).astype(np.float32)


RANK_SCORES = rank_scores(4096)  # shared, read-only prefix for lists up to this long
RANK_SCORES.flags.writeable = False


def category_cap(limit: int, share: float = MAX_CATEGORY_SHARE) -> int:
    """How many items of one category a list of `limit` may hold (at least one)."""
    return max(1, math.floor(limit * share + 1e-9))


def blend(sources: Sequence[Source], weights: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique candidate rows, their blended scores and reason codes, best first."""
    parts = [s for s in sources if len(s.rows) and weights.get(s.reason, 0.0) > 0]
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, np.empty(0, dtype=np.float32), empty
    rows = np.concatenate([s.rows for s in parts]).astype(np.int64, copy=False)
    contrib = np.concatenate([s.scores * np.float32(weights[s.reason]) for s in parts])
    reasons = np.repeat(np.array([REASON_CODE[s.reason] for s in parts], dtype=np.int64), [len(s.rows) for s in parts])
    # group by row, best contribution first within a row (ties: the reason listed first)
    order = np.lexsort((reasons, -contrib, rows))
    rows, contrib, reasons = rows[order], contrib[order], reasons[order]
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    best = contrib[starts]
    others = np.add.reduceat(contrib, starts) - best
    extra = np.diff(np.append(starts, len(rows))) - 1  # how many other sources agree
    score = best + np.float32(SUPPORT_BONUS) * np.minimum(others, extra.astype(np.float32))
    final = np.argsort(-score, kind="stable")
    return rows[starts][final], score[final], reasons[starts][final]


def select(
    rows: np.ndarray,
    scores: np.ndarray,
    reasons: np.ndarray,
    blocked: np.ndarray,
    categories: np.ndarray,
    limit: int,
    share: float = MAX_CATEGORY_SHARE,
    taken: list[Ranked] | None = None,
) -> list[Ranked]:
    """Best candidates (`rows` unique, best first) that are not blocked, at most `category_cap` per
    category counting what is `taken` already, up to `limit`; vectorised, no per-candidate Python."""
    cap = category_cap(limit, share)
    chosen = list(taken or [])
    keep = ~blocked[rows]
    if chosen:
        keep &= ~np.isin(rows, [r.row for r in chosen])
    rows, scores, reasons = rows[keep], scores[keep], reasons[keep]
    if not len(rows) or len(chosen) >= limit:
        return chosen
    codes = categories[rows]
    order = np.argsort(codes, kind="stable")  # groups by category, best first within each
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_codes[1:] != sorted_codes[:-1])))
    sizes = np.diff(np.append(starts, len(order)))
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order)) - np.repeat(starts, sizes)  # rank within its category
    if chosen:
        used = np.bincount(categories[[r.row for r in chosen]], minlength=int(categories.max()) + 1)
        position += used[codes]
    picks = np.flatnonzero(position < cap)[: limit - len(chosen)]
    chosen.extend(
        Ranked(row, round(score, 4), REASONS[reason])
        for row, score, reason in zip(
            rows[picks].tolist(), scores[picks].tolist(), reasons[picks].tolist(), strict=True
        )
    )
    return chosen


def rank(
    sources: Sequence[Source],
    blocked: np.ndarray,
    categories: np.ndarray,
    limit: int,
    params: RankingParams,
    backfill: Source | None = None,
) -> list[Ranked]:
    """Blend, filter and cap; `backfill` (popular items) tops up a list the sources could not fill."""
    rows, scores, reasons = blend(sources, params.weights)
    chosen = select(rows, scores, reasons, blocked, categories, limit, params.max_category_share)
    if len(chosen) < limit and backfill is not None:
        extra_rows, extra_scores, extra_reasons = blend([backfill], {backfill.reason: 0.1})
        chosen = select(
            extra_rows, extra_scores, extra_reasons, blocked, categories, limit, params.max_category_share, chosen
        )
    return chosen
