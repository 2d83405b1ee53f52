"""Sources: the generic CSV format reads, round-trips and fails clearly; layouts are told apart."""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ConfigError
from models.dataset import rebase
from models.sources import RETAIL_COLUMNS, read_csv, read_generic, read_source, write_generic

GENERIC = Path(__file__).parent / "data" / "generic"


def test_generic_format_reads_items_lines_and_returns() -> None:
    ds = read_source(GENERIC)
    assert ds.source == "csv"
    ids = [item.id for item in ds.items]
    assert ids == ["85123A", "71053", "84406B", "22423", "21212", "47566"]
    lantern = ds.items[1]
    assert (lantern.category, lantern.price, lantern.sale_price, lantern.stock) == (
        "lighting",
        3.39,
        2.99,
        {"GB": 40, "NL": 0},
    )
    assert ds.items[2].stock is None and ds.items[4].repeatable
    lines = ds.interactions
    assert len(lines) == 10  # 12 rows, 2 returns
    assert bool(np.all(lines.quantity > 0))
    # an offset is honoured, a bare timestamp is UTC
    assert np.datetime64("2011-10-20T08:00:00", "s") in lines.ts
    assert np.datetime64("2011-10-03T11:00:00", "s") in lines.ts
    # a missing line price falls back to the catalog price
    bunting = ids.index("47566")
    assert float(lines.price[(lines.item == bunting) & (lines.user == "12345")][0]) == pytest.approx(4.95)
    assert sorted(set(lines.user.tolist())) == ["", "12345", "13047", "17850"]


def test_generic_returns_become_customer_facts() -> None:
    ds = read_generic(GENERIC)
    assert ds.customers["12345"]["returns_90d"] == 1  # 4 days before the end of the data
    assert ds.customers["13047"]["returns_90d"] == 0  # four months before: counted in the total only
    assert ds.customers["13047"]["returns_total"] == 1
    assert ds.customers["17850"] == {
        "country": "GB",
        "locale": "en-GB",
        "returns_90d": 0,
        "complaints_90d": 0,
        "returns_total": 0,
        "complaints_total": 0,
        "credits_at": [],
    }
    assert ds.customers["12345"]["credits_at"][0][1] == "return"  # dated, with the value credited
    assert ds.customers["12345"]["locale"] == "nl-NL"
    assert "" not in ds.customers  # guests have no profile
    assert ds.report["returns"] == {"total": 2, "last_90d": 1, "customers": 2, "customers_90d": 1}


def test_generic_format_round_trips(tmp_path: Path) -> None:
    first = read_generic(GENERIC)
    write_generic(first, tmp_path)
    second = read_generic(tmp_path)
    assert second.items == first.items
    for column in ("user", "item", "ts", "quantity", "price", "country", "order"):
        assert np.array_equal(getattr(second.interactions, column), getattr(first.interactions, column)), column


def test_gzipped_generic_files_read_the_same(tmp_path: Path) -> None:
    for name in ("items.csv", "interactions.csv"):
        with (GENERIC / name).open("rb") as src, gzip.open(tmp_path / f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    assert read_source(tmp_path).items == read_source(GENERIC).items


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_source(tmp_path / "nowhere")


def test_empty_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is empty"):
        read_source(tmp_path)


def test_unrecognised_directory_names_what_it_expected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match=r"online_retail_\*\.csv\*.*notes\.txt"):
        read_source(tmp_path)


def test_online_retail_file_without_a_column_names_file_and_column(tmp_path: Path) -> None:
    header = ",".join(c for c in RETAIL_COLUMNS if c != "CustomerID")
    path = tmp_path / "online_retail_2011-01.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(header + "\n536365,85123A,HEART,6,2011-01-04 10:00:00,2.55,United Kingdom\n")
    with pytest.raises(ConfigError) as caught:
        read_source(tmp_path)
    assert "online_retail_2011-01.csv.gz" in caught.value.message
    assert "'CustomerID'" in caught.value.message
    assert caught.value.field == "online_retail_2011-01.csv.gz:CustomerID"


def test_generic_items_without_category_names_file_and_column(tmp_path: Path) -> None:
    shutil.copy(GENERIC / "interactions.csv", tmp_path)
    (tmp_path / "items.csv").write_text("id,name,price\n85123A,HEART,2.55\n")
    with pytest.raises(ConfigError, match=r"items\.csv: missing column 'category'"):
        read_source(tmp_path)


def test_generic_without_items_file_says_so(tmp_path: Path) -> None:
    shutil.copy(GENERIC / "interactions.csv", tmp_path)
    with pytest.raises(ConfigError, match=r"items\.csv \(or items\.csv\.gz\) is missing"):
        read_source(tmp_path)


def test_bad_timestamp_and_number_name_the_file(tmp_path: Path) -> None:
    shutil.copy(GENERIC / "items.csv", tmp_path)
    header = "user,item,timestamp,quantity,price,country\n"
    (tmp_path / "interactions.csv").write_text(header + "1,85123A,yesterday,1,2.5,GB\n")
    with pytest.raises(ConfigError, match=r"interactions\.csv: bad timestamp 'yesterday'"):
        read_source(tmp_path)
    (tmp_path / "interactions.csv").write_text(header + "1,85123A,2011-10-01T00:00:00Z,six,2.5,GB\n")
    with pytest.raises(ConfigError, match=r"interactions\.csv: column 'quantity' has a non-number"):
        read_source(tmp_path)


def test_ragged_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("id,name,category,price\n1,A,x,1.0\n2,B,x\n")
    with pytest.raises(ConfigError, match="line 3 has 3 fields"):
        read_csv(path, ("id", "name", "category", "price"))


def test_duplicate_item_id_is_refused(tmp_path: Path) -> None:
    shutil.copy(GENERIC / "interactions.csv", tmp_path)
    (tmp_path / "items.csv").write_text("id,name,category,price\n85123A,A,x,1.0\n85123A,B,x,2.0\n")
    with pytest.raises(ConfigError, match="duplicate id '85123A'"):
        read_source(tmp_path)


def test_rebase_shifts_every_timestamp_by_whole_days() -> None:
    ds = read_source(GENERIC)
    ds.customers["17850"]["joined_at"] = "2011-10-01T08:26:00Z"
    moved = rebase(ds, date(2024, 5, 1))
    days = moved.report["rebased_days"]
    assert str(moved.end) == "2024-05-01T08:00:00"  # the last day becomes 1 May, the time of day stays
    assert np.array_equal(moved.interactions.ts - ds.interactions.ts, np.full(len(ds.interactions), days * 86400))
    assert (
        moved.customers["17850"]["joined_at"]
        == str(np.datetime64("2011-10-01T08:26:00") + np.timedelta64(days, "D")) + "Z"
    )
    assert moved.customers["17850"]["returns_90d"] == ds.customers["17850"]["returns_90d"]
    assert ds.interactions.ts.max() == np.datetime64("2011-10-20T08:00:00")  # the original is untouched
