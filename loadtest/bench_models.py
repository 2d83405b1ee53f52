"""Benchmark the offline side: real-data build time and memory, and index speed/recall at scale.

    python loadtest/bench_models.py                      # everything (real data from EDGE_DATA or ../shared)
    python loadtest/bench_models.py real --data DIR      # build time + peak memory of `build_real`
    python loadtest/bench_models.py index --sizes 100000,1000000 --dim 64
    python loadtest/bench_models.py build --lines 1000000,5000000   # synthetic scaling table (models.generate)

`real` builds in a child process so its peak RSS (`ru_maxrss`) is the build's own. `build` generates an
Online-Retail-like data set of each size (cached under --cache), builds it in a child process as
`edge build --data DIR --no-evaluate` does, and reports each stage's wall time and its own peak RSS
(the kernel's high-water mark, reset after every stage). `index` builds
flat, HNSW (edge.model.index parameters) and IVF indexes over random clustered unit vectors, then times
single queries one at a time on one thread (as a web worker runs them) and measures recall@50
against exact inner-product search on held-out queries from the same distribution.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from edge.model import index as item_index

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "online-retail"
K = 50
N_QUERIES = 1000  # timed single queries
N_RECALL = 500  # queries for recall
EF_SEARCH = (64, 128, 256, 512)
NPROBE = (32, 64, 128)


def clustered(n: int, dim: int, seed: int, clusters: int = 1000) -> np.ndarray:
    """Unit vectors around random centres, generated in chunks to keep memory flat."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 200_000):
        size = min(200_000, n - start)
        points = centres[rng.integers(clusters, size=size)] + 0.7 * rng.normal(size=(size, dim)).astype(np.float32)
        out[start : start + size] = points
    return item_index.normalize(out)


def latency_ms(index: faiss.Index, queries: np.ndarray, k: int = K) -> tuple[float, float]:
    """p50 and p99 of one query at a time, in milliseconds."""
    times = np.empty(len(queries))
    for i, query in enumerate(queries):
        began = time.perf_counter_ns()
        index.search(query[None, :], k)
        times[i] = (time.perf_counter_ns() - began) / 1e6
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def recall(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, k: int = K) -> float:
    found = index.search(queries, k)[1]
    return sum(len(set(f) & set(t)) for f, t in zip(found.tolist(), truth.tolist(), strict=True)) / truth.size


def bench_size(
    n: int, dim: int, kinds: Sequence[str], build_threads: int, hnsw: tuple[int, int] | None = None
) -> list[dict[str, Any]]:
    """Rows of (index, setting): build time, p50/p99 single-query latency, recall@50."""
    vectors = clustered(n, dim, seed=1)
    queries = clustered(N_QUERIES, dim, seed=2)
    faiss.omp_set_num_threads(build_threads)
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    truth = exact.search(queries[:N_RECALL], K)[1]
    rows: list[dict[str, Any]] = []

    def row(kind: str, setting: str, index: faiss.Index, build_s: float) -> None:
        faiss.omp_set_num_threads(1)  # one thread per query, as in the service
        p50, p99 = latency_ms(index, queries)
        found = recall(index, queries[:N_RECALL], truth)
        rows.append(
            {"n": n, "dim": dim, "index": kind, "setting": setting, "build_s": round(build_s, 2),
             "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "recall_at_50": round(found, 4)}
        )  # fmt: skip
        print(f"  {kind:<5} {setting:<22} build {build_s:7.1f} s  p50 {p50:.3f} ms  p99 {p99:.3f} ms  "
              f"recall@50 {rows[-1]['recall_at_50']:.4f}", flush=True)  # fmt: skip

    if "flat" in kinds:
        row("flat", "exact", exact, 0.0)
    if "hnsw" in kinds:
        faiss.omp_set_num_threads(build_threads)
        m, ef_construction = hnsw or (item_index.HNSW_M, item_index.HNSW_EF_CONSTRUCTION)
        began = time.perf_counter()
        if hnsw is None:
            graph, _ = item_index.build_index(vectors, "hnsw")  # exactly what the build writes
        else:
            graph = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = ef_construction
            graph.add(vectors)
        build_s = time.perf_counter() - began
        for ef in EF_SEARCH:
            graph.hnsw.efSearch = ef
            row("hnsw", f"M={m},efC={ef_construction},efS={ef}", graph, build_s)
        del graph
    if "ivf" in kinds:
        faiss.omp_set_num_threads(build_threads)
        began = time.perf_counter()
        ivf, name = item_index.build_index(vectors, "ivf")  # exactly what the build writes, nprobe tuned
        build_s = time.perf_counter() - began
        nlist = ivf.nlist
        row("ivf", f"as built: {name}", ivf, build_s)
        for nprobe in NPROBE:
            ivf.nprobe = nprobe
            row("ivf", f"nlist={nlist},nprobe={nprobe}", ivf, build_s)
    return rows


def bench_real(data: Path, reader: str = "columnar") -> dict[str, Any]:
    """Build the real-data artifacts in this process; wall time and peak RSS.

    `reader="rows"` swaps in the row-by-row reader (`models.sources`) for a side-by-side comparison.
    """
    from models import realdata
    from models.realdata import build_real

    if reader == "rows":
        from models import sources

        realdata.read_source = sources.read_source

    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        began = time.perf_counter()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        path = build_real(data, Path(tmp), log=print)
        wall = time.perf_counter() - began
        used = resource.getrusage(resource.RUSAGE_SELF)
        manifest = json.loads((path / "index_infos.json").read_text())
    return {
        "build_s": round(wall, 2),
        "cpu_s": round(used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime, 2),
        "peak_rss_mb": round(used.ru_maxrss / 1024, 1),  # KiB on Linux
        "n_items": manifest["n_items"],
        "n_users": manifest["n_users"],
        "n_interactions": manifest["n_interactions"],
        "timings_s": manifest["timings_s"],
        "evaluation": manifest.get("evaluation", {}).get("methods"),
    }


STAGE_LINE = re.compile(r"^\s+(\w+)\s+([\d.]+) s")


def stage_peak_mb() -> float:
    """Peak RSS since the last call (VmHWM, then reset through /proc/self/clear_refs), in MB."""
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    Path("/proc/self/clear_refs").write_text("5")
    return round(peak_kb / 1024, 1)


def bench_build(data: Path) -> dict[str, Any]:
    """Build `data` in this process as `edge build --no-evaluate`: per stage wall time and own peak RSS."""
    from models.realdata import build_real

    stages: list[dict[str, Any]] = []

    def log(line: str) -> None:
        print(line, flush=True)
        match = STAGE_LINE.match(line)
        if match:
            stages.append({"stage": match[1], "s": float(match[2]), "peak_rss_mb": stage_peak_mb()})

    stage_peak_mb()
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        began = time.perf_counter()
        path = build_real(data, Path(tmp), log=log, evaluate_split=None)
        wall = time.perf_counter() - began
        manifest = json.loads((path / "index_infos.json").read_text())
    used = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "build_s": round(wall, 2),
        "cpu_s": round(used.ru_utime + used.ru_stime, 2),
        "peak_rss_mb": max(stage["peak_rss_mb"] for stage in stages),  # ru_maxrss is reset with VmHWM
        "lines": manifest["report"]["rows"],
        "purchase_lines": manifest["n_interactions"],
        "n_items": manifest["n_items"],
        "n_users": manifest["n_users"],
        "stages": stages,
    }


def build_scaling(sizes: Sequence[int], cache: Path, seed: int) -> list[dict[str, Any]]:
    """Generate (or reuse) a synthetic data set per size and build each in a child process."""
    from models import generate

    rows = []
    for n in sizes:
        data = cache / f"online-retail-{n}-seed{seed}"
        if not (data / ".complete").exists():
            began = time.perf_counter()
            generate.generate(data, n, seed=seed)
            (data / ".complete").write_text("")
            print(f"generated {n:,} lines into {data} in {time.perf_counter() - began:.1f} s", flush=True)
        print(f"build of {n:,} synthetic lines (child process; load {os.getloadavg()[0]:.2f})", flush=True)
        child = subprocess.run(
            [sys.executable, __file__, "_build_child", "--data", str(data)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        print(child.stdout, end="")
        result = json.loads(child.stdout.rsplit("RESULT ", 1)[1])
        rows.append({"n": n, "load_1m": round(os.getloadavg()[0], 2), **result})
    return rows


def scaling_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """One row per (size, stage): seconds and the stage's own peak RSS; a total row per size."""
    out = [
        "| lines | purchase lines | customers | stage | wall s | peak RSS MB |",
        "|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        for stage in r["stages"]:
            if stage["stage"] in ("vectors", "index", "write") and stage["s"] < 1:
                continue
            out.append(f"| {r['n']:,} | {r['purchase_lines']:,} | {r['n_users']:,} | {stage['stage']} "
                       f"| {stage['s']} | {stage['peak_rss_mb']:,} |")  # fmt: skip
        out.append(f"| {r['n']:,} | | | **total** (load {r['load_1m']}) | **{r['build_s']}** "
                   f"| **{r['peak_rss_mb']:,}** |")  # fmt: skip
    return "\n".join(out)


def markdown(real: dict[str, Any] | None, rows: list[dict[str, Any]]) -> str:
    out = []
    if real is not None:
        out += [
            "| real-data build | wall s | CPU s | peak RSS MB | items | customers | lines |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| Online Retail | {real['build_s']} | {real['cpu_s']} | {real['peak_rss_mb']} | {real['n_items']} "
            f"| {real['n_users']} | {real['n_interactions']} |",
            "",
        ]
    if rows:
        out += [
            "| items | dim | index | setting | build s | p50 ms | p99 ms | recall@50 |",
            "|---:|---:|---|---|---:|---:|---:|---:|",
        ]
        out += [
            f"| {r['n']:,} | {r['dim']} | {r['index']} | {r['setting']} | {r['build_s']} | {r['p50_ms']} "
            f"| {r['p99_ms']} | {r['recall_at_50']} |"
            for r in rows
        ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "what", nargs="?", choices=["all", "real", "index", "build", "_real_child", "_build_child"], default="all"
    )
    parser.add_argument("--lines", default="1000000,5000000", help="build: synthetic sizes, comma separated")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "edge-synthetic")
    parser.add_argument("--seed", type=int, default=0, help="build: generator seed")
    parser.add_argument("--reader", choices=["columnar", "rows"], default="columnar", help="real: the CSV reader")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("EDGE_DATA") or DEFAULT_DATA))
    parser.add_argument("--sizes", default="100000,1000000", help="catalog sizes, comma separated")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--kinds", default="flat,hnsw,ivf")
    parser.add_argument("--threads", type=int, default=2, help="threads while building indexes")
    parser.add_argument("--hnsw", help="M,efConstruction to try instead of edge.model.index's (e.g. 32,200)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.what == "_real_child":
        print("RESULT " + json.dumps(bench_real(args.data, args.reader)))
        return 0
    if args.what == "_build_child":
        print("RESULT " + json.dumps(bench_build(args.data)))
        return 0
    if args.what == "build":
        scaling = build_scaling([int(v) for v in args.lines.split(",")], args.cache, args.seed)
        print()
        print(scaling_markdown(scaling))
        if args.json:
            args.json.write_text(json.dumps({"build": scaling}, indent=2))
        return 0
    real = None
    if args.what in ("all", "real"):
        print(f"real-data build from {args.data} (child process)", flush=True)
        child = subprocess.run(
            [sys.executable, __file__, "_real_child", "--data", str(args.data), "--reader", args.reader],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        print(child.stdout, end="")
        real = json.loads(child.stdout.rsplit("RESULT ", 1)[1])
    rows: list[dict[str, Any]] = []
    if args.what in ("all", "index"):
        for n in (int(s) for s in args.sizes.split(",")):
            print(f"index benchmark: {n:,} items x {args.dim}", flush=True)
            hnsw = tuple(int(v) for v in args.hnsw.split(",")) if args.hnsw else None
            rows += bench_size(n, args.dim, args.kinds.split(","), args.threads, hnsw)  # type: ignore[arg-type]
    print()
    print(markdown(real, rows))
    if args.json:
        args.json.write_text(json.dumps({"real": real, "index": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
