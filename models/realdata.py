"""Real data: read a data directory, learn vectors and categories, write the artifacts the service loads.

    read + clean  ->  ALS item/customer vectors  ->  categories  ->  models.build.build (+ evaluation)

`build_real` is what `edge build --data DIR` runs; `prepare` is shared with `models.evaluate`, so
the evaluation scores exactly the pipeline that builds the served artifacts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from models import build as model_build
from models import categories, incremental
from models import ranker as ranker_mod
from models.columnar import read_source
from models.dataset import Dataset, rebase
from models.factorize import DEFAULT_ALS, ALSParams, Factors, factorize, serving_vectors

Log = Callable[[str], None]
DEFAULT_SPLIT = "2011-09-01"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A dataset whose every item has a category, and its ALS factors."""

    ds: Dataset
    factors: Factors


def prepare(ds: Dataset, als: ALSParams = DEFAULT_ALS) -> Prepared:
    """Factorize `ds` and give every item without a category one derived from its name and vector."""
    factors = serving_vectors(ds, factorize(ds, als))
    missing = [row for row, item in enumerate(ds.items) if not item.category]
    if missing:
        derived = categories.assign([ds.items[row].name for row in missing], factors.item_vectors[missing])
        items = list(ds.items)
        for row, category in zip(missing, derived, strict=True):
            items[row] = replace(items[row], category=category)
        ds = replace(ds, items=items)
    return Prepared(ds, factors)


def write(
    prepared: Prepared,
    root: Path,
    *,
    log: Log = print,
    index_kind: str | None = None,
    tier_shares: Mapping[str, float] = model_build.TIER_SHARES,
    extra_manifest: Mapping[str, Any] | None = None,
    ranker: ranker_mod.Fitted | None = None,
    customers: Collection[str] | None = None,
    co_purchase: sparse.csr_matrix | None = None,
) -> Path:
    """The artifacts of a prepared dataset, with ALS customer vectors (and a trained ranker), as the live
    version under `root`; `customers` and `co_purchase` as in `models.build.build`."""
    factors = prepared.factors
    return model_build.build(
        prepared.ds,
        root,
        item_vectors=factors.item_vectors,
        user_vectors=(factors.user_ids, factors.user_vectors),
        index_kind=index_kind,
        log=log,
        tier_shares=tier_shares,
        extra_manifest=dict(extra_manifest or {}),
        ranker=ranker,
        customers=customers,
        co_purchase=co_purchase,
    )


def build_real(
    data_dir: Path,
    root: Path,
    *,
    log: Log = print,
    rebase_to: date | None = None,
    als: ALSParams = DEFAULT_ALS,
    tier_shares: Mapping[str, float] = model_build.TIER_SHARES,
    index_kind: str | None = None,
    evaluate_split: str | None = DEFAULT_SPLIT,
) -> Path:
    """Build the served artifacts from the data in `data_dir` (Online Retail or the generic CSV format).

    With `evaluate_split`, the held-out evaluation (`models.evaluate`) runs too and its metrics land
    in the manifest as `evaluation`; a split outside the data's time range is skipped.
    """
    started = time.perf_counter()
    t = time.perf_counter()
    ds = read_source(data_dir)
    log(f"  {'read':<12} {time.perf_counter() - t:7.2f} s  {len(ds.interactions)} purchase lines, "
        f"{len(ds.items)} products, {len(ds.customers)} customers")  # fmt: skip
    t = time.perf_counter()
    prepared = prepare(ds, als)
    sold = np.bincount(prepared.ds.interactions.item, minlength=len(prepared.ds.items))
    best_first = [prepared.ds.items[row] for row in np.argsort(-sold, kind="stable").tolist()]
    summary = categories.summary([item.category for item in best_first], [item.name for item in best_first])
    log(f"  {'factorize':<12} {time.perf_counter() - t:7.2f} s  ALS {als.factors} factors, {len(summary)} categories")
    extra: dict[str, Any] = {
        "data_dir": str(data_dir),
        "factorization": {"method": "implicit.als", **asdict(als)},
        "category_summary": summary,
    }
    if evaluate_split is not None:
        t = time.perf_counter()
        extra["evaluation"] = _evaluation(ds, evaluate_split, als)
        log(f"  {'evaluate':<12} {time.perf_counter() - t:7.2f} s  {_headline(extra['evaluation'])}")
    t = time.perf_counter()
    fitted = ranker_mod.fit(ds, als)  # on the data's last month, features from the data before it
    log(f"  {'ranker':<12} {time.perf_counter() - t:7.2f} s  {fitted.trees.name if fitted else 'not trained'}")
    if rebase_to is not None:  # after the evaluation, which splits on the data's real dates
        prepared = Prepared(rebase(prepared.ds, rebase_to), prepared.factors)
        log(f"  {'rebase':<12} timestamps shifted by {prepared.ds.report['rebased_days']} days")
    co = model_build.co_purchase_counts(prepared.ds)  # for the neighbours and the fold state
    path = write(
        prepared,
        root,
        log=log,
        index_kind=index_kind,
        tier_shares=tier_shares,
        extra_manifest=extra,
        ranker=fitted,
        co_purchase=co,
    )
    t = time.perf_counter()
    incremental.write_state(prepared.ds, path, co=co)  # what `edge build --since` continues from
    log(f"  {'fold_state':<12} {time.perf_counter() - t:7.2f} s")
    log(f"real-data build done in {time.perf_counter() - started:.2f} s")
    return path


def _evaluation(ds: Dataset, split: str, als: ALSParams) -> dict[str, Any]:
    from models.evaluate import evaluate_dataset  # evaluate imports this module

    at = np.datetime64(split, "s")
    if not (ds.interactions.ts.min() < at < ds.end):
        return {"skipped": f"split {split} is outside the data ({ds.report.get('data_start')} .. {ds.end}Z)"}
    try:
        return evaluate_dataset(ds, split=split, als=als)
    except ValueError as exc:  # e.g. no warm customers: the build itself is still good
        return {"skipped": str(exc)}


def _headline(result: Mapping[str, Any]) -> str:
    if "skipped" in result:
        return str(result["skipped"])
    methods = result["methods"]
    return ", ".join(f"{name} recall@{result['k']}={m['recall']:.4f}" for name, m in methods.items())
