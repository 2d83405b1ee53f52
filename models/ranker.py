"""Ranker: the learned-ranking arrays of a build, and the LightGBM model trained on them.

    learned_arrays   EASE weights (`models.ease`), per-item facts, a recency-weighted popularity
                     list and near-duplicate groups: everything `edge.core.learned` reads but the trees
    fit              the trees: a served model is built from the data before a validation window
                     (the last VALIDATION_DAYS of the data given), every validation customer's
                     candidate pool is labelled with what they bought first in the window, and
                     LightGBM learns the order (objective OBJECTIVE: on Online Retail the pointwise
                     binary objective beat lambdarank, +10.7 % vs +8.9 % recall@10 over the best
                     single source); the trees are exported to the flat arrays `edge.core.learned.Trees`
                     evaluates

The evaluation calls `fit` with the data before its test split, so the trees never see the test.

Time of week: a feature "the item's sales lift at the visit's day part x weekday/weekend" (the
visit time taken as the customer's first purchase in the window) was measured on Online Retail and
left out: recall@10 over the best source stayed at +10.7 %, NDCG@10 fell from +10.5 % to +10.0 %.
The shop is a wholesaler whose orders come in on weekday office hours, so when a customer visits
says little about what they buy next.
LightGBM is used at build time only: the service evaluates the exported arrays in numpy.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.core.catalog import Item
from edge.core.learned import FEATURES, Learned, Pool, Trees
from edge.model import artifacts
from edge.model.index import ItemIndex
from models import ease
from models.dataset import Dataset

WINDOWS = 1  # validation windows stacked for training, each VALIDATION_DAYS long, latest first
VALIDATION_DAYS = 61  # about as long as the evaluation's test period (Sep - Dec 2011)
RECENT_DAYS = 30
RECENT_HALF_LIFE_DAYS = 14.0
OBJECTIVE = "binary"  # or "lambdarank"
TREES = 60
DEPTH = 3  # 8 leaves; up to edge.core.learned.TABLE_DEPTH the service scores through a leaf table (~65 us for 200)
LEARNING_RATE = 0.1
MIN_DATA_IN_LEAF = 50
SEED = 7
MAX_TRAINING_CUSTOMERS = 5_000  # a window with more new buyers trains on a seeded sample of them

Log = Callable[[str], None]
# words that only name a variant (colour, size, pattern) of the same product
VARIANT_WORDS = frozenset(
    """red pink blue green yellow white black ivory cream orange purple gold silver grey gray brown
    natural pastel bright dark light turquoise lilac mint beige aqua teal navy lime rose
    small large medium mini jumbo big tiny set assorted colour colours color colours""".split()
)
SIMILAR_VECTORS = 0.3  # name matches must also be this close in vector space (cosine)


SALES_WINDOWS = ((RECENT_DAYS, 0), (7, 0), (2 * RECENT_DAYS, RECENT_DAYS))  # (since, until) days before the end


def item_facts(ds: Dataset) -> np.ndarray:
    """Per item (`edge.core.learned.ITEM_FACTS`): log sales lines overall, in the last RECENT_DAYS, the last
    week and the RECENT_DAYS before that (SALES_WINDOWS); log days since the first sale; log price."""
    lines = ds.interactions
    n = len(ds.items)
    age = ds.end - lines.ts

    def sold(since_days: int, until_days: int = 0) -> np.ndarray:
        mask = (age < np.timedelta64(since_days, "D")) & (age >= np.timedelta64(until_days, "D"))
        return np.bincount(lines.item[mask], minlength=n).astype(np.float64)

    first = np.full(n, ds.end, dtype="datetime64[s]")
    np.minimum.at(first, lines.item, lines.ts)
    age_days = (ds.end - first).astype("timedelta64[s]").astype(np.float64) / 86400.0
    sales = np.bincount(lines.item, minlength=n).astype(np.float64)
    windows = [sold(since, until) for since, until in SALES_WINDOWS]
    return facts_from_counts(sales, windows, age_days, np.array([item.price for item in ds.items]))


def facts_from_counts(
    sales: np.ndarray, windows: Sequence[np.ndarray], first_sale_age_days: np.ndarray, prices: np.ndarray
) -> np.ndarray:
    """`item_facts` from per-item counts: sales lines overall and per SALES_WINDOWS window, days since
    the first sale, price (what a distributed build aggregates)."""
    columns = [np.log1p(sales), *(np.log1p(w) for w in windows), np.log1p(first_sale_age_days)]
    return np.column_stack([*columns, np.log(prices.astype(np.float64) + 0.01)]).astype(np.float32)


def recent_rows(ds: Dataset, half_life_days: float = RECENT_HALF_LIFE_DAYS, top: int = 500) -> np.ndarray:
    """Item rows by sales weighted by recency (half-life `half_life_days`), best first."""
    lines = ds.interactions
    age = (ds.end - lines.ts).astype("timedelta64[s]").astype(np.float64) / 86400.0
    weights = np.power(0.5, age / half_life_days)
    return best_rows(np.bincount(lines.item, weights=weights, minlength=len(ds.items)), top)


def best_rows(score: np.ndarray, top: int = 500) -> np.ndarray:
    """Item rows with a positive score, best first (ties by row), at most `top`."""
    order = np.argsort(-score, kind="stable")
    return order[score[order] > 0][:top].astype(np.int32)


def variant_key(name: str) -> str:
    """A product name without the words that only tell its variants apart."""
    words = re.findall(r"[a-z]+", name.lower())
    return " ".join(w for w in words if w not in VARIANT_WORDS)


def duplicate_groups(items: Sequence[Item], vectors: np.ndarray | None) -> np.ndarray:
    """Near-duplicate group per item (-1 = none): same name once colour/size words are dropped,
    and (when vectors are given) bought alike: cosine >= SIMILAR_VECTORS to the group's first item."""
    by_key: dict[str, list[int]] = {}
    for row, item in enumerate(items):
        key = variant_key(item.name)
        if key and key != item.name.lower():
            by_key.setdefault(key, []).append(row)
        elif key:
            by_key.setdefault(key, []).append(row)
    group = np.full(len(items), -1, dtype=np.int32)
    next_id = 0
    for members in by_key.values():
        if len(members) < 2:
            continue
        if vectors is not None:
            head = vectors[members[0]]
            members = [members[0], *(m for m in members[1:] if float(vectors[m] @ head) >= SIMILAR_VECTORS)]
            if len(members) < 2:
                continue
        group[members] = next_id
        next_id += 1
    return group


def learned_arrays(ds: Dataset, vectors: np.ndarray | None, trees: Trees | None = None) -> Learned:
    """Everything `edge.core.learned` reads for `ds` (EASE, item facts, recent list, duplicate groups)."""
    ease_rows, ease_weights, ease_items = ease.fit_top(ds)
    facts, recent, groups = item_facts(ds), recent_rows(ds), duplicate_groups(ds.items, vectors)
    return Learned(ease_rows, ease_weights, facts, recent, groups, trees, ease_items)


def export(booster: Any, name: str, depth: int) -> Trees:
    """A LightGBM booster's trees as complete binary trees of `depth` (see `edge.core.learned.Trees`)."""
    dump = booster.dump_model()
    internal = 2**depth - 1
    leaves = 2**depth
    n_trees = len(dump["tree_info"])
    feature = np.zeros((n_trees, internal), dtype=np.int32)
    threshold = np.full((n_trees, internal), np.inf)
    leaf = np.zeros((n_trees, leaves))

    def place(tree: int, node: dict[str, Any], position: int, level: int) -> None:
        if "leaf_value" in node or level == depth:
            span = 2 ** (depth - level)
            first = (position - (2**level - 1)) * span
            leaf[tree, first : first + span] = node.get("leaf_value", 0.0)
            return  # padded internal nodes below keep threshold +inf: always left
        if node.get("decision_type", "<=") != "<=":
            raise ValueError(f"unsupported split {node.get('decision_type')!r}")
        feature[tree, position] = node["split_feature"]
        threshold[tree, position] = node["threshold"]
        place(tree, node["left_child"], 2 * position + 1, level + 1)
        place(tree, node["right_child"], 2 * position + 2, level + 1)

    for t, info in enumerate(dump["tree_info"]):
        place(t, info["tree_structure"], 0, 0)
    n_internal = n_trees * internal
    left = np.zeros(n_internal, dtype=np.int32)
    for t in range(n_trees):
        for p in range(internal):
            child = 2 * p + 1
            left[t * internal + p] = (
                t * internal + child if child < internal else n_internal + t * leaves + child - internal
            )
    return Trees(
        name=name,
        features=FEATURES,
        depth=depth,
        feature=feature.ravel(),
        threshold=threshold.ravel(),
        left=left,
        leaf=leaf.ravel(),
        roots=(np.arange(n_trees) * internal).astype(np.int32),
    )


@dataclass(frozen=True, slots=True)
class Fitted:
    trees: Trees
    report: dict[str, Any]


@dataclass(slots=True)
class Samples:
    """The ranker's training set: per validation customer, their candidate pool's features and labels."""

    xs: list[np.ndarray] = field(default_factory=list)
    ys: list[np.ndarray] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)

    def add(self, model: Any, art: artifacts.Artifacts, truth: Mapping[str, set[str]]) -> None:
        """Each customer's pool under `model` (built from the data before the window), labelled with `truth`."""
        from models import evaluate as ev  # evaluate imports this module

        users = sampled_customers(sorted(truth))
        for user, pool in zip(users, ev.customer_pools(model, art, users), strict=True):
            ids = [model.catalog.items[r].id for r in pool.rows.tolist()]
            label = np.array([1.0 if i in truth[user] else 0.0 for i in ids])
            if label.sum() == 0:
                continue
            self.xs.append(pool.features)
            self.ys.append(label)
            self.groups.append(len(label))


def sampled_customers(users: Sequence[str], limit: int = MAX_TRAINING_CUSTOMERS) -> list[str]:
    """`users` when there are at most `limit`, else a seeded sample of `limit` of them (in the given order)."""
    if len(users) <= limit:
        return list(users)
    keep = np.random.default_rng(SEED).choice(len(users), size=limit, replace=False)
    return [users[i] for i in sorted(keep.tolist())]


def fit(ds: Dataset, als: Any, *, log: Log | None = None, name: str | None = None) -> Fitted | None:
    """Train the ranker on the last VALIDATION_DAYS of `ds` (features from the data before them).

    None when the window holds no customer with a new purchase (too little data to learn from).
    """
    from models import evaluate as ev  # evaluate imports this module

    samples = Samples()
    at = ds.end
    for _ in range(WINDOWS):  # the latest window, then the one before it (more customers to learn from)
        at = at - np.timedelta64(VALIDATION_DAYS, "D")
        before, window = ev.split_dataset(ds, at)
        if len(before.interactions) == 0:
            break
        truth = ev.held_out(before, window)
        if not truth:
            break
        with served_model(before, als, customers=sampled_customers(sorted(truth))) as (model, art):
            samples.add(model, art, truth)
    return train(samples, ds.end, log=log, name=name)


def train(samples: Samples, end: np.datetime64, *, log: Log | None = None, name: str | None = None) -> Fitted | None:
    """LightGBM trees learned from `samples` (the validation window ends at `end`); None without samples."""
    import lightgbm

    if not samples.groups:
        return None
    xs, ys, groups = samples.xs, samples.ys, samples.groups
    at = end - np.timedelta64(VALIDATION_DAYS, "D")
    data = lightgbm.Dataset(np.vstack(xs), np.concatenate(ys), group=groups, feature_name=list(FEATURES))
    params = {
        "objective": OBJECTIVE,
        "metric": "ndcg",
        "ndcg_eval_at": [10],
        "num_leaves": 2**DEPTH,
        "max_depth": DEPTH,
        "learning_rate": LEARNING_RATE,
        "min_data_in_leaf": MIN_DATA_IN_LEAF,
        "seed": SEED,
        "deterministic": True,
        "num_threads": 2,
        "verbose": -1,
    }
    booster = lightgbm.train(params, data, num_boost_round=TREES)
    version = name or f"gbdt-{OBJECTIVE}-{at.astype('datetime64[D]')!s}-t{TREES}d{DEPTH}"
    trees = export(booster, version, DEPTH)
    gain = booster.feature_importance("gain")
    report = {
        "name": version,
        "objective": OBJECTIVE,
        "features": list(FEATURES),
        "trees": TREES,
        "depth": DEPTH,
        "learning_rate": LEARNING_RATE,
        "validation_window": {"start": str(at) + "Z", "end": str(end) + "Z", "days": VALIDATION_DAYS},
        "windows": WINDOWS,
        "validation_customers": len(groups),
        "validation_candidates": int(sum(groups)),
        "importance_gain": {
            n: round(float(g), 2) for n, g in sorted(zip(FEATURES, gain, strict=True), key=lambda p: -p[1]) if g > 0
        },
    }
    if log:
        log(f"  {'ranker':<12} trained {version} on {len(groups)} customers, {sum(groups)} candidates")
    return Fitted(trees, report)


class served_model:
    """Build the served artifacts of `ds` in a temporary directory and load them as a `Model`;
    with `customers`, only their profiles (all a held-out evaluation or the ranker's training reads)."""

    def __init__(
        self, ds: Dataset, als: Any, ranker: Fitted | None = None, customers: Sequence[str] | None = None
    ) -> None:
        self.ds, self.als, self.ranker, self.customers = ds, als, ranker, customers
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> tuple[Any, artifacts.Artifacts]:
        from edge.core.recommend import Model
        from models.realdata import prepare, write

        prepared = prepare(self.ds, self.als)
        self._tmp = tempfile.TemporaryDirectory(prefix="edge-ranker-")
        root = Path(self._tmp.name)
        write(
            prepared,
            root,
            log=lambda _: None,
            extra_manifest={"evaluation_train": True},
            ranker=self.ranker,
            customers=self.customers,
        )
        art = artifacts.load(root)
        return Model.from_artifacts(art, ItemIndex.load(art.index_path, art.item_vectors)), art

    def __exit__(self, *_: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


__all__ = [
    "Fitted",
    "Pool",
    "Samples",
    "duplicate_groups",
    "export",
    "fit",
    "learned_arrays",
    "sampled_customers",
    "served_model",
    "train",
]
