"""Runtime: what a worker opens at start-up (artifacts, content, experiments, store) and swaps on reload."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from edge import heap
from edge.core import kernels
from edge.core.answers import LastReload
from edge.core.content import Content
from edge.core.decide import Engine
from edge.core.experiments import ExperimentsConfig
from edge.core.guards import check_experiments
from edge.core.recommend import Model
from edge.decider import Decider
from edge.errors import ArtifactError, ConfigError
from edge.http.metrics import Metrics
from edge.model import artifacts
from edge.model import index as item_index
from edge.model.config_files import load_content, load_experiments
from edge.settings import Settings
from edge.store import tombstones
from edge.store.base import ProfileStore, profiles_from_records
from edge.store.memory import MemoryStore
from edge.store.redis_store import RedisStore

log = logging.getLogger("edge")
STALE_DATA = timedelta(days=30)  # a build whose data ends longer ago than this gets a start-up warning
FIT_SAMPLE = 5  # profiles of a new build read back from Redis to check their vectors fit its model
WATCH_RETRY_S = 10.0  # a change the watcher could not apply is tried again after this long (doubling)
WATCH_RETRY_MAX_S = 300.0


def load_model(root: Path) -> tuple[Model, artifacts.Artifacts]:
    """Load the live build under `root` (strict; raises `ArtifactError`)."""
    art = artifacts.load(root)
    index = item_index.ItemIndex.load(art.index_path, art.item_vectors)
    return Model.from_artifacts(art, index), art


def load_experiments_setting(path: Path | None) -> ExperimentsConfig:
    return ExperimentsConfig.empty() if path is None else load_experiments(path)


def model_dim(model: Model) -> int:
    return int(model.index.vectors.shape[1])


def warn_if_stale(manifest: Any, now: datetime | None = None) -> str | None:
    """A warning when the build's data ends long before the clock (real data without `--rebase-to`)."""
    raw = manifest.get("data_end") if hasattr(manifest, "get") else None
    if not raw:
        return None
    try:
        end = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    now = now or datetime.now(UTC)
    if now - end <= STALE_DATA:
        return None
    message = (
        f"the build's data ends on {end.date()}, {(now - end).days} days before the clock: most customers "
        "will look lapsed or lost (and get win-back offers); send `now` inside the data with each "
        "decision or rebuild with `edge build --data DIR --rebase-to YYYY-MM-DD`"
    )
    log.warning(message)
    return message


@dataclass
class Runtime:
    """One worker's live state; `engine` is replaced whole, so a request keeps the one it started with."""

    settings: Settings
    engine: Engine
    store: ProfileStore
    decider: Decider
    build_path: Path  # the live build's directory (the model's version lives there)
    metrics: Metrics = field(default_factory=Metrics)
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    profiles: tuple[dict[str, Any], ...] = ()  # the loaded build's profile records (the demo's personas)
    data_end: str | None = None  # the loaded build's last data timestamp (manifest `data_end`)
    last_reload: LastReload | None = None  # what the last reload attempt did, as `/readyz` reports it
    demo_cache: dict[tuple[str, str], bytes] = field(default_factory=dict)  # /demo/personas.json per build

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Load everything; a missing or broken artifact, content or experiments file fails loudly."""
        item_index.set_threads(settings.faiss_threads)
        kernels.use(settings.kernels)  # process-wide, as the faiss threads: the compiled core or the numpy code
        content: Content = load_content(settings.content)
        experiments = load_experiments_setting(settings.experiments)
        model, art = load_model(settings.artifacts)
        store: ProfileStore
        if settings.redis_url is None:
            records, vectors = tombstones.live(art.profiles, art.user_vectors, tombstones.read(settings.artifacts))
            store = MemoryStore(profiles_from_records(records), vectors)
        else:
            store = RedisStore.from_url(
                settings.redis_url, settings.redis_prefix, settings.redis_timeout_ms, settings.redis_pool_size
            )
            store.require_replicas(settings.redis_wait_replicas, settings.events_timeout_ms * 0.8)
        check_experiments(content, experiments)
        engine = Engine(
            model, content, experiments, ttl_s=settings.ttl_s,
            tiers=artifacts.thresholds_for(art.path, settings.default_tiers()), offer_secret=settings.offer_secret,
        )  # fmt: skip
        decider = Decider.from_settings(store, settings)
        log.info(
            "edge ready: model %s (%d items), content %s, experiments %s, store %s",
            model.version, len(model.catalog), content.version, experiments.version,
            "redis" if settings.redis_url else f"embedded ({len(art.profiles)} profiles)",
        )  # fmt: skip
        warn_if_stale(art.manifest)
        data_end = art.manifest.get("data_end")
        runtime = cls(
            settings, engine, store, decider, art.path, profiles=art.profiles, data_end=data_end and str(data_end)
        )
        heap.settle()
        return runtime

    async def reload(self, trigger: Literal["admin", "watch"] = "admin") -> Engine:
        """Re-read content, experiments and artifacts; on any error the old engine stays and the error propagates.

        A new build comes with its own profiles: the embedded store takes them in the same swap; with
        Redis, a sample of the build's customers is read back and a vector that does not fit the new
        model refuses the swap (run `edge load`). Every attempt is counted and kept for `/readyz`.
        """
        at = datetime.now(UTC).replace(microsecond=0)
        try:
            engine = await self._reload()
        except ConfigError as exc:
            self.metrics.reload(trigger, ok=False)
            self.last_reload = LastReload(status="failed", trigger=trigger, at=at, error=exc.message)
            log.error("reload (%s) refused, old build and config kept: %s", trigger, exc.message)
            raise
        self.metrics.reload(trigger, ok=True)
        self.last_reload = LastReload(status="ok", trigger=trigger, at=at)
        return engine

    async def _reload(self) -> Engine:
        async with self.reload_lock:
            settings = self.settings
            content = await asyncio.to_thread(load_content, settings.content)
            experiments = await asyncio.to_thread(load_experiments_setting, settings.experiments)
            model = self.engine.model
            new_build: artifacts.Artifacts | None = None
            build_path = self.build_path
            if artifacts.resolve(settings.artifacts) != build_path:
                model, build = await asyncio.to_thread(load_model, settings.artifacts)
                await self._check_profiles_fit(model, build)
                new_build, build_path = build, build.path
            check_experiments(content, experiments)
            if new_build is not None:
                if isinstance(self.store, MemoryStore):
                    records = profiles_from_records(new_build.profiles)
                    self.store.replace_profiles(records, new_build.user_vectors)
                self.profiles = new_build.profiles
                data_end = new_build.manifest.get("data_end")
                self.data_end = data_end and str(data_end)
                warn_if_stale(new_build.manifest)
            tiers = artifacts.thresholds_for(build_path, settings.default_tiers())
            self.engine = replace(self.engine, model=model, content=content, experiments=experiments, tiers=tiers)
            self.build_path = build_path
            if new_build is not None:
                heap.settle()  # the old build is gone (reference counting); freeze the new one
            return self.engine

    async def _check_profiles_fit(self, model: Model, build: artifacts.Artifacts) -> None:
        """Refuse a build whose customers' stored vectors (Redis) do not fit its model."""
        dim = model_dim(model)
        if build.user_vectors.shape[1] != dim:
            raise ArtifactError(f"{build.path}: user vectors have dim {build.user_vectors.shape[1]}, model has {dim}")
        if isinstance(self.store, MemoryStore):
            return  # the build's own profiles come with it
        for record in build.profiles[:FIT_SAMPLE]:
            found = await self.store.get_profile(str(record["user_id"]))
            vector = found[1] if found is not None else None
            if vector is not None and vector.shape[0] != dim:
                raise ArtifactError(
                    f"profiles in the store have vectors of dim {vector.shape[0]}, build {build.version} has dim "
                    f"{dim}: load its profiles first (`edge load`), then reload"
                )

    def consistency(self) -> str | None:
        """Why the live build is inconsistent (index, catalog and profile vectors disagree), or None."""
        model = self.engine.model
        dim = model_dim(model)
        if model.index.size != len(model.catalog):
            return f"index has {model.index.size} items, catalog {len(model.catalog)}"
        if isinstance(self.store, MemoryStore):
            stored = self.store.vector_dim()
            if stored is not None and stored != dim:
                return f"profile vectors have dim {stored}, model has {dim}"
        return None

    def watched_files(self) -> tuple[Path, ...]:
        """Files whose change triggers a reload: content, experiments, the artifacts' CURRENT pointer."""
        files = [self.settings.content, self.settings.artifacts / "CURRENT"]
        if self.settings.experiments is not None:
            files.append(self.settings.experiments)
        return tuple(files)

    def fingerprint(self) -> tuple[tuple[int, int], ...]:
        """(mtime, size) of every watched file; (0, 0) for a missing one."""
        stamps = []
        for path in self.watched_files():
            try:
                stat = path.stat()
                stamps.append((stat.st_mtime_ns, stat.st_size))
            except OSError:
                stamps.append((0, 0))
        return tuple(stamps)

    async def watch(self, interval_s: float = 1.0) -> None:
        """Reload whenever a watched file changes; a broken change is logged and the old config kept.

        A refused change is tried again after WATCH_RETRY_S, doubling up to WATCH_RETRY_MAX_S: a build
        refused because its profiles were not in Redis yet goes live once `edge load` has run.
        """
        last = self.fingerprint()
        retry_s = WATCH_RETRY_S
        retry_at: float | None = None
        while True:
            await asyncio.sleep(interval_s)
            current = self.fingerprint()
            if current == last and (retry_at is None or time.monotonic() < retry_at):
                continue
            if current != last:
                retry_s = WATCH_RETRY_S
            last = current
            try:
                engine = await self.reload("watch")
                retry_at = None
                log.info("reloaded after a file change: content %s, experiments %s, model %s",
                         engine.content.version, engine.experiments.version, engine.model.version)  # fmt: skip
            except ConfigError:  # logged, counted and kept for /readyz by `reload`
                retry_at = time.monotonic() + retry_s
                retry_s = min(retry_s * 2, WATCH_RETRY_MAX_S)

    async def close(self) -> None:
        """Finish the background writes (counters, exposures), then close the store."""
        await self.decider.drain()
        await self.store.close()
