"""In-process decision latency: `Decider.decide` on a real build, no HTTP, per scenario.

    python loadtest/bench_decide.py [--artifacts DIR] [--redis URL] [--n 3000] [--repeats 5]

Builds the synthetic demo store into a temporary directory when --artifacts is not given. With
--redis, the build's profiles are loaded under a temporary key prefix and the same scenarios run
against the Redis store too, so the added cost of the round trip shows side by side. The "stored
session" scenario first posts view and cart events for its session (through `edge.events.ingest`),
so the decision reads and merges a session from the store.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from edge.cli import build_synthetic, load
from edge.core.requests import parse_decide
from edge.events import ingest, parse_events, policy_for
from edge.runtime import Runtime
from edge.settings import Settings

SCENARIOS: dict[str, dict[str, Any]] = {
    "cold start": {"session_id": "s-cold", "location": {"country": "NL"}},
    "viewed items": {"session_id": "s-views", "session": {"viewed": ["SYN10001", "SYN10013", "SYN10025"]},
                     "location": {"country": "GB"}},
    "known customer": {"session_id": "s-known", "user_id": "20000", "location": {"country": "GB"}, "locale": "en-GB"},
    "customer + session": {"session_id": "s-both", "user_id": "20011", "location": {"country": "NL"},
                           "session": {"viewed": ["SYN10100"], "cart": ["SYN10200"]}, "locale": "nl-NL"},
    "stored session": {"session_id": "s-stored", "user_id": "20022", "location": {"country": "NL"}},
}  # fmt: skip
STORED_EVENTS = {"events": [
    *({"type": "view", "session_id": "s-stored", "user_id": "20022", "product_id": f"SYN1{i:04d}"} for i in range(8)),
    {"type": "add_to_cart", "session_id": "s-stored", "user_id": "20022", "product_id": "SYN10300"},
]}  # fmt: skip


async def store_events(runtime: Runtime) -> None:
    """The events behind the "stored session" scenario."""
    policy = policy_for(runtime.settings, runtime.build_path)
    events = parse_events(STORED_EVENTS, datetime.now(UTC))
    await ingest(runtime.store, events, policy, None, 5.0)


async def run(runtime: Runtime, n: int, repeats: int) -> dict[str, tuple[float, float]]:
    results = {}
    for name, body in SCENARIOS.items():
        request = parse_decide(body)
        medians, p99s = [], []
        for _ in range(repeats):
            samples = []
            for _ in range(n):
                started = time.perf_counter()
                await runtime.decider.decide(runtime.engine, request)
                samples.append((time.perf_counter() - started) * 1e6)
            samples.sort()
            medians.append(statistics.median(samples))
            p99s.append(samples[int(len(samples) * 0.99)])
        results[name] = (statistics.median(medians), statistics.median(p99s))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path)
    parser.add_argument("--redis", metavar="URL")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.artifacts or Path(tmp)
        if args.artifacts is None:
            build_synthetic(root, anchor=date.today())
        stores = {"embedded": Settings(artifacts=root, build_if_missing=False)}
        if args.redis:
            prefix = f"edge-bench-{uuid.uuid4().hex[:8]}"
            stores["redis"] = Settings(artifacts=root, redis_url=args.redis, redis_prefix=prefix)
            load(stores["redis"], args.redis)
        table: dict[str, dict[str, tuple[float, float]]] = {}
        for kind, settings in stores.items():

            async def measure(settings: Settings = settings) -> dict[str, tuple[float, float]]:
                runtime = Runtime.open(settings)
                try:
                    await store_events(runtime)
                    return await run(runtime, args.n, args.repeats)
                finally:
                    await runtime.decider.drain()
                    await runtime.close()

            table[kind] = asyncio.run(measure())
        if args.redis:
            import redis

            client = redis.Redis.from_url(args.redis)
            keys = list(client.scan_iter(match=f"{stores['redis'].redis_prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
    header = "| scenario | " + " | ".join(f"{k} p50 µs | {k} p99 µs" for k in table) + " |"
    print(header)
    print("|" + "---|" * (1 + 2 * len(table)))
    for name in SCENARIOS:
        cells = " | ".join(f"{table[k][name][0]:.0f} | {table[k][name][1]:.0f}" for k in table)
        print(f"| {name} | {cells} |")
    print(f"(median of {args.repeats} runs x {args.n} decisions each)")


if __name__ == "__main__":
    main()
