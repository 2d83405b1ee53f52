"""Synthetic: a deterministic demo store (catalog, customers in every lifecycle state, purchases).

Everything comes from one seeded generator, so the same seed and anchor date give the same store.
The timeline ends at `anchor` (default: today, UTC midnight) so that a demo decision taken "now"
sees fresh, lapsed and lost customers as they are meant to be.

From `LARGE_ITEMS` products (a big-catalog benchmark, e.g. `edge build --synthetic --items 1000000`)
the same store is drawn in a way that scales: item fields column by column, and each shopper's
candidate pool (the `POOL` items nearest their taste) from their favourite categories only, instead
of scoring the whole catalog per order. Same distributions, another random stream; below
`LARGE_ITEMS` every store is exactly what it always was.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from edge.core.catalog import Item
from edge.model import index as item_index
from models.dataset import Dataset, Interactions

CATEGORIES: dict[str, tuple[list[str], list[str]]] = {
    "candles": (
        ["T-Light Holder", "Pillar Candle", "Candle Pot", "Scented Candle", "Tea Light Set"],
        ["Vanilla", "Rose"],
    ),
    "lanterns": (
        ["Lantern", "Hanging Lantern", "Star Lantern", "Garden Lantern", "Lantern Set"],
        ["Moroccan", "Metal"],
    ),
    "kitchen": (["Cake Tin", "Baking Set", "Tea Towel", "Mug", "Jam Jar"], ["Retro", "Polkadot"]),
    "bags": (["Jumbo Bag", "Lunch Bag", "Shopper", "Tote Bag", "Charlotte Bag"], ["Paisley", "Strawberry"]),
    "stationery": (
        ["Notebook", "Gift Wrap", "Greeting Card", "Pencil Set", "Sticker Sheet"],
        ["Botanical", "Spaceboy"],
    ),
    "christmas": (
        ["Bauble", "Advent Calendar", "Christmas Garland", "Star Ornament", "Santa Figure"],
        ["Glitter", "Wooden"],
    ),
    "garden": (["Watering Can", "Plant Pot", "Bird House", "Garden Sign", "Seed Tin"], ["Zinc", "Enamel"]),
    "toys": (["Jigsaw", "Skipping Rope", "Spinning Top", "Doll", "Playing Cards"], ["Circus", "Dolly Girl"]),
    "textiles": (["Cushion Cover", "Doormat", "Apron", "Blanket", "Hot Water Bottle"], ["Knitted", "Union Flag"]),
    "wall-art": (["Wall Clock", "Metal Sign", "Photo Frame", "Mirror", "Wall Art Print"], ["Vintage", "Shabby Chic"]),
    "storage": (["Storage Tin", "Trinket Box", "Basket", "Drawer Knob", "Jewellery Box"], ["Antique", "Regency"]),
    "party": (["Paper Plates", "Bunting", "Party Cups", "Napkins", "Cake Cases"], ["Pink", "Pirate"]),
}
COLOURS = ["White", "Red", "Pink", "Blue", "Green", "Ivory", "Black", "Gold", "Silver", "Pastel"]
CONSUMABLE = {"party", "candles"}  # categories whose items may be bought again
COUNTRIES = [("GB", 0.55), ("NL", 0.12), ("DE", 0.08), ("FR", 0.07), ("BE", 0.06), ("US", 0.06), ("ES", 0.06)]
LOCALES = {"GB": "en-GB", "NL": "nl-NL", "BE": "nl-BE", "DE": "de-DE", "FR": "fr-FR", "US": "en-US", "ES": "es-ES"}
FIRST_NAMES = [
    "Anna",
    "Daan",
    "Emma",
    "Liam",
    "Sophie",
    "Noah",
    "Julia",
    "Lucas",
    "Olivia",
    "James",
    "Mila",
    "Sem",
    "Charlotte",
    "Oliver",
    "Amelia",
    "Finn",
    "Isla",
    "Levi",
    "Harper",
    "Jack",
    "Saar",
    "Thomas",
    "Lotte",
]
# lifecycle states and their share of customers
STATES = [
    ("active", 0.50),
    ("lapsed", 0.12),
    ("lost", 0.08),
    ("cancelled", 0.04),
    ("at_risk", 0.10),
    ("new_member", 0.10),
    ("loyal", 0.06),
]
DIM = 32
HISTORY_DAYS = 365
POOL = 150  # a shopper's orders are drawn from the POOL items nearest their taste
LARGE_ITEMS = 100_000  # from this catalog size, the column-wise draw (see the module doc)


def generate(n_items: int = 3000, n_customers: int = 3000, seed: int = 7, anchor: date | None = None) -> Dataset:
    """A demo store: `n_items` products, `n_customers` customers and their purchase history."""
    with threadpool_limits(1):  # thousands of small products: threads only add waiting (10x on a busy machine)
        return _generate(n_items, n_customers, seed, anchor)


def _generate(n_items: int, n_customers: int, seed: int, anchor: date | None) -> Dataset:
    rng = np.random.default_rng(seed)
    anchor = anchor or datetime.now(UTC).date()
    end = np.datetime64(anchor.isoformat(), "s")
    names = list(CATEGORIES)
    centroids = rng.normal(size=(len(names), DIM)).astype(np.float32)
    item_category = np.arange(n_items) % len(names)
    item_vectors = centroids[item_category] + 0.55 * rng.normal(size=(n_items, DIM)).astype(np.float32)
    item_vectors /= np.linalg.norm(item_vectors, axis=1, keepdims=True)
    large = n_items >= LARGE_ITEMS
    if large:
        items = _items_by_column(rng, item_category, names)
        pools = _CategoryPools(item_vectors, item_category, len(names))
    else:
        items = [_item(rng, row, names[int(c)]) for row, c in enumerate(item_category)]

    def pool_of(taste: np.ndarray, favourites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return pools.pool(taste, favourites) if large else _pool(item_vectors @ taste)

    columns: dict[str, list[Any]] = {k: [] for k in ("user", "item", "ts", "quantity", "price", "country", "order")}
    customers: dict[str, dict[str, Any]] = {}
    country_codes = [c for c, _ in COUNTRIES]
    country_p = np.array([p for _, p in COUNTRIES])
    state_names = [s for s, _ in STATES]
    state_p = np.array([p for _, p in STATES])
    for n in range(n_customers):
        user = str(20000 + n)
        country = str(rng.choice(country_codes, p=country_p))
        state = str(rng.choice(state_names, p=state_p))
        favourites = rng.choice(len(names), size=int(rng.integers(1, 4)), replace=False)
        taste = centroids[favourites].sum(axis=0) + 0.5 * rng.normal(size=DIM).astype(np.float32)
        days = _order_days(rng, state)
        pool = pool_of(taste, favourites) if days else None  # the same for each of their orders
        for k, day in enumerate(days):
            assert pool is not None
            _add_order(columns, rng, items, pool, user, country, end, day, f"{user}-{k}")
        customers[user] = _facts(rng, user, country, state, names, favourites, items, end, days)
    for g in range(n_customers):  # guest checkouts: count for popularity only
        favourite = rng.integers(len(names))
        taste = centroids[favourite] + 0.5 * rng.normal(size=DIM).astype(np.float32)
        country = str(rng.choice(country_codes, p=country_p))
        day = float(rng.uniform(0, HISTORY_DAYS))
        pool = pool_of(taste, np.array([favourite]))
        _add_order(columns, rng, items, pool, "", country, end, day, f"g-{g}")

    interactions = Interactions(
        user=np.array(columns["user"], dtype=object),
        item=np.array(columns["item"], dtype=np.int32),
        ts=np.array(columns["ts"], dtype="datetime64[s]"),
        quantity=np.array(columns["quantity"], dtype=np.float32),
        price=np.array(columns["price"], dtype=np.float32),
        country=np.array(columns["country"], dtype=object),
        order=np.array(columns["order"], dtype=object),
    )
    report = {"seed": seed, "anchor": anchor.isoformat(), "lines": len(interactions)}
    return Dataset("synthetic", items, interactions, customers, item_vectors, report)


def _pool(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The POOL best rows by `scores` (in `np.argpartition`'s order) and their draw probabilities."""
    pool = np.argpartition(-scores, POOL)[:POOL]
    weights = np.exp(3.0 * (scores[pool] - scores[pool].max()))
    return pool, weights / weights.sum()


class _CategoryPools:
    """Pools for a large catalog: the POOL nearest items within the shopper's favourite categories
    (an exact inner-product index per category: a search, not a sort of the category)."""

    def __init__(self, item_vectors: np.ndarray, item_category: np.ndarray, n_categories: int) -> None:
        self.rows = [np.flatnonzero(item_category == c) for c in range(n_categories)]
        self.indexes = []
        for rows in self.rows:
            vectors = np.ascontiguousarray(item_vectors[rows])
            self.indexes.append(item_index.ItemIndex(item_index.build_index(vectors, "flat")[0], vectors))

    def pool(self, taste: np.ndarray, favourites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best POOL rows over the favourite categories, best first, and their draw probabilities."""
        found = [(c, self.indexes[c].search(taste, POOL)) for c in sorted(int(f) for f in favourites)]
        rows = np.concatenate([self.rows[c][near.rows] for c, near in found])
        scores = np.concatenate([near.scores for _, near in found])
        best = np.argsort(-scores, kind="stable")[:POOL]
        weights = np.exp(3.0 * (scores[best] - scores[best].max()))
        return rows[best], weights / weights.sum()


def _items_by_column(rng: np.random.Generator, item_category: np.ndarray, names: list[str]) -> list[Item]:
    """`_item` for every row at once: each field drawn for the whole catalog (same distributions)."""
    n = len(item_category)
    style = rng.integers(0, 2, size=n).tolist()
    colour = rng.integers(0, len(COLOURS), size=n).tolist()
    price = np.exp(rng.normal(1.2, 0.7, size=n)).tolist()
    on_sale = (rng.random(n) < 0.08).tolist()
    units = np.where(rng.random((n, len(COUNTRIES))) < 0.05, 0, rng.integers(1, 60, size=(n, len(COUNTRIES))))
    consumable = np.array([name in CONSUMABLE for name in names])[item_category]
    repeatable = (consumable & (rng.random(n) < 0.3)).tolist()
    country_codes = [c for c, _ in COUNTRIES]
    items = []
    for row, (c, s, k, p, sale, stock, again) in enumerate(
        zip(item_category.tolist(), style, colour, price, on_sale, units.tolist(), repeatable, strict=True)
    ):
        category = names[c]
        nouns, styles = CATEGORIES[category]
        list_price = round(p, 2)
        items.append(
            Item(
                id=f"SYN{10000 + row}",
                name=f"{styles[s]} {COLOURS[k]} {nouns[row // len(CATEGORIES) % len(nouns)]}".upper(),
                category=category,
                price=list_price,
                sale_price=round(list_price * 0.7, 2) if sale else None,
                repeatable=again,
                stock=dict(zip(country_codes, stock, strict=True)),
            )
        )
    return items


def _item(rng: np.random.Generator, row: int, category: str) -> Item:
    nouns, styles = CATEGORIES[category]
    name = f"{rng.choice(styles)} {rng.choice(COLOURS)} {nouns[row // len(CATEGORIES) % len(nouns)]}"
    price = round(float(np.exp(rng.normal(1.2, 0.7))), 2)
    on_sale = rng.random() < 0.08
    stock = {c: (0 if rng.random() < 0.05 else int(rng.integers(1, 60))) for c, _ in COUNTRIES}
    return Item(
        id=f"SYN{10000 + row}",
        name=name.upper(),
        category=category,
        price=price,
        sale_price=round(price * 0.7, 2) if on_sale else None,
        repeatable=category in CONSUMABLE and rng.random() < 0.3,
        stock=stock,
    )


def _order_days(rng: np.random.Generator, state: str) -> list[float]:
    """Days before the anchor of each order, oldest first, shaped by the lifecycle state."""
    if state == "new_member":
        return [float(rng.uniform(0.5, 20))] if rng.random() < 0.7 else []
    if state == "lapsed":
        last, count = rng.uniform(95, 170), int(rng.integers(2, 8))
    elif state == "lost":
        last, count = rng.uniform(190, 300), int(rng.integers(1, 5))
    elif state == "loyal":
        last, count = rng.uniform(1, 30), int(rng.integers(15, 40))
    else:
        last, count = rng.uniform(1, 60), int(rng.integers(2, 12))
    others = rng.uniform(last, HISTORY_DAYS, size=count - 1).tolist()
    return sorted([float(last), *others], reverse=True)


def _add_order(
    columns: dict[str, list[Any]],
    rng: np.random.Generator,
    items: list[Item],
    pool: tuple[np.ndarray, np.ndarray],
    user: str,
    country: str,
    end: np.datetime64,
    days_ago: float,
    order: str,
) -> None:
    rows, p = pool
    basket = rng.choice(rows, size=int(rng.integers(1, 6)), replace=False, p=p)
    ts = end - np.timedelta64(int(days_ago * 86400), "s")
    for row in basket.tolist():
        columns["user"].append(user)
        columns["item"].append(row)
        columns["ts"].append(ts)
        columns["quantity"].append(float(rng.integers(1, 13)))
        columns["price"].append(items[row].price)
        columns["country"].append(country)
        columns["order"].append(order)


def _facts(
    rng: np.random.Generator,
    user: str,
    country: str,
    state: str,
    categories: list[str],
    favourites: np.ndarray,
    items: list[Item],
    end: np.datetime64,
    days: list[float],
) -> dict[str, Any]:
    """What the loyalty programme knows besides purchases."""
    birthday = date(int(rng.integers(1950, 2005)), int(rng.integers(1, 13)), int(rng.integers(1, 29)))
    facts: dict[str, Any] = {
        "first_name": str(rng.choice(FIRST_NAMES)),
        "locale": LOCALES[country],
        "country": country,
        "birthday": birthday.isoformat(),
        "subscription": "cancelled" if state == "cancelled" else "active",
        "complaints_90d": int(state == "at_risk" and rng.random() < 0.5),
        "returns_90d": int(state == "at_risk") + int(rng.random() < 0.3 and state == "at_risk"),
        "consent": {"personalization": bool(rng.random() < 0.95), "marketing": bool(rng.random() < 0.6)},
        "wishlist": [items[int(r)].id for r in rng.integers(0, len(items), size=int(rng.integers(0, 3)))],
    }
    if state == "new_member":
        joined = float(days[0] + rng.uniform(0, 3)) if days else float(rng.uniform(0.5, 25))
        facts["joined_at"] = str(end - np.timedelta64(int(joined * 86400), "s")) + "Z"
    else:
        oldest = days[0] if days else HISTORY_DAYS
        facts["joined_at"] = str(end - np.timedelta64(int((oldest + 30) * 86400), "s")) + "Z"
    if rng.random() < 0.4:
        facts["preferences"] = {"categories": [categories[int(f)] for f in favourites[:2]]}
    return facts
