"""Recommend: candidate sources from a visitor's signals, then `ranking.rank`.

The same function serves `/v1/decide` and the offline evaluation (`models.evaluate`), so what is
measured offline is what storefronts get.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.artifacts import Artifacts, Popularity
from edge.catalog import Catalog
from edge.index import ItemIndex, Neighbours
from edge.ranking import RANK_SCORES, Ranked, RankingParams, Source, rank, rank_scores

RECENT_VIEWS = 5  # views that shape `similar_to_viewed`
RECENT_PURCHASES = 10  # purchases whose neighbours are `bought_together`
NEIGHBOURS_PER_ANCHOR = 10


@dataclass(frozen=True, slots=True)
class Model:
    """One loaded build as the service ranks with it; swapped whole on reload."""

    version: str
    path: Path
    catalog: Catalog
    index: ItemIndex
    neighbors: np.ndarray
    popularity: Popularity
    by_category: Mapping[int, Source]  # category code -> its popular items as a `preference` source
    popular: Mapping[str, tuple[Source, ...]]  # country ("" = unknown) -> non-personal sources
    backfill: Source  # every popular item, to top up short lists

    @classmethod
    def from_artifacts(cls, art: Artifacts, index: ItemIndex, per_source: int = 60) -> Model:
        """Index the build; everything that does not depend on the visitor is prepared here, once."""
        catalog = Catalog.from_items(art.items, art.popularity.global_rows)
        pop = art.popularity
        ranked = pop.global_rows
        codes = catalog.category_codes[ranked]
        by_category = {
            code: _list_source(ranked[codes == code], per_source // 2, "preference")
            for code in range(len(catalog.category_names))
        }
        countries = {"", *pop.by_country, *pop.trending_by_country}
        popular = {c: _popular_sources(pop, catalog, c, per_source) for c in countries}
        backfill = _list_source(ranked, len(ranked), "best_seller")
        return cls(art.version, art.path, catalog, index, art.neighbors, pop, by_category, popular, backfill)

    def popular_sources(self, country: str | None) -> tuple[Source, ...]:
        """Trending where the visitor is, best sellers, items on sale (prepared at load)."""
        return self.popular.get(country or "") or self.popular[""]


@dataclass(frozen=True, slots=True)
class Signals:
    """What may shape one list, as catalog rows (unknown ids already dropped)."""

    viewed: Sequence[int] = ()  # most-recent-last
    cart: Sequence[int] = ()
    purchased: Sequence[int] = ()  # oldest first
    wishlist: Sequence[int] = ()
    preferred_categories: Sequence[int] = ()  # category codes
    user_vector: np.ndarray | None = None
    country: str | None = None
    exclude: Sequence[int] = ()

    @property
    def personal(self) -> bool:
        """Anything about this visitor (not just where they are) is known."""
        return bool(
            self.viewed
            or self.cart
            or self.purchased
            or self.wishlist
            or self.preferred_categories
            or self.user_vector is not None
        )


def blocked_rows(model: Model, signals: Signals) -> np.ndarray:
    """Mask of rows that must not be shown: excluded, in the cart, bought (unless repeatable), out of stock."""
    catalog = model.catalog
    out_of_stock = catalog.out_of_stock.get(signals.country or "")
    blocked = np.zeros(len(catalog), dtype=bool) if out_of_stock is None else out_of_stock.copy()
    if signals.exclude:
        blocked[list(signals.exclude)] = True
    if signals.cart:
        blocked[list(signals.cart)] = True
    if signals.purchased:
        bought = np.asarray(signals.purchased, dtype=np.int64)
        blocked[bought[~catalog.repeatable[bought]]] = True
    return blocked


def _neighbour_source(model: Model, anchors: Sequence[int], reason: str) -> Source | None:
    if not anchors:
        return None
    table = model.neighbors[np.asarray(anchors, dtype=np.int64), :NEIGHBOURS_PER_ANCHOR]  # most recent last
    k = table.shape[1]
    recency = np.power(np.float32(0.9), np.arange(len(anchors) - 1, -1, -1, dtype=np.float32))[:, None]
    scores = (1.0 - np.arange(k, dtype=np.float32) / k)[None, :] * recency
    valid = table >= 0
    return Source(reason, table[valid], scores[valid].astype(np.float32))  # type: ignore[arg-type]


def _similar_source(found: Neighbours, k: int, reason: str, skip: Sequence[int]) -> Source:
    rows, scores = found.rows, found.scores
    if skip:
        skipped = set(skip)
        keep = [i for i, row in enumerate(rows.tolist()) if row not in skipped]
        rows, scores = rows[keep], scores[keep]
    return Source(reason, rows[:k], np.clip(scores[:k], 0.0, 1.0))  # type: ignore[arg-type]


def _list_source(rows: np.ndarray, k: int, reason: str) -> Source:
    top = rows[:k]
    scores = RANK_SCORES[: len(top)] if len(top) <= len(RANK_SCORES) else rank_scores(len(top))
    return Source(reason, top, scores)  # type: ignore[arg-type]


def _popular_sources(pop: Popularity, catalog: Catalog, country: str, k: int) -> tuple[Source, ...]:
    local_trending = pop.trending_by_country.get(country)
    local_best = pop.by_country.get(country)
    return (
        _list_source(local_trending if local_trending is not None else pop.trending_rows, k, "trending_local"),
        _list_source(local_best if local_best is not None else pop.global_rows, k, "best_seller"),
        _list_source(catalog.on_sale_rows, k // 2, "on_sale"),
    )


def candidate_sources(model: Model, signals: Signals, params: RankingParams, limit: int = 12) -> list[Source]:
    """Every source the signals allow, personal ones first; about three candidates per slot each."""
    k = min(params.per_source, max(3 * limit, 24))
    sources: list[Source | None] = []
    if params.strategy == "blend":
        viewed_query = model.index.query_for_rows(list(signals.viewed[-RECENT_VIEWS:]))
        queries = [q for q in (viewed_query, signals.user_vector) if q is not None]
        found = model.index.search_many(queries, k + len(signals.viewed)) if queries else []
        if viewed_query is not None:
            sources.append(_similar_source(found[0], k, "similar_to_viewed", signals.viewed))
        if signals.user_vector is not None:
            sources.append(_similar_source(found[-1], k, "for_you", ()))
        sources.append(_neighbour_source(model, signals.cart, "in_cart_complement"))
        anchors = [*signals.wishlist, *signals.purchased[-RECENT_PURCHASES:]]
        sources.append(_neighbour_source(model, anchors, "bought_together"))
        sources.extend(model.by_category.get(code) for code in signals.preferred_categories)
    result = [s for s in sources if s is not None]
    result.extend(
        s if len(s.rows) <= k else Source(s.reason, s.rows[:k], s.scores[:k])
        for s in model.popular_sources(signals.country)
    )
    return result


def recommend(model: Model, signals: Signals, limit: int, params: RankingParams) -> list[Ranked]:
    """The ranked product list for these signals."""
    sources = candidate_sources(model, signals, params, limit)
    blocked = blocked_rows(model, signals)
    return rank(sources, blocked, model.catalog.category_codes, limit, params, model.backfill)
