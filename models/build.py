"""Build: turn a `Dataset` into the artifacts the service loads (vectors, index, lists, profiles)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from edge.core.loyalty import TierThresholds
from edge.model import artifacts
from edge.model import index as item_index
from models import ledger
from models import ranker as ranker_mod
from models.dataset import Dataset, Interactions

TOP_LIST = 500  # rows kept per popularity list
NEIGHBOURS = 20  # co-purchase neighbours kept per item
TRENDING_DAYS = 30
MIN_COUNTRY_LINES = 50  # a country needs this many purchase lines for its own lists
HISTORY_CHUNK = 1_000_000  # purchase lines per step when summing history vectors
TIER_SHARES = {"platinum": 0.05, "gold": 0.10, "silver": 0.25}  # of customers, top down


Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def tier_thresholds(spend: np.ndarray, shares: Mapping[str, float] = TIER_SHARES) -> TierThresholds:
    """Spend thresholds so that roughly the given top shares of customers land in each tier."""
    ordered = np.sort(spend)[::-1]
    n = len(ordered)

    def cut(share: float) -> float:
        return float(ordered[max(0, min(n - 1, round(n * share) - 1))]) if n else 0.0

    platinum = cut(shares["platinum"])
    gold = cut(shares["platinum"] + shares["gold"])
    silver = cut(shares["platinum"] + shares["gold"] + shares["silver"])
    return TierThresholds(silver=silver, gold=gold, platinum=platinum)


def popularity(ds: Dataset, now: np.datetime64 | None = None) -> dict[str, Any]:
    """Ranked rows: overall, trending (last 30 days), and both per country with enough data."""
    lines = ds.interactions
    now = ds.end if now is None else now
    recent = lines.ts >= now - np.timedelta64(TRENDING_DAYS, "D")
    n_items = len(ds.items)

    def ranked(mask: np.ndarray) -> list[int]:
        # distinct orders per item: robust against one bulk buyer
        weights = np.bincount(lines.item[mask], minlength=n_items).astype(np.float64)
        order = np.argsort(-weights, kind="stable")
        return [int(r) for r in order[:TOP_LIST] if weights[r] > 0]

    everything = np.ones(len(lines), dtype=bool)
    result: dict[str, Any] = {
        "global": ranked(everything),
        "trending": ranked(recent) or ranked(everything),
        "by_country": {},
        "trending_by_country": {},
    }
    countries, country_rows = lines.codes("country")
    counts = np.bincount(country_rows, minlength=len(countries))
    for row, (country, count) in enumerate(zip(countries.tolist(), counts.tolist(), strict=True)):
        if not country or count < MIN_COUNTRY_LINES:
            continue
        in_country = country_rows == row
        result["by_country"][country] = ranked(in_country)
        trending = ranked(in_country & recent)
        if len(trending) >= 10:
            result["trending_by_country"][country] = trending
    return result


def co_purchase_neighbours(ds: Dataset, k: int = NEIGHBOURS) -> np.ndarray:
    """For each item, the `k` items most often in the same order (cosine-normalised counts)."""
    return neighbours_from_counts(co_purchase_counts(ds), k)


def co_purchase_counts(ds: Dataset) -> sparse.csr_matrix:
    """Item x item: in how many orders both were bought (the diagonal: orders per item)."""
    lines = ds.interactions
    n_items = len(ds.items)
    orders, order_rows = lines.codes("order")
    basket = sparse.csr_matrix(
        (np.ones(len(lines), dtype=np.float32), (order_rows, lines.item)), shape=(len(orders), n_items)
    )
    basket.data[:] = 1.0  # duplicates in one order count once
    basket.sum_duplicates()
    basket.data[:] = 1.0
    return (basket.T @ basket).tocsr().astype(np.float32)


def neighbours_from_counts(co: sparse.csr_matrix, k: int = NEIGHBOURS) -> np.ndarray:
    """Top `k` neighbours per item from item x item order counts (the diagonal, orders per item, is left out).

    One sort over all pairs (item, then score descending, then position in the item's row), not a
    loop over items: a million-item catalog takes seconds. `co` is not changed.
    """
    n_items = co.shape[0]
    counts = np.asarray(co.diagonal()).ravel()
    norm = np.sqrt(np.maximum(counts, 1.0))
    rows = np.repeat(np.arange(n_items, dtype=np.int64), np.diff(co.indptr))
    cols = co.indices.astype(np.int64)
    keep = (rows != cols) & (co.data != 0)
    rows, cols = rows[keep], cols[keep]
    scores = co.data[keep] / (norm[rows] * norm[cols])
    order = np.lexsort((-scores, rows))  # stable: a tie keeps the order within the row
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, np.arange(n_items))
    rank = np.arange(len(rows)) - starts[rows]
    top = rank < k
    result = np.full((n_items, k), -1, dtype=np.int32)
    result[rows[top], rank[top]] = cols[top]
    return result


def user_vectors_from_history(ds: Dataset, item_vectors: np.ndarray, users: Sequence[str]) -> np.ndarray:
    """A taste vector per user: recency-weighted mean of the vectors of what they bought, normalised."""
    lines = ds.interactions
    position = {u: i for i, u in enumerate(users)}
    ids, line_rows = lines.customer_rows()
    # each customer's row in `users` (-1: not asked for); the appended -1 is where guest lines (row -1) land
    row_of = np.array([*(position.get(u, -1) for u in ids.tolist()), position.get("", -1)], dtype=np.int64)
    mapped = row_of[line_rows]
    known = mapped >= 0
    rows = mapped[known]
    age_days = (ds.end - lines.ts[known]).astype("timedelta64[D]").astype(np.float32)
    weights = np.power(0.5, age_days / 90.0).astype(np.float32)  # 90-day half-life
    out = np.zeros((len(users), item_vectors.shape[1]), dtype=np.float32)
    items = lines.item[known]
    for start in range(0, len(rows), HISTORY_CHUNK):  # in order, so the sums are the same; memory stays flat
        part = slice(start, start + HISTORY_CHUNK)
        np.add.at(out, rows[part], item_vectors[items[part]] * weights[part, None])
    return item_index.normalize(out)


def profiles(
    ds: Dataset,
    thresholds: TierThresholds | None = None,
    tier_shares: Mapping[str, float] = TIER_SHARES,
    customers: Collection[str] | None = None,
) -> tuple[list[dict[str, Any]], TierThresholds]:
    """One profile per customer with purchases or known facts, in the admin API's shape.

    With `customers`, only theirs (and tier thresholds, unless given, from their spend alone).
    """
    lines = ds.interactions
    wanted = None if customers is None else set(customers)
    users = sorted(set(lines.customer_rows()[0].tolist()) | set(ds.customers))
    if wanted is not None:
        users = [u for u in users if u in wanted]
    grouped = _group_lines(lines, wanted)
    ledgers = {u: ledger.customer_ledger(grouped.get(u), ds.customers.get(u, {}).get("credits_at")) for u in users}
    spend = np.array([max(0.0, ledgers[u].spend) for u in users])  # net of returns and cancellations
    thresholds = thresholds or tier_thresholds(spend, tier_shares)
    result = []
    for user, user_spend in zip(users, spend.tolist(), strict=True):
        facts = dict(ds.customers.get(user, {}))
        mine = grouped.get(user)
        book = ledgers[user]
        profile: dict[str, Any] = {"user_id": user}
        if mine is not None:
            profile.update(_purchase_facts(ds, mine))
        profile["spend"] = round(user_spend, 2)
        profile["points"] = max(0, book.points)  # one point per currency unit, net
        profile["tier"] = thresholds.tier(user_spend)
        if "credits_at" in facts:  # dated signals: the ledger and complaint times replace frozen 90-day counts
            facts.pop("credits_at")
            for frozen in ("returns_90d", "complaints_90d", "returns_total", "complaints_total"):
                facts.pop(frozen, None)
            profile.update(book.facts())
        profile.update(facts)  # a source's own facts win (names, consent, complaints, ...)
        result.append(profile)
    return result, thresholds


def aligned_user_vectors(
    given: tuple[Sequence[str], np.ndarray], fallback: np.ndarray, users: Sequence[str]
) -> np.ndarray:
    """`given` (ids, vectors) in the order of `users`, used as they are; users it lacks keep their `fallback` row."""
    ids, vectors = given
    position = {u: i for i, u in enumerate(ids)}
    out = fallback.copy()
    for row, user in enumerate(users):
        at = position.get(user)
        if at is not None:
            out[row] = vectors[at]
    return out


def _purchase_facts(ds: Dataset, mine: Interactions) -> dict[str, Any]:
    first, last = mine.ts.min(), mine.ts.max()
    counts = Counter(mine.country.tolist())
    country = min(counts, key=lambda c: (-counts[c], c))  # the most lines; a tie goes to the first by name
    seen: dict[str, None] = {}
    for row in mine.item[np.argsort(mine.ts, kind="stable")].tolist():
        seen[ds.items[row].id] = None
    return {
        "orders": len(set(mine.order.tolist())),
        "first_purchase_at": _rfc3339(first),
        "last_purchase_at": _rfc3339(last),
        "joined_at": _rfc3339(first),
        "country": str(country) or None,
        "purchased": list(seen),
    }


def _group_lines(lines: Interactions, only: Collection[str] | None = None) -> dict[str, Interactions]:
    """Each customer's lines (of those in `only`, if given), in their original order; guests left out."""
    ids, rows = lines.customer_rows()
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    boundaries = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    groups: dict[str, Interactions] = {}
    for chunk in np.split(order, boundaries):
        if len(chunk) and rows[chunk[0]] >= 0:
            user = str(ids[rows[chunk[0]]])
            if only is None or user in only:
                groups[user] = lines.select(chunk)
    return groups


def _group_sum(keys: np.ndarray, values: np.ndarray) -> dict[str, float]:
    uniques, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=values.astype(np.float64), minlength=len(uniques))
    return {str(k): float(v) for k, v in zip(uniques.tolist(), sums.tolist(), strict=True)}


def _rfc3339(ts: np.datetime64) -> str:
    return str(ts.astype("datetime64[s]")) + "Z"


def build(
    ds: Dataset,
    root: Path,
    *,
    item_vectors: np.ndarray | None = None,
    index_kind: str | None = None,
    log: Log = _quiet,
    extra_manifest: dict[str, Any] | None = None,
    user_vectors: tuple[Sequence[str], np.ndarray] | None = None,
    tier_shares: Mapping[str, float] = TIER_SHARES,
    ranker: ranker_mod.Fitted | None = None,
    customers: Collection[str] | None = None,
    co_purchase: sparse.csr_matrix | None = None,
) -> Path:
    """Compute every artifact from `ds` and write them as the live version under `root`.

    `user_vectors` (ids, vectors), e.g. calibrated ALS customer factors, replace the purchase-history
    vectors of the customers they cover, unchanged (not normalised: their scale is the `for_you`
    score scale); `tier_shares` sets the top shares of customers per tier; `ranker` (trained by
    `models.ranker.fit`) ships its trees with the build. `customers` limits the profiles (and user
    vectors) to those customers: a model built to score only them (the ranker's training, the
    evaluation), not to serve. `co_purchase` is `co_purchase_counts(ds)` when the caller has it.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def step(name: str, began: float) -> None:
        timings[name] = round(time.perf_counter() - began, 3)
        log(f"  {name:<12} {timings[name]:7.2f} s")

    t = time.perf_counter()
    vectors = item_vectors if item_vectors is not None else ds.item_vectors
    if vectors is None:
        raise ValueError("no item vectors: the dataset has none and none were given")
    vectors = item_index.normalize(vectors)
    step("vectors", t)
    t = time.perf_counter()
    index, index_type = item_index.build_index(vectors, index_kind)
    recall = item_index.measure_recall(index, vectors)
    step("index", t)
    t = time.perf_counter()
    counts = co_purchase.copy() if co_purchase is not None else co_purchase_counts(ds)
    neighbours = neighbours_from_counts(counts)
    step("neighbours", t)
    t = time.perf_counter()
    lists = popularity(ds)
    step("popularity", t)
    t = time.perf_counter()
    customer_profiles, thresholds = profiles(ds, tier_shares=tier_shares, customers=customers)
    users = [p["user_id"] for p in customer_profiles]
    customer_vectors = user_vectors_from_history(ds, vectors, users)
    if user_vectors is not None:
        customer_vectors = aligned_user_vectors(user_vectors, customer_vectors, users)
    segments = ledger.segment_report(customer_profiles, ds.end.astype(datetime).replace(tzinfo=UTC), thresholds)
    step("profiles", t)
    for line in ledger.report_lines(segments):
        log(line)
    t = time.perf_counter()
    learned = ranker_mod.learned_arrays(ds, vectors, ranker.trees if ranker else None)
    step("learned", t)
    manifest: dict[str, Any] = {
        "source": ds.source,
        "metric": "inner_product",
        "index_type": index_type,
        "recall_at_50": round(recall, 4),
        "data_start": _rfc3339(ds.interactions.ts.min()),
        "data_end": _rfc3339(ds.end),
        "n_interactions": len(ds.interactions),
        "categories": sorted({item.category for item in ds.items}),
        "tier_thresholds": {"silver": thresholds.silver, "gold": thresholds.gold, "platinum": thresholds.platinum},
        "tier_shares": dict(tier_shares),
        "user_vectors": "given" if user_vectors is not None else "purchase_history",
        "report": ds.report,
        "segments": segments,
        "timings_s": timings,
        "ranker": ranker.report if ranker else None,
        **(extra_manifest or {}),
    }
    t = time.perf_counter()
    path = artifacts.write(
        root,
        items=ds.items,
        item_vectors=vectors,
        index_bytes=item_index.serialize(index),
        neighbors=neighbours,
        popularity=lists,
        profiles=customer_profiles,
        user_vectors=customer_vectors,
        manifest=manifest,
        learned=learned,
    )
    step("write", t)
    log(f"built {path.name} in {time.perf_counter() - started:.2f} s ({len(ds.items)} items, {len(users)} customers)")
    return path


def utc_now() -> datetime:
    return datetime.now(UTC)
