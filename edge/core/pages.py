"""Pages: the placement strategy a request's `page` selects, and the signals that shape every list.

    home       the visitor's list (`edge.core.recommend.recommend`), led by what this visit asks for:
               the campaign's products (`campaign`), items matching recent searches (`search`) and
               the content file's weather/device/region boosts (`context`)
    product    items similar to context.product_id and bought with it, never the product itself
    cart       complements of the cart, then small add-ons under the page's price cap
    category   context.category's items
    search     items matching context.query (the text index over names and categories)

On product, cart, category and search pages the page decides which items qualify; the visitor's
taste (ALS vector, EASE over their history, recently viewed items) reorders them. Pure: the model
and the content's placements in, ranked rows out.
"""

from __future__ import annotations

import itertools
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.core.learned import ease_scores
from edge.core.placements import Match, Placements
from edge.core.ranking import REASON_CODE, Candidate, Ranked, RankingParams, fill, rank_scores
from edge.core.recommend import Model, Signals, blocked_rows, recommend, text_search
from edge.core.shapes import Reason

PAGE_WEIGHT = 0.7  # on product/cart/search pages: relevance to the page vs the visitor's taste
CATEGORY_PAGE_WEIGHT = 0.5  # on a category page every item qualifies equally; taste weighs more
SEARCH_HISTORY = 3  # recent searches that shape a list, the latest weighing most
SEARCH_ITEMS = 3  # items brought in by recent searches
LEAD = 1.0  # brought-in items score above every ranked one (scores are at most ~1)


@dataclass(frozen=True, slots=True)
class PageContext:
    """What a request says about the page and the visit, besides the visitor's own signals."""

    page: str = "home"
    product_id: str | None = None
    category: str | None = None
    query: str | None = None
    searches: Sequence[str] = ()  # most recent last
    campaign: str | None = None  # utm_campaign of this visit
    attributes: Mapping[str, str | None] = field(default_factory=dict)  # weather, device, region


def place(
    model: Model,
    placements: Placements,
    context: PageContext,
    signals: Signals,
    limit: int,
    params: RankingParams,
) -> list[Ranked]:
    """The products of one placement."""
    strategy = placements.page(context.page).strategy
    catalog = model.catalog
    product = catalog.row_of.get(context.product_id or "")
    if strategy == "product" and product is not None:
        return _product_page(model, product, signals, limit, params)
    if strategy == "cart" and signals.cart:
        rule = placements.page(context.page)
        return _cart_page(model, signals, limit, params, rule.add_ons, rule.add_on_max_price, rule.add_on_share)
    category = catalog.category_code_of.get(context.category or "")
    if strategy == "category" and category is not None:
        return _category_page(model, category, signals, limit)
    if strategy == "search" and context.query:
        rows, scores = text_search(model, context.query)
        if rows:
            relevance: dict[int, tuple[float, Reason]] = {
                row: (score, "search") for row, score in zip(rows, scores, strict=True)
            }
            return _ordered(model, signals, relevance, blocked_rows(model, signals), limit, 1.0, PAGE_WEIGHT)
    return recommend(model, signals, limit, params, lead_candidates(model, placements, context, limit))


def lead_candidates(model: Model, placements: Placements, context: PageContext, limit: int) -> list[Candidate]:
    """What this visit asks for, ahead of the ranked list: the campaign's products (up to half the
    list), items matching recent searches, and the context boosts; best first."""
    lead: list[Candidate] = []
    match = placements.campaigns.get(context.campaign or "")
    if match is not None:
        rows = _matching(model, match)[: max(1, limit // 2)]
        code = REASON_CODE["campaign"]
        lead.extend((LEAD + 0.9 * s, -r, code) for r, s in zip(rows, rank_scores(len(rows)), strict=True))
    if context.searches:
        weights: dict[int, float] = {}
        for age, query in enumerate(reversed(context.searches[-SEARCH_HISTORY:])):
            matched, scores = text_search(model, query, 50)
            for row, score in zip(matched, scores, strict=True):
                weights[row] = weights.get(row, 0.0) + score * 0.5**age
        best = sorted(weights, key=lambda r: -weights[r])[:SEARCH_ITEMS]
        code = REASON_CODE["search"]
        lead.extend((LEAD + 0.5 * min(weights[r], 1.0), -r, code) for r in best)
    code = REASON_CODE["context"]
    for attribute, value in context.attributes.items():
        boost = placements.boosts.get(attribute, {}).get((value or "").lower())
        if boost is not None:
            rows = _matching(model, boost)[: boost.max_items]
            lead.extend((LEAD + boost.boost, -r, code) for r in rows)
    lead.sort(reverse=True)
    return lead


def _matching(model: Model, match: Match) -> list[int]:
    """The rows a rule selects, best sellers first (memoised per build and rule)."""
    found = model.matches.get(match)
    if found is None:
        items = model.catalog.items
        rank = model.text.rank
        found = sorted(
            (row for row, item in enumerate(items) if match.selects(item.id, item.name, item.category)),
            key=lambda r: (rank[r], r),
        )
        if len(model.matches) < 1024:
            model.matches[match] = found
    return found


def personal_scores(model: Model, signals: Signals, rows: np.ndarray) -> np.ndarray | None:
    """The visitor's taste for `rows` in [0, 1] (mean of ALS taste, EASE over their history and
    similarity to what they viewed, each scaled by its best); None without a personal signal."""
    parts = []
    vectors = model.index.vectors
    if signals.user_vector is not None:
        parts.append(vectors[rows] @ signals.user_vector)
    history = [*signals.purchased, *signals.wishlist, *signals.viewed, *signals.cart]
    if model.learned is not None and history:
        ease = ease_scores(model.learned, history)
        if ease is not None:
            parts.append(ease[rows])
    if signals.viewed:
        query = model.index.query_for_rows(list(signals.viewed[-5:]))
        if query is not None:
            parts.append(vectors[rows] @ query)
    if not parts:
        return None
    scaled = []
    for part in parts:
        part = np.maximum(np.asarray(part, dtype=np.float64), 0.0)
        top = float(part.max()) if len(part) else 0.0
        scaled.append(part / top if top > 0 else part)
    mean: np.ndarray = np.mean(scaled, axis=0)
    return mean


def _ordered(
    model: Model,
    signals: Signals,
    relevance: Mapping[int, tuple[float, Reason]],
    blocked: tuple[Container[int], Container[int]],
    limit: int,
    share: float,
    page_weight: float,
    backfill: Sequence[Candidate] = (),
) -> list[Ranked]:
    """Qualifying rows ordered by page relevance and the visitor's taste, under the usual caps."""
    rows = np.fromiter(relevance, dtype=np.int64, count=len(relevance))
    base = np.array([relevance[r][0] for r in rows.tolist()], dtype=np.float64)
    taste = personal_scores(model, signals, rows) if len(rows) else None
    final = base if taste is None else page_weight * base + (1.0 - page_weight) * taste
    candidates = sorted(
        ((round(float(s), 6), -r, REASON_CODE[relevance[r][1]]) for r, s in zip(rows.tolist(), final, strict=True)),
        reverse=True,
    )
    return fill(candidates, blocked, model.catalog.category_list, limit, share, backfill, model.groups)


def _product_page(model: Model, product: int, signals: Signals, limit: int, params: RankingParams) -> list[Ranked]:
    relevance: dict[int, tuple[float, Reason]] = {}
    found = model.index.search(model.index.vectors[product], 3 * limit + 1)
    for row, score in zip(found.rows.tolist(), found.scores.tolist(), strict=True):
        relevance[row] = (0.9 * max(0.0, min(1.0, score)), "similar_item")
    together = model.neighbours[product]
    for row, score in zip(together, rank_scores(len(together)), strict=True):
        if score >= relevance.get(row, (0.0, "similar_item"))[0]:
            relevance[row] = (score, "bought_together")
    relevance.pop(product, None)
    out_of_stock, blocked = blocked_rows(model, signals)
    never = {product, *(row for row in signals.exclude), *signals.cart, *signals.purchased}
    if isinstance(blocked, set):
        never |= blocked
    share = params.max_category_share
    return _ordered(model, signals, relevance, (out_of_stock, never), limit, share, PAGE_WEIGHT, model.backfill)


def _cart_page(
    model: Model,
    signals: Signals,
    limit: int,
    params: RankingParams,
    add_ons: int,
    max_price: float,
    add_on_share: float,
) -> list[Ranked]:
    """Complements of the cart, then (when they run out) the visitor's usual list, then small add-ons
    under `max_price`: `add_ons` places, never more than `add_on_share` of the list."""
    relevance: dict[int, tuple[float, Reason]] = {}
    for age, anchor in enumerate(reversed(signals.cart)):
        together = model.neighbours[anchor]
        for row, score in zip(together, rank_scores(len(together)), strict=True):
            score *= 0.9**age
            if score > relevance.get(row, (0.0, "in_cart_complement"))[0]:
                relevance[row] = (score, "in_cart_complement")
    blocked = blocked_rows(model, signals)
    share = params.max_category_share
    most_add_ons = int(add_on_share * limit + 1e-9)
    reserved = min(add_ons, most_add_ons)
    complements = _ordered(model, signals, relevance, blocked, max(limit - reserved, 0), share, PAGE_WEIGHT)
    taken = {r.row for r in complements}
    prices = model.prices
    code = REASON_CODE["add_on"]
    small = itertools.chain(
        (
            c
            for c in sorted(((s, -r, code) for r, (s, _) in relevance.items()), reverse=True)
            if prices[-c[1]] <= max_price
        ),
        ((s * 0.1, r, code) for s, r, _ in model.backfill if prices[-r] <= max_price),
    )
    chosen = fill(
        (c for c in small if -c[1] not in taken), blocked, model.catalog.category_list, limit, share, (), model.groups
    )
    room = max(limit - len(complements), 0)
    small_ones = [r for r in chosen if r.row not in taken][: min(room, most_add_ons)]
    taken.update(r.row for r in small_ones)
    usual = [r for r in recommend(model, signals, limit, params) if r.row not in taken]  # complements ran out
    # complements first, add-ons last
    return [*complements, *usual[: room - len(small_ones)], *small_ones][:limit]


def _category_page(model: Model, code: int, signals: Signals, limit: int) -> list[Ranked]:
    codes = model.catalog.category_list
    rank = model.text.rank
    rows = sorted((r for r in range(len(codes)) if codes[r] == code), key=lambda r: (rank[r], r))
    relevance: dict[int, tuple[float, Reason]] = {
        row: (score, "category") for row, score in zip(rows, rank_scores(len(rows), 30.0), strict=True)
    }
    return _ordered(model, signals, relevance, blocked_rows(model, signals), limit, 1.0, CATEGORY_PAGE_WEIGHT)
