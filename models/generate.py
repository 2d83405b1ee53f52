"""A synthetic Online-Retail-like data set of any size, for scaling benchmarks (not for demos).

The shape follows what the real UCI Online Retail data shows (measured on Dec 2010 - Oct 2011,
431,673 rows): about 20 lines per invoice, log-normally spread (median 10, 90th percentile 45,
99th 188); a long-tailed item popularity over a fixed catalog (4,000 codes by default); one
customer per ~108 rows, each with a country (91 % United Kingdom, then Germany, EIRE, France, ...)
and a log-normal activity (mean 4.5 orders); a quarter of the rows are guest checkouts; 1.8 % of
rows are cancellations (`C` invoices crediting an earlier order's lines); a few postage/manual
lines (POST, M, DOT); order volume grows over the months. Customers have tastes (one or two
favourite clusters of items), so ALS has structure to find.

    python -m models.generate --lines 20000000 --out /tmp/retail-20m          # Online Retail files
    python -m models.generate --lines 1000000 --out /tmp/g1m --format generic

Online Retail format: one `online_retail_YYYY-MM.csv.gz` per month (the layout `edge build --data`
reads); generic: items.csv.gz + interactions.csv.gz (docs/data-format.md). Generation streams month
by month, so memory stays flat whatever the size; the same seed gives the same files.
"""

from __future__ import annotations

import argparse
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

ROWS_PER_CUSTOMER = 108  # real data: 431,673 rows, 4,010 customers
GUEST_ORDER_SHARE = 0.25
CANCEL_LINE_SHARE = 0.024  # of customer lines, credited by a `C` invoice (~1.8 % of all rows)
BASKET_MEDIAN, BASKET_SIGMA, BASKET_MAX = 10.0, 1.18, 1100
POSTAGE_SHARE = 0.03  # orders with a POST / M / DOT line
TASTE_SHARE = 0.6  # share of a customer's lines from their favourite clusters
CLUSTERS = 40
FIRST_INVOICE = 536365
COUNTRIES = (
    ("United Kingdom", 0.910), ("Germany", 0.019), ("EIRE", 0.016), ("France", 0.015), ("Spain", 0.005),
    ("Netherlands", 0.005), ("Switzerland", 0.004), ("Belgium", 0.004), ("Portugal", 0.003), ("Australia", 0.003),
    ("Norway", 0.002), ("Italy", 0.002), ("Channel Islands", 0.002), ("Finland", 0.002), ("Cyprus", 0.001),
    ("Sweden", 0.001), ("Austria", 0.001), ("Denmark", 0.001), ("Japan", 0.001), ("Poland", 0.001),
    ("USA", 0.001), ("Unspecified", 0.001),
)  # fmt: skip
COLOURS = ("WHITE", "RED", "PINK", "BLUE", "GREEN", "IVORY", "BLACK", "SILVER", "GOLD", "VINTAGE", "RETRO", "PAISLEY")
THINGS = (
    "HEART", "STAR", "BIRD", "ROSE", "SPOT", "STRIPE", "DOILY", "REGENCY", "CHRISTMAS", "JUMBO", "LOVE", "GARDEN",
)  # fmt: skip
KINDS = (
    "T-LIGHT HOLDER", "LANTERN", "BAG", "MUG", "CAKE STAND", "PHOTO FRAME", "CUSHION COVER", "BUNTING", "TEACUP",
    "LUNCH BOX", "NAPKINS", "DOORSTOP", "CLOCK", "PURSE", "CANDLE", "SIGN", "PLATE", "BOTTLE", "TIN", "WRAP",
)  # fmt: skip
HEADER = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")


@dataclass(frozen=True, slots=True)
class Shop:
    """The fixed part of the synthetic shop: catalog, customers and their tastes."""

    codes: np.ndarray  # str
    names: np.ndarray  # str
    prices: np.ndarray  # float64 list price
    popularity: np.ndarray  # float64, sums to 1
    cluster: np.ndarray  # int, item -> cluster
    customer_ids: np.ndarray  # str, "12346.0"-style
    customer_country: np.ndarray  # str, as Online Retail spells it
    activity: np.ndarray  # float64, sums to 1
    taste: np.ndarray  # int [customers, 2] favourite clusters


def make_shop(n_lines: int, n_items: int = 4000, seed: int = 0) -> Shop:
    """The catalog and customers for a data set of about `n_lines` rows."""
    rng = np.random.default_rng(seed)
    numbers = rng.choice(np.arange(10000, 99999), size=n_items, replace=False)
    suffix = np.where(rng.random(n_items) < 0.2, rng.choice(list("ABCDEFGLPS"), size=n_items), "")
    codes = np.char.add(numbers.astype(str), suffix)
    names = np.array(
        [
            f"{COLOURS[a]} {THINGS[b]} {KINDS[c]}"
            for a, b, c in zip(
                rng.integers(len(COLOURS), size=n_items).tolist(),
                rng.integers(len(THINGS), size=n_items).tolist(),
                rng.integers(len(KINDS), size=n_items).tolist(),
                strict=True,
            )
        ]
    )
    prices = np.round(np.exp(rng.normal(np.log(2.1), 0.9, size=n_items)), 2).clip(0.06, 300.0)
    popularity = np.exp(rng.normal(0.0, 1.3, size=n_items))
    popularity /= popularity.sum()
    cluster = rng.integers(CLUSTERS, size=n_items)
    n_customers = max(10, n_lines // ROWS_PER_CUSTOMER)
    customer_ids = np.char.add((12346 + np.arange(n_customers)).astype(str), ".0")
    names_, shares = zip(*COUNTRIES, strict=True)
    weights = np.array(shares) / sum(shares)
    customer_country = np.array(names_)[rng.choice(len(names_), size=n_customers, p=weights)]
    activity = np.exp(rng.normal(0.0, 1.2, size=n_customers))
    activity /= activity.sum()
    taste = rng.integers(CLUSTERS, size=(n_customers, 2))
    return Shop(codes, names, prices, popularity, cluster, customer_ids, customer_country, activity, taste)


def months(start: date, n: int) -> list[date]:
    """The first days of `n` consecutive months from `start`."""
    return [date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1) for i in range(n)]


def generate(
    out_dir: Path,
    n_lines: int,
    *,
    n_items: int = 4000,
    n_months: int = 12,
    start: date = date(2010, 12, 1),
    seed: int = 0,
    fmt: str = "online-retail",
) -> list[Path]:
    """Write about `n_lines` rows under `out_dir`, month by month; the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shop = make_shop(n_lines, n_items, seed)
    rng = np.random.default_rng(seed + 1)
    firsts = months(start, n_months + 1)
    growth = np.linspace(1.0, 1.7, n_months)  # later months sell more, as in the real data
    per_month = np.round(n_lines * growth / growth.sum()).astype(np.int64)
    invoice = FIRST_INVOICE
    written: list[Path] = []
    for month, (first, following, lines) in enumerate(zip(firsts, firsts[1:], per_month.tolist(), strict=False)):
        frame, invoice = month_rows(shop, rng, first, following, lines, invoice)
        if fmt == "generic":
            written.append(_append_generic(out_dir, frame, shop, first_month=month == 0))
        else:
            path = out_dir / f"online_retail_{first:%Y-%m}.csv.gz"
            with gzip.open(path, "wb", compresslevel=1) as handle:
                frame.write_csv(handle)  # type: ignore[call-overload]  # GzipFile is a binary IO
            written.append(path)
    return sorted(set(written))


def month_rows(
    shop: Shop, rng: np.random.Generator, first: date, following: date, n_lines: int, invoice: int
) -> tuple[pl.DataFrame, int]:
    """About `n_lines` Online Retail rows for one month, invoices numbered from `invoice`; the next number."""
    mean_basket = BASKET_MEDIAN * np.exp(BASKET_SIGMA**2 / 2)
    n_orders = max(1, round(n_lines / mean_basket))
    sizes = np.clip(np.round(np.exp(rng.normal(np.log(BASKET_MEDIAN), BASKET_SIGMA, n_orders))), 1, BASKET_MAX)
    sizes = sizes.astype(np.int64)
    seconds = int((np.datetime64(following) - np.datetime64(first)).astype("timedelta64[s]").astype(np.int64))
    days = np.sort(rng.integers(0, seconds // 86400, size=n_orders))
    at = np.datetime64(first, "s") + (days * 86400 + rng.integers(8 * 3600, 19 * 3600, size=n_orders)).astype(
        "timedelta64[s]"
    )
    at = np.sort(at)
    guest = rng.random(n_orders) < GUEST_ORDER_SHARE
    customer = rng.choice(len(shop.activity), size=n_orders, p=shop.activity)
    order_of_line = np.repeat(np.arange(n_orders), sizes)
    total = len(order_of_line)
    line_customer = customer[order_of_line]
    by_taste = (rng.random(total) < TASTE_SHARE) & ~guest[order_of_line]
    items = rng.choice(len(shop.popularity), size=total, p=shop.popularity)
    favourite = shop.taste[line_customer, rng.integers(2, size=total)]
    items[by_taste] = _from_cluster(shop, rng, favourite[by_taste])
    quantity = np.clip(np.round(np.exp(rng.normal(1.0, 1.1, size=total))), 1, 2000).astype(np.int64)
    price = shop.prices[items] * np.where(quantity >= 24, 0.85, 1.0)
    numbers = invoice + order_of_line
    country = np.where(
        guest[order_of_line], shop.customer_country[rng.integers(len(shop.activity), size=total)],
        shop.customer_country[line_customer],
    )  # fmt: skip
    customer_id = np.where(guest[order_of_line], "", shop.customer_ids[line_customer])
    frame = pl.DataFrame(
        {
            "InvoiceNo": numbers.astype(str),
            "StockCode": shop.codes[items],
            "Description": shop.names[items],
            "Quantity": quantity,
            "InvoiceDate": at[order_of_line].astype(str),
            "UnitPrice": np.round(price, 2),
            "CustomerID": customer_id,
            "Country": country,
        }
    )
    frame = pl.concat([frame, _postage(rng, frame, n_orders), _cancellations(rng, frame)])
    frame = frame.with_columns(pl.col("InvoiceDate").str.replace("T", " "))
    return frame.sort("InvoiceDate", "InvoiceNo", maintain_order=True).select(HEADER), invoice + n_orders + 1


def _from_cluster(shop: Shop, rng: np.random.Generator, clusters: np.ndarray) -> np.ndarray:
    """One item per entry of `clusters`, by popularity within the cluster."""
    out = np.empty(len(clusters), dtype=np.int64)
    for c in np.unique(clusters).tolist():
        members = np.flatnonzero(shop.cluster == c)
        where = clusters == c
        weights = shop.popularity[members] / shop.popularity[members].sum()
        out[where] = members[rng.choice(len(members), size=int(where.sum()), p=weights)]
    return out


def _postage(rng: np.random.Generator, lines: pl.DataFrame, n_orders: int) -> pl.DataFrame:
    """POST (abroad), DOT (guests) or M (manual) lines on a few orders."""
    first = lines.unique("InvoiceNo", keep="first", maintain_order=True)
    picked = first.filter(pl.Series(rng.random(first.height) < POSTAGE_SHARE))
    code = (
        pl.when(pl.col("CustomerID") == "").then(pl.lit("DOT"))
        .when(pl.col("Country") != "United Kingdom").then(pl.lit("POST"))
        .otherwise(pl.lit("M"))
    )  # fmt: skip
    name = pl.when(code == "DOT").then(pl.lit("DOTCOM POSTAGE")).when(code == "POST")
    return picked.with_columns(
        StockCode=code,
        Description=name.then(pl.lit("POSTAGE")).otherwise(pl.lit("Manual")),
        Quantity=pl.lit(1, dtype=pl.Int64),
        UnitPrice=pl.lit(18.0),
    )


def _cancellations(rng: np.random.Generator, lines: pl.DataFrame) -> pl.DataFrame:
    """`C` invoices crediting a few customer lines, a day later."""
    known = lines.filter(pl.col("CustomerID") != "")
    if known.height == 0:
        return lines.clear()
    picked = known.filter(pl.Series(rng.random(known.height) < CANCEL_LINE_SHARE))
    later = (pl.col("InvoiceDate").str.to_datetime() + pl.duration(days=1)).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return picked.with_columns(
        InvoiceNo=pl.lit("C") + pl.col("InvoiceNo"),
        Quantity=-pl.col("Quantity"),
        InvoiceDate=later,
    )


def _append_generic(out_dir: Path, frame: pl.DataFrame, shop: Shop, first_month: bool) -> Path:
    """Append one month to interactions.csv.gz (and write items.csv.gz with the first month)."""
    if first_month:
        items = pl.DataFrame({"id": shop.codes, "name": shop.names, "category": "", "price": shop.prices})
        with gzip.open(out_dir / "items.csv.gz", "wb", compresslevel=1) as handle:
            items.write_csv(handle)  # type: ignore[call-overload]
    sold = frame.filter(pl.col("StockCode").is_in(shop.codes.tolist()) & ~pl.col("InvoiceNo").str.starts_with("C"))
    lines = sold.select(
        user=pl.col("CustomerID").str.replace(r"\.0$", ""),
        item="StockCode",
        timestamp=pl.col("InvoiceDate").str.replace(" ", "T") + "Z",
        quantity="Quantity",
        price="UnitPrice",
        country="Country",
        order="InvoiceNo",
    )
    path = out_dir / "interactions.csv.gz"
    with gzip.open(path, "wb" if first_month else "ab", compresslevel=1) as handle:
        lines.write_csv(handle, include_header=first_month)  # type: ignore[call-overload]
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, required=True, help="about this many purchase-file rows")
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument("--items", type=int, default=4000, help="catalog size")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=["online-retail", "generic"], default="online-retail")
    args = parser.parse_args(argv)
    files = generate(args.out, args.lines, n_items=args.items, n_months=args.months, seed=args.seed, fmt=args.format)
    print("\n".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
