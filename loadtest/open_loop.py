"""Open-loop load: requests at a fixed rate whatever the server's pace, latency from the scheduled time.

    python loadtest/open_loop.py --port 8000 --rate 1500 --seconds 10 --bodies FILE

A closed loop (wrk, `--connections` requests in flight) slows down with the server and hides the
queueing a storefront sees; here request i is due at start + i / rate and its latency counts from
then (no coordinated omission): a server that falls behind shows it in the tail. Bodies (one JSON
document a line in FILE) are sent in turn as `POST /v1/decide` over up to `--connections`
keep-alive connections. Prints one line `OPENLOOP {json}`: sent, answered, errors, achieved rate,
p50/p90/p99/p99.9/max in ms. Meant to run pinned to the client's core (`taskset`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

PATH = "/v1/decide"


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (head and content-length body) off `reader`; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def run(port: int, bodies: list[bytes], rate: float, seconds: float, connections: int) -> dict[str, Any]:
    """Send `rate` requests/s for `seconds`; latencies from each request's scheduled time."""
    requests = [
        (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (job := await queue.get()) is not None:
                due, request = job
                writer.write(request)
                status = await read_response(reader)
                if 200 <= status < 300:
                    latencies.append(time.perf_counter() - due)
                else:
                    errors += 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    sent = 0
    while sent < total:
        now = time.perf_counter()
        due_count = min(total, int((now - start) * rate) + 1)
        while sent < due_count:
            queue.put_nowait((start + sent / rate, requests[sent % len(requests)]))
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers, return_exceptions=True)
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "rate": rate,
        "sent": sent,
        "answered": len(latencies),
        "errors": errors,
        "achieved_rps": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(_percentile(ordered, 50) * 1000, 3),
        "p90_ms": round(_percentile(ordered, 90) * 1000, 3),
        "p99_ms": round(_percentile(ordered, 99) * 1000, 3),
        "p999_ms": round(_percentile(ordered, 99.9) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3) if ordered else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--bodies", type=Path, required=True, help="one JSON body a line")
    args = parser.parse_args()
    bodies = [line for line in args.bodies.read_bytes().splitlines() if line.strip()]
    try:
        import uvloop

        result = uvloop.run(run(args.port, bodies, args.rate, args.seconds, args.connections))
    except ImportError:
        result = asyncio.run(run(args.port, bodies, args.rate, args.seconds, args.connections))
    print("OPENLOOP " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
