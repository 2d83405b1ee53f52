"""A failing Redis: decisions still answer, degraded, within the deadline; and recover by themselves."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from edge.app import create_app
from edge.cli import load
from edge.settings import Settings
from tests.conftest import AUTH, NOW, PrivateRedis


def test_redis_down_slow_and_back(settings: Settings, private_redis: PrivateRedis) -> None:
    redis_settings = Settings(
        artifacts=settings.artifacts, admin_token=settings.admin_token, build_if_missing=False,
        redis_url=private_redis.url, redis_prefix="edge", deadline_ms=50,
    )  # fmt: skip
    assert load(redis_settings, private_redis.url) == 0
    body = {"session_id": "s-fault", "user_id": "20001", "now": NOW, "limit": 12}
    with TestClient(create_app(redis_settings)) as client:
        healthy = client.post("/v1/decide", json=body).json()
        assert healthy["degraded"] is False and healthy["personalized"] is True

        private_redis.stop()
        started = time.perf_counter()
        down = client.post("/v1/decide", json=body)
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert down.status_code == 200
        result = down.json()
        assert result["degraded"] is True
        assert result["personalized"] is False
        assert len(result["products"]) == 12
        assert result["segment"] == "new_visitor"
        assert elapsed_ms < 500  # the deadline is 50 ms; allow for a slow test machine
        assert client.get("/readyz").status_code == 503
        assert client.get("/v1/profiles/20001", headers=AUTH).status_code == 503

        private_redis.start()  # empty again: reload the profiles, as an operator would
        assert load(redis_settings, private_redis.url) == 0
        recovered = client.post("/v1/decide", json=body).json()
        assert recovered["degraded"] is False and recovered["personalized"] is True
        assert client.get("/readyz").status_code == 200

        import redis

        slow = redis.Redis(port=private_redis.port)
        slow.execute_command("CLIENT", "PAUSE", "400", "ALL")
        started = time.perf_counter()
        paused = client.post("/v1/decide", json=body).json()
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert paused["degraded"] is True
        assert elapsed_ms < 300, elapsed_ms  # answered at the deadline, not after the pause
        time.sleep(0.5)
        assert client.post("/v1/decide", json=body).json()["degraded"] is False
        slow.close()
