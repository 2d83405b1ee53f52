"""Synthetic: a deterministic demo store (catalog, customers in every lifecycle state, purchases).

Everything comes from one seeded generator, so the same seed and anchor date give the same store.
The timeline ends at `anchor` (default: today, UTC midnight) so that a demo decision taken "now"
sees fresh, lapsed and lost customers as they are meant to be.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from edge.core.catalog import Item
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


def generate(n_items: int = 3000, n_customers: int = 3000, seed: int = 7, anchor: date | None = None) -> Dataset:
    """A demo store: `n_items` products, `n_customers` customers and their purchase history."""
    rng = np.random.default_rng(seed)
    anchor = anchor or datetime.now(UTC).date()
    end = np.datetime64(anchor.isoformat(), "s")
    names = list(CATEGORIES)
    centroids = rng.normal(size=(len(names), DIM)).astype(np.float32)
    item_category = np.arange(n_items) % len(names)
    item_vectors = centroids[item_category] + 0.55 * rng.normal(size=(n_items, DIM)).astype(np.float32)
    item_vectors /= np.linalg.norm(item_vectors, axis=1, keepdims=True)
    items = [_item(rng, row, names[int(c)]) for row, c in enumerate(item_category)]

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
        for k, day in enumerate(days):
            _add_order(columns, rng, items, item_vectors, taste, user, country, end, day, f"{user}-{k}")
        customers[user] = _facts(rng, user, country, state, names, favourites, items, end, days)
    for g in range(n_customers):  # guest checkouts: count for popularity only
        taste = centroids[rng.integers(len(names))] + 0.5 * rng.normal(size=DIM).astype(np.float32)
        country = str(rng.choice(country_codes, p=country_p))
        day = float(rng.uniform(0, HISTORY_DAYS))
        _add_order(columns, rng, items, item_vectors, taste, "", country, end, day, f"g-{g}")

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
    item_vectors: np.ndarray,
    taste: np.ndarray,
    user: str,
    country: str,
    end: np.datetime64,
    days_ago: float,
    order: str,
) -> None:
    scores = item_vectors @ taste
    pool = np.argpartition(-scores, 150)[:150]
    weights = np.exp(3.0 * (scores[pool] - scores[pool].max()))
    basket = rng.choice(pool, size=int(rng.integers(1, 6)), replace=False, p=weights / weights.sum())
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
