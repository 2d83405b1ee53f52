"""RedisStore: profiles, sessions, counters and streams in Redis (or a Redis Cluster); the only module that knows Redis.

Key layout (docs/redis-format.md): every key of a unit (`u=<user_id>`, or `s=<session_id>` for an
anonymous session) carries the hash tag of the unit's partition, `{crc32(unit) % 64}`, and so do
the partition's event and exposure streams. One decision is one round trip on one shard (a
read-only script that returns the unit's hashes), one `/v1/events` call is one Lua script (one
per partition in a cluster):

    <prefix>:{<p>}:u=<user_id>:profile                hash: p (JSON), v (float32), e:* (from events)
    <prefix>:{<p>}:u=<user_id>:s=<session_id>:session  hash: the session of a logged-in visitor
    <prefix>:{<p>}:s=<session_id>:session              hash: an anonymous session
    <prefix>:{<p>}:<unit>:offers:<YYYYMMDD>            hash: offer code -> times shown that day
    <prefix>:{<p>}:events / :exposures                 streams, MAXLEN ~ per partition
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as BrokenConnection
from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError

from edge.core.memo import Memo
from edge.core.profiles import EVENT_FIELDS, Profile, profile_json, with_events
from edge.core.sessions import session_rel
from edge.core.snapshot import Snapshot, snapshot_from
from edge.core.writes import Applied, Arg, Group, Op, Program, erase_keys, session_unit, user_unit
from edge.errors import ConfigError, Conflict, StoreUnavailable, ValidationFailed
from edge.store import repair, retention, tombstones
from edge.store.base import STREAMS
from edge.store.lean import LeanReader, lean_target
from edge.store.outage import Outage

PARTITIONS = 64  # part of every key name: changing it is a data migration (docs/redis-format.md)
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
WRITE_TIMEOUT_S = 2.0  # socket timeout of the write client; callers bound the wait with their own deadline
SCRIPT = (Path(__file__).parent / "apply.lua").read_text()
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()
# A decision's read: every hash of the unit in one call. Flagged no-writes, so it also runs while
# writes are paused (CLIENT PAUSE WRITE) and on replicas; one command costs the client less than a pipeline.
READ = """#!lua flags=no-writes
local found = {}
for i, key in ipairs(KEYS) do found[i] = redis.call('HGETALL', key) end
return found
"""
READ_SHA = hashlib.sha1(READ.encode()).hexdigest()
PURGE_PAGE = 1000
PROFILE_MEMO = 4096  # parsed profile hashes a worker keeps, keyed by their exact stored bytes
# uvloop raises RuntimeError ("the handler is closed") when redis-py writes to a connection that a
# Redis restart closed under it: an outage like any other, never a 500 (the fault suite found it)
ERRORS = (RedisError, RedisClusterException, RuntimeError)

Client = aioredis.Redis | RedisCluster


class RedisFailure:
    """The one place a Redis error becomes `StoreUnavailable` ("redis <call> failed: <error>").

    `with store.failed_read:` around Redis calls: an error of `ERRORS` is counted and logged on the
    store's outage (edge/store/outage.py) and raised as `StoreUnavailable`, which every caller turns
    into a degraded answer or a 503. One instance per kind of call, made once (no allocation per call).
    """

    __slots__ = ("call", "outage")

    def __init__(self, call: str, outage: Outage) -> None:
        self.call = call
        self.outage = outage

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, ERRORS):
            self.outage.failed(exc)
            raise StoreUnavailable(f"redis {self.call} failed: {exc.__class__.__name__}") from exc


def partition(unit: str) -> int:
    """The partition (and hash tag) of a unit: stable across processes and languages (CRC-32)."""
    return zlib.crc32(unit.encode()) % PARTITIONS


def cluster_url(url: str) -> str | None:
    """`redis+cluster://host:port` -> `redis://host:port` (None when `url` is not a cluster URL)."""
    scheme, sep, rest = url.partition("://")
    return f"{CLUSTER_SCHEMES[scheme]}://{rest}" if sep and scheme in CLUSTER_SCHEMES else None


def _client(url: str, timeout: float, connect_timeout: float, pool_size: int, idempotent: bool = False) -> Client:
    """Explicit network knobs: short timeouts, no retries of writes (the caller's deadline decides).

    A client of idempotent reads retries once, at once, on a broken connection (a Redis restart
    breaks every pooled connection): the retry reconnects. Timeouts are not retried.
    """
    retry = Retry(NoBackoff(), 1, supported_errors=(BrokenConnection,)) if idempotent else Retry(NoBackoff(), 0)
    health_check_s = 1 if idempotent else 30  # a reader's idle connection is checked (and redialled) first
    cluster = cluster_url(url)
    if cluster is not None:
        return RedisCluster.from_url(
            cluster,
            socket_timeout=timeout,
            socket_connect_timeout=connect_timeout,
            retry=retry,
            max_connections=pool_size,
            health_check_interval=health_check_s,
        )
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=connect_timeout,  # wait this long for a free connection, then fail (degrade)
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout,
        retry=retry,
        health_check_interval=health_check_s,
    )
    return aioredis.Redis.from_pool(pool)


def _text(fields: Mapping[Any, Any]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in fields.items()}


ProfileView = tuple[Profile | None, np.ndarray | None, dict[str, str], Profile | None]


def profile_view(user_id: str, flat: Sequence[bytes]) -> tuple[ProfileView, list[tuple[str, BaseException]]]:
    """A profile hash as HGETALL returns it (flat field, value list), read: the stored document, the
    vector, the readable event fields, the profile as events changed it, and what was unreadable."""
    reports: list[tuple[str, BaseException]] = []
    with repair.collecting(reports):
        base, vector, fields = _profile_parts(user_id, dict(zip(flat[::2], flat[1::2], strict=True)))
        fields = dict(repair.readable(user_id, "-", base, fields, {}, {})[0])
    return (base, vector, fields, with_events(base, user_id, fields)), reports


class ProfileCache:
    """Parsed profile hashes keyed by their exact bytes: a stored change is a different key, so a
    read can never get a stale profile. Unreadable parts are reported again on every hit, as a read
    without the cache would."""

    def __init__(self, size: int = PROFILE_MEMO) -> None:
        self.memo: Memo[tuple[ProfileView, list[tuple[str, BaseException]]]] = Memo(size)

    def view(self, user_id: str, flat: Sequence[bytes]) -> ProfileView:
        hit = True

        def compute() -> tuple[ProfileView, list[tuple[str, BaseException]]]:
            nonlocal hit
            hit = False
            return profile_view(user_id, flat)

        view, reports = self.memo.get((user_id, *flat), compute)
        if hit:
            for what, exc in reports:
                repair.report(what, exc)
        return view

    def forget(self, user_id: str) -> None:
        """Drop what is cached about an erased user (other workers' entries can never match a read
        again, the hash being gone, and age out)."""
        self.memo.drop(lambda key: isinstance(key, tuple) and key[0] == user_id)


class RedisStore:
    """A `ProfileStore` over one Redis server or a Redis Cluster (`redis+cluster://` URLs)."""

    def __init__(self, client: Client, prefix: str = "edge", writer: Client | None = None, pool_size: int = 64) -> None:
        self._redis = client
        self._writer = writer or client
        self.prefix = prefix
        self.cluster = isinstance(client, RedisCluster)
        # a cluster client raises when a node's pool is full: queue for a connection instead, as the
        # blocking pool of a single server does (the caller's deadline bounds the wait)
        self._read_gate = asyncio.Semaphore(pool_size) if self.cluster else None
        self._write_gate = asyncio.Semaphore(pool_size) if self.cluster else None
        self._topology = asyncio.Lock()
        self.outage = Outage(f"redis ({prefix})")
        self.failed_fetch = RedisFailure("fetch", self.outage)
        self.failed_read = RedisFailure("read", self.outage)
        self.failed_write = RedisFailure("write", self.outage)
        self.failed_delete = RedisFailure("delete", self.outage)
        self.replicas, self.wait_ms = 0, 0  # require_replicas
        self._caps: dict[str, int] = {}  # stream -> global cap (edge.store.retention)
        self._balancer: asyncio.Task[None] | None = None
        self.profiles = ProfileCache()  # near cache of parsed profile hashes (set its size 0 to switch it off)
        # without redis-py (edge/store/lean.py), when set: a decision's read and session reads; write programs
        self.lean: LeanReader | None = None
        self.lean_writer: LeanReader | None = None

    @classmethod
    def from_url(cls, url: str, prefix: str, timeout_ms: float, pool_size: int) -> RedisStore:
        """A reader with the decision timeout, and a writer whose socket waits longer (events, counters)."""
        timeout = timeout_ms / 1000.0
        reader = _client(url, timeout, timeout, pool_size, idempotent=True)
        # a busy event loop must not turn into spurious write failures: the caller's deadline decides
        writer = _client(url, max(WRITE_TIMEOUT_S, timeout), max(WRITE_TIMEOUT_S / 2, timeout), pool_size)
        store = cls(reader, prefix, writer, pool_size)
        target = lean_target(url)
        if target is not None:
            store.lean = LeanReader(target, timeout, timeout)
            store.lean_writer = LeanReader(target, max(WRITE_TIMEOUT_S, timeout), max(WRITE_TIMEOUT_S / 2, timeout))
        return store

    # keys -------------------------------------------------------------------------------------
    def key(self, unit: str, rel: str) -> str:
        """The Redis key of `rel` (edge/core/writes.py) for `unit`: `@name` keys belong to the partition."""
        tag = partition(unit)
        return f"{self.prefix}:{{{tag}}}:{rel[1:]}" if rel[0] == "@" else f"{self.prefix}:{{{tag}}}:{unit}:{rel}"

    def profile_key(self, user_id: str) -> str:
        return self.key(user_unit(user_id), "profile")

    def session_key(self, user_id: str | None, session_id: str) -> str:
        unit = user_unit(user_id) if user_id else session_unit(session_id)
        return self.key(unit, session_rel(user_id, session_id))

    def stream_keys(self, name: str) -> list[str]:
        """Every partition's stream `events` or `exposures` (for consumers and tests)."""
        return [f"{self.prefix}:{{{p}}}:{name}" for p in range(PARTITIONS)]

    async def _ready(self, client: Client) -> None:
        """A cluster client learns the topology before it is used concurrently.

        redis-py's async cluster client can hand a connection that its own (re)initialization is
        closing to a concurrent command ('NoneType' object has no attribute 'writelines'), so the
        topology is fetched under a lock first, and again whenever the client flags it as stale.
        """
        if isinstance(client, RedisCluster) and getattr(client, "_initialize", False):
            async with self._topology:
                await client.initialize()

    # reads ------------------------------------------------------------------------------------
    async def fetch(self, user_id: str | None, session_id: str, day: str) -> Snapshot:
        """One round trip: `HGETALL` of the profile (with a user), the session and today's counters."""
        unit = user_unit(user_id) if user_id else session_unit(session_id)
        base = f"{self.prefix}:{{{partition(unit)}}}:{unit}:"
        keys = [base + session_rel(user_id, session_id), base + "offers:" + day]
        if user_id:
            keys.insert(0, base + "profile")
        with self.failed_fetch:
            if self.lean is not None:
                replies = await self._lean_read(self.lean, keys)
            elif self._read_gate is None:
                await self._ready(self._redis)
                replies = await self._read(keys)
            else:
                await self._ready(self._redis)
                async with self._read_gate:
                    replies = await self._read(keys)
        self.outage.ok()
        try:
            session_raw, offers_raw = (_text(dict(zip(f[::2], f[1::2], strict=True))) for f in replies[-2:])
            _, session, offers = repair.readable(user_id, session_id, None, {}, session_raw, offers_raw)
            if not user_id:
                return snapshot_from(user_id, None, None, {}, session, offers)
            document, vector, fields, merged = self.profiles.view(user_id, replies[0])
            return snapshot_from(user_id, document, vector, fields, session, offers, merged=(merged,))
        except (ValueError, ValidationFailed) as exc:  # a decision degrades rather than fail on bad data
            raise StoreUnavailable(f"unreadable stored data: {exc.__class__.__name__}") from exc

    async def _read(self, keys: list[str]) -> Any:
        try:
            return await self._redis.evalsha(READ_SHA, len(keys), *keys)
        except NoScriptError:
            return await self._redis.eval(READ, len(keys), *keys)

    async def _lean_read(self, lean: LeanReader, keys: list[str]) -> Any:
        try:
            return await lean.call("EVALSHA", READ_SHA, len(keys), *keys)
        except NoScriptError:
            return await lean.call("EVAL", READ, len(keys), *keys)

    async def read_hash(self, unit: str, rel: str) -> dict[str, str]:
        with self.failed_read:
            if self.lean_writer is not None:
                flat = await self.lean_writer.call("HGETALL", self.key(unit, rel))
                return _text(dict(zip(flat[::2], flat[1::2], strict=True)))
            await self._ready(self._writer)
            return _text(await self._writer.hgetall(self.key(unit, rel)))

    async def get_profile(self, user_id: str) -> tuple[Profile, np.ndarray | None] | None:
        with self.failed_read:
            await self._ready(self._writer)
            raw = await self._writer.hgetall(self.profile_key(user_id))
        try:
            base, vector, fields = _profile_parts(user_id, raw)
            profile = with_events(base, user_id, repair.readable(user_id, "-", base, fields, {}, {})[0])
        except (ValueError, ValidationFailed) as exc:
            raise StoreUnavailable(f"unreadable stored profile: {exc.__class__.__name__}") from exc
        return None if profile is None else (profile, vector)

    async def read_aggregate(self, name: str) -> list[dict[str, str]]:
        """The partition hashes `name` (`xa:<track>`, `da`; edge/core/attribution.py) of all 64 partitions."""
        with self.failed_read:
            await self._ready(self._writer)
            async with self._writer.pipeline(transaction=False) as pipe:
                for p in range(PARTITIONS):
                    pipe.hgetall(f"{self.prefix}:{{{p}}}:{name}")
                replies = await pipe.execute()
        return [_text(fields) for fields in replies]

    # writes -----------------------------------------------------------------------------------
    async def apply(self, program: Program) -> Applied:
        """One script for the program; in a cluster one per partition, concurrently."""
        if not program:
            return Applied()
        if not self.cluster:
            return await self._run(program)
        by_partition: dict[int, list[Group]] = {}
        for group in program:
            by_partition.setdefault(partition(group.unit), []).append(group)
        results = await asyncio.gather(*(self._run(groups) for groups in by_partition.values()))
        return Applied(sum(r.duplicates for r in results), tuple(tag for r in results for tag in r.created))

    async def _run(self, groups: Sequence[Group]) -> Applied:
        keys: dict[str, int] = {}
        encoded = []
        for group in groups:
            shared = f"{self.prefix}:{{{partition(group.unit)}}}:"
            own = f"{shared}{group.unit}:"
            ops: list[list[Arg]] = []
            for op in group.ops:
                name = shared + op.key[1:] if op.key[0] == "@" else own + op.key
                index = keys.get(name) or keys.setdefault(name, len(keys) + 1)
                if (
                    op.code == "X"
                ):  # the global cap bounds each partition; the balancer holds the sum (edge.store.retention)
                    self._retain(op.key[1:], int(op.args[0]))
                    ops.append(["X", index, *op.args])
                else:
                    ops.append([op.code, index, *op.args])
            encoded.append(ops)
        argv = orjson.dumps(encoded)
        with self.failed_write:
            try:
                await self._ready(self._writer)
                if self._write_gate is None:
                    reply = await self._script(keys, argv)
                else:
                    async with self._write_gate:
                        reply = await self._script(keys, argv)
            except ResponseError as exc:  # the script refused (or Redis did): not an outage
                if str(exc).startswith("edge: conflict"):
                    reused = "an Idempotency-Key was already used with a different body"
                    raise Conflict(reused, "idempotency-key") from exc
                raise StoreUnavailable(f"redis write failed: {exc.__class__.__name__}") from exc
        return Applied(int(reply[0]), tuple(t.decode() if isinstance(t, bytes) else str(t) for t in reply[1:]))

    def require_replicas(self, replicas: int, timeout_ms: float) -> None:
        """Every write waits (`WAIT`) until `replicas` replicas have it, else fails (503: retry with ids)."""
        if replicas and self.cluster:
            raise ConfigError(
                "EDGE_REDIS_WAIT_REPLICAS works with one Redis server, not a cluster", "EDGE_REDIS_WAIT_REPLICAS"
            )
        self.replicas, self.wait_ms = replicas, max(1, int(timeout_ms))

    async def _replicated(self, keys: dict[str, int], argv: bytes) -> Any:
        """The script and `WAIT` on one connection; fewer acknowledgements than required is a failure."""
        for attempt in (1, 2):
            try:
                async with self._writer.pipeline(transaction=False) as pipe:
                    pipe.evalsha(SCRIPT_SHA, len(keys), *keys, argv)
                    pipe.execute_command("WAIT", self.replicas, self.wait_ms)
                    reply, acknowledged = await pipe.execute()
                break
            except NoScriptError:
                if attempt == 2:
                    raise
                await self._writer.script_load(SCRIPT)
        if int(acknowledged) < self.replicas:
            raise StoreUnavailable(
                f"written, but {acknowledged} of {self.replicas} replicas acknowledged in time; retry"
            )
        return reply

    async def _script(self, keys: dict[str, int], argv: bytes) -> Any:
        if self.replicas:
            return await self._replicated(keys, argv)
        lean = self.lean_writer
        if lean is not None:
            try:
                return await lean.call_once("EVALSHA", SCRIPT_SHA, len(keys), *keys, argv)
            except NoScriptError:
                return await lean.call_once("EVAL", SCRIPT, len(keys), *keys, argv)
        try:
            return await self._writer.evalsha(SCRIPT_SHA, len(keys), *keys, argv)
        except NoScriptError:
            return await self._writer.eval(SCRIPT, len(keys), *keys, argv)

    async def put_profile(self, profile: Profile, vector: np.ndarray | None = None) -> None:
        """The document replaces the old one and what events had added to it (`e:*`), atomically."""
        if vector is not None:
            await self.put_profiles([(profile, vector)])
        document = orjson.dumps(profile_json(profile)).decode()
        ops = (Op("S", "profile", ("p", document)), Op("HD", "profile", EVENT_FIELDS))
        await self.apply((Group(user_unit(profile.user_id), ops),))

    async def get_document(self, user_id: str) -> Profile | None:
        with self.failed_read:
            await self._ready(self._writer)
            raw = await self._writer.hget(self.profile_key(user_id), "p")
        return repair.document(user_id, raw)

    async def put_document(self, profile: Profile) -> None:
        document = orjson.dumps(profile_json(profile)).decode()
        await self.apply((Group(user_unit(profile.user_id), (Op("S", "profile", ("p", document)),)),))

    async def put_profiles(self, entries: Sequence[tuple[Profile, np.ndarray | None]]) -> None:
        """Upsert many profile documents in one pipeline (idempotent; event-driven fields are kept)."""
        with self.failed_write:
            await self._ready(self._writer)
            async with self._writer.pipeline(transaction=False) as pipe:
                for profile, vector in entries:
                    fields: list[str | bytes] = ["p", orjson.dumps(profile_json(profile))]
                    if vector is not None:
                        fields += ["v", np.ascontiguousarray(vector, dtype=np.float32).tobytes()]
                    pipe.hset(self.profile_key(profile.user_id), items=fields)
                await pipe.execute()

    async def delete_user(self, user_id: str) -> bool:
        """Erase the user's keys, the anonymous sessions that became theirs, and their stream entries."""
        self.profiles.forget(user_id)
        unit = user_unit(user_id)
        with self.failed_delete:
            await self._ready(self._writer)
            async with self._writer.pipeline(transaction=False) as pipe:
                pipe.smembers(self.key(unit, "index"))
                pipe.smembers(self.key(unit, "links"))
                pipe.exists(self.key(unit, "profile"))
                indexed, links, existed = await pipe.execute()
            sessions = sorted(s.decode() for s in links)
            anonymous_indexes: list[set[bytes]] = []
            if sessions:
                async with self._writer.pipeline(transaction=False) as pipe:
                    for session_id in sessions:
                        pipe.smembers(self.key(session_unit(session_id), "index"))
                    anonymous_indexes = await pipe.execute()
            groups = [erase_keys(unit, sorted(m.decode() for m in indexed))]
            for session_id, members in zip(sessions, anonymous_indexes, strict=True):
                groups.append(erase_keys(session_unit(session_id), sorted(m.decode() for m in members)))
            await self.apply(tuple(groups))
            await self._writer.sadd(self.erased_key, tombstones.digest(user_id))  # loads never bring it back
            purged = await self._purge(user_id, sessions)
        return bool(existed or indexed or links or purged)

    async def _purge(self, user_id: str, sessions: Iterable[str]) -> int:
        """XDEL the stream entries that carry the user id or one of their sessions' ids."""
        linked = {s.encode() for s in sessions}
        partitions = {partition(user_unit(user_id))} | {partition(session_unit(s.decode())) for s in linked}
        wanted = user_id.encode()
        removed = 0
        for p in sorted(partitions):
            for name in STREAMS:
                key = f"{self.prefix}:{{{p}}}:{name}"
                start = "-"
                while True:
                    page: Any = await self._writer.xrange(key, start, "+", count=PURGE_PAGE)
                    doomed = [i for i, f in page if f.get(b"user_id") == wanted or f.get(b"session_id") in linked]
                    if doomed:
                        removed += await self._writer.xdel(key, *doomed)
                    if len(page) < PURGE_PAGE:
                        break
                    start = "(" + page[-1][0].decode()
        return removed

    @property
    def erased_key(self) -> str:
        """The set of tombstones (SHA-256 of erased user ids), edge/store/tombstones.py."""
        return f"{self.prefix}:erased"

    async def erased(self) -> frozenset[str]:
        with self.failed_read:
            await self._ready(self._writer)
            members = await self._writer.smembers(self.erased_key)
            return frozenset(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    async def add_erased(self, digests: Iterable[str]) -> None:
        members = sorted(digests)
        if members:
            with self.failed_write:
                await self._ready(self._writer)
                await self._writer.sadd(self.erased_key, *members)

    async def ping(self) -> bool:
        try:
            await self._ready(self._redis)
            return bool(await self._redis.ping())
        except ERRORS:
            return False

    def _retain(self, stream: str, cap: int) -> None:
        """Remember the stream's global cap and start the balancer (once)."""
        self._caps[stream] = cap
        if self._balancer is None:
            self._balancer = asyncio.get_running_loop().create_task(self._balance_forever())

    async def balance_streams(self) -> dict[str, int]:
        """Trim the largest partitions of each stream so the streams hold their global caps; entries removed."""
        removed: dict[str, int] = {}
        for stream, cap in list(self._caps.items()):
            keys = self.stream_keys(stream)
            async with self._writer.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.xlen(key)
                lengths = [int(n) for n in await pipe.execute()]
            level = retention.water_level(lengths, cap)
            if level is None:
                continue
            async with self._writer.pipeline(transaction=False) as pipe:
                for key, length in zip(keys, lengths, strict=True):
                    if length > level:
                        pipe.xtrim(key, maxlen=level, approximate=False)
                removed[stream] = sum(int(n) for n in await pipe.execute())
        return removed

    async def _balance_forever(self) -> None:
        while True:
            try:
                await self.balance_streams()
            except ERRORS as exc:
                self.outage.failed(exc)
            await asyncio.sleep(retention.BALANCE_S)

    async def close(self) -> None:
        if self._balancer is not None:
            self._balancer.cancel()
        for lean in (self.lean, self.lean_writer):
            if lean is not None:
                await lean.close()
        await self._redis.aclose()
        if self._writer is not self._redis:
            await self._writer.aclose()


def _profile_parts(
    user_id: str | None, raw: dict[Any, Any]
) -> tuple[Profile | None, np.ndarray | None, dict[str, str]]:
    """The stored document, the vector and the event-driven fields of one profile hash."""
    base = repair.document(user_id or "", raw.pop(b"p", None))
    return base, repair.vector(user_id or "", raw.pop(b"v", None)), _text(raw)


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
