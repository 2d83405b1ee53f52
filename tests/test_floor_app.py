"""The benchmark's floor (`loadtest/floor_app.py`): the request decoded and the decision's one Redis read, then
a body of the bare endpoint's size. Its figure bounds what any decision logic could reach on the Redis store, so
it must really make that read, answer the size asked for, and degrade like Edge when Redis is gone."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import orjson
import pytest
import redis
from starlette.testclient import TestClient

from edge.cli import load
from edge.model import artifacts
from edge.settings import Settings
from tests.conftest import PrivateRedis

pytestmark = [pytest.mark.redis]

PREFIX = "edge-floor"
BODY_BYTES = 1_800


def evalsha_calls(server: PrivateRedis) -> int:
    client = redis.Redis(port=server.port)
    try:
        found = client.info("commandstats").get("cmdstat_evalsha", {})
        return int(found.get("calls", 0))
    finally:
        client.close()


def test_the_floor_reads_redis_once_per_decision_and_degrades_without_it(
    artifacts_dir: Path, private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(artifacts=artifacts_dir, redis_url=private_redis.url, redis_prefix=PREFIX)
    assert load(settings, private_redis.url) == 0
    user_id = artifacts.load(artifacts_dir).profiles[0]["user_id"]
    for name, value in {"EDGE_ARTIFACTS": str(artifacts_dir), "EDGE_REDIS_URL": private_redis.url,
                        "EDGE_REDIS_PREFIX": PREFIX, "BARE_BODY_BYTES": str(BODY_BYTES)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    floor_app = importlib.reload(importlib.import_module("loadtest.floor_app"))  # reads the environment above
    known = orjson.dumps({"session_id": "s-floor", "user_id": user_id, "session": {"viewed": ["x"]}})
    refused = orjson.dumps({"session_id": "s-floor", "consent": {"personalization": False}})
    with TestClient(floor_app.app) as client:
        before = evalsha_calls(private_redis)
        for _ in range(3):
            answer = client.post("/v1/decide", content=known)
            assert answer.status_code == 200
            assert abs(len(answer.content) - BODY_BYTES) <= 2
        assert evalsha_calls(private_redis) == before + 3  # profile, session and counters: one round trip each
        memo = floor_app.STORE.profiles.memo  # the profile was read and parsed once, then found in the near cache
        assert (memo.misses, memo.hits) == (1, 2)
        assert client.post("/v1/decide", content=refused).status_code == 200
        assert evalsha_calls(private_redis) == before + 3  # no consent, no read (as Edge)

        private_redis.stop()
        started = time.monotonic()
        answer = client.post("/v1/decide", content=known)
        assert answer.status_code == 200  # degraded, as Edge would, not failed
        assert time.monotonic() - started < 2.0
