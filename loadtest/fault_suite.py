"""Fault suite: a real `edge serve --workers 2` over a Redis that is killed, paused and slept under load.

    .venv/bin/python loadtest/fault_suite.py [--artifacts DIR] [--decisions 16] [--events 8]

Starts a private redis-server on a free port with an append-only file fsynced on every write
(`appendonly yes`, `appendfsync always`), bulk-loads the profiles (`edge load`), and serves them with
`edge serve --workers 2` on another free port (default deadlines). Concurrent keep-alive
connections then post decisions and event calls without pause while the Redis is, in turn,

  (a) SIGKILLed and restarted from its append-only file,
  (b) paused (SIGSTOP ... SIGCONT),
  (c) slept (`DEBUG SLEEP 2`).

Every event carries a client-generated `id`; a call answered 503 is sent again, same body, same
ids, until it is acknowledged (202), as the contract says. Each fault lasts until the load has felt
it (an event call answered 503 and a degraded decision, or the fault's own end) and each recovery is
awaited by condition, with deadlines. At the end the suite checks, and prints:

- 0 5xx on decisions, and no 5xx on events other than the contract's 503 `store_unavailable`;
- 0 acknowledged events lost: every 202-acknowledged id is in the event stream (after a SIGKILL);
- 0 double-counted retries: every id at most once in the stream, and each buyer's `orders` and
  `spend` grew by exactly what was acknowledged.

Exit status 0 when all hold. Builds the synthetic demo store into a temporary directory unless
--artifacts is given. `tests/test_fault_suite.py` runs the same suite in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import redis

ADMIN = "fault-suite-admin-token"
PREFIX = "edge-faults"
RETRY_BACKOFF_S = 0.05  # the storefront's pause before it sends a 503'd call again
CALL_TIMEOUT_S = 15.0  # an HTTP call without an answer this long is a failure
FAULT_DEADLINE_S = 8.0  # a fault that the load does not feel within this long is reported as such
RECOVERY_DEADLINE_S = 8.0
DRAIN_DEADLINE_S = 10.0  # calls still being retried when the load stops must be acknowledged by then
PRICE = 2.5  # exact in binary: spend sums compare exactly


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(check: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> float:
    """Wait until `check()` holds; seconds waited. Raises TimeoutError naming `what` after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - started


class RedisServer:
    """A redis-server of our own on a free port: AOF fsynced on every write, DEBUG enabled."""

    def __init__(self, directory: Path, appendfsync: str = "always") -> None:
        self.appendfsync = appendfsync
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary, self.dir, self.port = binary, directory, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", self.appendfsync, "--enable-debug-command", "yes", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        poll(self.ping, 15, "redis-server start")

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final flush."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a paused server cannot exit
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class Connection:
    """One keep-alive HTTP/1.1 connection to Edge, reopened after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """(status, decoded JSON); status 0 when the connection failed or timed out."""
        payload = orjson.dumps(body)
        head = f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = (head + f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
        try:
            return await asyncio.wait_for(self._exchange(request), CALL_TIMEOUT_S)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            return 0, None

    async def _exchange(self, request: bytes) -> tuple[int, Any]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
        return int(lines[0].split(b" ")[1]), orjson.loads(await reader.readexactly(length))

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


@dataclass
class Load:
    """What the clients sent and what Edge answered, as the suite goes."""

    decisions: Counter[int] = field(default_factory=Counter)  # by status
    degraded: int = 0
    event_calls: Counter[int] = field(default_factory=Counter)  # by status, every attempt
    retried_calls: int = 0  # calls answered 503 at least once, then sent again
    acknowledged: set[str] = field(default_factory=set)  # event ids answered 202
    sent: set[str] = field(default_factory=set)
    orders: Counter[str] = field(default_factory=Counter)  # acknowledged purchases by buyer
    spend: Counter[str] = field(default_factory=Counter)
    unacknowledged: int = 0  # calls never acknowledged by the end of the drain
    warm_decisions: int = 0  # decisions answered before the first fault, and how many of them degraded
    warm_degraded: int = 0
    last_degraded_at: float = 0.0
    last_ok_decision_at: float = 0.0
    last_503_at: float = 0.0
    last_ack_at: float = 0.0
    stop: bool = False


@dataclass
class FaultResult:
    name: str
    felt_s: float  # from the fault to the load feeling it
    recovered_s: float  # from the fault's end to a decision not degraded and an event call acknowledged


@dataclass
class Report:
    faults: list[FaultResult]
    decisions: dict[int, int]
    degraded: int
    warm_decisions: int
    warm_degraded: int
    event_calls: dict[int, int]
    retried_calls: int
    acknowledged: int
    lost: list[str]
    duplicated: list[str]
    unexpected: list[str]
    unacknowledged: int
    orders_expected: int
    orders_counted: int
    spend_expected: float
    spend_counted: float
    buyers_off: list[str]
    seconds: float
    log_errors: list[str]
    appendfsync: str = "always"

    @property
    def decision_5xx(self) -> int:
        return sum(n for status, n in self.decisions.items() if status >= 500 or status == 0)

    @property
    def event_5xx(self) -> int:
        """5xx answers to event calls other than the contract's 503 (retry with the same ids), and failed calls."""
        return sum(n for status, n in self.event_calls.items() if (status >= 500 and status != 503) or status == 0)

    @property
    def ok(self) -> bool:
        return (
            self.decision_5xx == 0
            and self.event_5xx == 0
            and set(self.decisions) == {200}
            and set(self.event_calls) <= {202, 503}
            and not (self.lost or self.duplicated or self.unexpected or self.buyers_off or self.log_errors)
            and self.unacknowledged == 0
            and self.orders_counted == self.orders_expected
            and self.spend_counted == self.spend_expected
        )

    def lines(self) -> list[str]:
        out = [f"fault suite: edge serve --workers 2, redis appendfsync {self.appendfsync}, {self.seconds:.1f} s"]
        for f in self.faults:
            out.append(f"  {f.name:<28} felt after {f.felt_s:5.2f} s, recovered {f.recovered_s:5.2f} s after its end")
        calls = sum(self.decisions.values())
        out += [
            f"  decisions: {calls}, by status {dict(sorted(self.decisions.items()))}, degraded {self.degraded}"
            f" (before the first fault: {self.warm_degraded} of {self.warm_decisions})",
            f"  event calls: {sum(self.event_calls.values())} attempts,"
            f" by status {dict(sorted(self.event_calls.items()))},"
            f" {self.retried_calls} calls retried after a 503, {self.unacknowledged} never acknowledged",
            f"  5xx: {self.decision_5xx} on decisions, {self.event_5xx} on events besides 503 store_unavailable",
            f"  acknowledged events: {self.acknowledged}, lost {len(self.lost)}, stored twice {len(self.duplicated)},"
            f" stored but never sent {len(self.unexpected)}",
            f"  purchases: orders {self.orders_counted}/{self.orders_expected} acknowledged,"
            f" spend {self.spend_counted:.2f}/{self.spend_expected:.2f}, buyers off: {len(self.buyers_off)}",
            f"  errors in the server's log: {len(self.log_errors)}",
            f"  result: {'PASS' if self.ok else 'FAIL'}",
        ]
        return out


def admin_get(base: str, path: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """GET an admin answer; a 503 (the store busy or reconnecting) is retried, as the contract says."""
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {ADMIN}"})
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body: dict[str, Any] = orjson.loads(response.read())
                return body
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


async def decider(port: int, n: int, buyers: list[str], load: Load) -> None:
    """Decisions without pause: anonymous sessions with events, and known customers."""
    connection, i = Connection(port), 0
    while not load.stop:
        i += 1
        body: dict[str, Any] = {"session_id": f"s-fault-{n}-{i % 7}"}
        if i % 2:
            body["user_id"] = buyers[(n + i) % len(buyers)]
        status, answer = await connection.post("/v1/decide", body)
        load.decisions[status] += 1
        if status == 200 and answer.get("degraded"):
            load.degraded += 1
            load.last_degraded_at = time.monotonic()
        elif status == 200:
            load.last_ok_decision_at = time.monotonic()
    connection.close()


async def sender(
    port: int, n: int, run: str, buyers: list[str], products: list[str], load: Load, drain_until: list[float]
) -> None:
    """Event calls without pause, each a view and a purchase with ids, resent with the same ids on a 503."""
    connection, i = Connection(port), 0
    while not load.stop:
        i += 1
        buyer = buyers[(n * 7 + i) % len(buyers)]
        quantity = 1 + i % 3
        events = [
            {"id": f"{run}-{n}-{i}-v", "type": "view", "session_id": f"s-fault-{n}-{i % 7}",
             "product_id": products[i % 2]},
            {"id": f"{run}-{n}-{i}-p", "type": "purchase", "user_id": buyer, "product_id": products[2 + i % 2],
             "quantity": quantity, "price": PRICE},
        ]  # fmt: skip
        ids = [e["id"] for e in events]
        load.sent.update(ids)
        status, attempts = 0, 0
        while status != 202:
            if load.stop and time.monotonic() > drain_until[0]:
                load.unacknowledged += 1
                break
            if attempts:
                await asyncio.sleep(RETRY_BACKOFF_S)
            status, _ = await connection.post("/v1/events", {"events": events})
            attempts += 1
            load.event_calls[status] += 1
            if status == 503:
                load.last_503_at = time.monotonic()
            elif status != 202 and status != 0:
                break  # a refusal other than 503 is not to be retried (and fails the suite)
        if status == 202:
            load.acknowledged.update(ids)
            load.orders[buyer] += 1
            load.spend[buyer] += quantity * PRICE
            load.last_ack_at = time.monotonic()
            load.retried_calls += attempts > 1
    connection.close()


def stored_ids(server: RedisServer) -> Counter[str]:
    reader = redis.Redis(port=server.port)
    try:
        return Counter(
            fields[b"id"].decode()
            for key in reader.scan_iter(match=f"{PREFIX}:*:events", count=1000)
            for _, fields in reader.xrange(key)
            if b"id" in fields
        )
    finally:
        reader.close()


def run_suite(
    artifacts: Path,
    workdir: Path,
    decisions: int = 16,
    senders: int = 8,
    log: Callable[[str], None] = print,
    appendfsync: str = "always",
) -> Report:
    """Run the whole suite (servers started and stopped here) and return its report."""
    from edge.cli import load as load_profiles
    from edge.settings import Settings

    started = time.monotonic()
    server = RedisServer(workdir / "redis", appendfsync)
    server.start()
    edge: subprocess.Popen[bytes] | None = None
    stderr_path = workdir / "edge.stderr"
    try:
        if load_profiles(Settings(artifacts=artifacts, redis_prefix=PREFIX), server.url) != 0:
            raise RuntimeError("edge load failed")
        port = free_port()
        env = {**os.environ, "EDGE_ARTIFACTS": str(artifacts), "EDGE_BUILD_IF_MISSING": "false",
               "EDGE_REDIS_URL": server.url, "EDGE_REDIS_PREFIX": PREFIX, "EDGE_ADMIN_TOKEN": ADMIN,
               "EDGE_LOG_LEVEL": "warning"}  # fmt: skip
        for name in ("EDGE_API_KEYS", "EDGE_DEADLINE_MS", "EDGE_REDIS_TIMEOUT_MS", "EDGE_EVENTS_TIMEOUT_MS"):
            env.pop(name, None)  # the defaults, no keys
        with stderr_path.open("wb") as stderr:
            edge = subprocess.Popen(
                [sys.executable, "-m", "edge", "serve", "--port", str(port), "--workers", "2"],
                env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        poll(lambda: edge is not None and (edge.poll() is not None or ready(base)), 30, "edge serve ready", 0.2)
        if edge.poll() is not None:
            raise RuntimeError(f"edge serve exited with {edge.returncode}: {stderr_path.read_text()[-2000:]}")
        from edge.model import artifacts as artifact_files

        build = artifact_files.load(artifacts)
        candidates = [str(p["user_id"]) for p in build.profiles[:40]]
        products = [item.id for item in build.items[:4]]
        before = {u: admin_get(base, f"/v1/profiles/{u}") for u in candidates}
        buyers = [u for u, p in before.items() if (p.get("consent") or {}).get("personalization") is not False][:12]
        faults = asyncio.run(drive(server, port, buyers, products, decisions, senders, log))
        load, results = faults
        after = {u: admin_get(base, f"/v1/profiles/{u}") for u in buyers}
        stored = stored_ids(server)
    finally:
        if edge is not None:
            edge.terminate()
            edge.wait(timeout=20)
        server.stop()
    orders_counted = sum(int(after[u]["orders"]) - int(before[u]["orders"]) for u in buyers)
    spend_counted = sum(float(after[u]["spend"]) - float(before[u]["spend"]) for u in buyers)
    buyers_off = [
        u for u in buyers
        if int(after[u]["orders"]) - int(before[u]["orders"]) != load.orders[u]
        or abs(float(after[u]["spend"]) - float(before[u]["spend"]) - load.spend[u]) > 1e-6
    ]  # fmt: skip
    log_errors = [
        line for line in stderr_path.read_text().splitlines() if "Traceback" in line or line.startswith("ERROR")
    ]
    return Report(
        faults=results,
        decisions=dict(load.decisions),
        degraded=load.degraded,
        warm_decisions=load.warm_decisions,
        warm_degraded=load.warm_degraded,
        event_calls=dict(load.event_calls),
        retried_calls=load.retried_calls,
        acknowledged=len(load.acknowledged),
        lost=sorted(load.acknowledged - set(stored)),
        duplicated=sorted(i for i, n in stored.items() if n > 1),
        unexpected=sorted(set(stored) - load.sent),
        unacknowledged=load.unacknowledged,
        orders_expected=sum(load.orders.values()),
        orders_counted=orders_counted,
        spend_expected=sum(load.spend.values()),
        spend_counted=round(spend_counted, 6),
        buyers_off=buyers_off,
        seconds=time.monotonic() - started,
        log_errors=log_errors,
        appendfsync=appendfsync,
    )


async def drive(
    server: RedisServer,
    port: int,
    buyers: list[str],
    products: list[str],
    decisions: int,
    senders: int,
    log: Callable[[str], None],
) -> tuple[Load, list[FaultResult]]:
    """The load, with the three faults one after another; returns once every call is settled."""
    load = Load()
    run = f"fs{os.getpid()}"
    drain_until = [float("inf")]
    tasks = [asyncio.create_task(decider(port, n, buyers, load)) for n in range(decisions)]
    tasks += [asyncio.create_task(sender(port, n, run, buyers, products, load, drain_until)) for n in range(senders)]

    async def until(check: Callable[[], bool], timeout: float, what: str) -> float:
        return await asyncio.to_thread(poll, check, timeout, what)

    results: list[FaultResult] = []

    async def fault(
        name: str, inject: Callable[[], None], heal: Callable[[], None], felt: Callable[[float], bool]
    ) -> None:
        at = time.monotonic()
        await asyncio.to_thread(inject)
        felt_s = await until(lambda: felt(at), FAULT_DEADLINE_S, f"{name}: the load feeling it")
        await asyncio.to_thread(heal)
        healed = time.monotonic()
        recovered_s = await until(
            lambda: load.last_ok_decision_at > healed and load.last_ack_at > healed, RECOVERY_DEADLINE_S,
            f"{name}: recovery",
        )  # fmt: skip
        results.append(FaultResult(name, felt_s, recovered_s))
        log(f"{name}: felt after {felt_s:.2f} s, recovered {recovered_s:.2f} s after its end")

    def both_felt(at: float) -> bool:
        return load.last_503_at > at and load.last_degraded_at > at

    try:
        await until(lambda: len(load.acknowledged) >= 20 * senders and load.decisions[200] >= 100, 20, "warm-up")
        load.warm_decisions, load.warm_degraded = sum(load.decisions.values()), load.degraded
        await fault("SIGKILL, restart from AOF", server.kill, server.start, both_felt)
        await fault(
            "SIGSTOP ... SIGCONT",
            lambda: server.signal(signal.SIGSTOP), lambda: server.signal(signal.SIGCONT), both_felt,
        )  # fmt: skip
        sleeper: list[threading.Thread] = []

        def sleep_redis() -> None:
            admin = redis.Redis(port=server.port, socket_timeout=10)
            try:
                admin.execute_command("DEBUG", "SLEEP", "2")
            finally:
                admin.close()

        def start_sleep() -> None:
            sleeper.append(threading.Thread(target=sleep_redis))
            sleeper[0].start()

        await fault("DEBUG SLEEP 2", start_sleep, lambda: sleeper[0].join(), lambda at: not sleeper[0].is_alive())
    finally:
        drain_until[0] = time.monotonic() + DRAIN_DEADLINE_S
        load.stop = True
        await asyncio.gather(*tasks)
    return load, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--artifacts", type=Path, help="a build to serve (default: the synthetic demo store)")
    parser.add_argument("--decisions", type=int, default=16, help="connections posting decisions")
    parser.add_argument("--events", type=int, default=8, help="connections posting events")
    parser.add_argument("--appendfsync", choices=["always", "everysec"], default="always", help="Redis AOF fsync")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edge-faults-") as tmp:
        workdir = Path(tmp)
        artifacts = args.artifacts
        if artifacts is None:
            from edge.cli import build_synthetic

            artifacts = workdir / "artifacts"
            build_synthetic(artifacts, seed=7, items=900, customers=600, anchor=date(2026, 11, 1))
        report = run_suite(artifacts, workdir, args.decisions, args.events, appendfsync=args.appendfsync)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
