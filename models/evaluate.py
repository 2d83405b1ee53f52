"""Evaluate: a time-based held-out test of the recommender against popularity baselines.

Train on purchases before the split, test on purchases after it. A warm test customer bought
something before the split and, after it, something they had not bought before; for each, every
method recommends `k` products they have not bought, and the new purchases are the truth.

    popularity          most purchase lines over the whole training period
    recent_popularity   most purchase lines in the last 30 days of training
    model               the service's own ranking (`edge.recommend.recommend`) over artifacts built
                        from the training data by `models.realdata` (ALS vectors, co-purchase
                        neighbours, popularity lists, profiles), with the customer's stored profile

Metrics: recall@k = hits / min(k, |truth|), NDCG@k with binary gains, and catalog coverage (share
of the training catalog recommended to anyone). `tune` searches ALS settings on a validation
split carved from the training period, never on the test.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge import artifacts
from edge.index import ItemIndex
from edge.ranking import RankingParams
from edge.recommend import Model, Signals, recommend
from models.columnar import read_source
from models.dataset import Dataset
from models.factorize import DEFAULT_ALS, ALSParams
from models.realdata import DEFAULT_SPLIT, prepare, write

RECENT_DAYS = 30
VALIDATION_DAYS = 31  # tune() validates on the last month before the test split
TARGET_LIFT = 0.20  # the model should beat recent popularity on recall@k by this much


def evaluate(
    data_dir: Path, split: str = DEFAULT_SPLIT, k: int = 10, *, als: ALSParams = DEFAULT_ALS
) -> dict[str, Any]:
    """Read `data_dir` and evaluate at `split` (YYYY-MM-DD, UTC); see `evaluate_dataset`."""
    return evaluate_dataset(read_source(data_dir), split=split, k=k, als=als)


def evaluate_dataset(
    ds: Dataset,
    split: str = DEFAULT_SPLIT,
    k: int = 10,
    *,
    als: ALSParams = DEFAULT_ALS,
    ranking: RankingParams | None = None,
) -> dict[str, Any]:
    """Recall@k, NDCG@k and coverage of each method on the purchases after `split`; a JSON-able dict."""
    started = time.perf_counter()
    at = np.datetime64(split, "s")
    train, test = split_dataset(ds, at)
    truth = held_out(train, test)
    if not truth:
        raise ValueError(f"no warm test customers at split {split}")
    users = sorted(truth)
    seen = bought_ids(train)
    ids = np.array([item.id for item in train.items], dtype=object)
    everything = popularity_ranking(train)
    recent = popularity_ranking(train, since=train.end - np.timedelta64(RECENT_DAYS, "D"))
    recommended: dict[str, list[list[str]]] = {
        "popularity": [top_unseen(ids[everything], seen[u], k) for u in users],
        "recent_popularity": [top_unseen(ids[recent], seen[u], k) for u in users],
        "model": model_recommendations(train, users, k, als, ranking or RankingParams()),
    }
    truths = [truth[u] for u in users]
    methods = {name: score(lists, truths, k, len(train.items)) for name, lists in recommended.items()}
    baseline = methods["recent_popularity"]["recall"]
    lift = methods["model"]["recall"] / baseline - 1.0 if baseline > 0 else None
    return {
        "split": split,
        "k": k,
        "train": {"lines": len(train.interactions), "items": len(train.items), "customers": len(seen)},
        "test": {"lines": len(test.interactions), "warm_customers": len(users), "new_purchases": sum(map(len, truths))},
        "methods": methods,
        "model_vs_recent_popularity_recall": None if lift is None else round(lift, 4),
        "target_met": bool(methods["model"]["recall"] > 0 if lift is None else lift >= TARGET_LIFT),
        "als": asdict(als),
        "took_s": round(time.perf_counter() - started, 2),
    }


def split_dataset(ds: Dataset, at: np.datetime64) -> tuple[Dataset, Dataset]:
    """Train (before `at`, catalog cut to items sold by then) and test (from `at`) datasets."""
    lines = ds.interactions
    before = lines.ts < at
    sold = np.unique(lines.item[before])
    new_row = np.full(len(ds.items), -1, dtype=np.int32)
    new_row[sold] = np.arange(len(sold), dtype=np.int32)
    train_lines = lines.select(before)
    train_lines.item = new_row[train_lines.item]
    train = replace(ds, items=[ds.items[r] for r in sold.tolist()], interactions=train_lines, item_vectors=None)
    test = replace(ds, interactions=lines.select(~before), item_vectors=None)
    return train, test


def held_out(train: Dataset, test: Dataset) -> dict[str, set[str]]:
    """Per warm customer: the product ids bought after the split and never before it."""
    seen = bought_ids(train)
    after = bought_ids(test)
    truth = {user: items - seen[user] for user, items in after.items() if user in seen}
    return {user: items for user, items in truth.items() if items}


def bought_ids(ds: Dataset) -> dict[str, set[str]]:
    """Per customer (guests left out): the product ids bought."""
    lines = ds.interactions
    out: dict[str, set[str]] = {}
    for user, row in zip(lines.user.tolist(), lines.item.tolist(), strict=True):
        if user:
            out.setdefault(user, set()).add(ds.items[row].id)
    return out


def popularity_ranking(ds: Dataset, since: np.datetime64 | None = None) -> np.ndarray:
    """Item rows by number of purchase lines (since `since`), most first; the build's popularity rule."""
    lines = ds.interactions
    mask = np.ones(len(lines), dtype=bool) if since is None else lines.ts >= since
    counts = np.bincount(lines.item[mask], minlength=len(ds.items))
    return np.argsort(-counts, kind="stable")


def top_unseen(ranked_ids: Iterable[str], seen: set[str], k: int) -> list[str]:
    """The first `k` ids of a ranking that are not in `seen`."""
    return list(itertools.islice((i for i in ranked_ids if i not in seen), k))


def model_recommendations(
    train: Dataset, users: Sequence[str], k: int, als: ALSParams, ranking: RankingParams
) -> list[list[str]]:
    """Recommendations from the service's ranking over artifacts built from `train`, one list per user."""
    prepared = prepare(train, als)
    with tempfile.TemporaryDirectory(prefix="edge-eval-") as tmp:
        root = Path(tmp)
        write(prepared, root, log=lambda _: None, extra_manifest={"evaluation_train": True})
        art = artifacts.load(root)
        model = Model.from_artifacts(art, ItemIndex.load(art.index_path, art.item_vectors))
    catalog = model.catalog
    position = {str(p["user_id"]): i for i, p in enumerate(art.profiles)}
    out = []
    for user in users:
        at = position[user]
        profile = art.profiles[at]
        signals = Signals(
            purchased=catalog.rows(profile.get("purchased") or ()),
            wishlist=catalog.rows(profile.get("wishlist") or ()),
            user_vector=art.user_vectors[at],
            country=profile.get("country"),
        )
        out.append([catalog.items[r.row].id for r in recommend(model, signals, k, ranking)])
    return out


def score(recommended: Sequence[Sequence[str]], truths: Sequence[set[str]], k: int, n_items: int) -> dict[str, float]:
    """Mean recall@k and NDCG@k over users, and catalog coverage."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    recalls, ndcgs = [], []
    for items, truth in zip(recommended, truths, strict=True):
        gains = np.array([1.0 if item in truth else 0.0 for item in items[:k]])
        ideal = min(k, len(truth))
        recalls.append(gains.sum() / ideal)
        ndcgs.append(float(gains @ discounts[: len(gains)]) / float(discounts[:ideal].sum()))
    covered = len({item for items in recommended for item in items[:k]})
    return {
        "recall": round(float(np.mean(recalls)), 4),
        "ndcg": round(float(np.mean(ndcgs)), 4),
        "coverage": round(covered / max(n_items, 1), 4),
    }


def tune(
    ds: Dataset,
    split: str = DEFAULT_SPLIT,
    grid: Mapping[str, Sequence[Any]] | None = None,
    k: int = 10,
) -> list[dict[str, Any]]:
    """Evaluate ALS settings on the last month before `split` (training data only), best first."""
    at = np.datetime64(split, "s")
    train, _ = split_dataset(ds, at)
    validation_split = str((at - np.timedelta64(VALIDATION_DAYS, "D")).astype("datetime64[D]"))
    grid = grid or {"factors": [32, 64, 128], "regularization": [0.01, 0.05, 0.2], "iterations": [15]}
    names = list(grid)
    results = []
    for values in itertools.product(*(grid[name] for name in names)):
        als = replace(ALSParams(), **dict(zip(names, values, strict=True)))
        result = evaluate_dataset(train, split=validation_split, k=k, als=als)
        baseline = result["methods"]["recent_popularity"]["recall"]
        results.append(
            {
                "params": dict(zip(names, values, strict=True)),
                **result["methods"]["model"],
                "recent_popularity": baseline,
            }
        )
    return sorted(results, key=lambda r: -r["recall"])


def to_markdown(result: Mapping[str, Any]) -> str:
    """The evaluation as a markdown table with a one-line summary."""
    k = result["k"]
    lines = [
        f"Train before {result['split']}, test after: {result['test']['warm_customers']} warm customers, "
        f"{result['test']['new_purchases']} new (customer, product) purchases.",
        "",
        f"| method | recall@{k} | NDCG@{k} | coverage |",
        "|---|---:|---:|---:|",
    ]
    for name, m in result["methods"].items():
        lines.append(f"| {name} | {m['recall']:.4f} | {m['ndcg']:.4f} | {m['coverage']:.3f} |")
    lift = result["model_vs_recent_popularity_recall"]
    verdict = "met" if result["target_met"] else "missed"
    change = "n/a (recent popularity found nothing)" if lift is None else f"{lift:+.1%}"
    lines += ["", f"model vs recent popularity, recall@{k}: {change} (target +{TARGET_LIFT:.0%}: {verdict})"]
    return "\n".join(lines)
