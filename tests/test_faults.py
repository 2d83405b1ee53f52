"""A failing Redis: decisions still answer, degraded, within the deadline; and recover by themselves."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.testclient import TestClient

from edge.cli import load
from edge.errors import StoreUnavailable
from edge.http.app import create_app
from edge.settings import Settings
from edge.store.redis_store import RedisStore
from tests.conftest import AUTH, NOW, PrivateRedis, free_port, require_redis, settle, wait_for, with_redis


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

        slow = redis.Redis(port=private_redis.port)
        slow.execute_command("CLIENT", "PAUSE", "400", "ALL")
        started = time.perf_counter()
        paused = client.post("/v1/decide", json=body).json()
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert paused["degraded"] is True
        assert elapsed_ms < 300, elapsed_ms  # answered at the deadline, not after the pause
        # the 400 ms pause ends; the next decisions are whole again
        wait_for(lambda: client.post("/v1/decide", json=body).json()["degraded"] is False, what="a whole decision")
        slow.close()


def fault_settings(settings: Settings, server: PrivateRedis) -> Settings:
    return Settings(
        artifacts=settings.artifacts, admin_token=settings.admin_token, build_if_missing=False,
        redis_url=server.url, redis_prefix="edge", deadline_ms=50, events_timeout_ms=250,
    )  # fmt: skip


def stored_markers(server: PrivateRedis) -> list[str]:
    """product_id of every event in the server's event streams (one entry per stored event)."""
    reader = redis.Redis(port=server.port)
    try:
        return [
            fields[b"product_id"].decode()
            for key in reader.scan_iter(match="edge:*:events")
            for _, fields in reader.xrange(key)
        ]
    finally:
        reader.close()


def test_stop_and_restart_mid_run_loses_no_acknowledged_event(settings: Settings, tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path, durable=True)
    server.start()
    acknowledged, refused = [], []
    try:
        with TestClient(create_app(fault_settings(settings, server))) as client:
            for i in range(60):
                if i == 20:
                    server.stop()
                if i == 40:
                    server.start()  # same data directory: the append-only file brings the data back
                    wait_for(lambda: client.get("/readyz").status_code == 200)
                marker = f"M{i:03d}"
                event = {"type": "view", "session_id": f"s-run-{i % 3}", "user_id": f"u-run-{i % 5}",
                         "product_id": marker}  # fmt: skip
                response = client.post("/v1/events", json={"events": [event]})
                assert response.status_code in (202, 503), response.text
                (acknowledged if response.status_code == 202 else refused).append(marker)
                if response.status_code == 503:
                    assert response.json()["error"]["code"] == "store_unavailable"
                started = time.perf_counter()
                decision = client.post("/v1/decide", json={"session_id": f"s-run-{i % 3}", "now": NOW})
                assert decision.status_code == 200 and len(decision.json()["products"]) == 12
                assert (time.perf_counter() - started) < 0.5
            down = [f"M{i:03d}" for i in range(20, 40)]
            assert set(down) <= set(refused)  # while the server was down, nothing was acknowledged ...
            assert acknowledged[:20] == [f"M{i:03d}" for i in range(20)]  # ... before, everything was ...
            assert len(acknowledged) >= 37  # ... and after (a stale connection may cost a retry)
            assert sorted(stored_markers(server)) == acknowledged  # stored: exactly what was acknowledged
            body = {"session_id": "s-run-0", "now": NOW, "debug": True}
            last = client.post("/v1/decide", json=body, headers=AUTH).json()
            assert last["degraded"] is False and last["explain"]["signals"]["viewed"] == 0  # views of u-run-*
    finally:
        server.stop()


def asleep(server: PrivateRedis) -> bool:
    """Whether `server` is busy: a PING (sent once, not retried) gets no answer within 150 ms."""
    probe = redis.Redis(port=server.port, socket_timeout=0.15, retry=Retry(NoBackoff(), 0))
    try:
        probe.ping()
        return False
    except redis.TimeoutError:
        return True
    finally:
        probe.close()


def test_slow_redis_gives_503_and_a_retry_with_the_same_key_applies_once(
    settings: Settings, private_redis: PrivateRedis
) -> None:
    admin = redis.Redis(port=private_redis.port)
    with TestClient(create_app(fault_settings(settings, private_redis))) as client:
        event = {"type": "view", "session_id": "s-slow", "product_id": "SLOW-1"}
        sleeper = threading.Thread(target=admin.execute_command, args=("DEBUG", "SLEEP", "0.8"))
        sleeper.start()
        wait_for(lambda: asleep(private_redis), what="DEBUG SLEEP")
        started = time.perf_counter()
        slow = client.post("/v1/events", json={"events": [event]}, headers={"Idempotency-Key": "retry-1"})
        assert slow.status_code == 503 and (time.perf_counter() - started) < 0.6
        started = time.perf_counter()
        decision = client.post("/v1/decide", json={"session_id": "s-slow", "now": NOW}).json()
        assert decision["degraded"] is True and (time.perf_counter() - started) < 0.3
        sleeper.join()
        wait_for(lambda: client.post("/v1/events", json={"events": [event]},
                                     headers={"Idempotency-Key": "retry-1"}).status_code == 202)  # fmt: skip
        assert stored_markers(private_redis) == ["SLOW-1"]  # stored once, though sent until acknowledged
        whole = {"session_id": "s-slow", "now": NOW}
        wait_for(lambda: client.post("/v1/decide", json=whole).json()["degraded"] is False, what="a whole decision")
    admin.close()


def test_paused_writes_do_not_slow_decisions_and_exposures_follow(
    settings: Settings, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    experiments = tmp_path / "experiments.yaml"
    experiments.write_text("experiments:\n  - key: all\n    arms: [{key: a, weight: 0.5}, {key: b, weight: 0.5}]\n")
    admin = redis.Redis(port=private_redis.port)
    app_settings = dataclasses.replace(fault_settings(settings, private_redis), experiments=experiments)
    with TestClient(create_app(app_settings)) as client:
        client.post("/v1/decide", json={"session_id": "s-warm", "now": NOW})
        admin.execute_command("CLIENT", "PAUSE", "600", "WRITE")  # reads go on, writes wait
        started = time.perf_counter()
        decisions = [client.post("/v1/decide", json={"session_id": f"s-exp-{i}", "now": NOW}).json() for i in range(5)]
        elapsed = time.perf_counter() - started
        assert all(d["degraded"] is False and d["experiments"] for d in decisions)
        assert elapsed < 0.4, elapsed  # the exposure writes wait for the pause, the decisions do not
        settle(client)
        reader = redis.Redis(port=private_redis.port)
        logged = [f for key in reader.scan_iter(match="edge:*:exposures") for _, f in reader.xrange(key)]
        reader.close()
        ids = {d["decision_id"] for d in decisions}
        assert ids <= {f[b"decision_id"].decode() for f in logged}
    admin.close()


def test_unreadable_stored_data_is_ignored_instead_of_failing(settings: Settings, redis_prefix: str) -> None:
    writer = require_redis()
    with TestClient(create_app(with_redis(settings, redis_prefix))) as client:
        store: RedisStore = client.app_state["runtime"].store
        writer.hset(store.profile_key("u-corrupt"), mapping={"p": b"{not json", "e:orders": b"many"})
        writer.hset(store.session_key(None, "s-corrupt"), "viewed", b"[oops")
        result = client.post("/v1/decide", json={"session_id": "s-corrupt", "user_id": "u-corrupt", "now": NOW})
        assert result.status_code == 200 and result.json()["degraded"] is False  # unreadable parts are ignored
        assert client.get("/v1/profiles/u-corrupt", headers=AUTH).status_code == 404  # nothing readable is left
        anonymous = client.post("/v1/decide", json={"session_id": "s-corrupt", "now": NOW}).json()
        assert anonymous["degraded"] is False and anonymous["personalized"] is False  # a bad list reads as none
    writer.close()


def test_every_store_call_to_a_redis_that_is_gone_is_store_unavailable_and_counted() -> None:
    """One translation point: each call fails as StoreUnavailable naming the call, and the outage counts it."""
    from edge.core.profiles import Profile
    from edge.core.writes import Group, Op

    async def scenario() -> None:
        store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}", "edge-gone", 200.0, 2)  # nothing listens
        offer = Group("s=s-gone", (Op("I", "offers:20260101", ("WELCOME", 1)),))
        calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("fetch", lambda: store.fetch("u-gone", "s-gone", "20260101")),
            ("read", lambda: store.read_hash("s=s-gone", "session")),
            ("read", lambda: store.get_profile("u-gone")),
            ("read", lambda: store.get_document("u-gone")),
            ("read", lambda: store.read_aggregate("da")),
            ("read", store.erased),
            ("write", lambda: store.apply((offer,))),
            ("write", lambda: store.put_profiles([(Profile(user_id="u-gone"), None)])),
            ("write", lambda: store.add_erased(["ab" * 32])),
            ("delete", lambda: store.delete_user("u-gone")),
        ]
        try:
            for call, work in calls:
                with pytest.raises(StoreUnavailable, match=f"^redis {call} failed: ConnectionError$"):
                    await work()
            assert store.outage.failures == len(calls)
            assert await store.ping() is False
        finally:
            await store.close()

    asyncio.run(scenario())
