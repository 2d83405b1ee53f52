"""Recommend: candidate sources from a visitor's signals, then `ranking.rank`.

The same function serves `/v1/decide` and the offline evaluation (`models.evaluate`), so what is
measured offline is what storefronts get. Everything that does not depend on the visitor (the
popular lists of each country, blended and stripped of what is out of stock there; neighbour
tables as lists) is prepared once when a build is loaded.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable, Container, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from edge.core import kernels
from edge.core.catalog import Catalog, Item, Popularity
from edge.core.derived import Derived
from edge.core.learned import (
    Learned,
    Pool,
    SparseScores,
    ease_scores,
    ease_source,
    pool,
    pool_fast,
    pool_small,
    recent_source,
)
from edge.core.memo import Memo
from edge.core.placements import Match
from edge.core.ranking import (
    REASON_CODE,
    Candidate,
    Ranked,
    RankingParams,
    Source,
    blend,
    category_cap,
    fill,
    rank_scores,
)
from edge.core.textindex import TextIndex
from edge.core.vectors import VectorIndex

RECENT_VIEWS = 5  # views that shape `similar_to_viewed`
RECENT_PURCHASES = 5  # purchases whose neighbours are `bought_together`
NEIGHBOURS_PER_ANCHOR = 10
POPULAR_REASONS = ("trending_local", "best_seller", "on_sale")
BACKFILL_WEIGHT = 0.1
SEARCH_MEMO = 20_000  # index answers remembered per build (per distinct viewed list or taste vector)
Found = tuple[tuple[int, ...], tuple[float, ...]]  # an index answer: rows and scores, best first
LARGE_CATALOG = 100_000  # from here the pool works in candidates, not catalog-length arrays (`pool_fast`)
MAX_OVER_FETCH = 2000  # index results fetched beyond k to make up for blocked (bought, excluded) items


class Build(Protocol):
    """What a model is made from: the parts of one build (edge.model.artifacts.Artifacts has them)."""

    @property
    def version(self) -> str: ...
    @property
    def items(self) -> Sequence[Item]: ...
    @property
    def popularity(self) -> Popularity: ...
    @property
    def neighbors(self) -> np.ndarray: ...  # int32 [n_items, k] co-purchase neighbours as rows, -1 padded
    @property
    def learned(self) -> Learned | None: ...
    @property
    def text(self) -> TextIndex | None: ...


@dataclass(frozen=True, slots=True)
class Model:
    """One loaded build as the service ranks with it; swapped whole on reload."""

    version: str
    catalog: Catalog
    index: VectorIndex
    neighbours: tuple[tuple[int, ...], ...]  # row -> its co-purchase neighbours, best first
    popularity: Popularity
    by_category: Mapping[int, Source]  # category code -> its popular items as a `preference` source
    popular_sources: Mapping[str, tuple[Source, ...]]  # country ("" = elsewhere) -> non-personal sources
    backfill: tuple[Candidate, ...]  # every popular item, to top up short lists
    per_source: int = 60
    learned: Learned | None = None  # EASE, item facts, duplicate groups and ranker trees (ranking.npz)
    prices: np.ndarray = field(default_factory=lambda: np.zeros(0))  # float64 list price per row
    groups: Sequence[int] | None = None  # near-duplicate group per row (-1 = none), as a list
    text: TextIndex = field(default_factory=lambda: TextIndex({}, {}, ()))  # names and categories -> rows
    matches: dict[Match, list[int]] = field(default_factory=dict)  # content rule -> its rows (memo)
    searches: Memo[Found] = field(default_factory=lambda: Memo(SEARCH_MEMO))
    _blended: dict[tuple[str, tuple[float, ...]], tuple[list[Candidate], dict[int, float]]] = field(
        default_factory=dict
    )
    _popular_lists: dict[tuple[str, tuple[float, ...], int, float], list[Ranked]] = field(default_factory=dict)
    _led_lists: dict[Hashable, list[Ranked]] = field(default_factory=dict)  # `led_popular_list`'s memo
    derived: Derived = field(default_factory=Derived)  # per-profile values remembered (edge.core.derived)
    plain: bool = False  # the reference path: none of issue 10's shortcuts (tests/test_differential.py)
    large_catalog: int = LARGE_CATALOG  # from this size the learned pool is `pool_fast`, below `pool_small`

    def as_plain(self) -> Model:
        """This build without the shortcuts (remembered per-profile values, the vectorized pool)."""
        return replace(
            self, derived=Derived(plain=True), plain=True, searches=Memo(self.searches.size), _blended={},
            _popular_lists={}, _led_lists={}, matches={},
        )  # fmt: skip

    @classmethod
    def from_artifacts(
        cls, art: Build, index: VectorIndex, per_source: int = 60, search_memo: int = SEARCH_MEMO
    ) -> Model:
        """Index the build; everything that does not depend on the visitor is prepared here, once."""
        catalog = Catalog.from_items(art.items, art.popularity.global_rows)
        pop = art.popularity
        ranked = pop.global_rows
        codes = catalog.category_codes[ranked]
        by_category = {
            code: _list_source(ranked[codes == code], per_source // 2, "preference")
            for code in range(len(catalog.category_names))
        }
        countries = {"", *pop.by_country, *pop.trending_by_country, *catalog.out_of_stock_rows}
        popular = {c: _popular_sources(pop, catalog, c, per_source) for c in countries}
        backfill_code = REASON_CODE["best_seller"]
        backfill = tuple(
            (BACKFILL_WEIGHT * score, -row, backfill_code)
            for row, score in zip(ranked.tolist(), rank_scores(len(ranked)), strict=True)
        )
        neighbours = tuple(tuple(r for r in row if r >= 0) for row in art.neighbors[:, :NEIGHBOURS_PER_ANCHOR].tolist())
        learned = art.learned
        return cls(
            art.version, catalog, index, neighbours, pop, by_category, popular, backfill, per_source,
            learned, np.array([item.price for item in art.items], dtype=np.float64),
            learned.duplicate_group.tolist() if learned is not None else None,
            art.text if art.text is not None else TextIndex.from_items(art.items, pop.global_rows.tolist()),
            {}, Memo(search_memo),
        )  # fmt: skip

    @property
    def ranker(self) -> str | None:
        """The name of the build's trained ranker, if it has one."""
        trees = self.learned.trees if self.learned is not None else None
        return trees.name if trees is not None else None

    def popular_list(self, country: str | None, params: RankingParams, limit: int) -> list[Ranked]:
        """The finished non-personal list for a country (nothing excluded), as every anonymous first
        page gets it; memoised."""
        place = country if country is not None and country in self.popular_sources else ""
        key = (place, tuple(params.weights.get(r, 0.0) for r in POPULAR_REASONS), limit, params.max_category_share)
        found = self._popular_lists.get(key)
        if found is None:
            popular, _ = self.popular_candidates(place, params.weights)
            nothing: frozenset[int] = frozenset()
            blocked = (self.catalog.out_of_stock_rows.get(place, nothing), nothing)
            found = fill(
                popular, blocked, self.catalog.category_list, limit, params.max_category_share, self.backfill,
                self.groups,
            )  # fmt: skip
            if len(self._popular_lists) < 4096:
                self._popular_lists[key] = found
        return found

    def led_popular_list(
        self, country: str | None, params: RankingParams, limit: int, lead: Sequence[Candidate]
    ) -> list[Ranked]:
        """`recommend`'s list for a visitor with nothing personal and nothing blocked but the country's
        stock, with `lead` (a campaign's, searches', context boosts' products) ahead: a function of the
        country, the arm's knobs and the lead alone, so it is memoised on them (anonymous first pages)."""
        weights = params.weights
        key = (country or "", tuple(weights.get(r, 0.0) for r in POPULAR_REASONS), limit, params.max_category_share,
               tuple(lead))  # fmt: skip
        found = self._led_lists.get(key)
        if found is None:
            popular, _ = self.popular_candidates(country, weights)
            nothing: frozenset[int] = frozenset()
            blocked = (self.catalog.out_of_stock_rows.get(country or "", nothing), nothing)
            found = fill(
                itertools.chain(lead, popular), blocked, self.catalog.category_list, limit,
                params.max_category_share, self.backfill, self.groups,
            )  # fmt: skip
            if len(self._led_lists) < 4096:
                self._led_lists[key] = found
        return found

    def popular_candidates(
        self, country: str | None, weights: Mapping[str, float]
    ) -> tuple[list[Candidate], dict[int, float]]:
        """The country's non-personal candidates blended with `weights`, best first, and row -> score
        (memoised per country and weights)."""
        place = country if country is not None and country in self.popular_sources else ""
        key = (place, tuple(weights.get(r, 0.0) for r in POPULAR_REASONS))
        found = self._blended.get(key)
        if found is None:
            candidates = blend(self.popular_sources[key[0]], weights)
            found = (candidates, {-c[1]: c[0] for c in candidates})
            if len(self._blended) < 1024:
                self._blended[key] = found
        return found


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


def blocked_rows(model: Model, signals: Signals) -> tuple[Container[int], Container[int]]:
    """Rows that must not be shown: out of stock in the country; excluded, in the cart, bought (unless repeatable)."""
    catalog = model.catalog
    out_of_stock = catalog.out_of_stock_rows.get(signals.country or "", frozenset())
    blocked = set(signals.exclude)
    blocked.update(signals.cart)
    if signals.purchased:
        repeatable = catalog.repeatable_rows
        blocked.update(row for row in signals.purchased if row not in repeatable)
    return out_of_stock, blocked


def _neighbour_source(model: Model, anchors: Sequence[int], reason: str) -> Source | None:
    """Neighbours of the anchors (most recent last); recency and neighbour rank shape the score."""
    if not anchors:
        return None
    rows: list[int] = []
    scores: list[float] = []
    table = model.neighbours
    decay = 1.0
    for anchor in reversed(anchors):
        neighbours = table[anchor]
        k = len(neighbours) or 1
        rows.extend(neighbours)
        scores.extend(decay * (1.0 - j / NEIGHBOURS_PER_ANCHOR) for j in range(k) if j < len(neighbours))
        decay *= 0.9
    return Source(reason, rows, scores)  # type: ignore[arg-type]


def _similar_source(
    found: Found,
    k: int,
    reason: str,
    blocked: tuple[Container[int], Container[int]],
    categories: Sequence[int],
    per_category: int,
    skip: Container[int] = (),
) -> Source:
    """The first `k` found items neither blocked nor skipped, at most `per_category` of a category
    (more could never be shown), scores clipped to [0, 1]."""
    rows: list[int] = []
    scores: list[float] = []
    first_blocked, second_blocked = blocked
    counts: dict[int, int] = {}
    for row, score in zip(*found, strict=True):
        if row in first_blocked or row in second_blocked or row in skip:
            continue
        category = categories[row]
        seen = counts.get(category, 0)
        if seen >= per_category:
            continue
        counts[category] = seen + 1
        rows.append(row)
        scores.append(min(1.0, max(0.0, score)))
        if len(rows) >= k:
            break
    return Source(reason, rows, scores)  # type: ignore[arg-type]


def _similar_source_quick(
    found: Found,
    k: int,
    reason: str,
    blocked: tuple[Container[int], Container[int]],
    categories: Sequence[int],
    per_category: int,
    skip: Container[int] = (),
) -> Source:
    """`_similar_source`, the same answer: the category cap is checked first (a found list runs deep
    into categories already full, and a row skipped for either reason is not counted), and the scores
    are clipped for the chosen rows only."""
    first_blocked, second_blocked = blocked
    counts: dict[int, int] = {}
    get = counts.get
    chosen: list[int] = []
    found_rows, found_scores = found
    for at, row in enumerate(found_rows):
        category = categories[row]
        seen = get(category, 0)
        if seen >= per_category or row in first_blocked or row in second_blocked or row in skip:
            continue
        counts[category] = seen + 1
        chosen.append(at)
        if len(chosen) >= k:
            break
    rows = [found_rows[at] for at in chosen]
    scores = [min(1.0, max(0.0, found_scores[at])) for at in chosen]
    return Source(reason, rows, scores)  # type: ignore[arg-type]


def _similar_source_compiled(
    catalog: Catalog,
    found: Found,
    k: int,
    reason: str,
    blocked: tuple[Container[int], Container[int]],
    categories: Sequence[int],
    per_category: int,
    skip: Container[int] = (),
) -> Source:
    """`_similar_source_quick`, the same answer, its loop in C (edge/core/kernels.py); `categories` is read as the
    catalog's int32 category codes (the same values)."""
    codes, n_categories = catalog.category_codes, len(catalog.category_names)
    return kernels.similar_source(found, k, reason, blocked, codes, n_categories, per_category, skip)


def _search(model: Model, key: Hashable, query: Callable[[], np.ndarray | None], n: int) -> Found:
    """The `n` nearest items to a query, remembered per (key, n): a pure function of the build.

    Kept as tuples of numbers, which the garbage collector stops tracking (edge/heap.py): a memo of
    lists made every full collection walk each remembered row (half its time after 4,000 decisions).
    """

    def compute() -> Found:
        vector = query()
        if vector is None:
            return (), ()
        found = model.index.search(vector, n)
        return tuple(found.rows.tolist()), tuple(found.scores.tolist())

    return model.searches.get((key, n), compute)


def text_search(model: Model, query: str, limit: int = 200) -> Found:
    """`TextIndex.search` of the build's names and categories, remembered per (query, limit) beside the index
    answers (a pure function of the build; the reference path computes it afresh)."""
    if model.plain:
        rows, scores = model.text.search(query, limit)
        return tuple(rows), tuple(scores)

    def compute() -> Found:
        rows, scores = model.text.search(query, limit)
        return tuple(rows), tuple(scores)

    return model.searches.get(("text", query, limit), compute)


def _list_source(rows: np.ndarray, k: int, reason: str) -> Source:
    top = rows[:k].tolist()
    return Source(reason, top, rank_scores(len(top)))  # type: ignore[arg-type]


def _popular_sources(pop: Popularity, catalog: Catalog, country: str, k: int) -> tuple[Source, ...]:
    """Trending where the visitor is, best sellers, items on sale; out-of-stock items left out."""
    local_trending = pop.trending_by_country.get(country)
    local_best = pop.by_country.get(country)
    out = catalog.out_of_stock_rows.get(country, frozenset())

    def in_stock(rows: np.ndarray) -> np.ndarray:
        return np.array([r for r in rows.tolist() if r not in out], dtype=np.int64) if out else rows

    return (
        _list_source(
            in_stock(local_trending if local_trending is not None else pop.trending_rows), k, "trending_local"
        ),
        _list_source(in_stock(local_best if local_best is not None else pop.global_rows), k, "best_seller"),
        _list_source(in_stock(catalog.on_sale_rows), k // 2, "on_sale"),
    )


def personal_sources(
    model: Model,
    signals: Signals,
    params: RankingParams,
    k: int,
    blocked: tuple[Container[int], Container[int]],
    per_category: int = 1_000_000,
) -> list[Source]:
    """The sources only this visitor's signals produce; index searches over-fetch past what is blocked."""
    if params.strategy == "popular":
        return []
    categories = model.catalog.category_list
    similar: Callable[..., Source] = _similar_source if model.plain else _similar_source_quick
    if not model.plain and kernels.ENABLED:
        similar = functools.partial(_similar_source_compiled, model.catalog)
    sources: list[Source | None] = []
    over_fetch = min(len(signals.purchased) + len(signals.exclude), MAX_OVER_FETCH)
    if signals.viewed:
        recent = tuple(signals.viewed[-RECENT_VIEWS:])
        n = k + len(signals.viewed) + over_fetch
        found = _search(model, ("viewed", recent), lambda: model.index.query_for_rows(list(recent)), n)
        sources.append(similar(found, k, "similar_to_viewed", blocked, categories, per_category, set(signals.viewed)))
    vector = signals.user_vector
    if vector is not None:
        found = _search(model, ("vector", vector.tobytes()), lambda: vector, k + over_fetch)
        sources.append(similar(found, k, "for_you", blocked, categories, per_category))
    sources.append(_neighbour_source(model, signals.cart, "in_cart_complement"))
    anchors = [*signals.wishlist, *signals.purchased[-RECENT_PURCHASES:]]
    sources.append(_neighbour_source(model, anchors, "bought_together"))
    sources.extend(model.by_category.get(code) for code in signals.preferred_categories)
    return [s for s in sources if s is not None]


def uses_ranker(model: Model, params: RankingParams) -> bool:
    """True when this decision is ordered by the build's trained ranker."""
    name = model.ranker
    return params.strategy == "learned" and name is not None and params.ranker in (None, name)


def learned_pool(
    model: Model, signals: Signals, params: RankingParams, limit: int
) -> tuple[Pool, tuple[Container[int], Container[int]]]:
    """Every source's candidates for these signals with their ranker features, and the blocked rows."""
    learned = model.learned
    if learned is None:
        raise ValueError("this build has no learned-ranking arrays")
    k = min(params.per_source, max(3 * limit, 24))
    blocked = blocked_rows(model, signals)
    per_category = 2 * category_cap(limit, params.max_category_share)
    keyed: list[tuple[str, Source]] = [
        (s.reason, s) for s in personal_sources(model, signals, params, k, blocked, per_category)
    ]
    history = [*signals.purchased, *signals.wishlist, *signals.viewed, *signals.cart]
    large = not model.plain and len(model.catalog) >= model.large_catalog
    ease: np.ndarray | SparseScores | None
    if model.plain:
        ease = ease_scores(learned, history)
    else:  # edge/core/kernels.py: in C where built, else numpy's; sparse for a big catalog
        ease = (kernels.ease_scores_sparse if large else kernels.ease_scores)(learned, history)
    found = (ease_source if model.plain else kernels.ease_source)(ease, k, blocked[1])
    if found is not None:
        keyed.append(("ease", found))
    keyed.append(("recent_popular", recent_source(learned, k)))
    place = signals.country if signals.country is not None and signals.country in model.popular_sources else ""
    keyed.extend((s.reason, s) for s in model.popular_sources[place])
    vector = signals.user_vector
    taste = (model.index.vectors, vector) if vector is not None else None
    categories, prices = model.catalog.category_codes, model.prices
    if kernels.ENABLED and not model.plain:  # in C: work that grows with the candidates, whatever the catalog
        compiled = kernels.pool_small(learned, keyed, blocked, history, categories, prices, params.weights, taste, ease)
        return compiled, blocked
    if large:  # work that grows with the candidates, not the catalog
        return pool_fast(learned, keyed, blocked, history, categories, prices, params.weights, taste, ease), blocked
    assert not isinstance(ease, SparseScores)
    make = pool if model.plain else pool_small
    return make(learned, keyed, blocked, history, categories, prices, params.weights, taste, ease), blocked


def recommend_learned(
    model: Model, signals: Signals, limit: int, params: RankingParams, lead: Sequence[Candidate] = ()
) -> list[Ranked]:
    """The list ordered by the trained ranker over every source's candidates (then the usual caps)."""
    learned = model.learned
    assert learned is not None and learned.trees is not None
    found, blocked = learned_pool(model, signals, params, limit)
    compiled = kernels.ENABLED and not model.plain  # edge/core/kernels.py: the same answers, in C
    scores = kernels.predict(learned.trees, found.features) if compiled else learned.trees.predict(found.features)
    shown = 1.0 / (1.0 + np.exp(-scores))  # the response's score: the ranker's, squashed into (0, 1)
    reasons = found.reasons
    # best first, the lower row on a tie (rows are unique)
    order = kernels.order(shown, found.rows) if compiled else np.lexsort((found.rows, -shown)).tolist()
    shown_list, rows_list = shown.tolist(), found.rows.tolist()
    candidates = ((shown_list[i], -rows_list[i], REASON_CODE[reasons[i]]) for i in order)  # lazy: fill stops early
    categories = model.catalog.category_list
    ordered = itertools.chain(lead, candidates)
    return fill(ordered, blocked, categories, limit, params.max_category_share, model.backfill, model.groups)


def recommend(
    model: Model, signals: Signals, limit: int, params: RankingParams, lead: Sequence[Candidate] = ()
) -> list[Ranked]:
    """The ranked product list for these signals; `lead` (best first) goes ahead of the ranked candidates."""
    personal_signals = signals.viewed or signals.cart or signals.purchased or signals.wishlist
    if uses_ranker(model, params) and (personal_signals or signals.user_vector is not None):
        return recommend_learned(model, signals, limit, params, lead)
    k = min(params.per_source, max(3 * limit, 24))
    blocked = blocked_rows(model, signals)
    share = params.max_category_share
    per_category = 2 * category_cap(limit, share)  # room for the blend to choose within a category
    personal = personal_sources(model, signals, params, k, blocked, per_category)
    if not personal and not blocked[1] and not lead:
        return model.popular_list(signals.country, params, limit)
    if not personal and not blocked[1] and not model.plain:
        return model.led_popular_list(signals.country, params, limit, lead)
    popular, popular_score = model.popular_candidates(signals.country, params.weights)
    candidates: Iterable[Candidate] = popular
    if personal:  # both lists are best first: merge lazily, select stops after `limit` picks
        candidates = heapq.merge(blend(personal, params.weights, popular_score), popular, reverse=True)
    if lead:
        candidates = itertools.chain(lead, candidates)
    return fill(candidates, blocked, model.catalog.category_list, limit, share, model.backfill, model.groups)
