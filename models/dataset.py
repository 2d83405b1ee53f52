"""Dataset: the one in-memory shape every source (synthetic, CSV, Online Retail) is turned into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

import numpy as np
import polars as pl

from edge.core.catalog import Item


@dataclass(slots=True)
class Interactions:
    """Purchase lines as parallel columns; `user` is "" for guest checkouts."""

    user: np.ndarray  # str (object), "" = guest
    item: np.ndarray  # int32 row into Dataset.items
    ts: np.ndarray  # datetime64[s], UTC
    quantity: np.ndarray  # float32, > 0
    price: np.ndarray  # float32 unit price
    country: np.ndarray  # str (object), ISO alpha-2 or "" when unknown
    order: np.ndarray  # str (object) order / invoice id
    # `codes` of the str columns, once computed
    _codes: dict[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __len__(self) -> int:
        return int(self.item.shape[0])

    def select(self, which: np.ndarray) -> Interactions:
        """The lines picked by a boolean mask or an array of positions."""
        return Interactions(
            self.user[which],
            self.item[which],
            self.ts[which],
            self.quantity[which],
            self.price[which],
            self.country[which],
            self.order[which],
        )

    def codes(self, column: StrColumn) -> tuple[np.ndarray, np.ndarray]:
        """`codes` of one str column (`user`, `country` or `order`), computed once per `Interactions`.

        The columns are not to be reassigned after the first call (`select` makes a new one).
        """
        found = self._codes.get(column)
        if found is None:
            found = self._codes[column] = codes(getattr(self, column))
        return found

    def customer_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The customers' ids, sorted (guests left out), and each line's row among them (-1: a guest's line)."""
        names, rows = self.codes("user")
        guest = 1 if len(names) and names[0] == "" else 0  # "" sorts first
        return names[guest:], rows - guest


StrColumn = Literal["user", "country", "order"]


def codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(values, return_inverse=True)` of str values: the sorted distinct values (object) and
    each value's row among them (int64), by hashing in polars rather than sorting Python strings
    (~10x faster on millions of lines; the order is the same: code point order)."""
    series = pl.Series(values, dtype=pl.String)
    uniques = series.unique().sort()
    inverse = series.cast(pl.Enum(uniques)).to_physical().to_numpy().astype(np.int64)
    return uniques.to_numpy().astype(object), inverse


@dataclass(slots=True)
class Dataset:
    """Items, purchases and what else is known about customers, ready for `models.build`."""

    source: str
    items: list[Item]
    interactions: Interactions
    # per-customer facts a source knows besides purchases (names, consent, complaints, ...)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    item_vectors: np.ndarray | None = None  # given by a source that knows them (synthetic)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> np.datetime64:
        """The time of the last interaction: the dataset's own "now"."""
        return np.datetime64(self.interactions.ts.max(), "s")

    def item_rows(self) -> Mapping[str, int]:
        """Item id -> row."""
        return {item.id: row for row, item in enumerate(self.items)}


def rebase(ds: Dataset, to: date) -> Dataset:
    """`ds` with every timestamp shifted by whole days so that its last day becomes `to` (for demos).

    Interactions move, and so do customer facts named `*_at` (RFC 3339 strings); the shift is
    recorded in the report as `rebased_days`.
    """
    days = (np.datetime64(to.isoformat(), "D") - ds.end.astype("datetime64[D]")).astype(np.int64)
    shift = np.timedelta64(int(days), "D")
    lines = replace(ds.interactions, ts=ds.interactions.ts + shift)
    customers = {user: _shift_facts(facts, shift) for user, facts in ds.customers.items()}
    report = {**ds.report, "rebased_days": int(days)}
    return replace(ds, interactions=lines, customers=customers, report=report)


def _shift_facts(facts: dict[str, Any], shift: np.timedelta64) -> dict[str, Any]:
    out = dict(facts)
    for key, value in facts.items():
        if key.endswith("_at") and isinstance(value, str) and value.endswith("Z"):
            out[key] = _shift(value, shift)
        elif key.endswith("_at") and isinstance(value, list):  # times, or rows that start with a time
            out[key] = [
                _shift(v, shift) if isinstance(v, str) else [_shift(v[0], shift), *v[1:]] if isinstance(v, list) else v
                for v in value
            ]
    return out


def _shift(value: str, shift: np.timedelta64) -> str:
    return str(np.datetime64(value[:-1], "s") + shift) + "Z"
