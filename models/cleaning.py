"""Cleaning rules for the UCI Online Retail data, as pure functions on columns (documented in docs/data-format.md).

    row kind                          becomes
    InvoiceNo starting with C         a return (it credits products) or complaint (only fees/discounts) signal
    StockCode not like 85123A         dropped, counted per code (POST, DOT, M, C2, D, S, BANK CHARGES, ...),
      or named like a fee             and so are fees under product-like codes (23444 "Next Day Carriage")
    Quantity <= 0 (not C)             a return signal when a customer is known, else a dropped stock adjustment
    UnitPrice <= 0                    dropped (adjustments, samples)
    everything else                   a purchase; no CustomerID = guest (popularity only)

Product ids are StockCodes as given, letters upper-cased (`85123a` and `85123A` are one product); user ids are
CustomerIDs as integer strings (`17850.0` -> `17850`); InvoiceDate is UK local time, converted to UTC.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

UK = ZoneInfo("Europe/London")
PRODUCT_CODE = re.compile(r"\d{5}[A-Z]{0,3}")
# Online Retail spells countries out; None = no single ISO 3166-1 code (counted as unknown "")
COUNTRIES: dict[str, str | None] = {
    "United Kingdom": "GB", "EIRE": "IE", "Ireland": "IE", "Germany": "DE", "France": "FR", "Spain": "ES",
    "Netherlands": "NL", "Switzerland": "CH", "Belgium": "BE", "Portugal": "PT", "Australia": "AU",
    "Norway": "NO", "Finland": "FI", "Italy": "IT", "Cyprus": "CY", "Sweden": "SE", "Austria": "AT",
    "Japan": "JP", "Israel": "IL", "Denmark": "DK", "Hong Kong": "HK", "Poland": "PL", "USA": "US",
    "Singapore": "SG", "Iceland": "IS", "Canada": "CA", "Greece": "GR", "Malta": "MT",
    "United Arab Emirates": "AE", "RSA": "ZA", "Lebanon": "LB", "Lithuania": "LT", "Brazil": "BR",
    "Czech Republic": "CZ", "Bahrain": "BH", "Saudi Arabia": "SA", "West Indies": None, "Nigeria": "NG",
    "Korea": "KR", "Thailand": "TH",
    "Channel Islands": None,  # Jersey (JE) and Guernsey (GG) share one label
    "European Community": None,
    "Unspecified": None,
}  # fmt: skip
LOCALES = {"NL": "nl-NL", "BE": "nl-BE", "US": "en-US", "IE": "en-IE", "AU": "en-AU", "CA": "en-CA"}
DEFAULT_LOCALE = "en-GB"
ISO_CODE = re.compile(r"[A-Z]{2}")
# fees and services that carry product-like codes (23444 "Next Day Carriage")
SERVICE_NAME = re.compile(
    r"(next day )?carriage|(dotcom )?postage|packing charge|high resolution image|bank charges|amazon fee"
    r"|.*gift voucher.*",
    re.IGNORECASE,
)


def product_id(code: str) -> str:
    """The product id of a StockCode: as given, letters upper-cased, surrounding blanks removed."""
    return code.strip().upper()


def is_product(code: str) -> bool:
    """True for product codes (five digits and up to three letters); False for POST, M, DOT, C2, gift_0001_20..."""
    return PRODUCT_CODE.fullmatch(product_id(code)) is not None


def is_service(name: str) -> bool:
    """True for a fee or service sold under a product-like code (carriage, packing, vouchers)."""
    return SERVICE_NAME.fullmatch(name.strip()) is not None


def user_id(customer: str) -> str:
    """`17850.0` -> `17850`; "" for a guest checkout."""
    customer = customer.strip()
    if not customer:
        return ""
    try:
        return str(int(float(customer)))
    except ValueError:
        return customer


def country_code(name: str) -> str:
    """ISO 3166-1 alpha-2 code for a country as Online Retail spells it ("" when unknown or ambiguous)."""
    name = name.strip()
    if name in COUNTRIES:
        return COUNTRIES[name] or ""
    return name.upper() if ISO_CODE.fullmatch(name.upper()) else ""


def locale_for(country: str) -> str:
    """A display locale for a customer's country (Dutch for NL/BE, else an English one)."""
    return LOCALES.get(country, DEFAULT_LOCALE)


def uk_local_to_utc(values: Iterable[str]) -> np.ndarray:
    """`YYYY-MM-DD HH:MM:SS` UK wall-clock strings -> datetime64[s] UTC (GMT in winter, BST in summer)."""
    cache: dict[str, np.datetime64] = {}
    out = []
    for value in values:
        utc = cache.get(value)
        if utc is None:
            local = datetime.fromisoformat(value).replace(tzinfo=UK)
            utc = np.datetime64(local.astimezone(UTC).replace(tzinfo=None), "s")
            cache[value] = utc
        out.append(utc)
    return np.array(out, dtype="datetime64[s]")


def typical_prices(item: np.ndarray, price: np.ndarray, n_items: int) -> np.ndarray:
    """Median unit price per item row (0 for an item without lines)."""
    order = np.lexsort((price, item))
    item, price = item[order], price[order]
    starts = np.searchsorted(item, np.arange(n_items), side="left")
    ends = np.searchsorted(item, np.arange(n_items), side="right")
    lo = np.maximum(starts + (ends - starts - 1) // 2, 0)
    hi = np.maximum(starts + (ends - starts) // 2, 0)
    lo, hi = np.minimum(lo, len(price) - 1), np.minimum(hi, len(price) - 1)
    median = (price[lo] + price[hi]) / 2.0 if len(price) else np.zeros(n_items)
    return np.where(ends > starts, median, 0.0)


def most_frequent_names(item_ids: Iterable[str], descriptions: Iterable[str]) -> dict[str, str]:
    """One name per product: its most frequent non-empty description, blanks collapsed (first seen wins a tie)."""
    counts: Counter[tuple[str, str]] = Counter()
    for (item, description), n in Counter(zip(item_ids, descriptions, strict=True)).items():
        name = " ".join(description.split())
        if name:
            counts[item, name] += n
    best: dict[str, tuple[int, str]] = {}
    for (item, name), n in counts.items():
        if n > best.get(item, (0, ""))[0]:
            best[item] = (n, name)
    return {item: name for item, (_, name) in best.items()}


def classify(
    invoice: np.ndarray, code: np.ndarray, quantity: np.ndarray, price: np.ndarray, user: np.ndarray
) -> dict[str, np.ndarray]:
    """Boolean masks, one per row kind, that partition the rows (see the module docstring for the order)."""
    cancelled = np.array([i.strip().upper().startswith("C") for i in invoice.tolist()], dtype=bool)
    product_codes = {c: is_product(c) for c in set(code.tolist())}
    product = np.array([product_codes[c] for c in code.tolist()], dtype=bool)
    known = user != ""
    non_product = ~cancelled & ~product
    rest = ~cancelled & product
    negative = rest & (quantity <= 0)
    return {
        "cancellation": cancelled,
        "non_product": non_product,
        "return": negative & known,
        "stock_adjustment": negative & ~known,
        "price_not_positive": rest & (quantity > 0) & (price <= 0),
        "purchase": rest & (quantity > 0) & (price > 0),
    }
