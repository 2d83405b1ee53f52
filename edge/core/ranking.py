"""Ranking: blend candidate sources into one list under the contract's rules; pure Python.

Each source scores its candidates in [0, 1]; an item's score is its best weighted contribution
plus a small bonus for every other source that also proposed it, and its `reason` is the source
of the best contribution. Selection then drops blocked items (excluded, already bought, out of
stock, in the cart) and caps any one category at a third of the list, and near-duplicates (one
product in other colours or sizes, grouped at build time) at one per DUPLICATE_SPAN positions.
A build with a trained ranker orders candidates by it instead of the blend (`edge.core.learned`).

The lists are short (tens to a few hundred candidates), so plain lists, dicts and sets beat
numpy here: a numpy call costs about a microsecond before it does any work.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from msgspec import UnsetType

from edge.core.shapes import REASONS, Reason

if TYPE_CHECKING:
    from edge.core.experiments import RankingFile

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
DUPLICATE_SPAN = 6  # a near-duplicate group may fill one place in the top 6, two in the top 12, ...
Strategy = Literal["learned", "blend", "popular"]

Candidate = tuple[float, int, int]  # (score, -row, reason code): sorts best first with reverse=True


@dataclass(frozen=True, slots=True)
class RankingParams:
    """Knobs an experiment arm may turn."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    max_category_share: float = MAX_CATEGORY_SHARE
    strategy: Strategy = "learned"  # the build's trained ranker; the blend when the build has none
    per_source: int = 60  # most candidates fetched per source
    ranker: str | None = None  # pin a ranker version: a build whose ranker has another name serves the blend

    def with_overrides(self, overrides: RankingFile) -> RankingParams:
        """A copy with an arm's `ranking` overrides applied: the fields the file gives (validated at load)."""
        params = self
        if not isinstance(overrides.weights, UnsetType):
            params = replace(params, weights={**params.weights, **overrides.weights})
        if not isinstance(overrides.max_category_share, UnsetType):
            params = replace(params, max_category_share=min(overrides.max_category_share, MAX_CATEGORY_SHARE))
        if not isinstance(overrides.strategy, UnsetType):
            params = replace(params, strategy=overrides.strategy)
        if not isinstance(overrides.ranker, UnsetType):
            params = replace(params, ranker=overrides.ranker)
        return params


@dataclass(frozen=True, slots=True)
class Source:
    """Candidates from one signal, best first, each with a score in [0, 1]."""

    reason: Reason
    rows: Sequence[int]
    scores: Sequence[float]


@dataclass(frozen=True, slots=True)
class Ranked:
    row: int
    score: float
    reason: Reason


def rank_scores(n: int, half_life: float = 10.0) -> list[float]:
    """Scores for a ranked list: 1.0 at the top, 0.5 at position `half_life`."""
    return [1.0 / (1.0 + i / half_life) for i in range(n)]


def category_cap(limit: int, share: float = MAX_CATEGORY_SHARE) -> int:
    """How many items of one category a list of `limit` may hold (at least one)."""
    return max(1, math.floor(limit * share + 1e-9))


def blend(
    sources: Iterable[Source], weights: Mapping[str, float], known: Mapping[int, float] | None = None
) -> list[Candidate]:
    """Unique candidates as (score, -row, reason code), best first (ties: lower row first).

    `known` maps rows of a list blended before (the popular lists, prepared at load) to their
    scores: a row found there too earns the agreement bonus.
    """
    best: dict[int, list[float]] = {}  # row -> [best contribution, reason code, sum of others, count of others]
    for source in sources:
        weight = weights.get(source.reason, 0.0)
        if weight <= 0:
            continue
        code = REASON_CODE[source.reason]
        get = best.get
        for row, score in zip(source.rows, source.scores, strict=True):
            contribution = score * weight
            entry = get(row)
            if entry is None:
                best[row] = [contribution, code, 0.0, 0]
            elif contribution > entry[0]:
                entry[2] += entry[0]
                entry[3] += 1
                entry[0] = contribution
                entry[1] = code
            else:
                entry[2] += contribution
                entry[3] += 1
    if known:
        for row, entry in best.items():
            other = known.get(row)
            if other is not None:
                entry[2] += other
                entry[3] += 1
    bonus = SUPPORT_BONUS
    candidates = [(e[0] + bonus * min(e[2], e[3]) if e[3] else e[0], -row, int(e[1])) for row, e in best.items()]
    candidates.sort(reverse=True)
    return candidates


def select(
    candidates: Iterable[Candidate],
    blocked: tuple[Container[int], Container[int]],
    categories: Sequence[int],
    limit: int,
    share: float = MAX_CATEGORY_SHARE,
    taken: list[Ranked] | None = None,
    groups: Sequence[int] | None = None,
) -> list[Ranked]:
    """Best candidates in neither `blocked` set, at most `category_cap` per category and, with
    `groups` (near-duplicate group per row, -1 = none), one of a group per DUPLICATE_SPAN places
    (counting what is `taken` already), up to `limit`."""
    cap = category_cap(limit, share)
    chosen = list(taken or [])
    seen = {r.row for r in chosen}
    per_category: dict[int, int] = {}
    per_group: dict[int, int] = {}
    for r in chosen:
        per_category[categories[r.row]] = per_category.get(categories[r.row], 0) + 1
        if groups is not None and groups[r.row] >= 0:
            per_group[groups[r.row]] = per_group.get(groups[r.row], 0) + 1
    if len(chosen) >= limit:
        return chosen
    first_blocked, second_blocked = blocked
    for score, negative_row, code in candidates:
        row = -negative_row
        if row in seen or row in first_blocked or row in second_blocked:
            continue
        category = categories[row]
        count = per_category.get(category, 0)
        if count >= cap:
            continue
        if groups is not None:
            group = groups[row]
            if group >= 0:
                in_group = per_group.get(group, 0)
                if in_group >= 1 + len(chosen) // DUPLICATE_SPAN:
                    continue
                per_group[group] = in_group + 1
        per_category[category] = count + 1
        seen.add(row)
        chosen.append(Ranked(row, round(score, 4), REASONS[code]))
        if len(chosen) >= limit:
            break
    return chosen


def fill(
    candidates: Iterable[Candidate],
    blocked: tuple[Container[int], Container[int]],
    categories: Sequence[int],
    limit: int,
    share: float = MAX_CATEGORY_SHARE,
    backfill: Iterable[Candidate] = (),
    groups: Sequence[int] | None = None,
) -> list[Ranked]:
    """`select` from the candidates, then top up from `backfill` (popular items, best first) if short."""
    chosen = select(candidates, blocked, categories, limit, share, None, groups)
    if len(chosen) < limit:
        chosen = select(backfill, blocked, categories, limit, share, chosen, groups)
    return chosen


def rank(
    sources: Iterable[Source],
    blocked: tuple[Container[int], Container[int]],
    categories: Sequence[int],
    limit: int,
    params: RankingParams,
    backfill: Iterable[Candidate] = (),
) -> list[Ranked]:
    """Blend, filter and cap; `backfill` (popular items, best first) tops up a list the sources could not fill."""
    return fill(blend(sources, params.weights), blocked, categories, limit, params.max_category_share, backfill)
