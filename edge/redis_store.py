"""RedisStore: profiles, vectors and frequency counters in Redis; the only module that knows Redis.

Key layout (docs/redis-format.md): every key of one visitor shares the hash tag `{u:<user_id>}`
(or `{s:<session_id>}` when anonymous), so one decision is one pipelined round trip, on one shard
in a Redis Cluster too.

    <prefix>:{u:<id>}:profile            hash  p = profile JSON, v = float32 vector bytes
    <prefix>:{<unit>}:offers:<YYYYMMDD>  hash  offer code -> times shown that day; TTL 2 days
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from edge.errors import StoreUnavailable
from edge.profiles import Profile, parse_profile, profile_json
from edge.store import Snapshot

OFFER_TTL_S = 2 * 86400


class RedisStore:
    """A `ProfileStore` over one Redis server (or cluster node set)."""

    def __init__(self, client: aioredis.Redis, prefix: str = "edge") -> None:
        self._redis = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str, timeout_ms: float, pool_size: int) -> RedisStore:
        """Explicit network knobs: short timeouts, no retries on the hot path, a pool that waits."""
        timeout = timeout_ms / 1000.0
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=timeout,  # wait this long for a free connection, then fail (degrade)
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )
        return cls(aioredis.Redis.from_pool(pool), prefix)

    # keys -----------------------------------------------------------------------------------
    def profile_key(self, user_id: str) -> str:
        return f"{self.prefix}:{{u:{user_id}}}:profile"

    def offers_key(self, unit: str, day: str) -> str:
        return f"{self.prefix}:{{{unit}}}:offers:{day}"

    # ProfileStore ---------------------------------------------------------------------------
    async def fetch(self, user_id: str | None, unit: str, day: str) -> Snapshot:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                if user_id:
                    pipe.hmget(self.profile_key(user_id), ["p", "v"])
                pipe.hgetall(self.offers_key(unit, day))
                replies = await pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(f"redis fetch failed: {exc.__class__.__name__}") from exc
        counts = {k.decode(): int(v) for k, v in replies[-1].items()}
        if not user_id or replies[0][0] is None:
            return Snapshot(offers_shown=counts)
        profile, vector = _decode(user_id, replies[0][0], replies[0][1])
        return Snapshot(profile, vector, counts)

    async def count_offer(self, unit: str, day: str, code: str) -> None:
        key = self.offers_key(unit, day)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, code, 1)
                pipe.expire(key, OFFER_TTL_S)
                await pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(f"redis write failed: {exc.__class__.__name__}") from exc

    async def get_profile(self, user_id: str) -> tuple[Profile, np.ndarray | None] | None:
        try:
            raw, vector = await self._redis.hmget(self.profile_key(user_id), ["p", "v"])
        except RedisError as exc:
            raise StoreUnavailable(f"redis read failed: {exc.__class__.__name__}") from exc
        return None if raw is None else _decode(user_id, raw, vector)

    async def put_profile(self, profile: Profile, vector: np.ndarray | None = None) -> None:
        await self.put_profiles([(profile, vector)])

    async def put_profiles(self, entries: Sequence[tuple[Profile, np.ndarray | None]]) -> None:
        """Upsert many profiles in one pipeline (idempotent: same input, same keys)."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for profile, vector in entries:
                    mapping: dict[str, Any] = {"p": orjson.dumps(profile_json(profile))}
                    if vector is not None:
                        mapping["v"] = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
                    pipe.hset(self.profile_key(profile.user_id), mapping=mapping)
                await pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(f"redis write failed: {exc.__class__.__name__}") from exc

    async def delete_user(self, user_id: str) -> bool:
        try:
            keys = [self.profile_key(user_id)]
            async for key in self._redis.scan_iter(match=f"{self.prefix}:{{u:{user_id}}}:*", count=500):
                keys.append(key.decode() if isinstance(key, bytes) else key)
            deleted = await self._redis.delete(*set(keys))
        except RedisError as exc:
            raise StoreUnavailable(f"redis delete failed: {exc.__class__.__name__}") from exc
        return bool(deleted)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self._redis.aclose()


def _decode(user_id: str, raw: bytes, vector: bytes | None) -> tuple[Profile, np.ndarray | None]:
    profile = parse_profile(user_id, orjson.loads(raw))
    return profile, None if vector is None else np.frombuffer(vector, dtype=np.float32)


async def load_profiles(store: RedisStore, profiles: Iterable[Profile], vectors: np.ndarray, batch: int = 1000) -> int:
    """Bulk-load artifact profiles into Redis in pipelined batches; returns how many were written."""
    pending: list[tuple[Profile, np.ndarray | None]] = []
    written = 0
    for row, profile in enumerate(profiles):
        pending.append((profile, vectors[row]))
        if len(pending) >= batch:
            await store.put_profiles(pending)
            written += len(pending)
            pending = []
    if pending:
        await store.put_profiles(pending)
        written += len(pending)
    return written
