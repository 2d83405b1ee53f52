"""Side-by-side HTTP benchmark: Edge `POST /v1/decide` against a bare Starlette JSON endpoint.

    ./scripts/bench                       # embedded store, 5 rounds of 10 s, 8 connections
    ./scripts/bench --redis               # Edge on the Redis store (redis://127.0.0.1:6379/0)
    ./scripts/bench --rounds 3 --duration 5 --connections 16 --profile 10

Both servers run as real uvicorn processes the way `edge serve` runs Edge (uvloop, httptools, one
worker, no access log). With two or more CPUs and `taskset`, the servers are pinned to CPU 0 and the
load generator to CPU 1, so client and server never fight over a core. The load generator is `wrk`
(a Lua script cycles through pre-formatted realistic decide bodies: cold start, viewed items and
cart, known customers) or, without wrk, a small asyncio keep-alive client (which may itself be the
bottleneck against the bare app: it is reported as such). After a warm-up, each round measures bare
and Edge back to back (the order alternates per round); the report gives medians over the rounds
of req/s, p50 and p99, and the Edge/bare throughput ratio. The markdown table goes to stdout and
everything, per-round figures included, to `bench-results/http.json`.

The machine may be shared, so each run also reads /proc: the CPU the server used (100% = the worker
was saturated), the CPU every other process took meanwhile (noise; with `--redis` it includes
redis-server) and the server's CPU time per request, whose Edge/bare ratio is the least noisy one.

`--profile N` also samples the Edge worker with py-spy for N seconds under the same load and
prints the functions with the most samples (self, and Edge's own functions inclusive).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PATH = "/v1/decide"
SYNTHETIC_ITEMS = [f"SYN{n}" for n in range(10_000, 13_000)]
SYNTHETIC_USERS = [str(n) for n in range(20_000, 23_000)]
COUNTRIES = ["GB", "NL", "DE", "FR", "BE", "US", "ES"]
SEARCHES = ["lantern", "candle", "christmas", "mug", "bag", "garden", "party", "cushion"]
REDIS_PREFIX = "edge-bench"


# -- payloads -----------------------------------------------------------------------------------


def catalog(artifacts: Path) -> tuple[list[str], list[str]]:
    """Item ids and customer ids of the live build under `artifacts`, else the synthetic ranges."""
    try:
        manifest_here = (artifacts / "index_infos.json").is_file()
        path = artifacts if manifest_here else artifacts / "versions" / (artifacts / "CURRENT").read_text().strip()
        items = [str(record["id"]) for record in json.loads((path / "items.json").read_text())]
        with (path / "profiles.jsonl").open() as lines:
            users = [str(json.loads(line)["user_id"]) for line in lines if line.strip()]
    except (OSError, ValueError, KeyError, TypeError):
        return SYNTHETIC_ITEMS, SYNTHETIC_USERS
    return items or SYNTHETIC_ITEMS, users or SYNTHETIC_USERS


def decide_bodies(items: list[str], users: list[str], n: int = 300, seed: int = 7) -> list[bytes]:
    """`n` decide bodies in equal thirds: cold start, anonymous with viewed items/cart, known customer."""
    rng = random.Random(seed)
    bodies = []
    for i in range(n):
        country = rng.choice(COUNTRIES)
        body: dict[str, Any] = {
            "session_id": f"s-{rng.getrandbits(40):010x}",
            "page": "home",
            "location": {"country": country},
            "context": {"device": rng.choice(["mobile", "desktop", "tablet"])},
        }
        kind = i % 3
        if kind == 1:
            session: dict[str, Any] = {"viewed": rng.sample(items, rng.randint(1, 5))}
            if rng.random() < 0.4:
                session["cart"] = rng.sample(items, rng.randint(1, 2))
            if rng.random() < 0.3:
                session["searches"] = [rng.choice(SEARCHES)]
            body["session"] = session
        elif kind == 2:
            body["user_id"] = rng.choice(users)
            if rng.random() < 0.5:
                body["session"] = {"viewed": rng.sample(items, rng.randint(1, 3))}
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


# -- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(port: int, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{PATH}", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serve(name: str, command: list[str], env: dict[str, str], port: int, probe: bytes, log_dir: Path, cpu: str | None):
    """Run `command` (a one-worker uvicorn) until the block ends; ready once `probe` gets a 200."""
    log = log_dir / f"{name}.log"
    pinned = ["taskset", "-c", cpu, *command] if cpu is not None else command
    with log.open("wb") as out:
        process = subprocess.Popen(pinned, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, port, process, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(
                    f"bench: {name} exited with {process.returncode}; see {log}:\n{log.read_text()[-2000:]}"
                )
            try:
                status, answer = post(port, probe, timeout=2)
                if status == 200:
                    break
                raise SystemExit(f"bench: {name} answered {status} to the probe: {answer[:300]!r}")
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: {name} not ready after 120 s; see {log}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check_bodies(server: Server, bodies: list[bytes], edge: bool) -> None:
    """Every body must get a 200 (and, from Edge, a decision with a segment and products)."""
    for body in bodies:
        status, answer = post(server.port, body)
        if status != 200:
            raise SystemExit(f"bench: {server.name} answered {status} to {body!r}: {answer[:300]!r}")
        if edge:
            decision = json.loads(answer)
            if not decision.get("segment") or not decision.get("products"):
                raise SystemExit(f"bench: {server.name}: not a decision: {answer[:300]!r}")


def prepare_redis(url: str, env: dict[str, str], log_dir: Path) -> None:
    """Bulk-load the profiles under the bench key prefix (`edge load`)."""
    with (log_dir / "edge-load.log").open("wb") as out:
        code = subprocess.call(
            [str(VENV_BIN / "edge"), "load", "--redis", url], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    if code != 0:
        raise SystemExit(f"bench: `edge load --redis {url}` failed; see {log_dir / 'edge-load.log'}")


def clean_redis(url: str) -> int:
    """Delete the keys written under the bench prefix (profiles, offer counters)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{REDIS_PREFIX}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


# -- load generators ----------------------------------------------------------------------------


@dataclass
class Sample:
    """One measured run against one server."""

    target: str
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors, timeouts and non-2xx answers
    non_2xx: int
    server_cpu_pct: float | None = None  # CPU the server used, % of one core (100 = saturated)
    others_cpu_pct: float | None = None  # CPU used by processes outside this benchmark, % of one core
    cpu_us_per_request: float | None = None  # server CPU per answered request: robust to a noisy machine


class CpuMeter:
    """CPU seconds, from /proc, of the whole machine, one server and this process with its waited children.

    `others` = machine busy time - server - benchmark (wrk or the asyncio client): how much CPU
    other tenants took during a run, the noise that explains an outlier.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def read(self) -> tuple[float, float, float] | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
            values = [int(v) for v in fields]
            busy = sum(values) - values[3] - values[4]  # minus idle and iowait
            stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            server = int(stat[11]) + int(stat[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            return None
        me = os.times()
        ours = me.user + me.system + me.children_user + me.children_system
        return busy / self.tick, server / self.tick, ours

    @staticmethod
    def shares(before: tuple[float, float, float] | None, after: tuple[float, float, float] | None, seconds: float):
        if before is None or after is None or seconds <= 0:
            return None, None
        busy, server, ours = (a - b for a, b in zip(after, before, strict=True))
        return round(100 * server / seconds, 1), round(max(0.0, 100 * (busy - server - ours) / seconds), 1)


WRK_SCRIPT = """
local bodies = {%(bodies)s}
local requests = {}
local n = 0
local i = 0

function init(args)
  for k, body in ipairs(bodies) do
    requests[k] = wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
  end
  n = #requests
  i = math.random(n)
end

function request()
  i = i %% n + 1
  return requests[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,' ..
    '"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def write_wrk_script(bodies: list[bytes], directory: Path) -> Path:
    quoted = ",\n".join(f"[==[{body.decode()}]==]" for body in bodies)
    script = directory / "decide.lua"
    script.write_text(WRK_SCRIPT % {"bodies": quoted, "path": PATH})
    return script


def run_wrk(port: int, script: Path, seconds: float, connections: int, threads: int, cpu: str | None) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return dict(json.loads(line[len("WRKJSON ") :]))
    raise SystemExit(f"bench: wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def wrk_sample(target: str, round_: int, raw: dict[str, Any], cpu: tuple[float | None, float | None]) -> Sample:
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return Sample(
        target=target,
        round=round_,
        requests=raw["requests"],
        seconds=round(seconds, 3),
        rps=round(raw["requests"] / seconds, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=errors,
        non_2xx=raw["status"],
        server_cpu_pct=cpu[0],
        others_cpu_pct=cpu[1],
        cpu_us_per_request=None if cpu[0] is None else round(cpu[0] / 100 * seconds / max(1, raw["requests"]) * 1e6, 1),
    )


async def _keepalive_client(port: int, bodies: list[bytes], seconds: float, connections: int) -> dict[str, Any]:
    """Fallback load generator: `connections` keep-alive HTTP/1.1 connections, one request in flight each."""
    requests = [
        (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    latencies: list[float] = []
    counts = Counter[str]()
    stop = time.perf_counter() + seconds

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        try:
            while time.perf_counter() < stop:
                request = requests[i % len(requests)]
                i += 1
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                counts["ok" if 200 <= status < 300 else "status"] += 1
        except (OSError, asyncio.IncompleteReadError):
            counts["read"] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(k * 37) for k in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> int:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e6) if latencies else 0

    return {
        "requests": len(latencies),
        "duration_us": round(elapsed * 1e6),
        "connect": 0,
        "read": counts["read"],
        "write": 0,
        "status": counts["status"],
        "timeout": 0,
        "p50_us": percentile(50),
        "p90_us": percentile(90),
        "p99_us": percentile(99),
        "max_us": round(latencies[-1] * 1e6) if latencies else 0,
    }


def run_python_client(port: int, bodies: list[bytes], seconds: float, connections: int) -> dict[str, Any]:
    try:
        import uvloop

        return uvloop.run(_keepalive_client(port, bodies, seconds, connections))
    except ImportError:
        return asyncio.run(_keepalive_client(port, bodies, seconds, connections))


# -- profiling ----------------------------------------------------------------------------------


def _function(frame: str) -> str:
    """`name (path/file.py:123)` -> `name (path/file.py)`: samples add up per function, not per line."""
    name, _, where = frame.rpartition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if name else frame


def profile_top(raw: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Shares of samples per function from py-spy's `raw` (collapsed stacks) output.

    `self`: where the CPU was (any module). `edge_inclusive`: Edge's own functions with what they
    call. Coroutines resumed by the event loop start a fresh stack, so inclusive shares of the
    framework frames above them are understated; Edge's handler-level frames are not.
    """
    own = Counter[str]()
    inclusive = Counter[str]()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if ("(edge/" in frame or "(models/" in frame) and "(edge/cli.py)" not in frame:
                inclusive[frame] += count
    if not total:
        return {"self": [], "edge_inclusive": []}
    return {
        "self": [(frame, round(100 * n / total, 1)) for frame, n in own.most_common(top)],
        "edge_inclusive": [(frame, round(100 * n / total, 1)) for frame, n in inclusive.most_common(top)],
    }


def profile_edge(
    server: Server, run_load: Any, seconds: float, out_dir: Path
) -> dict[str, list[tuple[str, float]]] | None:
    """Sample the Edge worker with py-spy while `run_load(seconds)` drives it."""
    py_spy = shutil.which("py-spy") or (str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else None)
    if py_spy is None:
        print("bench: --profile needs py-spy (.venv/bin/pip install py-spy); skipped", file=sys.stderr)
        return None
    raw = out_dir / "edge-profile.txt"
    record = [py_spy, "record", "--nonblocking", "-r", "200", "-d", str(round(seconds)), "-p", str(server.process.pid)]
    flame = subprocess.Popen([*record, "-f", "raw", "-o", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    run_load(seconds)
    _, err = flame.communicate(timeout=seconds + 30)
    if flame.returncode != 0 or not raw.exists():
        print(f"bench: py-spy failed ({flame.returncode}): {err.decode()[-500:]}", file=sys.stderr)
        return None
    print(f"py-spy collapsed stacks: {raw} (flamegraph: inferno-flamegraph < {raw.name} > edge-profile.svg)")
    return profile_top(raw)


# -- report -------------------------------------------------------------------------------------


def summarize(samples: list[Sample], target: str) -> dict[str, Any]:
    mine = [s for s in samples if s.target == target]
    return {
        "rps": round(statistics.median(s.rps for s in mine), 1),
        "p50_ms": round(statistics.median(s.p50_ms for s in mine), 2),
        "p90_ms": round(statistics.median(s.p90_ms for s in mine), 2),
        "p99_ms": round(statistics.median(s.p99_ms for s in mine), 2),
        "max_p99_ms": round(max(s.p99_ms for s in mine), 2),
        "errors": sum(s.errors for s in mine),
        "server_cpu_pct": _median_or_none([s.server_cpu_pct for s in mine]),
        "others_cpu_pct": _median_or_none([s.others_cpu_pct for s in mine]),
        "cpu_us_per_request": _median_or_none([s.cpu_us_per_request for s in mine]),
    }


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def _ratio_text(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def markdown(
    summary: dict[str, dict[str, Any]],
    ratio: float,
    cpu_ratio: float | None,
    rounds_ratio: list[float],
    meta: dict[str, Any],
) -> str:
    lines = [
        f"{meta['rounds']} rounds x {meta['duration_s']} s, {meta['connections']} connections, "
        f"client {meta['client']}, pinning {meta['pinning']}, store {meta['store']}",
        "",
        "| target | req/s | p50 ms | p90 ms | p99 ms | worst p99 ms | errors | server cpu | others cpu | CPU us/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target, s in summary.items():
        lines.append(
            f"| {target} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f} "
            f"| {s['max_p99_ms']:.2f} | {s['errors']:.0f} | {_pct(s['server_cpu_pct'])} | {_pct(s['others_cpu_pct'])} "
            f"| {'n/a' if s['cpu_us_per_request'] is None else round(s['cpu_us_per_request'])} |"
        )
    lines += [
        "",
        f"edge/bare throughput: **{ratio:.2f}x** (per round: {', '.join(f'{r:.2f}' for r in rounds_ratio)})",
        f"edge/bare by server CPU per request: **{_ratio_text(cpu_ratio)}** (the same ratio, robust to noise)",
        "",
        "Medians over the rounds; worst p99 is the highest round's p99. server cpu: share of one core the",
        "server used (100% = saturated); others cpu: CPU other processes took meanwhile (noise);",
        "CPU us/req: server CPU time per request."
        + (" With Redis, others cpu includes redis-server." if meta["store"] != "embedded" else ""),
    ]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per server (default 5)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per server (default 3)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto", help="load generator")
    parser.add_argument(
        "--redis", nargs="?", const="redis://127.0.0.1:6379/0", metavar="URL", help="Edge on the Redis store"
    )
    parser.add_argument("--artifacts", type=Path, help="Edge artifacts (default: $EDGE_ARTIFACTS or ./artifacts)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "http.json", help="JSON results file")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and client to separate CPUs")
    parser.add_argument("--profile", type=float, default=0, metavar="SECONDS", help="py-spy the Edge worker this long")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    if client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("bench: wrk not found (apt-get install -y wrk), or use --client python")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = not args.no_pin and len(cpus) >= 2 and shutil.which("taskset") is not None
    server_cpu, client_cpu = (str(cpus[0]), str(cpus[1])) if pin else (None, None)
    if pin and client == "python":
        os.sched_setaffinity(0, {cpus[1]})

    artifacts = (args.artifacts or Path(os.environ.get("EDGE_ARTIFACTS") or ROOT / "artifacts")).resolve()
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env |= {"EDGE_ARTIFACTS": str(artifacts), "EDGE_LOG_LEVEL": "warning"}
    if not (artifacts / "CURRENT").exists() and not (artifacts / "index_infos.json").exists():
        print(f"building the synthetic demo store in {artifacts} ...", flush=True)
        subprocess.run(
            [str(VENV_BIN / "edge"), "build", "--out", str(artifacts)], env=env, check=True, stdout=subprocess.DEVNULL
        )
    if args.redis:
        env |= {"EDGE_REDIS_URL": args.redis, "EDGE_REDIS_PREFIX": REDIS_PREFIX}

    items, users = catalog(artifacts)
    bodies = decide_bodies(items, users)
    bare_port, edge_port = free_port(), free_port()
    uvicorn_flags = [
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    bare_cmd = [
        str(VENV_BIN / "uvicorn"),
        "--app-dir",
        str(ROOT / "loadtest"),
        "bare_app:app",
        "--port",
        str(bare_port),
        *uvicorn_flags,
    ]
    edge_cmd = [str(VENV_BIN / "edge"), "serve", "--port", str(edge_port), "--workers", "1"]

    load_before = _loadavg()
    if load_before and load_before[0] > 0.5:
        print(f"note: the machine is busy before the start (load average {load_before[0]:.2f}); figures may be noisy")
    samples: list[Sample] = []
    profile: dict[str, list[tuple[str, float]]] | None = None
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-bench-")))
        if args.redis:
            prepare_redis(args.redis, env, out_dir)
            stack.callback(clean_redis, args.redis)
        bare = stack.enter_context(serve("bare", bare_cmd, env, bare_port, bodies[0], out_dir, server_cpu))
        edge = stack.enter_context(serve("edge", edge_cmd, env, edge_port, bodies[0], out_dir, server_cpu))
        check_bodies(bare, bodies[:5], edge=False)
        check_bodies(edge, bodies, edge=True)
        script = write_wrk_script(bodies, tmp)

        def measure(server: Server, seconds: float) -> dict[str, Any]:
            if client == "wrk":
                return run_wrk(server.port, script, seconds, args.connections, args.threads, client_cpu)
            return run_python_client(server.port, bodies, seconds, args.connections)

        print(f"warming up ({args.warmup:g} s each) ...", flush=True)
        for server in (bare, edge):
            measure(server, args.warmup)
        for round_ in range(1, args.rounds + 1):
            order = (bare, edge) if round_ % 2 else (edge, bare)
            for server in order:
                meter = CpuMeter(server.process.pid)
                before, started = meter.read(), time.monotonic()
                raw = measure(server, args.duration)
                cpu = CpuMeter.shares(before, meter.read(), time.monotonic() - started)
                sample = wrk_sample(server.name, round_, raw, cpu)
                samples.append(sample)
                print(
                    f"round {round_} {server.name:4}: {sample.rps:9,.0f} req/s  p50 {sample.p50_ms:6.2f} ms  "
                    f"p99 {sample.p99_ms:6.2f} ms  errors {sample.errors}  server cpu {sample.server_cpu_pct}%  "
                    f"others cpu {sample.others_cpu_pct}%",
                    flush=True,
                )
        if args.profile > 0:
            print(f"profiling the Edge worker with py-spy for {args.profile:g} s ...", flush=True)
            profile = profile_edge(edge, lambda seconds: measure(edge, seconds), args.profile, out_dir)

    summary = {target: summarize(samples, target) for target in ("bare", "edge")}
    ratio = summary["edge"]["rps"] / summary["bare"]["rps"]
    bare_us, edge_us = summary["bare"]["cpu_us_per_request"], summary["edge"]["cpu_us_per_request"]
    cpu_ratio = bare_us / edge_us if bare_us and edge_us else None
    by_round = {(s.target, s.round): s.rps for s in samples}
    rounds_ratio = [by_round[("edge", r)] / by_round[("bare", r)] for r in range(1, args.rounds + 1)]
    meta = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "client": client if client == "python" else f"wrk -t{args.threads}",
        "pinning": f"server cpu {server_cpu}, client cpu {client_cpu}" if pin else "off",
        "store": f"redis ({args.redis})" if args.redis else "embedded",
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "payloads": {
            "count": len(bodies),
            "mix": "1/3 cold start, 1/3 viewed items (+cart, searches), 1/3 known customer",
        },
    }
    table = markdown(summary, ratio, cpu_ratio, rounds_ratio, meta)
    print()
    print(table)
    if client == "python":
        print("\nnote: the asyncio client may saturate its CPU before the bare app does; prefer wrk.")
    if profile:
        print("\nEdge worker, py-spy, share of samples (self):")
        for frame, share in profile["self"]:
            print(f"  {share:5.1f}%  {frame}")
        print("\nEdge worker, py-spy, share of samples (Edge functions, inclusive):")
        for frame, share in profile["edge_inclusive"]:
            print(f"  {share:5.1f}%  {frame}")
    result = {
        "meta": meta,
        "summary": summary,
        "ratio_edge_over_bare": round(ratio, 3),
        "ratio_by_round": [round(r, 3) for r in rounds_ratio],
        "ratio_by_cpu_per_request": None if cpu_ratio is None else round(cpu_ratio, 3),
        "samples": [asdict(s) for s in samples],
        "profile": profile,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 1 if any(s.errors for s in samples) else 0


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def git_commit() -> str | None:
    try:

        def git(*args: str) -> str:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    sys.exit(main())
