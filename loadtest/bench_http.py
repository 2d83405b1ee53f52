"""The benchmark of record: Edge `POST /v1/decide` side by side with a bare Starlette endpoint.

    ./scripts/bench                       # real-data build, Redis store, 32 connections, both mixes
    ./scripts/bench --mix known --rounds 5 --profile 10
    ./scripts/bench --embedded --synthetic --connections 8

Defaults are where shops run Edge (issue 10): the real-data build (`--data`, else EDGE_DATA, else
../shared/data/online-retail, built once into bench-results/artifacts-real; the synthetic demo store
only when no data is there, and the report says which), one `edge serve` worker on the Redis store
(profiles bulk-loaded under the key prefix `edge-bench`, deleted afterwards), 32 keep-alive
connections, and the two traffic mixes of loadtest/mixes.py: `storefront` and `known`.

Both servers are real uvicorn processes served the same way (uvloop, httptools, one worker, no
access log); the bare one answers a body of the mean size of Edge's answers for the mix. With two
or more CPUs and `taskset`, the servers are pinned to CPU 0 and the load generator to CPU 1. The
load generator is `wrk` (a Lua script cycles through the mix's pre-formatted bodies) or, without
wrk, a small asyncio keep-alive client. Per mix, after a warm-up, each round measures bare and Edge
back to back (the order alternates); the report gives medians of req/s, p50 and p99, the Edge/bare
ratio, the worker's CPU time per decision and its RSS, then an open-loop run at half of Edge's
closed-loop rate (loadtest/open_loop.py) with p50/p99/p99.9 from each request's due time.

On the Redis store a third server, the floor (loadtest/floor_app.py), is measured in the same rounds:
the request decoded and the decision's one Redis read with Edge's own code, then the bare body. Its
ratio to bare is the best any decision logic could reach on this store and stack; edge/floor is
what Edge's deciding itself costs. `--baselines bare,decode,floor` adds the floor without its read
(the body decoded and checked only), which splits the floor into its two parts.

The machine may be shared, so each run also reads /proc: the CPU the server used (100% = the worker
was saturated), the CPU every other process took meanwhile (noise; it includes redis-server) and
the load average before and after. Markdown goes to stdout, everything to bench-results/http.json.
`--profile N` also samples the Edge worker with py-spy for N seconds under the last mix's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mixes import MIXES, build_ids, encoded, mix_bodies
from open_loop import read_response

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PATH = "/v1/decide"
REDIS_PREFIX = "edge-bench"
# the servers measured beside Edge: name -> (uvicorn app, extra environment)
BASELINES: dict[str, tuple[str, dict[str, str]]] = {
    "bare": ("bare_app:app", {}),  # a bare Starlette endpoint answering a body of Edge's size
    "decode": ("floor_app:app", {"FLOOR_READ": "0"}),  # + the request decoded and checked as Edge does
    "floor": ("floor_app:app", {}),  # + the decision's one Redis read: the floor of any Redis-backed decision
}


# -- payloads -----------------------------------------------------------------------------------


def data_source(args: argparse.Namespace) -> tuple[Path, str, Path | None]:
    """The artifacts to serve, what they were built from, and the data directory to build from if missing.

    Default: the real-data build (`--data`, else EDGE_DATA, else ../shared/data/online-retail), built
    once into bench-results/artifacts-real; the synthetic demo store only when no data is there
    (or with `--synthetic`). `--artifacts` (or EDGE_ARTIFACTS) serves a build as it is.
    """
    given = args.artifacts or (Path(os.environ["EDGE_ARTIFACTS"]) if os.environ.get("EDGE_ARTIFACTS") else None)
    if given is not None:
        return given.resolve(), f"the build in {given}", None
    default = ROOT.parent / "shared" / "data" / "online-retail"
    data = args.data or (Path(os.environ["EDGE_DATA"]) if os.environ.get("EDGE_DATA") else default)
    if not args.synthetic and data.is_dir():
        return (ROOT / "bench-results" / "artifacts-real").resolve(), f"real data ({data.resolve()})", data.resolve()
    why = "--synthetic" if args.synthetic else f"no data at {data}"
    return (ROOT / "bench-results" / "artifacts-synthetic").resolve(), f"synthetic demo store ({why})", None


def ensure_build(artifacts: Path, data: Path | None, env: dict[str, str]) -> None:
    """Build the artifacts once (real data when `data` is given, else the synthetic demo store)."""
    if (artifacts / "CURRENT").exists() or (artifacts / "index_infos.json").exists():
        return
    command = [str(VENV_BIN / "edge"), "build", "--out", str(artifacts)]
    command += ["--data", str(data), "--no-evaluate"] if data is not None else ["--synthetic"]
    print(f"building {artifacts} ({' '.join(command[1:])}) ...", flush=True)
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


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


def check_bodies(server: Server, bodies: list[bytes], edge: bool) -> float:
    """Every body must get a 200 (and, from Edge, a decision with a segment and products); the mean answer size."""
    sizes = []
    for body in bodies:
        status, answer = post(server.port, body)
        if status != 200:
            raise SystemExit(f"bench: {server.name} answered {status} to {body!r}: {answer[:300]!r}")
        if edge:
            decision = json.loads(answer)
            if not decision.get("segment") or not decision.get("products"):
                raise SystemExit(f"bench: {server.name}: not a decision: {answer[:300]!r}")
        sizes.append(len(answer))
    return statistics.fmean(sizes)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's worker processes under `edge serve --workers N`)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def rss_mb(pid: int) -> tuple[float, float] | None:
    """Resident and peak resident memory in MB (VmRSS, VmHWM) of the largest process of the server:
    the worker (with `--workers N`, the largest worker; the supervisor is small)."""
    best: tuple[float, float] | None = None
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
            fields = dict(line.split(":", 1) for line in lines if ":" in line)
            found = int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
        except (OSError, KeyError, ValueError):
            continue
        best = found if best is None or found[0] > best[0] else best
    return best


def open_loop(
    port: int, bodies: list[bytes], rate: float, seconds: float, cpu: str | None, tmp: Path
) -> dict[str, Any]:
    """`loadtest/open_loop.py` at `rate` requests/s for `seconds`, pinned to the client's core."""
    lines = tmp / "open-loop-bodies.jsonl"
    lines.write_bytes(b"\n".join(bodies) + b"\n")
    command = [sys.executable, str(ROOT / "loadtest" / "open_loop.py"), "--port", str(port), "--rate", f"{rate:.0f}"]
    command += ["--seconds", f"{seconds:g}", "--bodies", str(lines)]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("OPENLOOP "):
            return dict(json.loads(line[len("OPENLOOP ") :]))
    raise SystemExit(f"bench: the open-loop client failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def prepare_redis(url: str, env: dict[str, str], log_dir: Path) -> None:
    """Bulk-load the profiles under `env`'s key prefix (`edge load`)."""
    with (log_dir / "edge-load.log").open("wb") as out:
        code = subprocess.call(
            [str(VENV_BIN / "edge"), "load", "--redis", url], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    if code != 0:
        raise SystemExit(f"bench: `edge load --redis {url}` failed; see {log_dir / 'edge-load.log'}")


def clean_redis(url: str, prefix: str = REDIS_PREFIX) -> int:
    """Delete the keys written under the bench prefix (profiles, offer counters)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
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
            server = 0
            for member in process_tree(self.pid):  # with --workers N: the supervisor and its workers
                stat = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
                server += int(stat[11]) + int(stat[12])  # utime, stime
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
                status = await read_response(reader)
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


def markdown(mixes: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"{meta['data']}; store {meta['store']}; {meta['rounds']} rounds x {meta['duration_s']} s per mix and server, "
        f"{meta['connections']} connections, client {meta['client']}, pinning {meta['pinning']}; "
        f"load average {meta['loadavg_before']} before, {meta['loadavg_after']} after",
        "",
        "| mix | target | req/s | p50 ms | p99 ms | worst p99 ms | errors | server cpu | others cpu | CPU µs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mix, found in mixes.items():
        for target, s in found["summary"].items():
            lines.append(
                f"| {mix} | {target} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} "
                f"| {s['max_p99_ms']:.2f} | {s['errors']:.0f} | {_pct(s['server_cpu_pct'])} "
                f"| {_pct(s['others_cpu_pct'])} "
                f"| {'n/a' if s['cpu_us_per_request'] is None else round(s['cpu_us_per_request'])} |"
            )
    lines += ["", "| mix | edge/bare req/s | per round | by CPU per request | floor/bare | edge/floor | body bytes "
              "| Edge RSS MB (peak) |"]  # fmt: skip
    lines += ["|---|---:|---|---:|---:|---:|---:|---:|"]
    for mix, found in mixes.items():
        rss = found["edge_rss_mb"]
        floor = found.get("floor_ratio")
        lines.append(
            f"| {mix} | **{found['ratio']:.2f}x** | {', '.join(f'{r:.2f}' for r in found['ratio_by_round'])} "
            f"| {_ratio_text(found['cpu_ratio'])} | {_ratio_text(floor)} "
            f"| {_ratio_text(found['ratio'] / floor if floor else None)} | {found['body_bytes']:,.0f} "
            f"| {'n/a' if rss is None else f'{rss[0]:.0f} ({rss[1]:.0f})'} |"
        )
    opened = [(mix, found["open_loop"]) for mix, found in mixes.items() if found.get("open_loop")]
    if opened:
        lines += ["", "| mix | open loop rate | answered/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |"]
        lines += ["|---|---:|---:|---:|---:|---:|---:|---:|"]
        for mix, o in opened:
            lines.append(
                f"| {mix} | {o['rate']:,.0f}/s | {o['achieved_rps']:,.0f} | {o['p50_ms']:.2f} | {o['p99_ms']:.2f} "
                f"| {o['p999_ms']:.2f} | {o['max_ms']:.2f} | {o['errors']} |"
            )
    lines += [
        "",
        "Medians over the rounds; worst p99 is the highest round's p99. server cpu: share of one core the",
        "server used (100% = saturated); others cpu: CPU other processes took meanwhile (noise);",
        "CPU us/decision: the server's CPU time per answered request. The bare endpoint answers a body",
        "of the mean size of Edge's answers for the mix. The open loop sends at half of Edge's closed-loop",
        "median and times each request from when it was due."
        + (
            " With Redis, others cpu includes redis-server. floor: loadtest/floor_app.py, the request decoded"
            " and the decision's one Redis read (Edge's own code), then the bare body: nothing decided."
            if meta["store"] != "embedded"
            else ""
        ),
    ]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--mix", choices=["all", *MIXES], default="all", help="traffic mix (default: both)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per mix and server (default 3)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per server (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="Edge worker processes (default 1; >1 needs Redis)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto", help="load generator")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/0", metavar="URL", help="the Redis Edge reads (default local)"
    )
    parser.add_argument("--embedded", action="store_true", help="Edge on its embedded store instead of Redis")
    parser.add_argument(
        "--data", type=Path, help="data to build from (default: EDGE_DATA or ../shared/data/online-retail)"
    )
    parser.add_argument("--synthetic", action="store_true", help="the synthetic demo store even when data is there")
    parser.add_argument(
        "--artifacts", type=Path, help="serve this build as it is (default: EDGE_ARTIFACTS, else built)"
    )
    parser.add_argument(
        "--open-loop", type=float, default=10, metavar="SECONDS", help="open-loop run per mix (0: none)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "http.json", help="JSON results file")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and client to separate CPUs")
    parser.add_argument("--profile", type=float, default=0, metavar="SECONDS", help="py-spy the Edge worker this long")
    parser.add_argument(
        "--baselines",
        type=lambda text: [name for name in text.split(",") if name],
        default=["bare", "floor"],
        metavar="NAMES",
        help="servers measured beside Edge, of bare,decode,floor (default bare,floor; decode and floor need Redis)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    unknown = sorted(set(args.baselines) - set(BASELINES))
    if unknown or "bare" not in args.baselines:
        raise SystemExit(f"bench: --baselines takes bare (always) and any of {', '.join(BASELINES)}; not {unknown}")
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    if client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("bench: wrk not found (apt-get install -y wrk), or use --client python")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = not args.no_pin and len(cpus) >= 2 and shutil.which("taskset") is not None
    server_cpu, client_cpu = (str(cpus[0]), str(cpus[1])) if pin else (None, None)
    if args.workers > 1 and pin:
        server_cpu = ",".join(str(c) for c in cpus)  # the workers share the machine with the client
    if pin and client == "python":
        os.sched_setaffinity(0, {cpus[1]})
    redis_url = None if args.embedded else args.redis

    artifacts, data_text, data_dir = data_source(args)
    print(f"bench: {data_text}; artifacts {artifacts}; store {'embedded' if redis_url is None else redis_url}")
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env |= {"EDGE_ARTIFACTS": str(artifacts), "EDGE_LOG_LEVEL": "warning"}
    ensure_build(artifacts, data_dir, env)
    if redis_url:
        env |= {"EDGE_REDIS_URL": redis_url, "EDGE_REDIS_PREFIX": REDIS_PREFIX}

    items, users, ids_from = build_ids(artifacts)
    mixes = list(MIXES) if args.mix == "all" else [args.mix]
    bodies_of = {mix: encoded(mix_bodies(mix, items, users, 1000)) for mix in mixes}
    uvicorn_flags = ["--loop", "uvloop", "--http", "httptools", "--workers", "1", "--no-access-log"]
    uvicorn_flags += ["--log-level", "warning"]
    edge_port = free_port()
    edge_cmd = [str(VENV_BIN / "edge"), "serve", "--port", str(edge_port), "--workers", str(args.workers)]

    load_before = _loadavg()
    if load_before and load_before[0] > 0.5:
        print(f"note: the machine is busy before the start (load average {load_before[0]:.2f}); figures may be noisy")
    results: dict[str, dict[str, Any]] = {}
    profile: dict[str, list[tuple[str, float]]] | None = None
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-bench-")))
        if redis_url:
            prepare_redis(redis_url, env, out_dir)
            stack.callback(clean_redis, redis_url)
        first = bodies_of[mixes[0]][0]
        edge = stack.enter_context(serve("edge", edge_cmd, env, edge_port, first, out_dir, server_cpu))
        for mix in mixes:
            bodies = bodies_of[mix]
            body_bytes = check_bodies(edge, bodies, edge=True)
            bare_env = env | {"BARE_BODY_BYTES": str(round(body_bytes))}
            baselines = [name for name in args.baselines if redis_url or name == "bare"]  # the floor reads Redis
            with ExitStack() as servers:
                started: list[Server] = []
                for name in baselines:
                    app, extra = BASELINES[name]
                    port = free_port()
                    command = [str(VENV_BIN / "uvicorn"), "--app-dir", str(ROOT / "loadtest"), app]
                    command += ["--port", str(port), *uvicorn_flags]
                    server = servers.enter_context(
                        serve(name, command, bare_env | extra, port, first, out_dir, server_cpu)
                    )
                    check_bodies(server, bodies[:5], edge=False)
                    started.append(server)
                script = write_wrk_script(bodies, tmp)

                def measure(
                    server: Server, seconds: float, script: Path = script, bodies: list[bytes] = bodies
                ) -> dict[str, Any]:
                    if client == "wrk":
                        return run_wrk(server.port, script, seconds, args.connections, args.threads, client_cpu)
                    return run_python_client(server.port, bodies, seconds, args.connections)

                print(f"[{mix}] warming up ({args.warmup:g} s each) ...", flush=True)
                every = [*started, edge]
                for server in every:
                    measure(server, args.warmup)
                samples: list[Sample] = []
                for round_ in range(1, args.rounds + 1):
                    shift = (round_ - 1) % len(every)  # each server goes first in turn
                    for server in every[shift:] + every[:shift]:
                        meter = CpuMeter(server.process.pid)
                        before, began = meter.read(), time.monotonic()
                        raw = measure(server, args.duration)
                        cpu = CpuMeter.shares(before, meter.read(), time.monotonic() - began)
                        sample = wrk_sample(server.name, round_, raw, cpu)
                        samples.append(sample)
                        print(
                            f"[{mix}] round {round_} {server.name:5}: {sample.rps:9,.0f} req/s  "
                            f"p50 {sample.p50_ms:6.2f} ms  p99 {sample.p99_ms:6.2f} ms  errors {sample.errors}  "
                            f"server cpu {sample.server_cpu_pct}%  others cpu {sample.others_cpu_pct}%",
                            flush=True,
                        )
            targets = [server.name for server in every]
            summary = {target: summarize(samples, target) for target in targets}
            by_round = {(s.target, s.round): s.rps for s in samples}
            bare_us, edge_us = summary["bare"]["cpu_us_per_request"], summary["edge"]["cpu_us_per_request"]
            found: dict[str, Any] = {
                "summary": summary,
                "ratio": summary["edge"]["rps"] / summary["bare"]["rps"],
                "ratio_by_round": [by_round[("edge", r)] / by_round[("bare", r)] for r in range(1, args.rounds + 1)],
                "cpu_ratio": bare_us / edge_us if bare_us and edge_us else None,
                "floor_ratio": summary["floor"]["rps"] / summary["bare"]["rps"] if "floor" in summary else None,
                "body_bytes": body_bytes,
                "edge_rss_mb": rss_mb(edge.process.pid),
                "samples": [asdict(s) for s in samples],
                "open_loop": None,
            }
            if args.open_loop > 0:
                rate = max(1.0, summary["edge"]["rps"] / 2)
                print(f"[{mix}] open loop at {rate:,.0f} req/s for {args.open_loop:g} s ...", flush=True)
                found["open_loop"] = open_loop(edge_port, bodies, rate, args.open_loop, client_cpu, tmp)
                print(f"[{mix}] open loop: {found['open_loop']}", flush=True)
            results[mix] = found
        if args.profile > 0:
            bodies = bodies_of[mixes[-1]]
            script = write_wrk_script(bodies, tmp)
            print(f"profiling the Edge worker with py-spy for {args.profile:g} s ...", flush=True)

            def load(seconds: float) -> dict[str, Any]:
                if client == "wrk":
                    return run_wrk(edge.port, script, seconds, args.connections, args.threads, client_cpu)
                return run_python_client(edge.port, bodies, seconds, args.connections)

            profile = profile_edge(edge, load, args.profile, out_dir)

    meta = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
        "data": data_text,
        "ids": ids_from,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "workers": args.workers,
        "client": client if client == "python" else f"wrk -t{args.threads}",
        "pinning": f"server cpu {server_cpu}, client cpu {client_cpu}" if pin else "off",
        "store": f"redis ({redis_url})" if redis_url else "embedded",
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "mixes": {mix: len(bodies_of[mix]) for mix in mixes},
    }
    table = markdown(results, meta)
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
    result = {"meta": meta, "mixes": results, "profile": profile}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    failed = any(s["errors"] for found in results.values() for s in found["samples"])
    return 1 if failed else 0


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
