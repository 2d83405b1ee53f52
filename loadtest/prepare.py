"""The build and the store `./scripts/loadtest` runs against: by default those of the benchmark of record.

    python loadtest/prepare.py up [--embedded] [--synthetic]   # prints `export EDGE_...=...` lines for bash
    python loadtest/prepare.py down                              # deletes the load test's Redis keys

`up` picks the artifacts as `./scripts/bench` does (EDGE_ARTIFACTS as it is; else the real-data build
of EDGE_DATA or ../shared/data/online-retail, built once into bench-results/artifacts-real; the synthetic
demo store only when no data is there or with `--synthetic`) and, unless `--embedded` or EDGE_REDIS_URL
is set, bulk-loads its profiles into the Redis on 127.0.0.1:6379 under the key prefix `edge-loadtest`
(`edge load`), so that locust measures the Redis store where shops run Edge. `down` deletes those keys.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import ROOT, clean_redis, data_source, ensure_build, prepare_redis

REDIS_PREFIX = "edge-loadtest"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def up(embedded: bool, synthetic: bool) -> dict[str, str]:
    """Build what is missing, load Redis; the EDGE_* settings the server is to run with."""
    artifacts, what, data = data_source(argparse.Namespace(artifacts=None, data=None, synthetic=synthetic))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env |= {"EDGE_ARTIFACTS": str(artifacts), "EDGE_LOG_LEVEL": "warning"}
    ensure_build(artifacts, data, env)
    settings = {"EDGE_ARTIFACTS": str(artifacts)}
    store = "embedded store"
    if not embedded and not os.environ.get("EDGE_REDIS_URL"):
        settings |= {"EDGE_REDIS_URL": DEFAULT_REDIS, "EDGE_REDIS_PREFIX": REDIS_PREFIX}
        out = ROOT / "bench-results"
        out.mkdir(exist_ok=True)
        prepare_redis(DEFAULT_REDIS, env | settings, out)
        store = f"Redis store ({DEFAULT_REDIS}, prefix {REDIS_PREFIX})"
    elif os.environ.get("EDGE_REDIS_URL"):
        store = f"Redis store ({os.environ['EDGE_REDIS_URL']}, as configured)"
    print(f"scripts/loadtest: {what}; {store}", file=sys.stderr)
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--embedded", action="store_true", help="the embedded store instead of Redis")
    parser.add_argument("--synthetic", action="store_true", help="the synthetic demo store even when data is there")
    args = parser.parse_args(argv)
    if args.action == "down":
        removed = clean_redis(DEFAULT_REDIS, REDIS_PREFIX)
        print(f"scripts/loadtest: deleted {removed} keys under {REDIS_PREFIX}:*", file=sys.stderr)
        return 0
    with redirect_stdout(sys.stderr):  # stdout is for the shell to eval
        settings = up(args.embedded, args.synthetic)
    for name, value in settings.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
