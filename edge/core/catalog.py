"""Catalog: the items of a build (`Item`, `Popularity`) as arrays the ranking reads, and their JSON, prepared once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Item:
    """One catalog product as the service shows it."""

    id: str
    name: str
    category: str
    price: float
    sale_price: float | None = None  # set when the item is on sale
    repeatable: bool = False  # consumables may be recommended again after purchase
    stock: Mapping[str, int] | None = None  # units per country; a country not listed counts as in stock


@dataclass(frozen=True, slots=True)
class Popularity:
    """Ranked item rows, most popular first."""

    global_rows: np.ndarray
    trending_rows: np.ndarray
    by_country: Mapping[str, np.ndarray]
    trending_by_country: Mapping[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class Catalog:
    items: tuple[Item, ...]
    row_of: Mapping[str, int]  # item id -> row
    category_codes: np.ndarray  # int32 per row
    category_names: tuple[str, ...]
    category_code_of: Mapping[str, int]
    repeatable: np.ndarray  # bool per row
    on_sale_rows: np.ndarray  # rows on sale, most popular first
    out_of_stock: Mapping[str, np.ndarray]  # country -> bool mask of rows with no stock there
    item_json: tuple[dict[str, object], ...]  # id, name, price, category per row
    category_list: list[int]  # category code per row, as a list: the ranking loop indexes it per item
    repeatable_rows: frozenset[int]
    out_of_stock_rows: Mapping[str, frozenset[int]]  # country -> rows with no stock there

    @classmethod
    def from_items(cls, items: Sequence[Item], popular_rows: np.ndarray) -> Catalog:
        """Index `items`; `popular_rows` orders the sale list."""
        names = tuple(sorted({item.category for item in items}))
        code_of = {name: code for code, name in enumerate(names)}
        countries = sorted({c for item in items if item.stock for c in item.stock})
        out_of_stock = {c: np.zeros(len(items), dtype=bool) for c in countries}
        for row, item in enumerate(items):
            for country, units in (item.stock or {}).items():
                if units <= 0:
                    out_of_stock[country][row] = True
        on_sale = np.array([item.sale_price is not None for item in items], dtype=bool)
        rank = np.full(len(items), len(items), dtype=np.int64)
        rank[popular_rows] = np.arange(len(popular_rows))
        sale_rows = np.flatnonzero(on_sale)
        sale_rows = sale_rows[np.argsort(rank[sale_rows], kind="stable")].astype(np.int32)
        return cls(
            items=tuple(items),
            row_of={item.id: row for row, item in enumerate(items)},
            category_codes=np.array([code_of[item.category] for item in items], dtype=np.int32),
            category_names=names,
            category_code_of=code_of,
            repeatable=np.array([item.repeatable for item in items], dtype=bool),
            on_sale_rows=sale_rows,
            out_of_stock=out_of_stock,
            item_json=tuple(
                {
                    "id": item.id,
                    "name": item.name,
                    "price": item.sale_price if item.sale_price is not None else item.price,
                    "category": item.category,
                }
                for item in items
            ),
            category_list=[code_of[item.category] for item in items],
            repeatable_rows=frozenset(row for row, item in enumerate(items) if item.repeatable),
            out_of_stock_rows={c: frozenset(np.flatnonzero(mask).tolist()) for c, mask in out_of_stock.items()},
        )

    def __len__(self) -> int:
        return len(self.items)

    def rows(self, ids: Sequence[str]) -> list[int]:
        """Rows of the known ids, in order; unknown ids are dropped."""
        row_of = self.row_of
        return [row_of[i] for i in ids if i in row_of]
