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
from edge.index import ItemIndex
from edge.ranking import Ranked, RankingParams, Source, rank, rank_scores

RECENT_VIEWS = 5  # views that shape `similar_to_viewed`
RECENT_PURCHASES = 10  # purchases whose neighbours are `bought_together`


@dataclass(frozen=True, slots=True)
class Model:
    """One loaded build as the service ranks with it; swapped whole on reload."""

    version: str
    path: Path
    catalog: Catalog
    index: ItemIndex
    neighbors: np.ndarray
    popularity: Popularity
    by_category: Mapping[int, np.ndarray]  # category code -> popular rows of that category

    @classmethod
    def from_artifacts(cls, art: Artifacts, index: ItemIndex) -> Model:
        catalog = Catalog.from_items(art.items, art.popularity.global_rows)
        ranked = art.popularity.global_rows
        codes = catalog.category_codes[ranked]
        by_category = {code: ranked[codes == code] for code in range(len(catalog.category_names))}
        return cls(art.version, art.path, catalog, index, art.neighbors, art.popularity, by_category)


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
    table = model.neighbors[np.asarray(anchors, dtype=np.int64)]  # most recent anchor last
    k = table.shape[1]
    recency = np.power(np.float32(0.9), np.arange(len(anchors) - 1, -1, -1, dtype=np.float32))[:, None]
    scores = (1.0 - np.arange(k, dtype=np.float32) / k)[None, :] * recency
    valid = table >= 0
    return Source(reason, table[valid], scores[valid].astype(np.float32))  # type: ignore[arg-type]


def _vector_source(model: Model, query: np.ndarray | None, k: int, reason: str, skip: Sequence[int]) -> Source | None:
    if query is None:
        return None
    found = model.index.search(query, k + len(skip))
    rows, scores = found.rows, found.scores
    if skip:
        keep = ~np.isin(rows, np.asarray(skip))
        rows, scores = rows[keep], scores[keep]
    return Source(reason, rows[:k], np.clip(scores[:k], 0.0, 1.0).astype(np.float32))  # type: ignore[arg-type]


def _list_source(rows: np.ndarray, k: int, reason: str) -> Source:
    top = rows[:k]
    return Source(reason, top, rank_scores(len(top)))  # type: ignore[arg-type]


def popular_sources(model: Model, country: str | None, k: int) -> list[Source]:
    """Non-personal candidates: trending where the visitor is, best sellers, items on sale."""
    pop = model.popularity
    local_trending = pop.trending_by_country.get(country or "")
    local_best = pop.by_country.get(country or "")
    return [
        _list_source(local_trending if local_trending is not None else pop.trending_rows, k, "trending_local"),
        _list_source(local_best if local_best is not None else pop.global_rows, k, "best_seller"),
        _list_source(model.catalog.on_sale_rows, k // 2, "on_sale"),
    ]


def candidate_sources(model: Model, signals: Signals, params: RankingParams) -> list[Source]:
    """Every source the signals allow, personal ones first."""
    k = params.per_source
    sources: list[Source | None] = []
    if params.strategy == "blend":
        sources.append(
            _vector_source(
                model,
                model.index.query_for_rows(list(signals.viewed[-RECENT_VIEWS:])),
                k,
                "similar_to_viewed",
                signals.viewed,
            )
        )
        sources.append(_neighbour_source(model, signals.cart, "in_cart_complement"))
        anchors = [*signals.wishlist, *signals.purchased[-RECENT_PURCHASES:]]
        sources.append(_neighbour_source(model, anchors, "bought_together"))
        sources.append(_vector_source(model, signals.user_vector, k, "for_you", ()))
        for code in signals.preferred_categories:
            rows = model.by_category.get(code)
            if rows is not None:
                sources.append(_list_source(rows, k // 2, "preference"))
    sources.extend(popular_sources(model, signals.country, k))
    return [s for s in sources if s is not None]


def recommend(model: Model, signals: Signals, limit: int, params: RankingParams) -> list[Ranked]:
    """The ranked product list for these signals."""
    sources = candidate_sources(model, signals, params)
    blocked = blocked_rows(model, signals)
    backfill = _list_source(model.popularity.global_rows, len(model.popularity.global_rows), "best_seller")
    return rank(sources, blocked, model.catalog.category_codes, limit, params, backfill)
