"""Cleaning: the Online Retail rules on a tiny hand-made file set, and the pure rules one by one."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from models import cleaning
from models.dataset import Dataset
from models.sources import RETAIL_COLUMNS, read_source

# Two monthly files, Online Retail's own shape; comments say which rule each row exercises.
JANUARY = """\
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2011-01-10 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2011-01-10 08:26:00,3.39,17850.0,United Kingdom
536365,POST,POSTAGE,1,2011-01-10 08:26:00,18.00,17850.0,United Kingdom
C536372,71053,WHITE METAL LANTERN,-2,2011-01-15 09:00:00,3.39,17850.0,United Kingdom
"""
JUNE = """\
536366,85123a,WHITE HANGING HEART T-LIGHT HOLDER ,2,2011-06-01 10:00:00,2.95,12345.0,Netherlands
536366,22423,REGENCY CAKESTAND 3 TIER,1,2011-06-01 10:00:00,12.75,12345.0,Netherlands
536367,22423,REGENCY CAKE STAND,1,2011-06-02 11:00:00,10.95,,EIRE
536367,22423,REGENCY CAKESTAND 3 TIER,2,2011-06-02 11:00:00,12.75,,EIRE
536368,22423,,5,2011-06-03 12:00:00,0.0,,Unspecified
536369,21733,damaged,-10,2011-06-03 12:00:00,0.0,,United Kingdom
C536370,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,2011-06-20 09:00:00,2.55,17850.0,United Kingdom
C536371,D,Discount,-1,2011-06-21 09:00:00,5.00,12345.0,Netherlands
536373,M,Manual,1,2011-06-25 09:00:00,1.00,12345.0,Netherlands
536374,BANK CHARGES,Bank Charges,1,2011-06-25 09:00:00,15.00,12345.0,Netherlands
536376,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,2011-06-26 09:00:00,16.67,,United Kingdom
536375,71053,WHITE METAL LANTERN,1,2011-06-30 15:00:00,3.00,17850.0,United Kingdom
536377,71053,WHITE METAL LANTERN,1,2011-06-30 15:05:00,3.39,,RSA
536378,23444,Next Day Carriage,1,2011-06-29 10:00:00,15.00,12345.0,Netherlands
"""


@pytest.fixture(scope="module")
def retail(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    folder = tmp_path_factory.mktemp("online-retail")
    for month, rows in (("2011-01", JANUARY), ("2011-06", JUNE)):
        with gzip.open(folder / f"online_retail_{month}.csv.gz", "wt", encoding="utf-8") as handle:
            handle.write(",".join(RETAIL_COLUMNS) + "\n" + rows)
    return read_source(folder)


def test_rows_are_counted_by_kind(retail: Dataset) -> None:
    report = retail.report
    assert report["rows"] == 18
    assert report["rows_by_kind"] == {
        "cancellation": 3,
        "non_product": 5,
        "return": 0,
        "stock_adjustment": 1,
        "price_not_positive": 1,
        "purchase": 8,
    }
    # 23444 looks like a product code but sells "Next Day Carriage": a fee
    assert report["non_product_codes"] == {"POST": 1, "M": 1, "BANK CHARGES": 1, "GIFT_0001_20": 1, "23444": 1}
    assert report["cancellation_invoices"] == 3
    assert report["guest_purchase_rows"] == 3
    assert report["unknown_country_rows"] == {"Unspecified": 1}
    assert report["lower_case_product_codes"] == 1


def test_only_real_product_purchases_remain(retail: Dataset) -> None:
    assert [item.id for item in retail.items] == ["22423", "71053", "85123A"]  # 85123a merged into 85123A
    assert bool(np.all(retail.interactions.quantity > 0)) and bool(np.all(retail.interactions.price > 0))
    assert len(retail.interactions) == 8


def test_one_name_and_a_typical_price_per_product(retail: Dataset) -> None:
    by_id = {item.id: item for item in retail.items}
    assert by_id["22423"].name == "REGENCY CAKESTAND 3 TIER"  # 2 of 3 purchase lines say so
    assert by_id["85123A"].name == "WHITE HANGING HEART T-LIGHT HOLDER"  # trailing blank gone
    assert by_id["71053"].price == 3.39  # median of 3.39, 3.00, 3.39
    assert by_id["85123A"].price == pytest.approx(2.75)  # median of 2.55 and 2.95
    assert all(item.category == "" for item in retail.items)  # derived later, from names and vectors


def test_customer_ids_guests_and_countries(retail: Dataset) -> None:
    lines = retail.interactions
    assert sorted(set(lines.user.tolist())) == ["", "12345", "17850"]
    assert sorted(retail.customers) == ["12345", "17850"]  # guests count for popularity only
    assert retail.customers["12345"]["country"] == "NL" and retail.customers["12345"]["locale"] == "nl-NL"
    assert retail.customers["17850"]["country"] == "GB" and retail.customers["17850"]["locale"] == "en-GB"
    assert sorted(set(lines.country.tolist())) == ["GB", "IE", "NL", "ZA"]


def test_cancellations_are_dated_credits_not_complaints_or_purchases(retail: Dataset) -> None:
    # a cancellation invoice credits money back (netted from spend by the build's ledger); it is
    # neither a return nor a complaint, so it does not make the customer at risk
    assert retail.customers["17850"]["credits_at"] == [
        ["2011-01-15T09:00:00Z", "cancellation", 6.78],
        ["2011-06-20T08:00:00Z", "cancellation", 2.55],
    ]
    assert retail.customers["12345"]["credits_at"] == [["2011-06-21T08:00:00Z", "cancellation", 5.0]]
    for customer in ("17850", "12345"):
        assert retail.customers[customer]["returns_90d"] == retail.customers[customer]["complaints_90d"] == 0
    assert retail.report["cancellations"]["total"] == 3
    assert retail.report["returns"]["total"] == 0 and retail.report["complaints"]["total"] == 0


def test_invoice_dates_are_uk_local_time_converted_to_utc(retail: Dataset) -> None:
    ts = retail.interactions.ts
    assert ts.min() == np.datetime64("2011-01-10T08:26:00", "s")  # GMT = UTC in winter
    assert ts.max() == np.datetime64("2011-06-30T14:05:00", "s")  # BST = UTC+1 in summer
    assert retail.report["data_end"] == "2011-06-30T14:05:00Z"


@pytest.mark.parametrize(
    ("code", "product"),
    [
        ("85123A", True),
        ("85123a", True),
        ("71053", True),
        ("15056BL", True),
        ("POST", False),
        ("DOT", False),
        ("M", False),
        ("m", False),
        ("C2", False),
        ("D", False),
        ("S", False),
        ("B", False),
        ("PADS", False),
        ("CRUK", False),
        ("AMAZONFEE", False),
        ("BANK CHARGES", False),
        ("gift_0001_20", False),
        ("DCGSSGIRL", False),
    ],
)
def test_product_codes(code: str, product: bool) -> None:
    assert cleaning.is_product(code) is product


def test_fees_are_recognised_by_name() -> None:
    assert cleaning.is_service("Next Day Carriage") and cleaning.is_service("PACKING CHARGE")
    assert cleaning.is_service("Dotcomgiftshop Gift Voucher £100.00")
    assert not cleaning.is_service("WHITE HANGING HEART T-LIGHT HOLDER")
    assert not cleaning.is_service("FRENCH CARRIAGE LANTERN")  # real products that mention a fee word
    assert not cleaning.is_service("BLACK BAROQUE CARRIAGE CLOCK")


def test_ids_and_countries() -> None:
    assert cleaning.user_id("17850.0") == "17850"
    assert cleaning.user_id(" ") == ""
    assert cleaning.product_id(" 85123a ") == "85123A"
    names = {"United Kingdom": "GB", "EIRE": "IE", "RSA": "ZA", "Netherlands": "NL", "USA": "US"}
    for name, code in names.items():
        assert cleaning.country_code(name) == code
    for unknown in ("Unspecified", "European Community", "Channel Islands", "Atlantis"):
        assert cleaning.country_code(unknown) == ""
    assert cleaning.country_code("nl") == "NL"  # already a code (the generic format)
    assert cleaning.locale_for("BE") == "nl-BE" and cleaning.locale_for("DE") == "en-GB"


def test_uk_clock_changes() -> None:
    local = ["2011-03-27 00:30:00", "2011-03-27 02:30:00", "2011-10-30 00:30:00", "2011-10-30 01:30:00"]
    utc = cleaning.uk_local_to_utc(local).astype(str).tolist()
    # 01:00 GMT on 27 March: clocks go forward; 02:00 BST on 30 October: clocks go back
    assert utc == ["2011-03-27T00:30:00", "2011-03-27T01:30:00", "2011-10-29T23:30:00", "2011-10-30T00:30:00"]


def test_typical_prices_are_medians() -> None:
    item = np.array([0, 0, 0, 1, 1, 2])
    price = np.array([1.0, 9.0, 2.0, 4.0, 6.0, 3.0])
    assert cleaning.typical_prices(item, price, 4).tolist() == [2.0, 5.0, 3.0, 0.0]


def test_most_frequent_name_collapses_blanks() -> None:
    names = cleaning.most_frequent_names(["a", "a", "a", "b"], ["X  Y", "X Y ", "Z", ""])
    assert names == {"a": "X Y"}
