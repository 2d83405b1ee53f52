"""The lean Redis reads (edge/store/lean.py): pipelined calls answered in order, redis-py's errors,
a redial after a restart, and a timeout that leaves the connection usable."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import redis
from redis.exceptions import ConnectionError as BrokenConnection
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as ReadTimeout

from edge.store.lean import LeanReader, Target, lean_target
from tests.conftest import REDIS_URL, PrivateRedis

PREFIX = "edge-test-lean"


def test_only_plain_single_server_urls_take_the_lean_path() -> None:
    assert lean_target("redis://127.0.0.1:6379/0") == Target("127.0.0.1", 6379, 0, None, None)
    assert lean_target("redis://:secret@cache:6380/2") == Target("cache", 6380, 2, None, "secret")
    assert lean_target("redis://app:p%40ss@cache") == Target("cache", 6379, 0, "app", "p@ss")
    for other in ("rediss://cache:6379/0", "unix:///tmp/redis.sock", "redis+cluster://c:7000", "redis://c/0?ssl=1"):
        assert lean_target(other) is None, other


def test_concurrent_calls_get_their_own_replies_in_order() -> None:
    target = lean_target(REDIS_URL)
    assert target is not None

    async def scenario() -> None:
        reader = LeanReader(target, 2.0, 2.0)
        try:
            keys = [f"{PREFIX}:{i}" for i in range(200)]
            await asyncio.gather(*(reader.call("SET", key, f"value-{i}") for i, key in enumerate(keys)))
            answers = await asyncio.gather(*(reader.call("GET", key) for key in keys))
            assert answers == [f"value-{i}".encode() for i in range(200)]
            with pytest.raises(ResponseError):
                await reader.call("INCR", keys[0])  # not an integer: the error reply, as redis-py raises it
            with pytest.raises(NoScriptError):
                await reader.call("EVALSHA", "0" * 40, 0)
            assert await reader.call("GET", keys[1]) == b"value-1"  # the stream is still in step
            await reader.call("DEL", *keys)
        finally:
            await reader.close()

    asyncio.run(scenario())


def test_the_calls_of_one_loop_turn_reach_redis_in_one_write(private_redis: PrivateRedis) -> None:
    """Under load many decisions start in one turn of the event loop: their reads go out together (a loopback
    `send` is the costly part of a round trip), so Redis reads them in one go, not one read per call."""
    target = lean_target(private_redis.url)
    assert target is not None
    reads = redis.Redis(port=private_redis.port)

    def reads_processed() -> int:
        return int(reads.info("stats")["total_reads_processed"])

    async def scenario() -> None:
        reader = LeanReader(target, 2.0, 2.0)
        try:
            await reader.call("PING")  # connected
            before = reads_processed()
            answers = await asyncio.gather(*(reader.call("ECHO", f"call-{i}") for i in range(100)))
            assert answers == [f"call-{i}".encode() for i in range(100)]
            assert reads_processed() - before <= 3  # this counting client's INFO and one or two reads of the batch
        finally:
            await reader.close()

    try:
        asyncio.run(scenario())
    finally:
        reads.close()


def test_a_restart_fails_the_calls_in_flight_and_the_next_call_redials(private_redis: PrivateRedis) -> None:
    target = lean_target(private_redis.url)
    assert target is not None

    async def scenario() -> None:
        reader = LeanReader(target, 0.5, 0.5)
        try:
            assert await reader.call("PING") == b"PONG"
            await asyncio.to_thread(private_redis.stop)
            with pytest.raises(BrokenConnection):
                await reader.call("PING")  # nothing listens: refused, after the one retry
            await asyncio.to_thread(private_redis.start)
            assert await reader.call("PING") == b"PONG"
        finally:
            await reader.close()

    asyncio.run(scenario())


def test_a_call_that_waits_too_long_times_out_and_later_calls_are_answered(private_redis: PrivateRedis) -> None:
    target = lean_target(private_redis.url)
    assert target is not None
    pid = private_redis.process.pid if private_redis.process is not None else None
    assert pid is not None

    async def scenario() -> None:
        reader = LeanReader(target, 0.1, 0.5, stale_s=60.0)
        try:
            assert await reader.call("SET", "k", "v") is not None
            os.kill(pid, signal.SIGSTOP)  # the server hangs: the call times out, the connection stays
            try:
                with pytest.raises(ReadTimeout):
                    await reader.call("GET", "k")
            finally:
                os.kill(pid, signal.SIGCONT)
            assert await reader.call("GET", "k") == b"v"  # the late reply of the timed-out call is skipped
        finally:
            await reader.close()

    asyncio.run(scenario())
