"""Events ingested per second by one worker: `POST /v1/events` batches through the whole app.

    python loadtest/bench_events.py [--redis URL] [--batch 50] [--calls 2000] [--concurrency 16]
    python loadtest/bench_events.py --serve [--redis URL] ...   # a real `edge serve` process, over HTTP

In-process (default), the ASGI app runs with its lifespan in this process and the calls go
straight into it: JSON parsing, validation, planning and the store write, without a socket; that
is one worker's ceiling. With --serve, a real uvicorn worker (`edge serve --workers 1`) is
driven over HTTP by an aiohttp client in this process (on a 2-core machine the client takes a
share of the CPU). Events are a storefront mix (views, carts, searches, purchases, wishes) over
1,000 sessions, a third of them logged in. Builds the synthetic demo store into a temporary
directory unless --artifacts is given; with --redis, keys go under a temporary prefix that is
deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from edge.cli import build_synthetic, load
from edge.http.app import create_app
from edge.settings import Settings

Post = Callable[[bytes], Awaitable[int]]
ATTRIBUTION_EXPERIMENTS = """
holdout: {percent: 5}
experiments:
  - key: bench-test
    unit: user_id
    arms: [{key: control, weight: 0.5}, {key: b, weight: 0.5}]
"""


def event_batches(
    n_calls: int, batch: int, products: list[str], seed: int = 1, decisions: dict[int, str] | None = None
) -> list[bytes]:
    """Request bodies: `n_calls` batches of `batch` events each (with `decisions`: attributed, plus clicks)."""
    rng = random.Random(seed)
    kinds = ["view"] * 14 + ["add_to_cart"] * 2 + ["remove_from_cart", "search", "purchase", "wishlist_add"]
    if decisions is not None:
        kinds += ["click"] * 2
    bodies = []
    for _ in range(n_calls):
        events = []
        for _ in range(batch):
            session = rng.randrange(1000)
            event: dict[str, Any] = {"type": rng.choice(kinds), "session_id": f"s-bench-{session}"}
            if session % 3 == 0:
                event["user_id"] = str(20000 + session % 600)
            if event["type"] == "search":
                event["query"] = rng.choice(["lantern", "candle", "mug", "bag"])
            else:
                event["product_id"] = rng.choice(products)
            if event["type"] == "purchase":
                event.update(quantity=rng.randint(1, 3), price=round(rng.uniform(1, 40), 2))
            if decisions is not None:  # attribution: the decision the session got (and a click's position)
                event["decision_id"] = decisions[session]
                if event["type"] == "click":
                    event["position"] = rng.randint(1, 6)
            events.append(event)
        bodies.append(orjson.dumps({"events": events}))
    return bodies


async def drive(post: Post, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Post every body with `concurrency` callers; wall time and per-call latencies (ms)."""
    queue = list(reversed(bodies))
    latencies: list[float] = []

    async def caller() -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            status = await post(body)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 202:
                raise SystemExit(f"unexpected status {status}")

    server_cpu = redis_cpu()
    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    CPU["app"], CPU["redis"] = time.process_time() - cpu, redis_cpu() - server_cpu  # the last drive (after warm-up)
    return elapsed, latencies


CPU: dict[str, float] = {"app": 0.0, "redis": 0.0}  # CPU seconds of the measured run: this process, the Redis server
REDIS_URL: list[str] = []


def redis_cpu() -> float:
    """CPU seconds the Redis server has used (INFO cpu); 0 without Redis. Robust to a busy machine, unlike wall time."""
    if not REDIS_URL:
        return 0.0
    import redis

    client = redis.Redis.from_url(REDIS_URL[0])
    info = client.info("cpu")
    client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def decide_sessions(runtime: Any) -> dict[int, str]:
    """One decision per bench session (enrolments and decision records to attribute to), written."""
    from edge.core.requests import parse_decide

    ids = {}
    for session in range(1000):
        body: dict[str, Any] = {"session_id": f"s-bench-{session}", "limit": 6}
        if session % 3 == 0:
            body["user_id"] = str(20000 + session % 600)
        ids[session] = (await runtime.decider.decide(runtime.engine, parse_decide(body)))["decision_id"]
    await runtime.decider.drain()
    return ids


async def in_process(
    settings: Settings, bodies: list[bytes] | Callable[[dict[int, str]], list[bytes]], concurrency: int
) -> tuple[float, list[float]]:
    """The app's ASGI callable with its lifespan, called directly (no socket, no HTTP parser)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        if callable(bodies):
            bodies = bodies(await decide_sessions(state["runtime"]))

        async def post(body: bytes) -> int:
            scope = {"type": "http", "method": "POST", "path": "/v1/events", "raw_path": b"/v1/events",
                     "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
                     "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                     "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": dict(state or {})}  # fmt: skip
            messages = [{"type": "http.request", "body": body, "more_body": False}]
            status = 0
            reply = bytearray()

            async def receive() -> dict[str, Any]:
                return messages.pop() if messages else {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body":
                    reply.extend(message.get("body", b""))

            await app(scope, receive, send)
            if status != 202:
                print(f"status {status}: {bytes(reply).decode()}", file=sys.stderr)
            return status

        await drive(post, bodies[: max(1, len(bodies) // 20)], concurrency)  # warm up
        return await drive(post, bodies, concurrency)


async def over_http(base: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(body: bytes) -> int:
            headers = {"content-type": "application/json"}
            async with session.post(f"{base}/v1/events", data=body, headers=headers) as response:
                await response.read()
                return response.status

        await drive(post, bodies[: max(1, len(bodies) // 20)], concurrency)
        return await drive(post, bodies, concurrency)


def serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EDGE_ARTIFACTS": str(settings.artifacts), "EDGE_BUILD_IF_MISSING": "false",
           "EDGE_LOG_LEVEL": "warning", "EDGE_REDIS_PREFIX": settings.redis_prefix}  # fmt: skip
    env.pop("EDGE_REDIS_URL", None)
    if settings.redis_url:
        env["EDGE_REDIS_URL"] = settings.redis_url
    process = subprocess.Popen([sys.executable, "-m", "edge", "serve", "--port", str(port)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("edge serve did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path)
    parser.add_argument("--redis", metavar="URL")
    parser.add_argument("--batch", type=int, default=50, help="events per call (1-500)")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serve", action="store_true", help="drive a real `edge serve` process over HTTP")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--attribution",
        action="store_true",
        help="in-process: an experiment and a holdout, every session decided first, every event with its decision_id",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.artifacts or Path(tmp)
        if args.artifacts is None:
            build_synthetic(root, anchor=date.today())
        prefix = f"edge-bench-{uuid.uuid4().hex[:8]}"
        experiments = None
        if args.attribution:
            experiments = Path(tmp) / "experiments.yaml"
            experiments.write_text(ATTRIBUTION_EXPERIMENTS)
        settings = Settings(artifacts=root, build_if_missing=False, redis_url=args.redis, redis_prefix=prefix,
                            experiments=experiments)  # fmt: skip
        if args.redis:
            load(settings, args.redis)
            REDIS_URL.append(args.redis)
        from edge.model import artifacts

        products = [item.id for item in artifacts.load(root).items]
        bodies = event_batches(args.calls, args.batch, products)
        attributed = partial(event_batches, args.calls, args.batch, products, 1)
        try:
            if args.serve:
                process = serve(settings, args.port)
                try:
                    elapsed, latencies = asyncio.run(
                        over_http(f"http://127.0.0.1:{args.port}", bodies, args.concurrency)
                    )
                finally:
                    process.terminate()
                    process.wait(timeout=15)
            else:
                payload = attributed if args.attribution else bodies
                elapsed, latencies = asyncio.run(in_process(settings, payload, args.concurrency))
        finally:
            if args.redis:
                import redis

                client = redis.Redis.from_url(args.redis)
                keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
                for start in range(0, len(keys), 1000):
                    client.delete(*keys[start : start + 1000])
                client.close()
    events = args.calls * args.batch
    latencies.sort()
    store = "redis" if args.redis else "embedded"
    mode = "edge serve (1 worker, HTTP)" if args.serve else "in-process ASGI"
    mode += ", attributed" if args.attribution else ""
    columns = ["mode", "store", "batch", "concurrency", "events/s", "calls/s", "call p50 ms", "call p99 ms"]
    columns += ["app CPU µs/event", "Redis CPU µs/event"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {mode} | {store} | {args.batch} | {args.concurrency} | {events / elapsed:,.0f} | "
        f"{args.calls / elapsed:,.0f} | {statistics.median(latencies):.2f} | "
        f"{latencies[int(len(latencies) * 0.99)]:.2f} | "
        f"{CPU['app'] / events * 1e6:.1f} | {CPU['redis'] / events * 1e6:.1f} |"
    )


if __name__ == "__main__":
    main()
