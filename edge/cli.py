"""The `edge` command: serve, build, load, evaluate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge import __version__, report_cli
from edge.errors import ConfigError
from edge.model import artifacts
from edge.settings import Settings
from edge.store import tombstones

if TYPE_CHECKING:
    from models.ranker import Fitted


class DefaultsHelp(argparse.HelpFormatter):
    """Help that shows each option's default, unless it has none or the text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    defaults = DefaultsHelp
    parser = argparse.ArgumentParser(
        prog="edge", description="Edge: real-time on-site personalization.", formatter_class=defaults
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="run the HTTP service (builds the demo store on first start)", formatter_class=defaults
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (more than 1 needs Redis)")
    serve.add_argument("--http", choices=("httptools", "h11"), default="httptools", help="HTTP parser")

    build = commands.add_parser(
        "build", help="build artifacts (index, lists, profiles) into EDGE_ARTIFACTS", formatter_class=defaults
    )
    source = build.add_mutually_exclusive_group()
    source.add_argument("--synthetic", action="store_true", help="a deterministic demo store (the default)")
    source.add_argument("--data", type=Path, help="Online Retail directory or a generic CSV directory (EDGE_DATA)")
    build.add_argument("--out", type=Path, help="artifact directory (default: EDGE_ARTIFACTS or ./artifacts)")
    build.add_argument("--seed", type=int, default=7, help="synthetic: random seed")
    build.add_argument("--items", type=int, default=3000, help="synthetic: number of products")
    build.add_argument("--customers", type=int, default=3000, help="synthetic: number of customers")
    build.add_argument("--anchor", type=date.fromisoformat, help="synthetic: last day of history (default today)")
    build.add_argument(
        "--ranker-from",
        type=Path,
        metavar="DIR",
        help="synthetic: ship the ranker trees of this build (e.g. a real-data one) so that decisions take the "
        "learned path (benchmarks of big catalogs, loadtest/README.md)",
    )
    build.add_argument("--redis", metavar="URL", help="also bulk-load the profiles into this Redis")
    build.add_argument(
        "--rebase-to",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="real data: shift timestamps so the data ends on this day (demos)",
    )
    build.add_argument("--no-evaluate", action="store_true", help="real data: skip the held-out evaluation")
    build.add_argument(
        "--engine", choices=["polars", "spark"], default="polars", help="real data: one machine (polars) or Spark"
    )
    build.add_argument("--spark-master", default="local[2]", metavar="URL", help="--engine spark: the cluster")
    build.add_argument("--since", metavar="VERSION", help="real data: fold only newer events into this build")

    evaluate = commands.add_parser(
        "evaluate", help="time-based held-out evaluation: model vs popularity baselines", formatter_class=defaults
    )
    evaluate.add_argument("--data", type=Path, help="data directory (default: EDGE_DATA)")
    evaluate.add_argument("--split", default="2011-09-01", help="train before, test after (YYYY-MM-DD)")
    evaluate.add_argument("-k", type=int, default=10, help="list length (recall@k, NDCG@k)")
    evaluate.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")

    load = commands.add_parser(
        "load", help="bulk-load the built profiles into Redis (idempotent)", formatter_class=defaults
    )
    load.add_argument("--redis", metavar="URL", help="Redis URL (default: EDGE_REDIS_URL)")

    report_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which SIMD build loaded is not news
        if args.command == "serve":
            return serve(settings, args.host, args.port, args.workers, args.http)
        if args.command == "build":
            return build(settings, args)
        if args.command == "load":
            return load(settings, args.redis or settings.redis_url)
        if args.command == "evaluate":
            return evaluate(settings, args)
        if args.command == "report":
            return report_cli.run(args, settings.admin_token)
    except ConfigError as exc:
        print(f"edge: {exc.message}", file=sys.stderr)
        return 2
    return 2


def build_synthetic(
    root: Path,
    seed: int = 7,
    items: int = 3000,
    customers: int = 3000,
    anchor: date | None = None,
    ranker_from: Path | None = None,
) -> Path:
    """Generate the demo store and build its artifacts under `root` (with the ranker of the build
    `ranker_from`, when given)."""
    from models import build as model_build
    from models import synthetic

    ranker = borrowed_ranker(ranker_from) if ranker_from is not None else None
    dataset = synthetic.generate(n_items=items, n_customers=customers, seed=seed, anchor=anchor)
    return model_build.build(dataset, root, log=print, ranker=ranker)


def borrowed_ranker(root: Path) -> Fitted:
    """The trained ranker (trees and report) of the live build under `root`, as `models.ranker.Fitted`."""
    from edge.model import build_files
    from models.ranker import Fitted

    path = artifacts.resolve(root)
    manifest = artifacts.read_manifest(path)
    learned = build_files.load_learned(path, int(manifest["n_items"]), manifest.get("ranker"))
    if learned is None or learned.trees is None:
        raise ConfigError(f"--ranker-from {root}: the build {path.name} has no trained ranker", field="ranker_from")
    return Fitted(learned.trees, {**manifest["ranker"], "borrowed_from": path.name})


def build(settings: Settings, args: argparse.Namespace) -> int:
    root = args.out or settings.artifacts
    data = args.data or (None if args.synthetic else settings.data)
    if data is not None and args.ranker_from is not None:
        raise ConfigError("--ranker-from is for synthetic builds (a real-data build trains one)", field="ranker_from")
    if data is not None:
        from models.realdata import build_real

        split = None if args.no_evaluate else "2011-09-01"
        if args.since:
            from models.incremental import fold

            path = fold(data, root, args.since, log=print)
        elif args.engine == "spark":
            from models.spark_build import build_spark

            if args.rebase_to is not None:
                raise ConfigError("--rebase-to is not supported with --engine spark", field="rebase_to")
            path = build_spark(data, root, master=args.spark_master, log=print, evaluate_split=split)
        else:
            path = build_real(data, root, log=print, rebase_to=args.rebase_to, evaluate_split=split)
    else:
        path = build_synthetic(root, args.seed, args.items, args.customers, args.anchor, args.ranker_from)
    print(f"artifacts: {path}")
    if args.redis:
        return load(settings, args.redis, root)
    return 0


def evaluate(settings: Settings, args: argparse.Namespace) -> int:
    """Print the evaluation table (markdown); optionally write the JSON."""
    import orjson

    from models.evaluate import evaluate as run_evaluation
    from models.evaluate import to_markdown

    data = args.data or settings.data
    if data is None:
        raise ConfigError("no data: pass --data DIR or set EDGE_DATA", field="EDGE_DATA")
    result = run_evaluation(data, split=args.split, k=args.k)
    print(to_markdown(result))
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return 0


def load(settings: Settings, url: str | None, root: Path | None = None) -> int:
    """Bulk-load the live build's profiles into Redis, one profile file (or part) at a time, erased users left out."""
    from edge.store.base import profiles_from_records
    from edge.store.redis_store import RedisStore, load_profiles

    if not url:
        raise ConfigError("no Redis URL: pass --redis URL or set EDGE_REDIS_URL", field="EDGE_REDIS_URL")
    root = root or settings.artifacts
    path = artifacts.resolve(root)
    version = artifacts.read_manifest(path)["version"]
    store = RedisStore.from_url(url, settings.redis_prefix, 5000.0, 4)

    async def run() -> tuple[int, int]:
        try:
            erased = tombstones.read(root) | await store.erased()
            await store.add_erased(erased)  # both lists hold every erasure
            tombstones.add(root, erased)
            tombstones.scrub(root, erased)  # builds on disk forget them too
            written = 0
            parts = artifacts.profile_files(path)
            for records, vectors in artifacts.profile_batches(path):  # a part at a time: memory stays flat
                live, rows = tombstones.live(records, vectors, erased)
                written += await load_profiles(store, profiles_from_records(live), rows)
            return written, len(parts)
        finally:
            await store.close()

    written, parts = asyncio.run(run())
    where = f"{parts} parts of " if parts > 1 else ""
    print(f"loaded {written} profiles into {url} (prefix {settings.redis_prefix!r}, {where}build {version})")
    return 0


def serve(settings: Settings, host: str, port: int, workers: int, http: str = "httptools") -> int:
    import uvicorn

    if workers > 1 and settings.redis_url is None:
        raise ConfigError(
            f"--workers {workers} needs a shared store: the embedded store lives in one process, so erasures, "
            "profiles and events would reach one worker only. Set EDGE_REDIS_URL, or serve with --workers 1.",
            field="--workers",
        )

    from edge.http.limits import PROTOCOLS

    if not artifacts.exists(settings.artifacts):
        if not settings.build_if_missing:
            raise ConfigError(f"no artifacts in {settings.artifacts} (run `edge build`)", field="EDGE_ARTIFACTS")
        print(f"no artifacts in {settings.artifacts}: building the synthetic demo store")
        build_synthetic(settings.artifacts)
    from edge.http.app import create_app
    from edge.runtime import Runtime

    runtime = Runtime.open(settings)  # fail here, loudly, on a bad artifact/content/experiments file
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": PROTOCOLS[http],  # uvicorn's parser with the head cap (431) and the read timeout (408)
        "log_level": settings.log_level,
        "access_log": settings.access_log,
    }
    if workers == 1:  # the runtime opened above serves: artifacts are loaded once
        uvicorn.run(create_app(settings, runtime), **options)
    else:  # each worker process opens its own
        uvicorn.run("edge.http.app:create_app", factory=True, workers=workers, **options)
    return 0
