"""The build on Apache Spark: the same pipeline as `models.realdata` on PySpark DataFrames, for data
that outgrows one machine.

    read + clean (DataFrames; every per-value rule is models.cleaning's, applied to distinct values
    on the driver and broadcast back)  ->  popularity, co-purchase, customer facts (group-bys and
    windows)  ->  MLlib ALS (implicit feedback, BM25 confidences)  ->  profiles, written by the
    executors as part files  ->  EASE, item facts and the learned ranker (`models.ease`,
    `models.ranker` on what Spark aggregated)  ->  the same versioned artifacts (faiss index built on
    the driver from the collected item vectors)

`edge build --engine spark [--spark-master URL]` runs it; `local[2]` by default. Only aggregates
reach the driver: per-item lists and counts, each customer's spend, the factor matrices and the
ranker's candidate pools; purchase lines and profiles never do. The evaluation splits the lines in
Spark, trains the ranker and builds on the part before the split, and scores the service's lists
exactly as `models.evaluate` does.
"""

from __future__ import annotations

import math
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from edge.core.catalog import Item
from edge.core.learned import Learned, Trees
from edge.core.loyalty import TierThresholds
from edge.core.ranking import RankingParams
from edge.core.recommend import Model
from edge.errors import ConfigError
from edge.model import artifacts
from edge.model import index as item_index
from edge.model.index import ItemIndex
from models import build as model_build
from models import categories, cleaning, ease, ledger, sources
from models import ranker as ranker_mod
from models.factorize import DEFAULT_ALS, ALSParams, Factors, calibrate, inner_product_space
from models.realdata import DEFAULT_SPLIT

Log = Callable[[str], None]
DEFAULT_MASTER = "local[2]"
ROW_BITS = 44  # row key = file number << 44 | monotonically_increasing_id (partition << 33 | position)
SIGNAL_SEEN = 1 << 62  # signals count after every purchase line when ordering first sightings
KINDS = ("cancellation", "non_product", "return", "stock_adjustment", "price_not_positive", "purchase")

try:  # optional dependency group `spark`
    from pyspark.sql import Column, DataFrame, SparkSession, Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
except ImportError:  # pragma: no cover - the message below says how to install it
    SparkSession = None  # type: ignore[assignment,misc]


@dataclass(frozen=True, slots=True)
class SparkALS:
    """MLlib ALS settings. MLlib scales the regularization by each row's number of ratings, so its
    `reg` is far below `implicit`'s; the confidences are the same BM25 weights (`ALSParams`)."""

    reg: float = 0.05
    alpha: float = 1.0
    blocks: int = 4


@dataclass(slots=True)
class Cleaned:
    """Cleaned purchase lines (a DataFrame) and what the driver keeps: catalog, signals, report."""

    lines: DataFrame  # row, user, item (id), ts (epoch s), quantity, price, country, order
    catalog: list[Item]
    signals: sources.Signals
    report: dict[str, Any]


def session(master: str = DEFAULT_MASTER, app: str = "edge-build") -> SparkSession:
    """A Spark session for the build (UI off, few shuffle partitions, UTC)."""
    if SparkSession is None:
        raise ConfigError(
            "the Spark engine needs pyspark and a Java runtime: pip install -e . --group spark", field="engine"
        )
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors write the profile parts with this code
    # MLlib's native BLAS (scripts/java installs it) solves many small systems: one thread each, not a pool per call
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    spark = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.caseSensitive", "true")  # Online Retail's Country beside the cleaned country
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "4g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.adaptive.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_retail(spark: SparkSession, data_dir: Path) -> tuple[DataFrame, list[str]]:
    """The raw Online Retail rows with a `row` key in file-then-line order; the file names."""
    files = sorted(p for p in sources.data_files(data_dir) if p.match(sources.RETAIL_GLOB))
    if not files:
        raise ConfigError(f"the Spark engine reads Online Retail files ({sources.RETAIL_GLOB}) in {data_dir}",
                          field="EDGE_DATA")  # fmt: skip
    schema = T.StructType([T.StructField(name, T.StringType()) for name in sources.RETAIL_COLUMNS])
    raw = (
        spark.read.options(header=True, mode="FAILFAST", encoding="UTF-8", escape='"')
        .schema(schema)
        .csv([str(p) for p in files])
    )
    number = F.create_map(*(x for i, p in enumerate(files) for x in (F.lit(p.name), F.lit(i))))
    name = F.element_at(F.split(F.input_file_name(), "/"), -1)
    raw = raw.select(
        *(F.coalesce(F.col(c), F.lit("")).alias(c) for c in sources.RETAIL_COLUMNS),
        (number[name].cast("long") * F.lit(1 << ROW_BITS) + F.monotonically_increasing_id()).alias("row"),
    )
    return raw, [p.name for p in files]


def clean(spark: SparkSession, raw: DataFrame, file_names: list[str]) -> Cleaned:
    """`models.columnar.clean_online_retail` in Spark: the same rules, the same counts."""
    typed = (
        raw.withColumn("Quantity", F.col("Quantity").cast("double"))
        .withColumn("UnitPrice", F.col("UnitPrice").cast("double"))
        .cache()
    )
    frame = typed
    bad = frame.filter(F.col("Quantity").isNull() | F.col("UnitPrice").isNull()).limit(1).collect()
    if bad:
        raise ConfigError(f"Online Retail row with a non-number Quantity or UnitPrice: {bad[0].asDict()}",
                          field="Quantity")  # fmt: skip
    mapped = ("StockCode", "CustomerID", "Country", "InvoiceDate")
    distinct = frame.agg(*(F.collect_set(c).alias(c) for c in mapped)).first()  # one pass for all four
    assert distinct is not None
    raw_codes = list(distinct["StockCode"])
    frame = _mapped(spark, frame, "StockCode", "code", cleaning.product_id, T.StringType(), raw_codes)
    codes = sorted({cleaning.product_id(c) for c in raw_codes})
    frame = _mapped(spark, frame, "code", "is_product", cleaning.is_product, T.BooleanType(), codes)
    frame = _mapped(spark, frame, "CustomerID", "user", cleaning.user_id, T.StringType(), distinct["CustomerID"])
    frame = _mapped(spark, frame, "Country", "country", cleaning.country_code, T.StringType(), distinct["Country"])
    frame = _mapped(spark, frame, "InvoiceDate", "ts", _utc_seconds, T.LongType(), distinct["InvoiceDate"])
    cancelled = F.upper(F.ltrim(F.col("InvoiceNo"))).startswith("C")
    rest = ~cancelled & F.col("is_product")
    negative = rest & (F.col("Quantity") <= 0)
    known = F.col("user") != ""
    frame = frame.select(
        "*",
        cancelled.alias("cancellation"),
        (~cancelled & ~F.col("is_product")).alias("non_product"),
        (negative & known).alias("return"),
        (negative & ~known).alias("stock_adjustment"),
        (rest & (F.col("Quantity") > 0) & (F.col("UnitPrice") <= 0)).alias("price_not_positive"),
        (rest & (F.col("Quantity") > 0) & (F.col("UnitPrice") > 0)).alias("purchase"),
    )
    names = _most_frequent_names(frame.filter("purchase"))
    services = [code for code, name in names.items() if cleaning.is_service(name)]
    charged = F.col("purchase") & F.col("code").isin(services) if services else F.lit(False)
    frame = (
        frame.withColumn("non_product", F.col("non_product") | charged)
        .withColumn("purchase", F.col("purchase") & ~charged)
        .cache()
    )
    counts = frame.agg(
        F.count(F.lit(1)).alias("rows"),
        *(F.sum(F.col(k).cast("long")).alias(k) for k in KINDS),
        F.countDistinct(F.when(F.col("cancellation"), F.col("InvoiceNo"))).alias("cancellation_invoices"),
        F.sum((F.col("purchase") & (F.col("user") == "")).cast("long")).alias("guest_purchase_rows"),
    ).first()
    assert counts is not None
    report: dict[str, Any] = {
        "files": file_names,
        "rows": int(counts["rows"]),
        "rows_by_kind": {kind: int(counts[kind] or 0) for kind in KINDS},
        "cancellation_invoices": int(counts["cancellation_invoices"]),
        "non_product_codes": _most_common(frame.filter("non_product"), "code"),
        "guest_purchase_rows": int(counts["guest_purchase_rows"] or 0),
        "unknown_country_rows": _most_common(frame.filter(F.col("country") == ""), "Country"),
        "lower_case_product_codes": len(
            {c for c in raw_codes if c != cleaning.product_id(c) and cleaning.is_product(c)}
        ),
    }
    signals = _signals(frame)
    lines = frame.filter("purchase").select(
        "row", "user", F.col("code").alias("item"), "ts", F.col("Quantity").alias("quantity"),
        F.col("UnitPrice").alias("price"), "country", F.col("InvoiceNo").alias("order"),
    )  # fmt: skip
    # the median as numpy takes it, (lower middle + upper middle) / 2, not percentile()'s interpolation
    prices = (
        lines.groupBy("item")
        .agg(F.sort_array(F.collect_list("price")).alias("p"))
        .select(
            "item",
            (
                (
                    F.element_at("p", (F.floor((F.size("p") - 1) / 2) + 1).cast("int"))
                    + F.element_at("p", (F.floor(F.size("p") / 2) + 1).cast("int"))
                )
                / 2
            ).alias("median"),
        )
        .collect()
    )
    median = {r["item"]: float(r["median"]) for r in prices}
    catalog = [
        Item(id=item, name=names.get(item) or item, category="", price=round(median[item], 2))
        for item in sorted(median)
    ]
    lines = lines.cache()
    lines.count()
    frame.unpersist()
    typed.unpersist()
    return Cleaned(lines, catalog, signals, report)


def indexed(spark: SparkSession, lines: DataFrame, catalog: Sequence[Item]) -> DataFrame:
    """Purchase lines with `item` as the catalog row (int), lines of other items dropped."""
    rows = spark.createDataFrame([(item.id, row) for row, item in enumerate(catalog)], "item string, item_row int")
    return (
        lines.join(F.broadcast(rows), on="item", how="inner")
        .select(
            "row",
            "user",
            F.col("item_row").alias("item"),
            "ts",
            F.col("quantity").cast("float").alias("quantity"),
            F.col("price").cast("float").alias("price"),
            "country",
            "order",
        )
        .cache()
    )


def popularity(lines: DataFrame, end: int) -> dict[str, Any]:
    """`models.build.popularity`: lines per item, most first (ties by row), overall / 30 days / per country."""
    recent = F.col("ts") >= F.lit(end - model_build.TRENDING_DAYS * 86400)
    by = Window.partitionBy("country").orderBy(F.desc("n"), F.asc("item"))

    def ranked(part: DataFrame) -> list[int]:
        top = part.groupBy("item").agg(F.count(F.lit(1)).alias("n")).orderBy(F.desc("n"), F.asc("item"))
        return [int(r["item"]) for r in top.limit(model_build.TOP_LIST).collect()]

    def per_country(part: DataFrame, countries: list[str]) -> dict[str, list[int]]:
        top = (
            part.filter(F.col("country").isin(countries))
            .groupBy("country", "item")
            .agg(F.count(F.lit(1)).alias("n"))
            .withColumn("rank", F.row_number().over(by))
            .filter(F.col("rank") <= model_build.TOP_LIST)
            .collect()
        )
        out: dict[str, list[tuple[int, int]]] = {}
        for r in top:
            out.setdefault(r["country"], []).append((int(r["rank"]), int(r["item"])))
        return {c: [item for _, item in sorted(out[c])] for c in sorted(out)}

    sizes = lines.groupBy("country").count().collect()
    countries = sorted(r["country"] for r in sizes if r["country"] and r["count"] >= model_build.MIN_COUNTRY_LINES)
    everything = ranked(lines)
    trending = per_country(lines.filter(recent), countries) if countries else {}
    return {
        "global": everything,
        "trending": ranked(lines.filter(recent)) or everything,
        "by_country": per_country(lines, countries) if countries else {},
        "trending_by_country": {c: rows for c, rows in trending.items() if len(rows) >= 10},
    }


def co_purchase_neighbours(lines: DataFrame, n_items: int, k: int = model_build.NEIGHBOURS) -> np.ndarray:
    """`models.build.co_purchase_neighbours`: pair counts over orders, cosine-normalised (float32), top `k`."""
    baskets = lines.groupBy("order").agg(F.array_sort(F.collect_set("item")).alias("items"))
    sizes = baskets.select(F.explode("items").alias("item")).groupBy("item").agg(F.count(F.lit(1)).alias("n"))

    # each pair a < b within a basket, made where the basket is (no self-join), counted, then mirrored
    def pairs_with(a: Column) -> Column:
        return F.transform(F.filter("items", lambda b: b > a), lambda b: F.struct(a.alias("a"), b.alias("b")))

    pair = F.flatten(F.transform("items", pairs_with))
    upper = (
        baskets.select(F.explode(pair).alias("p"))
        .groupBy(F.col("p.a").alias("a"), F.col("p.b").alias("b"))
        .agg(F.count(F.lit(1)).alias("co"))
    )
    pairs = upper.unionByName(upper.select(F.col("b").alias("a"), F.col("a").alias("b"), "co"))
    norm_a = F.sqrt(F.greatest(F.col("na").cast("float"), F.lit(1.0))).cast("float")
    norm_b = F.sqrt(F.greatest(F.col("nb").cast("float"), F.lit(1.0))).cast("float")
    scored = (
        pairs.join(sizes.withColumnRenamed("item", "a").withColumnRenamed("n", "na"), on="a")
        .join(sizes.withColumnRenamed("item", "b").withColumnRenamed("n", "nb"), on="b")
        .withColumn("score", (F.col("co").cast("float") / (norm_a * norm_b).cast("float")).cast("float"))
        .withColumn("rank", F.row_number().over(Window.partitionBy("a").orderBy(F.desc("score"), F.asc("b"))))
        .filter(F.col("rank") <= k)
    )
    result = np.full((n_items, k), -1, dtype=np.int32)
    for r in scored.select("a", "b", "rank").toLocalIterator():
        result[r["a"], r["rank"] - 1] = r["b"]
    return result


def customer_facts(
    spark: SparkSession, lines: DataFrame, signals: sources.Signals, end: int
) -> dict[str, dict[str, Any]]:
    """`models.sources.customer_facts`: most frequent country (first seen wins a tie), signal counts."""
    signal_rows = spark.createDataFrame(
        [(u, c, SIGNAL_SEEN + i) for i, (u, c) in enumerate(zip(signals.user.tolist(), signals.country.tolist(),
                                                                 strict=True))],
        "user string, country string, seen long",
    )  # fmt: skip
    both = lines.select("user", "country", F.col("row").alias("seen")).unionByName(signal_rows).filter("user != ''")
    per_country = both.groupBy("user", "country").agg(F.count(F.lit(1)).alias("n"), F.min("seen").alias("first"))
    best = Window.partitionBy("user").orderBy((F.col("country") == "").asc(), F.desc("n"), F.asc("first"))
    chosen = (
        per_country.withColumn("rank", F.row_number().over(best))
        .withColumn("first_seen", F.min("first").over(Window.partitionBy("user")))
        .filter("rank = 1")
        .orderBy("first_seen")
    )
    end_ts = np.datetime64(end, "s")
    recent = signals.ts >= end_ts - np.timedelta64(sources.RECENT_DAYS, "D")
    counts: dict[tuple[str, str], int] = {}
    for u, kind, r in zip(signals.user.tolist(), signals.kind.tolist(), recent.tolist(), strict=True):
        key = (u, f"{kind}s_{'90d' if r else 'older'}")
        counts[key] = counts.get(key, 0) + 1
    facts: dict[str, dict[str, Any]] = {}
    for r in chosen.toLocalIterator():
        user, country = r["user"], r["country"]
        facts[user] = sources.customer_record(user, country, counts)
    sources.add_dated_signals(facts, signals)
    return facts


@dataclass(frozen=True, slots=True)
class ProfileParts:
    """What the executors reported after writing the profile parts."""

    thresholds: TierThresholds
    customers: int
    segments: ledger.SegmentCounts


def profiles(
    spark: SparkSession,
    lines: DataFrame,
    catalog: Sequence[Item],
    facts: Mapping[str, Mapping[str, Any]],
    vectors: Factors,
    out: Path,
    at: datetime,
    tier_shares: Mapping[str, float] = model_build.TIER_SHARES,
    customers: Collection[str] | None = None,
) -> ProfileParts:
    """`models.build.profiles`, written by the executors: one profile per customer (spend, points, orders and
    the ledger rows net of returns and cancellations, `models.ledger`), aggregated per customer in Spark,
    range-partitioned by id and written as part files (`edge.model.artifacts.PROFILE_PARTS`) under `out`, each
    with its customers' `vectors` rows. Two passes: the customers' spends (floats) set the tier thresholds
    on the driver, then each partition writes its part and counts its segments. With `customers`, only
    theirs (and the tier thresholds from their spend alone), as `models.build.profiles`."""
    mine = lines.filter("user != ''")
    if customers is not None:
        wanted = set(customers)
        chosen = spark.createDataFrame([(u,) for u in sorted(wanted)], "user string")
        mine = mine.join(F.broadcast(chosen), on="user")
        facts = {u: f for u, f in facts.items() if u in wanted}
        keep = [i for i, u in enumerate(vectors.user_ids) if u in wanted]
        vectors = Factors(vectors.item_vectors, tuple(vectors.user_ids[i] for i in keep), vectors.user_vectors[keep])
    totals = mine.groupBy("user").agg(
        F.countDistinct("order").alias("orders"),
        F.min("ts").alias("first"),
        F.max("ts").alias("last"),
    )
    country = (
        mine.groupBy("user", "country")
        .agg(F.count(F.lit(1)).alias("n"))
        .withColumn("rank", F.row_number().over(Window.partitionBy("user").orderBy(F.desc("n"), F.asc("country"))))
        .filter("rank = 1")
        .select("user", F.col("country").alias("top_country"))
    )
    bought = (
        mine.groupBy("user", "item")
        .agg(F.min(F.struct("ts", "row")).alias("at"))
        .groupBy("user")
        .agg(F.sort_array(F.collect_list(F.struct("at", "item"))).alias("bought"))
        .select("user", F.col("bought.item").alias("purchased"))
    )
    # per order: its last line's time and its value (the lines' float32 products summed as doubles),
    # listed per customer in the order each order was first seen
    orders = (
        mine.groupBy("user", "order")
        .agg(
            F.min("row").alias("first"),
            F.max("ts").alias("ts"),
            F.sum((F.col("quantity") * F.col("price")).cast("double")).alias("value"),
        )
        .groupBy("user")
        .agg(F.sort_array(F.collect_list(F.struct("first", "ts", "value"))).alias("order_values"))
    )
    known = spark.createDataFrame([(u, pickle.dumps(dict(f))) for u, f in facts.items()], "user string, facts binary")
    given = spark.createDataFrame(
        [(u, bytearray(v.astype(np.float32).tobytes())) for u, v in zip(vectors.user_ids, vectors.user_vectors,
                                                                           strict=True)],
        "user string, vector binary",
    )  # fmt: skip
    per_user = (
        totals.join(country, on="user").join(bought, on="user").join(orders, on="user")
        .join(known, on="user", how="full_outer").join(given, on="user", how="left")
        .repartitionByRange(max(1, spark.sparkContext.defaultParallelism), "user").sortWithinPartitions("user")
        .cache()
    )  # fmt: skip
    spend = np.array(per_user.rdd.map(_spend).collect(), dtype=np.float64)  # net of returns and cancellations
    thresholds = model_build.tier_thresholds(spend, tier_shares)
    out.mkdir(parents=True, exist_ok=True)
    write = partial(
        _write_part,
        out=str(out.resolve()),
        ids=[item.id for item in catalog],
        thresholds=thresholds,
        at=at,
        dim=vectors.user_vectors.shape[1],
    )
    counts = per_user.rdd.mapPartitionsWithIndex(write).collect()
    per_user.unpersist()
    return ProfileParts(thresholds, len(spend), sum(counts, ledger.SegmentCounts()))


def _book(r: Any) -> ledger.Book:
    """A customer's ledger from their aggregated row (orders in first-seen order, dated credits)."""
    found = pickle.loads(r["facts"]) if r["facts"] is not None else {}
    orders = [(int(o["ts"]), float(o["value"])) for o in r["order_values"] or ()]
    return ledger.order_ledger(orders, found.get("credits_at"))


def _spend(r: Any) -> float:
    return max(0.0, _book(r).spend)


def _profile(r: Any, ids: Sequence[str], thresholds: TierThresholds) -> dict[str, Any]:
    """One customer's profile (the admin API's shape) from their aggregated row, as `models.build.profiles`."""
    profile: dict[str, Any] = {"user_id": r["user"]}
    if r["orders"] is not None:
        profile.update(
            {
                "orders": int(r["orders"]),
                "first_purchase_at": _rfc3339(r["first"]),
                "last_purchase_at": _rfc3339(r["last"]),
                "joined_at": _rfc3339(r["first"]),
                "country": r["top_country"] or None,
                "purchased": [ids[row] for row in r["purchased"]],
            }
        )
    book = _book(r)
    spend = max(0.0, book.spend)
    profile["spend"] = round(spend, 2)
    profile["points"] = max(0, book.points)  # one point per currency unit, net
    profile["tier"] = thresholds.tier(spend)
    found = pickle.loads(r["facts"]) if r["facts"] is not None else {}
    if "credits_at" in found:  # dated signals: the ledger and complaint times replace frozen counts
        found.pop("credits_at")
        for frozen in ("returns_90d", "complaints_90d", "returns_total", "complaints_total"):
            found.pop(frozen, None)
        profile.update(book.facts())
    profile.update(found)
    return profile


def _write_part(
    index: int,
    rows: Iterable[Any],
    *,
    out: str,
    ids: Sequence[str],
    thresholds: TierThresholds,
    at: datetime,
    dim: int,
) -> Iterator[ledger.SegmentCounts]:
    """On an executor: one partition's profiles as part-NNNNN.jsonl and its vectors as part-NNNNN.npy (a
    retried task rewrites the same files); yields the partition's segment counts."""
    records, vectors = [], []
    for r in rows:
        records.append(_profile(r, ids, thresholds))
        given = r["vector"]
        vectors.append(np.frombuffer(given, dtype=np.float32) if given is not None else np.zeros(dim, np.float32))
    if records:
        name = Path(out) / f"part-{index:05d}"
        name.with_suffix(".jsonl").write_bytes(b"".join(artifacts.profile_line(p) for p in records))
        np.save(name.with_suffix(".npy"), np.vstack(vectors).astype(np.float32))
    yield ledger.segment_counts(records, at, thresholds)


def factorize(
    spark: SparkSession, lines: DataFrame, n_items: int, end: int, als: ALSParams, params: SparkALS
) -> tuple[Factors, sparse.csr_matrix]:
    """MLlib ALS on `models.factorize.order_counts` (customers then guest orders, half-life weights, BM25).

    Returns the raw factors (customers sorted by id) and customers x items bought (for calibration).
    """
    from pyspark.ml.recommendation import ALS

    customers = [r["user"] for r in lines.filter("user != ''").select("user").distinct().orderBy("user").collect()]
    owners = spark.createDataFrame(list(enumerate(customers)), "owner int, user string")
    guests = (
        lines.filter("user = ''").select("order").distinct()
        .withColumn("owner", (F.row_number().over(Window.orderBy("order")) + F.lit(len(customers) - 1)).cast("int"))
    )  # fmt: skip
    with_owner = lines.join(F.broadcast(owners), on="user", how="left")
    if als.guests:
        with_owner = with_owner.join(guests.withColumnRenamed("owner", "guest"), on="order", how="left").withColumn(
            "owner", F.coalesce("owner", "guest")
        )
    with_owner = with_owner.filter(F.col("owner").isNotNull())
    weight = F.lit(1.0)
    if als.half_life_days is not None:
        weight = F.pow(F.lit(0.5), (F.lit(end) - F.col("ts")) / F.lit(86400.0 * als.half_life_days))
    counts = (
        with_owner.groupBy("owner", "order", "item").agg(F.min("ts").alias("ts"))  # one per (owner, order, item)
        .withColumn("w", weight.cast("float"))
        .groupBy("owner", "item").agg(F.sum("w").alias("c"))
    )  # fmt: skip
    ratings = _confidence(counts, als).cache()
    model = ALS(
        rank=als.factors, maxIter=als.iterations, regParam=params.reg, alpha=params.alpha, implicitPrefs=True,
        userCol="owner", itemCol="item", ratingCol="r", seed=als.seed, numUserBlocks=params.blocks,
        numItemBlocks=params.blocks, coldStartStrategy="drop",
    ).fit(ratings)  # fmt: skip
    items = np.zeros((n_items, als.factors), dtype=np.float32)
    for r in model.itemFactors.toLocalIterator():
        items[r["id"]] = r["features"]
    users = np.zeros((len(customers), als.factors), dtype=np.float32)
    for r in model.userFactors.filter(F.col("id") < len(customers)).toLocalIterator():
        users[r["id"]] = r["features"]
    pairs = np.array(
        [(r["owner"], r["item"]) for r in counts.filter(F.col("owner") < len(customers)).toLocalIterator()],
        dtype=np.int64,
    ).reshape(-1, 2)
    bought = sparse.csr_matrix(
        (np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])), shape=(len(customers), n_items)
    )
    ratings.unpersist()
    return Factors(items, tuple(customers), users), bought


def learned(
    lines: DataFrame,
    catalog: Sequence[Item],
    vectors: np.ndarray,
    bought: sparse.csr_matrix,
    end: int,
    trees: Trees | None = None,
) -> Learned:
    """`models.ranker.learned_arrays` from what Spark aggregates: EASE from the customers x items matrix the
    factorization already collected (`models.ease.from_bought`), per-item sales counts and recency scores
    (`models.ranker.facts_from_counts`, `best_rows`), near-duplicate groups from names and vectors."""
    age = F.lit(end) - F.col("ts")

    def within(since_days: int, until_days: int) -> Column:
        inside = (age < F.lit(since_days * 86400)) & (age >= F.lit(until_days * 86400))
        return F.sum(inside.cast("long"))

    recency = F.pow(F.lit(0.5), age / F.lit(86400.0 * ranker_mod.RECENT_HALF_LIFE_DAYS))
    windows = [within(since, until).alias(f"w{i}") for i, (since, until) in enumerate(ranker_mod.SALES_WINDOWS)]
    per_item = lines.groupBy("item").agg(
        F.count(F.lit(1)).alias("sales"), *windows, F.min("ts").alias("first"), F.sum(recency).alias("recent")
    )
    n = len(catalog)
    sales, first_age, recent = np.zeros(n), np.zeros(n), np.zeros(n)
    counts = np.zeros((len(ranker_mod.SALES_WINDOWS), n))
    for r in per_item.collect():
        row = r["item"]
        sales[row], first_age[row], recent[row] = r["sales"], (end - r["first"]) / 86400.0, r["recent"]
        counts[:, row] = [r[f"w{i}"] for i in range(len(ranker_mod.SALES_WINDOWS))]
    prices = np.array([item.price for item in catalog])
    ease_rows, ease_weights = ease.from_bought(bought)
    facts = ranker_mod.facts_from_counts(sales, list(counts), first_age, prices)
    groups = ranker_mod.duplicate_groups(catalog, vectors)
    return Learned(ease_rows, ease_weights, facts, ranker_mod.best_rows(recent), groups, trees)


def split(cleaned: Cleaned, at: int) -> tuple[Cleaned, dict[str, set[str]]]:
    """`models.evaluate.split_dataset` + `held_out` in Spark: the lines before `at` (catalog cut to the items
    sold by then) and, per warm customer, the product ids bought from `at` on and never before."""
    before, after = cleaned.lines.filter(F.col("ts") < at), cleaned.lines.filter(F.col("ts") >= at)
    sold = {r["item"] for r in before.select("item").distinct().collect()}
    train = Cleaned(before, [item for item in cleaned.catalog if item.id in sold], cleaned.signals, cleaned.report)
    seen = before.filter("user != ''").select("user", "item").distinct()
    new = after.filter("user != ''").select("user", "item").distinct().join(seen, on=["user", "item"], how="left_anti")
    warm = new.join(seen.select("user").distinct(), on="user").groupBy("user").agg(F.collect_set("item").alias("items"))
    return train, {r["user"]: set(r["items"]) for r in warm.collect()}


def fit_ranker(
    spark: SparkSession, cleaned: Cleaned, als: ALSParams, spark_als: SparkALS | None, log: Log
) -> ranker_mod.Fitted | None:
    """`models.ranker.fit` on Spark: a build (without trees) from the lines before each validation window,
    every warm customer's candidate pool labelled with what they bought first in it, LightGBM on the
    driver (`models.ranker.Samples`, `train`: the training set is a few thousand pools)."""
    end = _end(cleaned.lines)
    samples = ranker_mod.Samples()
    at = end
    for _ in range(ranker_mod.WINDOWS):
        at -= ranker_mod.VALIDATION_DAYS * 86400
        before, truth = split(cleaned, at)
        if not before.catalog or not truth:
            break
        with tempfile.TemporaryDirectory(prefix="edge-spark-ranker-") as tmp:
            build_lines(spark, before, Path(tmp), als=als, spark_als=spark_als, log=lambda _: None, served_only=True,
                        customers=ranker_mod.sampled_customers(sorted(truth)))  # fmt: skip
            art = artifacts.load(Path(tmp))
            samples.add(Model.from_artifacts(art, ItemIndex.load(art.index_path, art.item_vectors)), art, truth)
    return ranker_mod.train(samples, np.datetime64(end, "s"), log=log)


def build_lines(
    spark: SparkSession,
    cleaned: Cleaned,
    root: Path,
    *,
    als: ALSParams = DEFAULT_ALS,
    spark_als: SparkALS | None = None,
    tier_shares: Mapping[str, float] = model_build.TIER_SHARES,
    index_kind: str | None = None,
    log: Log = print,
    extra_manifest: Mapping[str, Any] | None = None,
    ranker: ranker_mod.Fitted | None = None,
    served_only: bool = False,
    customers: Collection[str] | None = None,
) -> Path:
    """Every artifact from cleaned lines, written as the live version under `root`, with the `ranker`'s trees.

    `served_only` (the evaluation's and the ranker's own builds) skips what only the manifest reports;
    `customers` limits the profiles to theirs (`models.build.build`).
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def step(name: str, began: float, note: str = "") -> None:
        timings[name] = round(time.perf_counter() - began, 3)
        log(f"  {name:<12} {timings[name]:7.2f} s  {note}".rstrip())

    t = time.perf_counter()
    lines = indexed(spark, cleaned.lines, cleaned.catalog)
    stats = lines.agg(F.count(F.lit(1)).alias("n"), F.min("ts").alias("start"), F.max("ts").alias("end")).first()
    assert stats is not None
    if not stats["n"]:
        raise ConfigError("no purchase lines of catalog items", field="EDGE_DATA")
    end = int(stats["end"])
    facts = customer_facts(spark, lines, cleaned.signals, end)
    step("customers", t, f"{len(facts)} customers")
    t = time.perf_counter()
    factors, bought = factorize(spark, lines, len(cleaned.catalog), end, als, spark_als or SparkALS())
    served = calibrate(inner_product_space(factors), bought)
    step("factorize", t, f"MLlib ALS {als.factors} factors")
    catalog = _with_categories(cleaned.catalog, served.item_vectors)
    t = time.perf_counter()
    vectors = item_index.normalize(served.item_vectors)
    index, index_type = item_index.build_index(vectors, index_kind)
    recall = None if served_only else round(item_index.measure_recall(index, vectors), 4)
    step("index", t)
    t = time.perf_counter()
    neighbours = co_purchase_neighbours(lines, len(catalog))
    step("neighbours", t)
    t = time.perf_counter()
    lists = popularity(lines, end)
    step("popularity", t)
    t = time.perf_counter()
    at = datetime.fromtimestamp(end, UTC)
    (root / "versions").mkdir(parents=True, exist_ok=True)
    parts = Path(tempfile.mkdtemp(prefix=".profiles-", dir=root / "versions"))  # moved into the build by write
    written = profiles(spark, lines, catalog, facts, served, parts, at, tier_shares, customers)
    thresholds = written.thresholds
    step("profiles", t, f"{written.customers} profiles in parallel parts")
    t = time.perf_counter()
    arrays = learned(lines, catalog, vectors, bought, end, ranker.trees if ranker else None)
    step("learned", t, "EASE, item facts, recent list, duplicate groups" + (", ranker trees" if ranker else ""))
    report = {
        **cleaned.report,
        "unknown_item_rows": 0,
        "purchase_lines": int(stats["n"]),
        "guest_lines": None if served_only else lines.filter("user = ''").count(),
        "customers": len(facts),
        "products": len(catalog),
        "orders": None if served_only else lines.select("order").distinct().count(),
        "data_start": _rfc3339(int(stats["start"])),
        "data_end": _rfc3339(end),
        "returns": sources._signal_counts(cleaned.signals, "return", np.datetime64(end, "s")),
        "cancellations": sources._signal_counts(cleaned.signals, "cancellation", np.datetime64(end, "s")),
        "complaints": sources._signal_counts(cleaned.signals, "complaint", np.datetime64(end, "s")),
    }
    manifest: dict[str, Any] = {
        "source": "online-retail",
        "engine": "spark",
        "spark_master": spark.sparkContext.master,
        "metric": "inner_product",
        "index_type": index_type,
        "recall_at_50": recall,
        "data_start": report["data_start"],
        "data_end": report["data_end"],
        "n_interactions": int(stats["n"]),
        "categories": sorted({item.category for item in catalog}),
        "tier_thresholds": {"silver": thresholds.silver, "gold": thresholds.gold, "platinum": thresholds.platinum},
        "tier_shares": dict(tier_shares),
        "user_vectors": "given",
        "factorization": {"method": "spark.ml.ALS", **asdict(als), **asdict(spark_als or SparkALS())},
        "report": report,
        "segments": None if served_only else ledger.segment_report_of(written.segments, at),
        "timings_s": timings,
        "ranker": ranker.report if ranker else None,
        **(extra_manifest or {}),
    }
    t = time.perf_counter()
    path = artifacts.write(
        root,
        items=catalog,
        item_vectors=vectors,
        index_bytes=item_index.serialize(index),
        neighbors=neighbours,
        popularity=lists,
        manifest=manifest,
        learned=arrays,
        profile_parts=parts,
    )
    step("write", t)
    lines.unpersist()
    took = time.perf_counter() - started
    log(f"built {path.name} on Spark in {took:.2f} s ({len(catalog)} items, {written.customers} customers)")
    return path


def evaluate(
    spark: SparkSession,
    cleaned: Cleaned,
    split_at: str = DEFAULT_SPLIT,
    k: int = 10,
    *,
    als: ALSParams = DEFAULT_ALS,
    spark_als: SparkALS | None = None,
) -> dict[str, Any]:
    """`models.evaluate` for the Spark build: train (ranker included) before `split_at`, score the service's
    lists after it (`models.evaluate.served_lists`: each source, the blend and the learned ranking)."""
    from models.evaluate import score, served_lists

    train, truth = split(cleaned, int(np.datetime64(split_at, "s").astype(np.int64)))
    if not truth:
        raise ValueError(f"no warm test customers at split {split_at}")
    users = sorted(truth)
    fitted = fit_ranker(spark, train, als, spark_als, log=lambda _: None)
    with tempfile.TemporaryDirectory(prefix="edge-spark-eval-") as tmp:
        build_lines(spark, train, Path(tmp), als=als, spark_als=spark_als, log=lambda _: None, ranker=fitted,
                    served_only=True, customers=users)  # fmt: skip
        art = artifacts.load(Path(tmp))
        model = Model.from_artifacts(art, ItemIndex.load(art.index_path, art.item_vectors))
        recommended = served_lists(model, art, users, k, RankingParams())
    truths = [truth[u] for u in users]
    methods = {name: score(lists, truths, k, len(train.catalog)) for name, lists in recommended.items()}
    return {
        "split": split_at,
        "k": k,
        "warm_customers": len(users),
        "methods": methods,
        "ranker": fitted.report if fitted else None,
    }


def build_spark(
    data_dir: Path,
    root: Path,
    *,
    master: str = DEFAULT_MASTER,
    spark: SparkSession | None = None,
    log: Log = print,
    als: ALSParams = DEFAULT_ALS,
    spark_als: SparkALS | None = None,
    tier_shares: Mapping[str, float] = model_build.TIER_SHARES,
    index_kind: str | None = None,
    evaluate_split: str | None = DEFAULT_SPLIT,
) -> Path:
    """`edge build --engine spark`: read, clean and build on Spark; the artifacts as the live version."""
    started = time.perf_counter()
    own = spark is None
    spark = spark or session(master)
    try:
        t = time.perf_counter()
        raw, files = read_retail(spark, data_dir)
        cleaned = clean(spark, raw, files)
        log(f"  {'read':<12} {time.perf_counter() - t:7.2f} s  {cleaned.report['rows']} rows, "
            f"{len(cleaned.catalog)} products (Spark {spark.sparkContext.master})")  # fmt: skip
        extra: dict[str, Any] = {"data_dir": str(data_dir)}
        if evaluate_split is not None:
            t = time.perf_counter()
            extra["evaluation"] = evaluate(spark, cleaned, evaluate_split, als=als, spark_als=spark_als)
            recall = extra["evaluation"]["methods"]["model"]["recall"]
            log(f"  {'evaluate':<12} {time.perf_counter() - t:7.2f} s  model recall@10={recall:.4f}")
        t = time.perf_counter()
        fitted = fit_ranker(spark, cleaned, als, spark_als, log)  # the data's last window, as models.ranker.fit
        log(f"  {'ranker':<12} {time.perf_counter() - t:7.2f} s  {fitted.trees.name if fitted else 'not trained'}")
        path = build_lines(
            spark, cleaned, root, als=als, spark_als=spark_als, tier_shares=tier_shares, index_kind=index_kind,
            log=log, extra_manifest=extra, ranker=fitted,
        )  # fmt: skip
        cleaned.lines.unpersist()
    finally:
        if own:
            spark.stop()
    log(f"Spark build done in {time.perf_counter() - started:.2f} s")
    return path


def _end(lines: DataFrame) -> int:
    """The time of the last purchase line (epoch s): the data's own "now", as `Dataset.end`."""
    last = lines.agg(F.max("ts")).first()
    assert last is not None and last[0] is not None, "no purchase lines"
    return int(last[0])


def _with_categories(catalog: Sequence[Item], vectors: np.ndarray) -> list[Item]:
    """Items without a category get one from their name and vector (as `models.realdata.prepare`)."""
    items = list(catalog)
    missing = [row for row, item in enumerate(items) if not item.category]
    if missing:
        derived = categories.assign([items[row].name for row in missing], vectors[missing])
        for row, category in zip(missing, derived, strict=True):
            items[row] = replace(items[row], category=category)
    return items


def _confidence(counts: DataFrame, als: ALSParams) -> DataFrame:
    """`models.factorize.confidence` on (owner, item, c): alpha times BM25, log1p or raw counts."""
    if als.weighting == "bm25":
        n_rows = max(counts.select("owner").distinct().count(), 1)
        df = counts.groupBy("item").agg(F.count(F.lit(1)).alias("df"))
        length = counts.groupBy("owner").agg(F.sum("c").alias("length"))
        mean = length.agg(F.mean("length")).first()
        mean_length = max(float(mean[0]) if mean and mean[0] is not None else 0.0, 1e-9)
        norm = F.lit(1.0 - als.bm25_b) + F.lit(als.bm25_b) * F.col("length") / F.lit(mean_length)
        idf = F.lit(math.log(n_rows)) - F.log1p(F.col("df"))
        weighted = (
            counts.join(F.broadcast(df), on="item").join(length, on="owner")
            .withColumn("r", F.col("c") * (als.bm25_k1 + 1.0) / (F.lit(als.bm25_k1) * norm + F.col("c")) * idf)
        )  # fmt: skip
    elif als.weighting == "log":
        weighted = counts.withColumn("r", F.log1p("c"))
    else:
        weighted = counts.withColumn("r", F.col("c"))
    return weighted.select("owner", "item", (F.col("r") * als.alpha).cast("float").alias("r"))


def _mapped(
    spark: SparkSession,
    frame: DataFrame,
    column: str,
    name: str,
    fn: Callable[[str], Any],
    dtype: T.DataType,
    values: Sequence[str] | None = None,
) -> DataFrame:
    """Add `name` computed from `column` by a Python rule, called once per distinct value on the driver."""
    if values is None:
        values = [r[0] for r in frame.select(column).distinct().collect()]
    schema = T.StructType([T.StructField(column, T.StringType()), T.StructField(name, dtype)])
    lookup = spark.createDataFrame([(v, fn(v)) for v in values], schema)
    return frame.join(F.broadcast(lookup), on=column, how="left")


def _most_frequent_names(purchases: DataFrame) -> dict[str, str]:
    """`cleaning.most_frequent_names` from (code, description) counts and first rows."""
    pairs = purchases.groupBy("code", "Description").agg(F.count(F.lit(1)).alias("n"), F.min("row").alias("first"))
    counts: dict[tuple[str, str], list[int]] = {}
    for r in pairs.collect():
        name = " ".join(r["Description"].split())
        if name:
            n_first = counts.setdefault((r["code"], name), [0, r["first"]])
            n_first[0] += r["n"]
            n_first[1] = min(n_first[1], r["first"])
    best: dict[str, tuple[int, int, str]] = {}
    for (code, name), (n, first) in counts.items():
        if code not in best or (-n, first) < (-best[code][0], best[code][1]):
            best[code] = (n, first, name)
    return {code: name for code, (_, _, name) in best.items()}


def _most_common(frame: DataFrame, column: str) -> dict[str, int]:
    counted = frame.groupBy(column).agg(F.count(F.lit(1)).alias("n"), F.min("row").alias("first")).collect()
    ordered = sorted(counted, key=lambda r: (-r["n"], r["first"]))
    return {r[column]: int(r["n"]) for r in ordered}


def _signals(frame: DataFrame) -> sources.Signals:
    """One `cancellation` signal per customer invoice, then one `return` signal per customer order,
    each with the value it credits (`models.sources`' signals; the sums taken in row order as there)."""
    credit = F.struct("row", F.abs(F.col("Quantity") * F.col("UnitPrice")).alias("v"))
    cancellations = (
        frame.filter(F.col("cancellation") & (F.col("user") != ""))
        .groupBy("InvoiceNo")
        .agg(
            F.min(F.struct("row", "user", "ts", "country")).alias("f"),
            F.sort_array(F.collect_list(credit)).alias("c"),
        )
        .select("f.*", F.col("c.v").alias("credits"))
        .orderBy("row")
        .collect()
    )
    returns = (
        frame.filter("return")
        .groupBy("user", "InvoiceNo")
        .agg(F.min(F.struct("row", "ts", "country")).alias("f"), F.sort_array(F.collect_list(credit)).alias("c"))
        .select("user", "f.*", F.col("c.v").alias("credits"))
        .orderBy("row")
        .collect()
    )
    rows = [(r["user"], r["ts"], "cancellation", r["country"], _running_sum(r["credits"])) for r in cancellations]
    rows += [(r["user"], r["ts"], "return", r["country"], _running_sum(r["credits"])) for r in returns]

    def column(i: int) -> np.ndarray:
        out = np.empty(len(rows), dtype=object)
        out[:] = [r[i] for r in rows]
        return out

    return sources.Signals(
        user=column(0), ts=np.array([r[1] for r in rows], dtype=np.int64).astype("datetime64[s]"),
        kind=column(2), country=column(3), amount=np.array([r[4] for r in rows], dtype=np.float64),
    )  # fmt: skip


def _running_sum(values: Sequence[float]) -> float:
    """Left to right from 0.0, as the row reader adds."""
    total = 0.0
    for value in values:
        total += float(value)
    return total


def _utc_seconds(value: str) -> int:
    return int(cleaning.uk_local_to_utc([value])[0].astype(np.int64))


def _rfc3339(seconds: int) -> str:
    return str(np.datetime64(int(seconds), "s")) + "Z"
