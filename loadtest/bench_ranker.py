"""The learned ranker's cost per decision, on a real build (`edge build --data ...`).

    python loadtest/bench_ranker.py --artifacts DIR [--customers 300] [--repeats 5]

Per real customer (their stored profile: purchases, ALS vector, country) it times, in process:

    predict 200     `Trees.predict` on a 200-candidate feature matrix (the issue's budget: < 100 us)
    pool            every source's candidates and their features (`edge.core.recommend.learned_pool`)
    learned         the whole learned `recommend` (pool + predict + caps), one list of 12
    blend           the fixed blend's `recommend` for the same customer, side by side

Medians over customers, then the median of the repeats; quote them with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.core.learned import FEATURES
from edge.core.ranking import RankingParams
from edge.core.recommend import Model, learned_pool, recommend
from edge.model import artifacts
from edge.model.index import ItemIndex
from models.evaluate import customer_signals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    art = artifacts.load(args.artifacts)
    model = Model.from_artifacts(art, ItemIndex.load(art.index_path, art.item_vectors))
    if model.learned is None or model.learned.trees is None:
        raise SystemExit(f"{args.artifacts}: this build has no trained ranker (build with --data)")
    trees = model.learned.trees
    position = {str(p["user_id"]): i for i, p in enumerate(art.profiles)}
    users = [str(p["user_id"]) for p in art.profiles if len(p.get("purchased") or ()) >= 5][: args.customers]
    signals = [customer_signals(model, art, u, position) for u in users]
    learned, blend = RankingParams(), RankingParams(strategy="blend")
    rng = np.random.default_rng(0)
    x200 = learned_pool(model, signals[0], learned, 12)[0].features
    x200 = x200[rng.integers(0, len(x200), 200)]
    sizes = [len(learned_pool(model, s, learned, 12)[0].rows) for s in signals]

    def timed(fn: Callable[[Any], object], items: Sequence[Any]) -> float:
        samples = []
        for item in items:
            began = time.perf_counter()
            fn(item)
            samples.append(time.perf_counter() - began)
        return statistics.median(samples) * 1e6

    rows: dict[str, list[float]] = {"predict 200": [], "pool": [], "learned": [], "blend": []}
    for _ in range(args.repeats):
        rows["predict 200"].append(timed(lambda _: trees.predict(x200), list(range(len(signals)))))
        rows["pool"].append(timed(lambda s: learned_pool(model, s, learned, 12), signals))
        rows["learned"].append(timed(lambda s: recommend(model, s, 12, learned), signals))
        rows["blend"].append(timed(lambda s: recommend(model, s, 12, blend), signals))
    load = os.getloadavg()
    pool_size = statistics.median(sizes)
    print(f"build {art.version}: ranker {trees.name}, {len(trees.roots)} trees of depth {trees.depth}, ")
    print(f"{len(FEATURES)} features; {len(signals)} customers, median pool {pool_size:.0f} candidates")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| step | median us |")
    print("|---|---:|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
