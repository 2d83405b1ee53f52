"""CPU per in-process decision, write-behind included: what a decision costs the worker's core.

    python loadtest/bench_decision_cpu.py --artifacts DIR [--experiments FILE] [--n 2000] [--rounds 7]

Runs `Decider.decide` on the embedded store for `n` requests (a mix of cold, anonymous with
viewed items and known customers over 700 sessions and 500 customers), drains the write-behind,
and prints the median over the rounds of the process CPU time per decision in µs. CPU time,
unlike wall time, is little disturbed by a busy machine. To compare two checkouts, run this file
with each checkout's `.venv/bin/python` (each imports its own `edge`), alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from edge.core.requests import parse_decide
from edge.runtime import Runtime
from edge.settings import Settings

BODIES: list[dict[str, Any]] = [
    {"session_id": "s-cold", "location": {"country": "NL"}},
    {"session_id": "s-views", "session": {"viewed": ["SYN10001", "SYN10013"]}, "location": {"country": "GB"}},
    {"session_id": "s-known", "user_id": "20000", "location": {"country": "GB"}, "locale": "en-GB"},
]


async def measure(settings: Settings, n: int, rounds: int) -> float:
    """Median CPU µs per decision over `rounds` rounds of `n` decisions (after a warm-up)."""
    runtime = Runtime.open(settings)
    requests = []
    for i in range(n):
        body = dict(BODIES[i % len(BODIES)], session_id=f"s-{i % 700}")
        if "user_id" in body:
            body["user_id"] = str(20000 + i % 500)
        requests.append(parse_decide(body))
    try:
        for request in requests[: n // 4]:
            await runtime.decider.decide(runtime.engine, request)
        await runtime.decider.drain()
        per_round = []
        for _ in range(rounds):
            cpu = time.process_time()
            for request in requests:
                await runtime.decider.decide(runtime.engine, request)
            await runtime.decider.drain()
            per_round.append((time.process_time() - cpu) / n * 1e6)
    finally:
        await runtime.close()
    return statistics.median(per_round)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, required=True, help="a build (e.g. `edge build --synthetic`)")
    parser.add_argument("--experiments", type=Path, help="an experiments file (default: none)")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    settings = Settings(artifacts=args.artifacts, build_if_missing=False, experiments=args.experiments)
    print(f"{asyncio.run(measure(settings, args.n, args.rounds)):.1f}")


if __name__ == "__main__":
    main()
