"""Evaluate: a time-based held-out test of the recommender against popularity baselines.

Train on purchases before the split, test on purchases after it. A warm test customer bought
something before the split and, after it, something they had not bought before; for each, every
method recommends `k` products they have not bought, and the new purchases are the truth.

    popularity          most purchase lines over the whole training period
    recent_popularity   most purchase lines in the last 30 days of training
    source:<name>       one candidate source alone (for_you = ALS, ease = EASE over recency-weighted
                        history, bought_together = co-purchase, recent_popular = recency-weighted
                        sales, ...), topped up with best sellers when it proposes fewer than k
    blend               the service's hand-set blend of all sources (`strategy: blend`)
    model               the service's own ranking (`edge.core.recommend.recommend`, `strategy: learned`):
                        the LightGBM lambdarank trees `models.ranker.fit` trained on the month
                        before the split, over artifacts built from the training data by
                        `models.realdata` (ALS vectors, EASE, co-purchase neighbours, popularity
                        lists, profiles), with the customer's stored profile

Metrics: recall@k = hits / min(k, |truth|), NDCG@k with binary gains, catalog coverage (share
of the training catalog recommended to anyone) and intra-list diversity (mean pairwise cosine
distance of the item vectors within a list). `tune` searches ALS settings on a validation
split carved from the training period, never on the test.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.core.learned import SOURCE_KEYS, Pool
from edge.core.ranking import RankingParams, fill
from edge.core.recommend import Model, Signals, learned_pool, recommend
from edge.model import artifacts
from models.columnar import read_source
from models.dataset import Dataset
from models.factorize import DEFAULT_ALS, ALSParams
from models.realdata import DEFAULT_SPLIT

RECENT_DAYS = 30
VALIDATION_DAYS = 31  # tune() validates on the last month before the test split
TARGET_LIFT = 0.20  # the model should beat recent popularity on recall@k by this much
WITHOUT_DUPLICATE_RULE = "model without the near-duplicate rule"
DUPLICATE_RULE_MAX_COST = 0.02  # the near-duplicate rule may cost at most this share of recall@k
RANKER_LIFT = 0.10  # the learned ranker should beat the best single source by this much (recall and NDCG)


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
    }
    from models import ranker as ranker_mod  # ranker imports this module

    fitted = ranker_mod.fit(train, als)
    with ranker_mod.served_model(train, als, fitted, customers=users) as (model, art):
        recommended.update(served_lists(model, art, users, k, ranking or RankingParams()))
        vectors = art.item_vectors
        row_of = model.catalog.row_of
    truths = [truth[u] for u in users]
    methods = {name: score(lists, truths, k, len(train.items)) for name, lists in recommended.items()}
    for name, lists in recommended.items():
        methods[name]["diversity"] = intra_list_diversity(lists, row_of, vectors)
    baseline = methods["recent_popularity"]["recall"]
    lift = methods["model"]["recall"] / baseline - 1.0 if baseline > 0 else None
    sources = [name for name in methods if name.startswith("source:")]
    best_source = max(sources, key=lambda name: methods[name]["recall"]) if sources else None
    vs_best: dict[str, Any] | None = None
    if best_source is not None:
        best = methods[best_source]
        recall_lift = methods["model"]["recall"] / best["recall"] - 1.0 if best["recall"] > 0 else 0.0
        ndcg_lift = methods["model"]["ndcg"] / best["ndcg"] - 1.0 if best["ndcg"] > 0 else 0.0
        vs_best = {
            "best_source": best_source,
            "recall_lift": round(recall_lift, 4),
            "ndcg_lift": round(ndcg_lift, 4),
            "target_met": bool(recall_lift >= RANKER_LIFT and ndcg_lift >= RANKER_LIFT),
        }
    return {
        "split": split,
        "k": k,
        "train": {"lines": len(train.interactions), "items": len(train.items), "customers": len(seen)},
        "test": {"lines": len(test.interactions), "warm_customers": len(users), "new_purchases": sum(map(len, truths))},
        "methods": methods,
        "model_vs_recent_popularity_recall": None if lift is None else round(lift, 4),
        "target_met": bool(methods["model"]["recall"] > 0 if lift is None else lift >= TARGET_LIFT),
        "model_vs_best_source": vs_best,
        "duplicate_rule": duplicate_rule(methods),
        "ranker": fitted.report if fitted else None,
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
    users, rows = lines.customer_rows()
    known = rows >= 0
    n_items = max(len(ds.items), 1)
    pairs = np.unique(rows[known] * n_items + lines.item[known])  # distinct (customer, item), by customer
    ids = [item.id for item in ds.items]
    out: dict[str, set[str]] = {}
    for user, row in zip((pairs // n_items).tolist(), (pairs % n_items).tolist(), strict=True):
        out.setdefault(users[user], set()).add(ids[row])
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


def customer_signals(model: Model, art: artifacts.Artifacts, user: str, position: Mapping[str, int]) -> Signals:
    """A known customer's signals as a decision would read them from their stored profile."""
    catalog = model.catalog
    at = position[user]
    profile = art.profiles[at]
    return Signals(
        purchased=catalog.rows(profile.get("purchased") or ()),
        wishlist=catalog.rows(profile.get("wishlist") or ()),
        user_vector=art.user_vectors[at],
        country=profile.get("country"),
    )


def customer_pools(model: Model, art: artifacts.Artifacts, users: Sequence[str], limit: int = 10) -> list[Pool]:
    """Each customer's candidate pool with ranker features (what `models.ranker.fit` learns from)."""
    position = {str(p["user_id"]): i for i, p in enumerate(art.profiles)}
    params = RankingParams()
    return [learned_pool(model, customer_signals(model, art, u, position), params, limit)[0] for u in users]


def served_lists(
    model: Model, art: artifacts.Artifacts, users: Sequence[str], k: int, ranking: RankingParams
) -> dict[str, list[list[str]]]:
    """Per method, one list of `k` product ids per user: each source alone (its own order under the
    service's caps, best sellers after it), the fixed blend, and the service's default ranking (`model`);
    sources that proposed nothing to anyone are left out."""
    catalog = model.catalog
    ids = [item.id for item in catalog.items]
    position = {str(p["user_id"]): i for i, p in enumerate(art.profiles)}
    blend = replace(ranking, strategy="blend")
    categories, share = catalog.category_list, ranking.max_category_share
    used: set[str] = set()
    out: dict[str, list[list[str]]] = {f"source:{key}": [] for key in SOURCE_KEYS}
    out["blend"], out["model"], out[WITHOUT_DUPLICATE_RULE] = [], [], []
    undeduplicated = replace(model, groups=None)
    for user in users:
        signals = customer_signals(model, art, user, position)
        out["model"].append([ids[r.row] for r in recommend(model, signals, k, ranking)])
        out[WITHOUT_DUPLICATE_RULE].append([ids[r.row] for r in recommend(undeduplicated, signals, k, ranking)])
        out["blend"].append([ids[r.row] for r in recommend(model, signals, k, blend)])
        found, blocked = learned_pool(model, signals, ranking, k)
        for column, key in enumerate(SOURCE_KEYS):
            scores = found.features[:, column]
            proposed = np.flatnonzero(scores > 0)
            if len(proposed):
                used.add(key)
            order = proposed[np.argsort(-scores[proposed], kind="stable")]
            candidates = [(float(scores[i]), -int(found.rows[i]), 0) for i in order.tolist()]
            chosen = fill(candidates, blocked, categories, k, share, model.backfill, model.groups)
            out[f"source:{key}"].append([ids[r.row] for r in chosen])
    return {name: lists for name, lists in out.items() if not name.startswith("source:") or name[7:] in used}


def duplicate_rule(methods: Mapping[str, Mapping[str, float]]) -> dict[str, Any] | None:
    """What the near-duplicate rule costs in recall@k and gains in diversity (served model vs without it)."""
    without = methods.get(WITHOUT_DUPLICATE_RULE)
    if without is None or without["recall"] <= 0:
        return None
    cost = 1.0 - methods["model"]["recall"] / without["recall"]
    return {
        "recall_cost": round(cost, 4),
        "diversity": [without.get("diversity", 0.0), methods["model"].get("diversity", 0.0)],
        "target_met": bool(cost <= DUPLICATE_RULE_MAX_COST),
    }


def intra_list_diversity(lists: Sequence[Sequence[str]], row_of: Mapping[str, int], vectors: np.ndarray) -> float:
    """Mean over lists of the mean pairwise cosine distance (1 - cos) of their items' vectors."""
    values = []
    for items in lists:
        rows = [row_of[i] for i in items if i in row_of]
        if len(rows) < 2:
            continue
        v = vectors[rows]
        sims = v @ v.T
        n = len(rows)
        values.append(1.0 - (float(sims.sum()) - float(np.trace(sims))) / (n * (n - 1)))
    return round(float(np.mean(values)), 4) if values else 0.0


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
        f"| method | recall@{k} | NDCG@{k} | coverage | diversity |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in result["methods"].items():
        label = "model (learned ranker)" if name == "model" else name
        diversity = m.get("diversity", 0.0)
        lines.append(f"| {label} | {m['recall']:.4f} | {m['ndcg']:.4f} | {m['coverage']:.3f} | {diversity:.3f} |")
    lift = result["model_vs_recent_popularity_recall"]
    verdict = "met" if result["target_met"] else "missed"
    change = "n/a (recent popularity found nothing)" if lift is None else f"{lift:+.1%}"
    lines += ["", f"model vs recent popularity, recall@{k}: {change} (target +{TARGET_LIFT:.0%}: {verdict})"]
    vs_best = result.get("model_vs_best_source")
    if vs_best:
        verdict = "met" if vs_best["target_met"] else "missed"
        lines.append(
            f"learned ranker vs best single source ({vs_best['best_source']}): "
            f"recall@{k} {vs_best['recall_lift']:+.1%}, "
            f"NDCG@{k} {vs_best['ndcg_lift']:+.1%} (target +{RANKER_LIFT:.0%} on both: {verdict})"
        )
    rule = result.get("duplicate_rule")
    if rule:
        verdict = "met" if rule["target_met"] else "missed"
        lines.append(
            f"near-duplicate rule: recall@{k} cost {rule['recall_cost']:+.1%} (at most {DUPLICATE_RULE_MAX_COST:.0%}: "
            f"{verdict}), intra-list diversity {rule['diversity'][0]:.3f} -> {rule['diversity'][1]:.3f}"
        )
    return "\n".join(lines)
