"""CPU per in-process decision, write-behind included: what a decision costs the worker's core.

    python loadtest/bench_decision_cpu.py --artifacts DIR [--experiments FILE] [--n 2000] [--rounds 7]
    python loadtest/bench_decision_cpu.py --artifacts DIR --mix known --redis redis://127.0.0.1:6379/0
    python loadtest/bench_decision_cpu.py --artifacts DIR --mix storefront --profile 25   # cProfile, top 25
    python loadtest/bench_decision_cpu.py --artifacts DIR --mix known --redis URL --compare-plain

Runs `Decider.decide` for `n` requests, drains the write-behind, and prints the median over the
rounds of the process CPU time per decision in µs. Without `--mix`: a mix of cold, anonymous with
viewed items and known customers over 700 sessions and 500 synthetic customers, on the embedded
store. With `--mix storefront|known`: the bodies of the HTTP benchmark of record (loadtest/mixes.py)
drawn from the build's own items and customers. `--redis URL` reads from Redis under the key prefix
`edge-cpu` (`edge load` first, keys deleted afterwards): the store the benchmark of record uses.
`--compare-plain` interleaves, in batches of 50, the serving path and the plain reference path
(`Model.as_plain()`, a Redis store without the near cache and over redis-py's command path instead
of the lean connections): the before/after of issue 10 in one process. CPU time, unlike wall
time, is little disturbed by a busy machine. To compare two checkouts, run
this file with each checkout's `.venv/bin/python` (each imports its own `edge`), alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mixes import build_ids, mix_bodies

from edge.core.requests import DecideRequest, parse_decide
from edge.runtime import Runtime
from edge.settings import Settings

REDIS_PREFIX = "edge-cpu"
BODIES: list[dict[str, Any]] = [
    {"session_id": "s-cold", "location": {"country": "NL"}},
    {"session_id": "s-views", "session": {"viewed": ["SYN10001", "SYN10013"]}, "location": {"country": "GB"}},
    {"session_id": "s-known", "user_id": "20000", "location": {"country": "GB"}, "locale": "en-GB"},
]


def synthetic_requests(n: int) -> list[DecideRequest]:
    requests = []
    for i in range(n):
        body = dict(BODIES[i % len(BODIES)], session_id=f"s-{i % 700}")
        if "user_id" in body:
            body["user_id"] = str(20000 + i % 500)
        requests.append(parse_decide(body))
    return requests


class GcPauses:
    """The garbage collector's pauses, timed with `gc.callbacks` (wall and CPU time), per generation."""

    def __init__(self) -> None:
        self.started = (0.0, 0.0)
        self.pauses: dict[int, list[tuple[float, float]]] = {0: [], 1: [], 2: []}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = (time.perf_counter(), time.thread_time())
        else:
            wall, cpu = self.started
            self.pauses[info["generation"]].append((time.perf_counter() - wall, time.thread_time() - cpu))

    def report(self, decisions: int) -> str:
        """Count, total, median and max pause per generation (wall time; CPU time in brackets), per 10,000 decisions."""
        scale = 10_000 / decisions
        lines = [f"gc pauses per 10,000 decisions ({decisions} decided; thresholds {gc.get_threshold()}, "
                 f"{gc.get_freeze_count()} objects frozen), wall ms (cpu ms):"]  # fmt: skip
        for generation, pauses in self.pauses.items():
            walls = sorted(wall for wall, _ in pauses) or [0.0]
            cpus = sorted(cpu for _, cpu in pauses) or [0.0]
            lines.append(
                f"  gen{generation}: {len(pauses) * scale:7.1f} pauses, in all {sum(walls) * scale * 1e3:7.1f} "
                f"({sum(cpus) * scale * 1e3:7.1f}), median {walls[len(walls) // 2] * 1e3:6.3f} "
                f"({cpus[len(cpus) // 2] * 1e3:6.3f}), max {walls[-1] * 1e3:6.2f} ({cpus[-1] * 1e3:6.2f})"
            )
        return "\n".join(lines)


async def measure(
    settings: Settings,
    requests: list[DecideRequest],
    rounds: int,
    profile: cProfile.Profile | None = None,
    gc_pauses: GcPauses | None = None,
) -> float:
    """Median CPU µs per decision over `rounds` rounds of the requests (after a warm-up).

    With `gc_pauses`, the collector's pauses during the rounds are recorded there and the
    wall time of each decision (write-behind left out) is summarised on stdout.
    """
    runtime = Runtime.open(settings)
    n = len(requests)
    walls: list[float] = []
    try:
        for request in requests[: n // 4]:
            await runtime.decider.decide(runtime.engine, request)
        await runtime.decider.drain()
        per_round = []
        if gc_pauses is not None:
            gc.callbacks.append(gc_pauses)
        for _ in range(rounds):
            if profile is not None:
                profile.enable()
            cpu = time.process_time()
            for request in requests:
                started = time.perf_counter()
                await runtime.decider.decide(runtime.engine, request)
                walls.append(time.perf_counter() - started)
            await runtime.decider.drain()
            per_round.append((time.process_time() - cpu) / n * 1e6)
            if profile is not None:
                profile.disable()
    finally:
        if gc_pauses is not None and gc_pauses in gc.callbacks:
            gc.callbacks.remove(gc_pauses)
        await runtime.close()
    if gc_pauses is not None:
        walls.sort()
        quantiles = "  ".join(f"p{q:g} {walls[min(len(walls) - 1, int(len(walls) * q / 100))] * 1e3:.2f}"
                              for q in (50, 99, 99.9))  # fmt: skip
        print(f"decision wall ms: {quantiles}  max {walls[-1] * 1e3:.2f}")
        print(gc_pauses.report(len(walls)))
    return statistics.median(per_round)


async def compare_plain(settings: Settings, requests: list[DecideRequest], rounds: int) -> tuple[float, float]:
    """CPU µs per decision of the serving path and of the plain reference path (`Model.as_plain`, no
    near cache, redis-py), interleaved in batches in one process so that a busy machine slows both alike."""
    from dataclasses import replace

    from edge.decider import Decider
    from edge.store.redis_store import ProfileCache, RedisStore

    runtime = Runtime.open(settings)
    plain_engine = replace(runtime.engine, model=runtime.engine.model.as_plain())
    plain_store = runtime.store
    if settings.redis_url is not None:
        plain_store = RedisStore.from_url(
            settings.redis_url, settings.redis_prefix, settings.redis_timeout_ms, settings.redis_pool_size
        )
        plain_store.profiles = ProfileCache(0)
        plain_store.lean = plain_store.lean_writer = None  # redis-py's command path, as before edge/store/lean.py
    plain_decider = Decider.from_settings(plain_store, settings)
    sides = {"serving": (runtime.engine, runtime.decider), "plain": (plain_engine, plain_decider)}
    spent = dict.fromkeys(sides, 0.0)
    batch = 50
    try:
        for engine, decider in sides.values():  # warm-up: memos, index answers, connections
            for request in requests[: len(requests) // 4]:
                await decider.decide(engine, request)
            await decider.drain()
        for round_ in range(rounds):
            for start in range(0, len(requests), batch):
                order = list(sides) if (start // batch + round_) % 2 else list(reversed(sides))
                for name in order:
                    engine, decider = sides[name]
                    cpu = time.process_time()
                    for request in requests[start : start + batch]:
                        await decider.decide(engine, request)
                    await decider.drain()
                    spent[name] += time.process_time() - cpu
    finally:
        if plain_store is not runtime.store:
            await plain_store.close()
        await runtime.close()
    n = len(requests) * rounds
    return spent["serving"] / n * 1e6, spent["plain"] / n * 1e6


def clean_redis(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, required=True, help="a build (e.g. `edge build --synthetic`)")
    parser.add_argument("--experiments", type=Path, help="an experiments file (default: none)")
    parser.add_argument("--mix", choices=["storefront", "known"], help="the benchmark of record's bodies")
    parser.add_argument("--redis", metavar="URL", help="read from this Redis (prefix edge-cpu)")
    parser.add_argument(
        "--redis-prefix", default=REDIS_PREFIX, help=f"its key prefix, deleted afterwards (default {REDIS_PREFIX})"
    )
    parser.add_argument("--profile", type=int, default=0, metavar="TOP", help="cProfile; print the top functions")
    parser.add_argument(
        "--compare-plain", action="store_true", help="interleave the serving path and the plain reference path"
    )
    parser.add_argument(
        "--gc-stats", action="store_true", help="time the garbage collector's pauses and each decision's wall time"
    )
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    settings = Settings(artifacts=args.artifacts, build_if_missing=False, experiments=args.experiments)
    if args.redis:
        settings = Settings(
            artifacts=args.artifacts,
            build_if_missing=False,
            experiments=args.experiments,
            redis_url=args.redis,
            redis_prefix=args.redis_prefix,
            redis_timeout_ms=1000,
        )
        env = dict(os.environ, EDGE_ARTIFACTS=str(args.artifacts), EDGE_REDIS_PREFIX=args.redis_prefix)
        edge = Path(sys.executable).parent / "edge"
        subprocess.run([str(edge), "load", "--redis", args.redis], env=env, check=True, stdout=subprocess.DEVNULL)
    if args.mix:
        items, users, _ = build_ids(args.artifacts)
        requests = [parse_decide(body) for body in mix_bodies(args.mix, items, users, args.n)]
    else:
        requests = synthetic_requests(args.n)
    profile = cProfile.Profile(time.process_time) if args.profile else None  # CPU time, as measured
    try:
        if args.compare_plain:
            serving, plain = asyncio.run(compare_plain(settings, requests, args.rounds))
            print(f"serving {serving:.1f} µs, plain {plain:.1f} µs per decision: {plain / serving:.2f}x")
        else:
            gc_pauses = GcPauses() if args.gc_stats else None
            print(f"{asyncio.run(measure(settings, requests, args.rounds, profile, gc_pauses)):.1f}")
    finally:
        if args.redis:
            clean_redis(args.redis, args.redis_prefix)
    if profile is not None:
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
