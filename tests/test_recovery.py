"""A Redis restart between bursts of decisions: at most 1 s of degraded answers, no 5xx; outages are logged."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.outage import Outage
from tests.conftest import NOW, PrivateRedis, free_port
from tests.test_serve import wait_ready

CONCURRENCY = 40  # decisions in flight at once, on one worker


class Connection:
    """One keep-alive HTTP/1.1 connection posting decisions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        self.reader, self.writer = reader, writer
        body = json.dumps({"session_id": f"s-burst-{n}", "now": NOW}).encode()
        self.request = (
            b"POST /v1/decide HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )

    async def decide(self) -> tuple[int, bool]:
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
        answer = json.loads(await self.reader.readexactly(length))
        return int(lines[0].split(b" ")[1]), bool(answer.get("degraded"))


async def bursts(port: int, server: PrivateRedis) -> tuple[list[tuple[float, int, bool]], float]:
    """Bursts of 40 concurrent decisions; Redis restarted between two of them. (time, status, degraded), back at."""
    connections = []
    for n in range(CONCURRENCY):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connections.append(Connection(reader, writer, n))
    results: list[tuple[float, int, bool]] = []

    async def burst() -> None:
        answers = await asyncio.gather(*(c.decide() for c in connections))
        results.extend((time.monotonic(), status, degraded) for status, degraded in answers)

    for _ in range(5):  # every pooled Redis connection in use
        await burst()
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)  # returns once the new server answers
    back_at = time.monotonic()
    while time.monotonic() < back_at + 3.0:
        await burst()
    for c in connections:
        c.writer.close()
    return results, back_at


def test_a_redis_restart_between_bursts_degrades_for_at_most_a_second(
    artifacts_dir: Path, private_redis: PrivateRedis
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "EDGE_ARTIFACTS": str(artifacts_dir),
        "EDGE_BUILD_IF_MISSING": "false",
        "EDGE_REDIS_URL": private_redis.url,
        "EDGE_LOG_LEVEL": "warning",
        "EDGE_DEADLINE_MS": "1000",
        "EDGE_REDIS_TIMEOUT_MS": "500",
    }  # a busy test machine is not an outage
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        results, back_at = asyncio.run(bursts(port, private_redis))
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    assert [s for _, s, _ in results if s >= 500] == []
    late = [t - back_at for t, _, degraded in results if degraded and t > back_at]
    after = [degraded for t, _, degraded in results if t > back_at + 1.0]
    print(f"degraded after restart: {len(late)} of {len([1 for t, _, _ in results if t > back_at])}")
    assert max(late, default=0.0) <= 1.0, (
        f"{len(late)} degraded answers, the last {max(late):.2f} s after Redis was back"
    )
    assert after and not any(after)
    assert len(late) < CONCURRENCY // 4  # a connection broken by the restart is redialled, not failed (was 40/40)
    log = stderr.decode()
    assert log.count("unavailable") <= 2, log  # rate-limited: not one line per failed call


def test_outage_reports_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    outage = Outage("redis (test)", every_s=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="edge.store"):
        for _ in range(50):
            outage.failed(ConnectionError("refused"))
            now[0] += 0.1
        outage.ok()
        outage.failed(ConnectionError("refused"))  # a new outage within 10 s of the last report: quiet
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "unavailable" in m] == ["redis (test) unavailable: ConnectionError: refused"]
    assert outage.failures == 51 and any("answering again after 5.0 s" in m for m in messages)
