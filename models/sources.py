"""Sources: read purchase data from a directory into a `Dataset` (format: docs/data-format.md).

Two layouts are recognised:

    generic          items.csv[.gz] + interactions.csv[.gz]   (a shop's own export)
    Online Retail    online_retail_*.csv[.gz]                 (UCI Online Retail, through `models.cleaning`)

Both become the same `Lines` (purchases with string ids) and `Signals` (returns and complaints),
and `assemble` turns those into the `Dataset` every build starts from. A missing or empty directory,
or a file without a required column, raises `ConfigError` naming the file and the column.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge.core.catalog import Item
from edge.errors import ConfigError
from models import cleaning
from models.dataset import Dataset, Interactions

ITEM_COLUMNS = ("id", "name", "category", "price")
ITEM_OPTIONAL = ("sale_price", "repeatable")
STOCK_PREFIX = "stock_"  # stock_GB, stock_NL, ...: units per country
INTERACTION_COLUMNS = ("user", "item", "timestamp", "quantity", "price", "country")
INTERACTION_OPTIONAL = ("order",)
RETAIL_COLUMNS = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"
)  # fmt: skip
RETAIL_GLOB = "online_retail_*.csv*"
RECENT_DAYS = 90  # returns_90d / complaints_90d window, counted back from the end of the data


@dataclass(slots=True)
class Lines:
    """Purchase lines with the item as its catalog id (the generic interactions format as columns)."""

    user: np.ndarray  # str (object), "" = guest
    item: np.ndarray  # str (object) catalog id
    ts: np.ndarray  # datetime64[s] UTC
    quantity: np.ndarray  # float64, > 0
    price: np.ndarray  # float64 unit price
    country: np.ndarray  # str (object) ISO alpha-2 or ""
    order: np.ndarray  # str (object)


@dataclass(slots=True)
class Signals:
    """Customer events that are not purchases: one row per returned order or complaint."""

    user: np.ndarray  # str (object)
    ts: np.ndarray  # datetime64[s] UTC
    kind: np.ndarray  # "return" | "cancellation" | "complaint"
    country: np.ndarray  # str (object)
    amount: np.ndarray  # float64: the value credited (0 for a complaint)

    @classmethod
    def empty(cls) -> Signals:
        none = np.array([], dtype=object)
        return cls(none, np.array([], dtype="datetime64[s]"), none, none, np.array([], dtype=np.float64))


def read_source(data_dir: Path) -> Dataset:
    """The dataset in `data_dir`, whichever supported layout it holds."""
    files = data_files(data_dir)
    names = {f.name for f in files}
    if {"interactions.csv", "interactions.csv.gz"} & names:
        return read_generic(data_dir)
    if any(f.match(RETAIL_GLOB) for f in files):
        return read_online_retail(data_dir)
    raise ConfigError(
        f"data directory {data_dir} holds neither items.csv + interactions.csv nor {RETAIL_GLOB} "
        f"(found: {', '.join(sorted(names))})",
        field="EDGE_DATA",
    )


def data_files(data_dir: Path) -> list[Path]:
    """The visible files in `data_dir`; ConfigError when it is missing, not a directory or empty."""
    if not data_dir.exists():
        raise ConfigError(f"data directory {data_dir} does not exist", field="EDGE_DATA")
    if not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} is not a directory", field="EDGE_DATA")
    files = sorted(p for p in data_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ConfigError(f"data directory {data_dir} is empty", field="EDGE_DATA")
    return files


def read_csv(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Columns of a CSV (plain or .gz) as object arrays of str (as written); ConfigError naming a missing column."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})", field=path.name) from exc
    if not header:
        raise ConfigError(f"{path}: empty file, expected a header with {', '.join(required)}", field=path.name)
    for name in required:
        if name not in header:
            message = f"{path}: missing column {name!r} (header: {','.join(header)})"
            raise ConfigError(message, field=f"{path.name}:{name}")
    rows = [row for row in rows if row]
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            message = f"{path}: line {line} has {len(row)} fields, the header has {len(header)}"
            raise ConfigError(message, field=path.name)
    wanted = [*required, *(n for n in header if n in optional or n.startswith(STOCK_PREFIX))]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    return {name: _strings(columns[header.index(name)]) for name in wanted}


def read_generic(data_dir: Path) -> Dataset:
    """A shop's own export: items.csv[.gz] and interactions.csv[.gz] (negative quantities are returns)."""
    items_path = _one_of(data_dir, "items.csv")
    lines_path = _one_of(data_dir, "interactions.csv")
    catalog = parse_items(read_csv(items_path, ITEM_COLUMNS, ITEM_OPTIONAL), items_path)
    columns = read_csv(lines_path, INTERACTION_COLUMNS, INTERACTION_OPTIONAL)
    user, item = _map(columns["user"], str.strip), _map(columns["item"], str.strip)
    ts = parse_timestamps(columns["timestamp"], lines_path)
    quantity = _floats(columns["quantity"], lines_path, "quantity")
    prices = {item.id: item.price for item in catalog}
    price = np.array(
        [float(p) if p else prices.get(i, 0.0) for p, i in zip(columns["price"].tolist(), item.tolist(), strict=True)]
    )
    country = np.array([cleaning.country_code(c) for c in columns["country"].tolist()], dtype=object)
    if "order" in columns:
        order = columns["order"]
    else:  # no order column: one order per customer and timestamp
        order = np.array(
            [f"{u}@{t}" for u, t in zip(user.tolist(), columns["timestamp"].tolist(), strict=True)], dtype=object
        )
    bought, returned = quantity > 0, quantity < 0
    lines = Lines(user, item, ts, quantity, price, country, order)
    signals = _return_signals(lines, returned & (user != ""))
    report = {"files": [items_path.name, lines_path.name], "rows": len(quantity), "return_rows": int(returned.sum())}
    report["zero_quantity_rows"] = int((quantity == 0).sum())
    return assemble("csv", _select(lines, bought), catalog, signals, report)


def read_online_retail(data_dir: Path) -> Dataset:
    """UCI Online Retail monthly files, cleaned by the rules in `models.cleaning`."""
    files = sorted(p for p in data_files(data_dir) if p.match(RETAIL_GLOB))
    if not files:
        raise ConfigError(f"data directory {data_dir} has no {RETAIL_GLOB} files", field="EDGE_DATA")
    parts = [read_csv(path, RETAIL_COLUMNS) for path in files]
    raw = {name: np.concatenate([part[name] for part in parts]) for name in RETAIL_COLUMNS}
    quantity = np.concatenate(
        [_floats(part["Quantity"], path, "Quantity") for part, path in zip(parts, files, strict=True)]
    )
    price = np.concatenate(
        [_floats(part["UnitPrice"], path, "UnitPrice") for part, path in zip(parts, files, strict=True)]
    )
    n_rows = len(raw["InvoiceNo"])
    if n_rows == 0:
        raise ConfigError(f"data directory {data_dir}: Online Retail files without rows", field="EDGE_DATA")
    invoice = raw["InvoiceNo"]
    code = np.array([cleaning.product_id(c) for c in raw["StockCode"].tolist()], dtype=object)
    user = _map(raw["CustomerID"], cleaning.user_id)
    country = _map(raw["Country"], cleaning.country_code)
    ts = cleaning.uk_local_to_utc(raw["InvoiceDate"].tolist())
    kinds = cleaning.classify(invoice, code, quantity, price, user)
    lines = Lines(user, code, ts, quantity, price, country, invoice)

    names = cleaning.most_frequent_names(
        code[kinds["purchase"]].tolist(), raw["Description"][kinds["purchase"]].tolist()
    )
    services = {c for c, name in names.items() if cleaning.is_service(name)}  # fees with product-like codes
    charged = kinds["purchase"] & np.isin(code, list(services))
    kinds["non_product"] |= charged
    kinds["purchase"] &= ~charged
    bought = kinds["purchase"]
    catalog = _retail_catalog(code[bought], price[bought], names)
    signals = _cancellation_signals(lines, kinds["cancellation"], code)
    returns = _return_signals(lines, kinds["return"])
    signals = Signals(*(np.concatenate([a, b]) for a, b in zip(_fields(signals), _fields(returns), strict=True)))
    raw_countries = Counter(raw["Country"][country == ""].tolist())
    non_product = Counter(code[kinds["non_product"]].tolist())
    report: dict[str, Any] = {
        "files": [p.name for p in files],
        "rows": n_rows,
        "rows_by_kind": {kind: int(mask.sum()) for kind, mask in kinds.items()},
        "cancellation_invoices": len(set(invoice[kinds["cancellation"]].tolist())),
        "non_product_codes": dict(non_product.most_common()),
        "guest_purchase_rows": int((bought & (user == "")).sum()),
        "unknown_country_rows": dict(raw_countries.most_common()),
        "lower_case_product_codes": len(
            {c for c in raw["StockCode"].tolist() if c != cleaning.product_id(c) and cleaning.is_product(c)}
        ),
    }
    return assemble("online-retail", _select(lines, bought), catalog, signals, report)


def _retail_catalog(code: np.ndarray, price: np.ndarray, names: Mapping[str, str]) -> list[Item]:
    """Items of the purchased codes, sorted by id: most frequent name, median price, category to derive."""
    ids = sorted(set(code.tolist()))
    rows = {item: row for row, item in enumerate(ids)}
    item_rows = np.array([rows[c] for c in code.tolist()], dtype=np.int64)
    typical = cleaning.typical_prices(item_rows, price, len(ids))
    return [
        Item(id=item, name=names.get(item) or item, category="", price=round(float(p), 2))
        for item, p in zip(ids, typical.tolist(), strict=True)
    ]


def assemble(
    source: str, lines: Lines, catalog: Sequence[Item], signals: Signals, report: Mapping[str, Any]
) -> Dataset:
    """The dataset: purchases mapped onto catalog rows, customer facts from signals, counts in the report."""
    rows = {item.id: row for row, item in enumerate(catalog)}
    item = np.array([rows.get(i, -1) for i in lines.item.tolist()], dtype=np.int64)
    known = item >= 0
    if not known.any():
        raise ConfigError(f"{source}: no purchase lines of catalog items", field="EDGE_DATA")
    interactions = Interactions(
        user=lines.user[known],
        item=item[known].astype(np.int32),
        ts=lines.ts[known].astype("datetime64[s]"),
        quantity=lines.quantity[known].astype(np.float32),
        price=lines.price[known].astype(np.float32),
        country=lines.country[known],
        order=lines.order[known],
    )
    end = np.datetime64(interactions.ts.max(), "s")
    customers = customer_facts(interactions, signals, end)
    full_report = {
        **report,
        "unknown_item_rows": int((~known).sum()),
        "purchase_lines": len(interactions),
        "guest_lines": int((interactions.user == "").sum()),
        "customers": len(customers),
        "products": len(catalog),
        "orders": len(set(interactions.order.tolist())),
        "data_start": str(interactions.ts.min()) + "Z",
        "data_end": str(end) + "Z",
        "returns": _signal_counts(signals, "return", end),
        "cancellations": _signal_counts(signals, "cancellation", end),
        "complaints": _signal_counts(signals, "complaint", end),
    }
    return Dataset(source, list(catalog), interactions, customers, None, full_report)


def customer_facts(lines: Interactions, signals: Signals, end: np.datetime64) -> dict[str, dict[str, Any]]:
    """Per customer: country (most frequent), locale, and returns/complaints in the last 90 days and in total."""
    countries: dict[str, Counter[str]] = {}
    for user, country in zip(
        [*lines.user.tolist(), *signals.user.tolist()],
        [*lines.country.tolist(), *signals.country.tolist()],
        strict=True,
    ):
        if user:
            countries.setdefault(user, Counter())[country] += 1
    recent = signals.ts >= end - np.timedelta64(RECENT_DAYS, "D")
    counts: dict[tuple[str, str], int] = Counter(
        (u, f"{k}s_{'90d' if r else 'older'}")
        for u, k, r in zip(signals.user.tolist(), signals.kind.tolist(), recent.tolist(), strict=True)
    )
    facts: dict[str, dict[str, Any]] = {}
    for user, seen in countries.items():
        country = next((c for c, _ in seen.most_common() if c), "")
        facts[user] = customer_record(user, country, counts)
    add_dated_signals(facts, signals)
    return facts


def customer_record(user: str, country: str, counts: Mapping[tuple[str, str], int]) -> dict[str, Any]:
    """A customer's country, locale and return/complaint counts (`counts`: (user, "<kind>s_90d|older"))."""
    returns_90d, complaints_90d = counts.get((user, "returns_90d"), 0), counts.get((user, "complaints_90d"), 0)
    return {
        "country": country or None,
        "locale": cleaning.locale_for(country),
        "returns_90d": returns_90d,
        "complaints_90d": complaints_90d,
        "returns_total": returns_90d + counts.get((user, "returns_older"), 0),
        "complaints_total": complaints_90d + counts.get((user, "complaints_older"), 0),
    }


def add_dated_signals(facts: dict[str, dict[str, Any]], signals: Signals) -> None:
    """The signals themselves, dated, into the facts of their customers: `complaints_at` times and
    `credits_at` rows (`[ts, kind, amount]`); the build turns them into ledger rows and complaint times."""
    for user, ts, kind, amount in zip(
        signals.user.tolist(), signals.ts.tolist(), signals.kind.tolist(), signals.amount.tolist(), strict=True
    ):
        if user in facts:
            stamp = str(np.datetime64(ts, "s")) + "Z"
            if kind == "complaint":
                facts[user].setdefault("complaints_at", []).append(stamp)
            else:
                facts[user].setdefault("credits_at", []).append([stamp, kind, round(float(amount), 2)])
    for found in facts.values():
        found.setdefault("credits_at", [])


def parse_items(columns: Mapping[str, np.ndarray], path: Path) -> list[Item]:
    """Catalog rows of the generic items file; ConfigError naming the row of a bad value."""
    stock_columns = [name for name in columns if name.startswith(STOCK_PREFIX)]
    items: list[Item] = []
    seen: set[str] = set()
    for n, item_id in enumerate(_map(columns["id"], str.strip).tolist()):
        where = f"{path}: line {n + 2}"
        if not item_id or item_id in seen:
            raise ConfigError(f"{where}: {'duplicate' if item_id else 'empty'} id {item_id!r}", field=path.name)
        seen.add(item_id)
        sale = columns["sale_price"][n] if "sale_price" in columns else ""
        stock = {name[len(STOCK_PREFIX) :].upper(): columns[name][n] for name in stock_columns if columns[name][n]}
        try:
            items.append(
                Item(
                    id=item_id,
                    name=columns["name"][n] or item_id,
                    category=columns["category"][n],
                    price=float(columns["price"][n]),
                    sale_price=float(sale) if sale else None,
                    repeatable=("repeatable" in columns and columns["repeatable"][n].lower() in {"1", "true", "yes"}),
                    stock={country: int(units) for country, units in stock.items()} or None,
                )
            )
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}", field=path.name) from exc
    return items


def parse_timestamps(values: np.ndarray, path: Path) -> np.ndarray:
    """ISO 8601 timestamps -> datetime64[s] UTC; an offset is honoured, none means UTC."""
    cache: dict[str, np.datetime64] = {}
    out = []
    for value in values.tolist():
        ts = cache.get(value)
        if ts is None:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError as exc:
                raise ConfigError(f"{path}: bad timestamp {value!r} (want ISO 8601)", field=path.name) from exc
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(UTC).replace(tzinfo=None)
            ts = cache[value] = np.datetime64(parsed, "s")
        out.append(ts)
    return np.array(out, dtype="datetime64[s]")


def write_generic(ds: Dataset, out_dir: Path) -> None:
    """Write `ds` in the generic format (items.csv, interactions.csv): the format's reference writer."""
    out_dir.mkdir(parents=True, exist_ok=True)
    countries = sorted({c for item in ds.items for c in (item.stock or {})})
    with open(out_dir / "items.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*ITEM_COLUMNS, *ITEM_OPTIONAL, *(STOCK_PREFIX + c for c in countries)])
        for item in ds.items:
            stock = item.stock or {}
            sale = "" if item.sale_price is None else item.sale_price
            writer.writerow(
                [item.id, item.name, item.category, item.price, sale, int(item.repeatable)]
                + [stock.get(c, "") for c in countries]
            )
    lines = ds.interactions
    with open(out_dir / "interactions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*INTERACTION_COLUMNS, *INTERACTION_OPTIONAL])
        for user, row, ts, quantity, price, country, order in zip(
            lines.user.tolist(),
            lines.item.tolist(),
            lines.ts.astype(str).tolist(),
            lines.quantity.tolist(),
            lines.price.tolist(),
            lines.country.tolist(),
            lines.order.tolist(),
            strict=True,
        ):
            writer.writerow([user, ds.items[row].id, ts + "Z", quantity, price, country, order])


def _cancellation_signals(lines: Lines, cancelled: np.ndarray, code: np.ndarray) -> Signals:
    """One `cancellation` signal per customer cancellation invoice, with the value it credits.

    A cancellation is neither a complaint nor a return: it nets spend (edge.core.ledger) but does not
    make a customer at risk. (`code` is kept for the callers' signature.)
    """
    del code
    first: dict[str, int] = {}
    credited: dict[str, float] = {}
    for pos in np.flatnonzero(cancelled & (lines.user != "")).tolist():
        invoice = lines.order[pos]
        first.setdefault(invoice, pos)
        credited[invoice] = credited.get(invoice, 0.0) + abs(float(lines.quantity[pos] * lines.price[pos]))
    at = np.array(list(first.values()), dtype=np.int64)
    kind = np.full(len(at), "cancellation", dtype=object)
    amount = np.array([credited[i] for i in first], dtype=np.float64)
    return Signals(lines.user[at], lines.ts[at], kind, lines.country[at], amount)


def _return_signals(lines: Lines, returned: np.ndarray) -> Signals:
    """One return signal per customer order with returned (negative quantity) lines."""
    first: dict[tuple[str, str], int] = {}
    credited: dict[tuple[str, str], float] = {}
    for pos in np.flatnonzero(returned).tolist():
        key = (lines.user[pos], lines.order[pos])
        first.setdefault(key, pos)
        credited[key] = credited.get(key, 0.0) + abs(float(lines.quantity[pos] * lines.price[pos]))
    at = np.array(list(first.values()), dtype=np.int64)
    amount = np.array([credited[k] for k in first], dtype=np.float64)
    return Signals(lines.user[at], lines.ts[at], np.full(len(at), "return", dtype=object), lines.country[at], amount)


def _signal_counts(signals: Signals, kind: str, end: np.datetime64) -> dict[str, int]:
    mine = signals.kind == kind
    recent = mine & (signals.ts >= end - np.timedelta64(RECENT_DAYS, "D"))
    return {
        "total": int(mine.sum()),
        "last_90d": int(recent.sum()),
        "customers": len(set(signals.user[mine].tolist())),
        "customers_90d": len(set(signals.user[recent].tolist())),
    }


def _fields(signals: Signals) -> tuple[np.ndarray, ...]:
    return signals.user, signals.ts, signals.kind, signals.country, signals.amount


def _select(lines: Lines, mask: np.ndarray) -> Lines:
    return Lines(*(column[mask] for column in (lines.user, lines.item, lines.ts, lines.quantity, lines.price,
                                               lines.country, lines.order)))  # fmt: skip


def _one_of(data_dir: Path, name: str) -> Path:
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"data directory {data_dir}: {name} (or {name}.gz) is missing", field="EDGE_DATA")


def _strings(values: Iterable[str]) -> np.ndarray:
    cells = list(values)
    array = np.empty(len(cells), dtype=object)
    array[:] = cells
    return array


def _floats(values: np.ndarray, path: Path, column: str) -> np.ndarray:
    try:
        return np.asarray(values.tolist() or [], dtype=np.float64)
    except ValueError as exc:
        raise ConfigError(f"{path}: column {column!r} has a non-number ({exc})", field=f"{path.name}:{column}") from exc


def _map(values: np.ndarray, fn: Callable[[str], str]) -> np.ndarray:
    cache: dict[str, str] = {}
    out = np.empty(len(values), dtype=object)
    out[:] = [cache[v] if v in cache else cache.setdefault(v, fn(v)) for v in values.tolist()]
    return out
