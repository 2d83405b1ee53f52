"""Micro-benchmark of experiment assignment (`edge.core.experiments.assign`), the per-request cost of A/B tests.

    .venv/bin/python loadtest/bench_experiments.py [--decisions 20000] [--repeats 7]

Worst case on purpose: no holdout and every experiment's targeting matches, so each decision hashes
the unit for every experiment (half of them also check a namespace). Reports the median over the
repeats of the cost per decision and per experiment per decision; exits 1 if the per-experiment
cost is over the target (20 us).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from typing import Any

from edge.core.experiments import ExperimentsConfig, assign, parse_experiments

TARGET_US = 20.0
ATTRIBUTES: dict[str, str | None] = {"segment": "campaign", "country": "NL", "page": "home", "device": "mobile"}


def build_config(n_experiments: int) -> ExperimentsConfig:
    """`n_experiments` eligible experiments: 2-3 arms, targeting, every other one in a namespace slice."""
    experiments: list[dict[str, Any]] = []
    for i in range(n_experiments):
        arms = [{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.25, "variant": f"v{i}"}]
        arms.append({"key": "c", "weight": 0.25, "content": {"en": {"greeting": "Hi {first_name}!"}}})
        experiment: dict[str, Any] = {
            "key": f"exp-{i}",
            "coverage": 0.9,
            "arms": arms,
            "when": {"segment": ["new_visitor", "campaign"], "country": ["NL", "BE"], "page": ["home"]},
        }
        if i % 2:
            experiment["namespace"] = {"id": f"ns-{i}", "start": 0.0, "end": 0.7}
        experiments.append(experiment)
    return parse_experiments({"experiments": experiments}, source=f"<bench {n_experiments}>")


def make_requests(n: int, seed: int = 1) -> list[tuple[str | None, str]]:
    """(user_id, session_id) pairs; half of the visitors are logged in."""
    rng = random.Random(seed)
    return [
        (str(rng.randrange(10_000, 99_999)) if rng.random() < 0.5 else None, f"s-{rng.getrandbits(48):012x}")
        for _ in range(n)
    ]


def time_once(config: ExperimentsConfig, requests: list[tuple[str | None, str]]) -> float:
    """Seconds to assign every request once."""
    start = time.perf_counter()
    for user_id, session_id in requests:
        assign(config, user_id, session_id, ATTRIBUTES)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    requests = make_requests(args.decisions)
    print(f"python {sys.version.split()[0]}; {args.decisions} decisions x {args.repeats} repeats, median")
    print(f"{'experiments':>11} {'us/decision':>12} {'us/experiment':>14} {'arms/decision':>14}")
    worst = 0.0
    for n_experiments in (1, 5, 20):
        config = build_config(n_experiments)
        enrolled = sum(len(assign(config, u, s, ATTRIBUTES).arms) for u, s in requests) / len(requests)
        time_once(config, requests[:1000])  # warm-up
        median = statistics.median(time_once(config, requests) for _ in range(args.repeats))
        per_decision = median / len(requests) * 1e6
        per_experiment = per_decision / n_experiments
        worst = max(worst, per_experiment)
        print(f"{n_experiments:>11} {per_decision:>12.2f} {per_experiment:>14.2f} {enrolled:>14.2f}")
    verdict = "OK" if worst <= TARGET_US else "OVER TARGET"
    print(f"worst per-experiment cost {worst:.2f} us (target {TARGET_US:.0f} us): {verdict}")
    return 0 if worst <= TARGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
