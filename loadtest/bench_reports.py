"""How fast an experiment report answers for many units, and what a unit costs in Redis.

    python loadtest/bench_reports.py [--units 1000000] [--redis URL] [--batch 2000]

Enrols `--units` units (users) in a 50/50 experiment and the holdout track through the store's
own write programs (the ops a decision and a purchase write, edge/core/attribution.py), a tenth of them
converting, then times `load_experiment_report` and `load_personalization_report` (median of 5).
With --redis, it also reports `MEMORY USAGE` of sample unit records (`xp`) and the partition
aggregates, under a temporary key prefix that is deleted afterwards (needs a few hundred MB of
Redis memory for 1M units).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from edge.core.attribution import HOLDOUT_TRACK, Enrolment, decision_program, event_ops
from edge.core.experiments import parse_experiments
from edge.core.reports import load_experiment_report, load_personalization_report
from edge.core.writes import Group, user_unit
from edge.store.base import ProfileStore
from edge.store.memory import MemoryStore

CONFIG = {
    "holdout": {"percent": 5},
    "experiments": [{"key": "bench-report", "arms": [{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.5}]}],
}
START = datetime(2026, 11, 1, tzinfo=UTC)


def unit_groups(n: int, rng: random.Random) -> list[Group]:
    """The enrolment and (for a tenth) the purchase of unit `n`, as the decision and event would write."""
    unit = user_unit(f"bench-{n}")
    now = START + timedelta(seconds=n % 86400 * 30)
    arm = "b" if rng.random() < 0.5 else "control"
    enrol = [Enrolment("bench-report", arm, 72 * 3600), Enrolment(HOLDOUT_TRACK, "personalized", 72 * 3600)]
    program = decision_program(unit, now, "new_visitor", enrol)
    groups = list(program)
    if rng.random() < (0.11 if arm == "b" else 0.10):
        ops = event_ops("purchase", now + timedelta(hours=1), rng.uniform(5, 50), None, "p1", None, None)
        groups.append(Group(unit, tuple(ops)))
    return groups


async def fill(store: ProfileStore, units: int, batch: int) -> float:
    rng = random.Random(1)
    started = time.perf_counter()
    pending: list[Group] = []
    for n in range(units):
        pending += unit_groups(n, rng)
        if len(pending) >= batch:
            await store.apply(tuple(pending))
            pending = []
    if pending:
        await store.apply(tuple(pending))
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    config = parse_experiments(CONFIG, source="bench")
    prefix = f"edge-bench-reports-{uuid.uuid4().hex[:8]}"
    store: ProfileStore
    if args.redis:
        from edge.store.redis_store import RedisStore

        store = RedisStore.from_url(args.redis, prefix, 5000.0, 8)
    else:
        store = MemoryStore()
    try:
        took = await fill(store, args.units, args.batch)
        print(f"enrolled {args.units:,} units in {took:.1f} s ({args.units / took:,.0f} units/s)")
        timings, personal = [], []
        for _ in range(5):
            started = time.perf_counter()
            report = await load_experiment_report(store, config, "bench-report")
            timings.append(time.perf_counter() - started)
            started = time.perf_counter()
            await load_personalization_report(store, config)
            personal.append(time.perf_counter() - started)
        units = sum(a.units for a in report.arms)
        conversion = next(r for r in report.results if r.metric == "conversion")
        print(f"experiment report over {units:,} units: median {statistics.median(timings) * 1000:.1f} ms")
        print(f"personalization report: median {statistics.median(personal) * 1000:.1f} ms")
        print(f"conversion uplift {conversion.uplift or 0.0:+.4f} ci {conversion.ci} (true +0.10)")
        if args.redis:
            await memory(args.redis, prefix)
    finally:
        if args.redis:
            await cleanup(args.redis, prefix)
        await store.close()


async def memory(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    from edge.store.redis_store import partition

    client = aioredis.Redis.from_url(url)
    sizes = []
    for n in range(0, 1000, 10):
        unit = user_unit(f"bench-{n}")
        found = await client.memory_usage(f"{prefix}:{{{partition(unit)}}}:{unit}:xp", samples=0)
        if found:
            sizes.append(found)
    aggregate = sum([await client.memory_usage(f"{prefix}:{{{p}}}:xa:bench-report", samples=0) or 0 for p in range(64)])
    print(f"unit record (xp, 2 tracks): median {statistics.median(sizes):.0f} bytes (MEMORY USAGE)")
    print(f"experiment aggregates (64 partition hashes): {aggregate:,} bytes in all")
    await client.aclose()


async def cleanup(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    batch = []
    async for key in client.scan_iter(match=f"{prefix}:*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            await client.unlink(*batch)
            batch = []
    if batch:
        await client.unlink(*batch)
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--redis", metavar="URL")
    parser.add_argument("--batch", type=int, default=2000, help="groups per write program")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
