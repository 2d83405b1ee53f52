"""Runtime: what a worker opens at start-up (artifacts, content, experiments, store) and swaps on reload."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from edge import artifacts, tombstones
from edge import index as item_index
from edge.content import Content, load_content
from edge.decide import Decider, Engine
from edge.errors import ConfigError
from edge.experiments import ExperimentsConfig, load_experiments
from edge.guards import check_experiments
from edge.loyalty import thresholds_for
from edge.metrics import Metrics
from edge.recommend import Model
from edge.redis_store import RedisStore
from edge.settings import Settings
from edge.store import MemoryStore, ProfileStore, profiles_from_records

log = logging.getLogger("edge")


def load_model(root: Path) -> tuple[Model, artifacts.Artifacts]:
    """Load the live build under `root` (strict; raises `ArtifactError`)."""
    art = artifacts.load(root)
    index = item_index.ItemIndex.load(art.index_path, art.item_vectors)
    return Model.from_artifacts(art, index), art


def load_experiments_setting(path: Path | None) -> ExperimentsConfig:
    return ExperimentsConfig.empty() if path is None else load_experiments(path)


@dataclass
class Runtime:
    """One worker's live state; `engine` is replaced whole, so a request keeps the one it started with."""

    settings: Settings
    engine: Engine
    store: ProfileStore
    decider: Decider
    metrics: Metrics = field(default_factory=Metrics)
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Load everything; a missing or broken artifact, content or experiments file fails loudly."""
        item_index.set_threads(settings.faiss_threads)
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
            tiers=thresholds_for(model.path, settings.default_tiers()), offer_secret=settings.offer_secret,
        )  # fmt: skip
        decider = Decider.from_settings(store, settings)
        log.info(
            "edge ready: model %s (%d items), content %s, experiments %s, store %s",
            model.version, len(model.catalog), content.version, experiments.version,
            "redis" if settings.redis_url else f"embedded ({len(art.profiles)} profiles)",
        )  # fmt: skip
        return cls(settings, engine, store, decider)

    async def reload(self) -> Engine:
        """Re-read content, experiments and artifacts; on any error the old engine stays and the error propagates."""
        async with self.reload_lock:
            settings = self.settings
            content = await asyncio.to_thread(load_content, settings.content)
            experiments = await asyncio.to_thread(load_experiments_setting, settings.experiments)
            model = self.engine.model
            if artifacts.resolve(settings.artifacts) != model.path:
                model, _ = await asyncio.to_thread(load_model, settings.artifacts)
            check_experiments(content, experiments)
            tiers = thresholds_for(model.path, settings.default_tiers())
            self.engine = replace(self.engine, model=model, content=content, experiments=experiments, tiers=tiers)
            return self.engine

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
        """Reload whenever a watched file changes; a broken change is logged and the old config kept."""
        last = self.fingerprint()
        while True:
            await asyncio.sleep(interval_s)
            current = self.fingerprint()
            if current == last:
                continue
            last = current
            try:
                engine = await self.reload()
                log.info("reloaded after a file change: content %s, experiments %s, model %s",
                         engine.content.version, engine.experiments.version, engine.model.version)  # fmt: skip
            except ConfigError as exc:
                log.warning("file change not applied, old config kept: %s", exc.message)

    async def close(self) -> None:
        """Finish the background writes (counters, exposures), then close the store."""
        await self.decider.drain()
        await self.store.close()
