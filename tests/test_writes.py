"""The write vocabulary: the Lua script in Redis and the embedded store end in the same state."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest

from edge.core.profiles import Profile
from edge.core.writes import Applied, Group, Op, Program
from edge.errors import StoreUnavailable
from edge.store.memory import MemoryStore
from edge.store.redis_store import RedisStore
from tests.conftest import REDIS_URL, require_redis

UNITS = ["u=alice", "u=bob", "s=anon-1"]
HASHES = ["profile", "session", "s=x:session", "offers:20261101"]
FIELDS = ["a", "b", "e:tier", "viewed"]  # never a counter: HINCRBY on text fails in Redis too
VALUES = ["P1", "P2", "P3", "2026-11-01T10:00:00Z", "2026-10-01T10:00:00Z", "1"]


def random_op(rng: random.Random) -> Op:
    key, field, value = rng.choice(HASHES), rng.choice(FIELDS), rng.choice(VALUES)
    whole = rng.choice(HASHES[1:])  # key-level ops: the embedded store keeps the profile document apart
    return rng.choice(
        [
            Op("I", key, ("n", rng.randint(-3, 5))),
            Op("F", key, ("e:spend", round(rng.uniform(0, 900), 2))),
            Op("S", key, (field, value)),
            Op("SNX", key, (field, value)),
            Op("MAX", key, ("last", value)),
            Op("LA", key, ("viewed", value, rng.randint(1, 3))),
            Op("LR", key, ("viewed", value)),
            Op("LM", key, ("viewed", orjson.dumps(rng.sample(VALUES[:3], 2)).decode(), rng.randint(1, 4))),
            Op("TIER", "profile", (round(rng.uniform(0, 900), 2), 100.0, 500.0, 1000.0)),
            Op("HD", key, (field, "viewed")),
            Op("CD", whole, ("n", str(rng.randint(0, 3)))),
            Op("N", whole, (f"tag-{rng.randint(0, 9)}",)),
            Op("SA", "index", (key,)),
            Op("D", whole),
            Op("X", "@events", (1000, "type", "view", "product_id", value)),
        ]
    )


def random_program(rng: random.Random) -> Program:
    groups = []
    for _ in range(rng.randint(1, 3)):
        ops = [random_op(rng) for _ in range(rng.randint(1, 12))]
        if rng.random() < 0.3:
            ops.insert(0, Op("G", f"idem:{rng.randint(0, 2)}", (60,)))
        groups.append(Group(rng.choice(UNITS), tuple(ops)))
    return tuple(groups)


async def state(store: RedisStore | MemoryStore) -> dict[str, object]:
    found: dict[str, object] = {}
    for unit in UNITS:
        for rel in HASHES:
            fields = await store.read_hash(unit, rel)
            fields.pop("p", None)  # the profile document: Redis keeps it in the same hash
            if "e:spend" in fields:
                fields["e:spend"] = str(round(float(fields["e:spend"]), 6))
            found[f"{unit}:{rel}"] = fields
    return found


def test_lua_and_memory_interpreters_agree(redis_prefix: str) -> None:
    require_redis().close()
    base = Profile(user_id="alice", spend=250.0, tier="silver")

    async def run() -> None:
        memory = MemoryStore([base])
        redis_store = RedisStore.from_url(REDIS_URL, redis_prefix, 2000, 4)
        try:
            await redis_store.put_profile(base)
            rng = random.Random(11)
            for _ in range(300):
                program = random_program(rng)
                expected = await memory.apply(program)
                got = await redis_store.apply(program)
                assert got == expected, program
            assert await state(redis_store) == await state(memory)
            events_memory = [e["product_id"] for e in memory.entries("events")]
            assert len(events_memory) > 50
        finally:
            await redis_store.close()

    asyncio.run(run())


def test_a_malformed_program_writes_nothing(redis_prefix: str) -> None:
    client = require_redis()

    async def run() -> None:
        store = RedisStore.from_url(REDIS_URL, redis_prefix, 2000, 4)
        try:
            good = Op("S", "session", ("viewed", "[]"))
            with pytest.raises(StoreUnavailable, match="ResponseError"):
                await store.apply((Group("s=bad", (good, Op("NOPE", "session"))),))
            assert await store.read_hash("s=bad", "session") == {}
            assert await store.apply(()) == Applied()
        finally:
            await store.close()

    asyncio.run(run())
    client.close()
