"""The columnar (polars) reader gives exactly the dataset of the row-by-row reader; the generator's shape."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from edge.errors import ConfigError
from models import columnar, generate, sources
from models.dataset import Dataset
from tests.conftest import require_real_data
from tests.test_cleaning import JANUARY, JUNE

COLUMNS = ("user", "item", "ts", "quantity", "price", "country", "order")


def assert_same_dataset(expected: Dataset, actual: Dataset) -> None:
    assert actual.source == expected.source
    assert actual.items == expected.items
    for name in COLUMNS:
        want, got = getattr(expected.interactions, name), getattr(actual.interactions, name)
        assert got.dtype == want.dtype, name
        assert np.array_equal(got, want), name
    assert actual.customers == expected.customers
    assert list(actual.customers) == list(expected.customers)
    assert actual.report == expected.report
    assert actual.item_vectors is None and expected.item_vectors is None  # only the synthetic source knows them


def write_retail(folder: Path, months: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for month, rows in months.items():
        with gzip.open(folder / f"online_retail_{month}.csv.gz", "wt", encoding="utf-8") as handle:
            handle.write(",".join(sources.RETAIL_COLUMNS) + "\n" + rows)
    return folder


def test_hand_made_rows_clean_the_same_way(tmp_path: Path) -> None:
    """Every cleaning rule (cancellations, fees, lower-case codes, guests, names) as the row reader applies it."""
    folder = write_retail(tmp_path / "retail", {"2011-01": JANUARY, "2011-06": JUNE})
    assert_same_dataset(sources.read_source(folder), columnar.read_source(folder))


@pytest.mark.slow
def test_real_data_gives_the_same_dataset() -> None:
    """Every field of the Dataset equal, so every artifact built from it (profiles, popularity, ...) is too:
    the builds are functions of the Dataset alone."""
    real_data = require_real_data()
    rows, fast = sources.read_source(real_data), columnar.read_source(real_data)
    assert_same_dataset(rows, fast)
    assert fast.report["rows"] == 431673 and fast.report["purchase_lines"] > 400_000


def test_the_generic_format_still_reads_through_the_row_reader() -> None:
    generic = Path(__file__).parent / "data" / "generic"
    assert_same_dataset(sources.read_source(generic), columnar.read_source(generic))


def test_a_missing_column_or_a_non_number_names_the_file_and_column(tmp_path: Path) -> None:
    folder = tmp_path / "retail"
    folder.mkdir()
    with gzip.open(folder / "online_retail_2011-01.csv.gz", "wt") as handle:
        handle.write("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,Country\n1,2,3,4,5,6,7\n")
    with pytest.raises(ConfigError, match="missing column 'CustomerID'"):
        columnar.read_source(folder)
    with gzip.open(folder / "online_retail_2011-01.csv.gz", "wt") as handle:
        handle.write(",".join(sources.RETAIL_COLUMNS) + "\n536365,85123A,X,six,2011-01-10 08:26:00,2.55,1.0,EIRE\n")
    with pytest.raises(ConfigError, match="'Quantity' has a non-number") as caught:
        columnar.read_source(folder)
    assert caught.value.field == "online_retail_2011-01.csv.gz:Quantity"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate.generate(folder, 200_000, seed=3)
    return folder


def test_generated_data_has_the_shape_of_online_retail(generated: Path) -> None:
    files = sorted(generated.iterdir())
    assert [f.name for f in files][:2] == ["online_retail_2010-12.csv.gz", "online_retail_2011-01.csv.gz"]
    raw = columnar.read_retail_frame(files)
    assert 190_000 < raw.height < 215_000
    baskets = raw.filter(~pl.col("InvoiceNo").str.starts_with("C")).group_by("InvoiceNo").len()["len"].to_numpy()
    assert 7 <= np.median(baskets) <= 13 and 15 <= baskets.mean() <= 26  # real: median 10, mean 20
    assert np.percentile(baskets, 99) > 100  # a long tail of bulk orders (real: 188)
    guest = (raw["CustomerID"].cast(pl.String) == "").mean()
    assert 0.2 < guest < 0.3  # real: 25 %
    uk = (raw["Country"].cast(pl.String) == "United Kingdom").mean()
    assert 0.85 < uk < 0.95  # real: 91 %
    cancelled = raw["InvoiceNo"].str.starts_with("C").mean()
    assert 0.01 < cancelled < 0.03  # real: 1.8 %
    per_item = np.sort(raw.group_by("StockCode").len()["len"].to_numpy())[::-1]
    assert per_item[: len(per_item) // 10].sum() > 0.3 * per_item.sum()  # the top tenth of codes sells a third


def test_generated_data_builds_like_real_data(generated: Path) -> None:
    ds = columnar.read_source(generated)
    report = ds.report
    assert report["rows_by_kind"]["purchase"] > 0.95 * report["rows"]
    assert report["non_product_codes"].keys() <= {"POST", "M", "DOT"}
    assert 1000 < report["customers"] < 2500  # about one per 108 rows, the least active never buying
    assert report["cancellations"]["total"] > 100  # customer cancellation invoices (C...), as in the real data
    assert set(ds.interactions.country.tolist()) >= {"GB", "DE", "IE", "FR"}
    assert report["data_start"].startswith("2010-12") and report["data_end"].startswith("2011-11")


def test_the_same_seed_writes_the_same_files(tmp_path: Path) -> None:
    one = generate.generate(tmp_path / "a", 20_000, seed=5, n_months=2)
    two = generate.generate(tmp_path / "b", 20_000, seed=5, n_months=2)
    assert [gzip.decompress(p.read_bytes()) for p in one] == [gzip.decompress(p.read_bytes()) for p in two]


def test_the_generic_format_is_readable(tmp_path: Path) -> None:
    generate.generate(tmp_path, 30_000, seed=1, n_months=3, fmt="generic")
    ds = sources.read_source(tmp_path)
    assert ds.source == "csv" and len(ds.interactions) > 25_000 and len(ds.items) > 1000


def test_str_codes_are_numpys_sorted_uniques_and_inverse() -> None:
    from models.dataset import codes

    rng = np.random.default_rng(0)
    values = np.array(["", "b", "a", "é", "Z", "10", "9", "a b"], dtype=object)[rng.integers(0, 8, 1000)]
    for column in (values, values[:0], values[:1]):
        uniques, inverse = codes(column)
        expected, expected_inverse = np.unique(column, return_inverse=True)
        assert uniques.tolist() == expected.tolist() and inverse.tolist() == expected_inverse.tolist()
