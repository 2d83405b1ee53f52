"""One global stream cap, held within 10 % and fair across partitions (Redis store)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from starlette.testclient import TestClient

from edge.http.app import create_app
from edge.settings import Settings
from edge.store.retention import water_level
from tests.conftest import stream_entries, with_redis

CAP = 640


def test_the_water_level_trims_only_the_largest_partitions() -> None:
    assert water_level([10, 20, 30], 100) is None
    assert water_level([10, 500, 40], 150) == 100  # 10 + 100 + 40
    assert water_level([300, 300, 300], 300) == 100
    assert water_level([0, 0, 900], 640) == 640


def views(session: str, n: int, user: str | None = None) -> list[dict[str, Any]]:
    base = {"type": "view", "session_id": session, "product_id": "SYN10003"}
    return [{**base, **({"user_id": user} if user else {})} for _ in range(n)]


def test_a_hot_customer_keeps_events_while_the_total_is_under_the_cap(settings: Settings, redis_prefix: str) -> None:
    app_settings = dataclasses.replace(with_redis(settings, redis_prefix), events_maxlen=CAP)
    with TestClient(create_app(app_settings)) as client:
        for _ in range(4):  # 400 events of one customer: one partition
            assert client.post("/v1/events", json={"events": views("s-hot", 100, "u-hot")}).status_code == 202
        for n in range(40):
            assert client.post("/v1/events", json={"events": views(f"s-small-{n}", 2)}).status_code == 202
        store = client.app_state["runtime"].store
        client.portal.call(store.balance_streams)
        entries = stream_entries(client)
        assert len(entries) == 480  # under the cap: nothing trimmed (was ~10 a partition)
        for n in range(40, 120):  # over the cap now, mostly through the hot customer
            client.post("/v1/events", json={"events": views(f"s-small-{n}", 2)})
        for _ in range(4):
            client.post("/v1/events", json={"events": views("s-hot", 100, "u-hot")})
        deadline = time.monotonic() + 5
        while len(entries := stream_entries(client)) > CAP * 1.1:  # the balancer runs every second
            assert time.monotonic() < deadline, len(entries)
        assert CAP * 0.9 <= len(entries) <= CAP * 1.1
        smalls = [e for e in entries if e["session_id"].startswith("s-small-")]
        assert len(smalls) == 240  # the small partitions were not trimmed: the hot one was
