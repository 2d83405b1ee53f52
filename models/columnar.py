"""Columnar reading and cleaning with polars: the same `Dataset` as `models.sources`, at scale.

`models.sources` reads CSV rows into Python objects (about 850 bytes a row); this module reads the
same files with polars into typed columns (low-cardinality strings as categoricals, 4 bytes a row),
applies the cleaning rules of `models.cleaning` once per *distinct* value (codes, customers,
countries, timestamps, descriptions) and joins the results back, and aggregates (names, signals,
customer facts, report counts) with group-bys. The rules themselves are not re-implemented: every
per-value decision calls the same function `models.sources` calls, so both readers give the same
dataset (tests/test_columnar.py compares them on the real data).

The `Dataset` it returns holds string columns as *interned* object arrays: each distinct id is one
Python string shared by all its rows, so a column costs 8 bytes a row instead of ~60.

    read_source(DIR)     Online Retail files -> polars; the generic format -> models.sources
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# polars' allocator hands freed pages back at once, so the numpy stages after the read can reuse them
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
import polars as pl

from edge.core.catalog import Item
from edge.errors import ConfigError
from models import cleaning, sources
from models.dataset import Dataset, Interactions

CATEGORICAL = ("StockCode", "Description", "InvoiceDate", "CustomerID", "Country")
KINDS = ("cancellation", "non_product", "return", "stock_adjustment", "price_not_positive", "purchase")


def read_source(data_dir: Path) -> Dataset:
    """The dataset in `data_dir`: Online Retail through polars, the generic format as `models.sources` reads it."""
    files = sources.data_files(data_dir)
    if any(f.match(sources.RETAIL_GLOB) for f in files) and not {"interactions.csv", "interactions.csv.gz"} & {
        f.name for f in files
    }:
        return read_online_retail(data_dir)
    return sources.read_source(data_dir)


def read_retail_frame(files: Sequence[Path]) -> pl.DataFrame:
    """The raw Online Retail rows of `files`, in file order, with a global `row` number.

    Strings stay as written (empty = ""); Quantity and UnitPrice are Float64; a missing column or
    a non-number raises `ConfigError` naming the file and column, as `models.sources.read_csv` does.
    """
    parts = []
    for path in files:
        try:
            frame = pl.read_csv(
                path, infer_schema=False, empty_string_is_null=False, encoding="utf8", raise_if_empty=False
            )
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ConfigError(f"{path}: unreadable ({exc})", field=path.name) from exc
        frame = frame.rename({name: name.strip().lstrip("\ufeff") for name in frame.columns})
        for name in sources.RETAIL_COLUMNS:
            if name not in frame.columns:
                message = f"{path}: missing column {name!r} (header: {','.join(frame.columns)})"
                raise ConfigError(message, field=f"{path.name}:{name}")
        frame = frame.select(sources.RETAIL_COLUMNS)
        for column in ("Quantity", "UnitPrice"):
            try:
                frame = frame.with_columns(pl.col(column).str.strip_chars().cast(pl.Float64, strict=True))
            except pl.exceptions.PolarsError as exc:
                message = f"{path}: column {column!r} has a non-number ({exc})"
                raise ConfigError(message, field=f"{path.name}:{column}") from exc
        parts.append(frame.with_columns(pl.col(c).cast(pl.Categorical) for c in CATEGORICAL))
    frame = pl.concat(parts, how="vertical") if parts else pl.DataFrame()
    return frame.with_row_index("row")


def read_online_retail(data_dir: Path) -> Dataset:
    """UCI Online Retail monthly files, cleaned by the rules in `models.cleaning` (columnar)."""
    files = sorted(p for p in sources.data_files(data_dir) if p.match(sources.RETAIL_GLOB))
    if not files:
        raise ConfigError(f"data directory {data_dir} has no {sources.RETAIL_GLOB} files", field="EDGE_DATA")
    frames = [read_retail_frame(files)]
    if frames[0].height == 0:
        raise ConfigError(f"data directory {data_dir}: Online Retail files without rows", field="EDGE_DATA")
    return clean_online_retail(frames, [p.name for p in files])


def clean_online_retail(frames: list[pl.DataFrame], file_names: list[str]) -> Dataset:
    """Classify, name, price and assemble the raw rows (see `models.cleaning` for the rules).

    `frames` holds the one raw frame, taken out of the list so that its memory goes as soon as the
    purchase lines are extracted.
    """
    raw = frames.pop()
    n_rows = raw.height
    raw_codes = raw["StockCode"].unique().cast(pl.String).to_list()
    frame = raw.with_columns(
        _mapped(raw, "StockCode", "code", cleaning.product_id, pl.Categorical),
        _mapped(raw, "CustomerID", "user", cleaning.user_id, pl.Categorical),
        _mapped(raw, "Country", "country", cleaning.country_code, pl.Categorical),
        _mapped(raw, "InvoiceDate", "ts", _utc_seconds, pl.Int64),
    )
    del raw
    frame = frame.with_columns(_mapped(frame, "code", "is_product", cleaning.is_product, pl.Boolean))
    cancelled = pl.col("InvoiceNo").str.strip_chars_start().str.to_uppercase().str.starts_with("C")
    rest = ~cancelled & pl.col("is_product")
    negative = rest & (pl.col("Quantity") <= 0)
    known = pl.col("user") != ""
    frame = frame.with_columns(
        cancellation=cancelled,
        non_product=~cancelled & ~pl.col("is_product"),
        **{"return": negative & known},
        stock_adjustment=negative & ~known,
        price_not_positive=rest & (pl.col("Quantity") > 0) & (pl.col("UnitPrice") <= 0),
        purchase=rest & (pl.col("Quantity") > 0) & (pl.col("UnitPrice") > 0),
    )
    names = most_frequent_names(frame.lazy().filter("purchase").select("code", "Description", "row").collect())
    services = [code for code, name in names.items() if cleaning.is_service(name)]  # fees with product-like codes
    charged = pl.col("purchase") & pl.col("code").cast(pl.String).is_in(services)
    frame = frame.with_columns(non_product=pl.col("non_product") | charged, purchase=pl.col("purchase") & ~charged)
    signals = _signals(frame)
    counts = frame.select(pl.col(k).sum() for k in KINDS).row(0, named=True)
    report: dict[str, Any] = {
        "files": file_names,
        "rows": n_rows,
        "rows_by_kind": {kind: int(counts[kind]) for kind in KINDS},
        "cancellation_invoices": frame.lazy()
        .filter("cancellation")
        .select(pl.col("InvoiceNo").n_unique())
        .collect()
        .item(),
        "non_product_codes": _most_common(frame, pl.col("non_product"), "code"),
        "guest_purchase_rows": int(frame.select((pl.col("purchase") & (pl.col("user") == "")).sum()).item()),
        "unknown_country_rows": _most_common(frame, pl.col("country") == "", "Country"),
        "lower_case_product_codes": len(
            {c for c in raw_codes if c != cleaning.product_id(c) and cleaning.is_product(c)}
        ),
    }
    lines = (
        frame.lazy()
        .filter("purchase")
        .select(
            "row",
            "user",
            item="code",
            ts="ts",
            quantity="Quantity",
            price="UnitPrice",
            country="country",
            order="InvoiceNo",
        )
        .collect()
    )
    del frame
    catalog = _retail_catalog(lines, names)
    return assemble("online-retail", lines, catalog, signals, report)


def most_frequent_names(purchases: pl.DataFrame) -> dict[str, str]:
    """`cleaning.most_frequent_names` on a frame of purchase rows (`code`, `Description`, `row`)."""
    pairs = purchases.group_by("code", "Description").agg(n=pl.len(), first=pl.col("row").min())
    pairs = _map_values(pairs, "Description", {"name": lambda d: " ".join(d.split())}, pl.String)
    best = (
        pairs.filter(pl.col("name") != "")
        .group_by("code", "name")
        .agg(pl.col("n").sum(), pl.col("first").min())
        .sort(["code", "n", "first"], descending=[False, True, False])  # most frequent; first seen wins a tie
        .unique("code", keep="first", maintain_order=True)
    )
    return dict(zip(best["code"].cast(pl.String).to_list(), best["name"].to_list(), strict=True))


def assemble(
    source: str,
    lines: pl.DataFrame,
    catalog: Sequence[Item],
    signals: sources.Signals,
    report: dict[str, Any],
) -> Dataset:
    """`models.sources.assemble` on a frame of purchase lines (`row`, `user`, `item`, `ts` in epoch seconds, ...)."""
    ids = pl.Series([item.id for item in catalog], dtype=pl.String).cast(lines.schema["item"])
    rows = pl.col("item").replace_strict(ids, pl.Series(np.arange(len(catalog), dtype=np.int32)), default=None)
    lines = lines.with_columns(item_row=rows)
    unknown = int(lines["item_row"].null_count())
    if unknown:
        lines = lines.filter(pl.col("item_row").is_not_null())
    if lines.height == 0:
        raise ConfigError(f"{source}: no purchase lines of catalog items", field="EDGE_DATA")
    end = np.datetime64(int(lines.select(pl.col("ts").max()).item()), "s")
    customers = customer_facts(lines, signals, end)
    guest_lines = int(lines.select((pl.col("user") == "").sum()).item())
    orders = lines["order"].n_unique()
    # column by column, each dropped from the frame once converted: memory holds one copy plus one column
    lines = lines.select("user", "item_row", "ts", "quantity", "price", "country", "order")
    convert: dict[str, Callable[[pl.Series], np.ndarray]] = {
        "user": interned,
        "item_row": lambda c: c.to_numpy().astype(np.int32),
        "ts": lambda c: c.to_numpy().astype("datetime64[s]"),
        "quantity": lambda c: c.to_numpy().astype(np.float32),
        "price": lambda c: c.to_numpy().astype(np.float32),
        "country": interned,
        "order": interned,
    }
    arrays: dict[str, np.ndarray] = {}
    for name, fn in convert.items():
        column = lines[name]
        lines = lines.drop(name)
        arrays[name] = fn(column)
        del column
    interactions = Interactions(
        user=arrays["user"],
        item=arrays["item_row"],
        ts=arrays["ts"],
        quantity=arrays["quantity"],
        price=arrays["price"],
        country=arrays["country"],
        order=arrays["order"],
    )
    full_report = {
        **report,
        "unknown_item_rows": unknown,
        "purchase_lines": len(interactions),
        "guest_lines": guest_lines,
        "customers": len(customers),
        "products": len(catalog),
        "orders": orders,
        "data_start": str(interactions.ts.min()) + "Z",
        "data_end": str(end) + "Z",
        "returns": sources._signal_counts(signals, "return", end),
        "cancellations": sources._signal_counts(signals, "cancellation", end),
        "complaints": sources._signal_counts(signals, "complaint", end),
    }
    return Dataset(source, list(catalog), interactions, customers, None, full_report)


def customer_facts(lines: pl.DataFrame, signals: sources.Signals, end: np.datetime64) -> dict[str, dict[str, Any]]:
    """`models.sources.customer_facts` with the per-line counting done by group-bys.

    A customer's country is their most frequent non-empty one over purchase lines then signals,
    the first seen winning a tie (as `Counter.most_common` orders them).
    """
    purchase_side = lines.select(
        pl.col("user").cast(pl.Categorical), pl.col("country").cast(pl.Categorical), seen=pl.col("row").cast(pl.Int64)
    )
    offset = int(lines.select(pl.col("row").max()).item()) + 1
    signal_side = pl.DataFrame(
        {
            "user": signals.user.tolist(),
            "country": signals.country.tolist(),
            "seen": np.arange(offset, offset + len(signals.user), dtype=np.int64),
        },
        schema={"user": pl.String, "country": pl.String, "seen": pl.Int64},
    ).with_columns(pl.col("user", "country").cast(pl.Categorical))
    both = pl.concat([purchase_side, signal_side]).filter(pl.col("user") != "")
    per_country = (
        both.group_by("user", "country")
        .agg(n=pl.len(), first=pl.col("seen").min())
        .with_columns(pl.col("user", "country").cast(pl.String))
    )
    first_seen = per_country.group_by("user").agg(first=pl.col("first").min()).sort("first")
    best = (
        per_country.filter(pl.col("country") != "")
        .sort(["user", "n", "first"], descending=[False, True, False])
        .unique("user", keep="first")
    )
    country_of = dict(zip(best["user"].to_list(), best["country"].to_list(), strict=True))
    recent = signals.ts >= end - np.timedelta64(sources.RECENT_DAYS, "D")
    counts: dict[tuple[str, str], int] = {}
    for u, k, r in zip(signals.user.tolist(), signals.kind.tolist(), recent.tolist(), strict=True):
        key = (u, f"{k}s_{'90d' if r else 'older'}")
        counts[key] = counts.get(key, 0) + 1
    facts: dict[str, dict[str, Any]] = {}
    for user in first_seen["user"].to_list():
        country = country_of.get(user, "")
        facts[user] = sources.customer_record(user, country, counts)
    sources.add_dated_signals(facts, signals)
    return facts


def interned(column: pl.Series) -> np.ndarray:
    """A string column as an object array in which each distinct value is one shared Python string."""
    uniques = column.unique(maintain_order=True)
    positions = pl.Series(np.arange(len(uniques), dtype=np.int64))
    codes = column.replace_strict(uniques, positions, return_dtype=pl.Int64).to_numpy()
    table = np.empty(len(uniques), dtype=object)
    table[:] = uniques.cast(pl.String).to_list()
    out: np.ndarray = table[codes]
    return out


def _map_values(
    frame: pl.DataFrame, column: str, outputs: dict[str, Callable[[str], Any]], dtype: type[pl.DataType]
) -> pl.DataFrame:
    """Add columns computed from `column` by Python functions called once per distinct value."""
    uniques = frame[column].unique()
    values = uniques.cast(pl.String).to_list()
    lookup = pl.DataFrame({column: uniques}).with_columns(
        pl.Series(name, [fn(v) for v in values], dtype=pl.String if dtype is pl.Categorical else dtype).cast(dtype)
        for name, fn in outputs.items()
    )
    return frame.join(lookup, on=column, how="left", maintain_order="left")


def _mapped(frame: pl.DataFrame, column: str, name: str, fn: Callable[[str], Any], dtype: type[pl.DataType]) -> pl.Expr:
    """Column `name` computed from `column` by a Python function called once per distinct value."""
    uniques = frame[column].unique()
    values = [fn(v) for v in uniques.cast(pl.String).to_list()]
    new = pl.Series(values, dtype=pl.String if dtype is pl.Categorical else dtype).cast(dtype)
    return pl.col(column).replace_strict(uniques, new, return_dtype=dtype).alias(name)


def _utc_seconds(value: str) -> int:
    return int(cleaning.uk_local_to_utc([value])[0].astype(np.int64))


def _most_common(frame: pl.DataFrame, where: pl.Expr, column: str) -> dict[str, int]:
    """Value counts of `column` on the rows `where` holds, most common first, the first seen winning a tie."""
    counted = (
        frame.lazy()
        .filter(where)
        .group_by(column)
        .agg(n=pl.len(), first=pl.col("row").min())
        .sort(["n", "first"], descending=[True, False])
        .collect()
    )
    return dict(zip(counted[column].cast(pl.String).to_list(), counted["n"].to_list(), strict=True))


def _retail_catalog(bought: pl.DataFrame, names: dict[str, str]) -> list[Item]:
    """Items of the purchased codes (`item`, `price`), sorted by id: most frequent name, median price."""
    ids = pl.Series(sorted(bought["item"].unique().cast(pl.String).to_list()), dtype=pl.String)
    positions = pl.Series(np.arange(len(ids), dtype=np.int64))
    item_rows = bought["item"].replace_strict(ids.cast(pl.Categorical), positions, return_dtype=pl.Int64).to_numpy()
    typical = cleaning.typical_prices(item_rows, bought["price"].to_numpy(), len(ids))
    return [
        Item(id=item, name=names.get(item) or item, category="", price=round(float(p), 2))
        for item, p in zip(ids.to_list(), typical.tolist(), strict=True)
    ]


def _signals(frame: pl.DataFrame) -> sources.Signals:
    """One `cancellation` signal per customer invoice, then one `return` signal per customer order,
    each with the value it credits: `models.sources`' signals, the sums taken in row order as there."""
    known = pl.col("user") != ""
    credit = (pl.col("Quantity") * pl.col("UnitPrice")).abs()
    cancellations = (
        frame.lazy()
        .filter(pl.col("cancellation") & known)
        .group_by("InvoiceNo", maintain_order=True)
        .agg(pl.col("user", "ts", "country").first(), credits=credit)
        .with_columns(kind=pl.lit("cancellation"))
        .collect()
    )
    returns = (
        frame.lazy()
        .filter("return")
        .group_by("user", "InvoiceNo", maintain_order=True)
        .agg(pl.col("ts", "country").first(), credits=credit)
        .with_columns(kind=pl.lit("return"))
        .collect()
    )
    both = pl.concat(
        [
            part.select(pl.col("user", "country").cast(pl.String), "ts", "kind", "credits")
            for part in (cancellations, returns)
        ]
    )
    return sources.Signals(
        user=_objects(both["user"]),
        ts=both["ts"].to_numpy().astype("datetime64[s]"),
        kind=_objects(both["kind"]),
        country=_objects(both["country"]),
        amount=np.array([_running_sum(values) for values in both["credits"].to_list()], dtype=np.float64),
    )


def _running_sum(values: Sequence[float]) -> float:
    """Left to right from 0.0, as the row reader adds (no compensated or pairwise summation)."""
    total = 0.0
    for value in values:
        total += value
    return total


def _objects(column: pl.Series) -> np.ndarray:
    out = np.empty(len(column), dtype=object)
    out[:] = column.to_list()
    return out
