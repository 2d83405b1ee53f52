"""Timestamps outside 1970-2200 are a 422 naming the field; unreadable stored records are ignored."""

from __future__ import annotations

import logging

import pytest
import redis
from starlette.testclient import TestClient

from edge.http.app import create_app
from edge.settings import Settings
from edge.store.redis_store import RedisStore
from tests.conftest import AUTH, NOW, with_redis

OUT_OF_RANGE = [
    "0001-01-01T00:00:00+14:00",
    "0999-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "2201-01-01T00:00:00Z",
    "9999-12-31T23:59:59-12:00",
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_out_of_range_times_are_a_422_naming_the_field(refusing_client: TestClient, value: str) -> None:
    decided = refusing_client.post("/v1/decide", json={"session_id": "s-ts", "now": value})
    assert decided.status_code == 422 and decided.json()["error"]["field"] == "now"
    event = {"type": "view", "session_id": "s-ts", "product_id": "SYN10003", "ts": value}
    posted = refusing_client.post("/v1/events", json={"events": [{**event, "ts": NOW}, event]})
    assert posted.status_code == 422 and posted.json()["error"]["field"] == "events[1].ts"
    for name in ("joined_at", "last_purchase_at"):
        put = refusing_client.put("/v1/profiles/u-ts", json={name: value}, headers=AUTH)
        assert put.status_code == 422 and put.json()["error"]["field"] == name


def test_the_range_edges_are_accepted_and_written_with_four_digit_years(store_client: TestClient) -> None:
    body = {"joined_at": "1970-01-01T00:00:00Z", "last_purchase_at": "2200-12-31T23:59:59Z", "birthday": "1900-01-01"}
    put = store_client.put("/v1/profiles/u-edge", json=body, headers=AUTH)
    assert put.status_code == 200, put.text
    stored = store_client.get("/v1/profiles/u-edge", headers=AUTH).json()
    assert stored["joined_at"] == "1970-01-01T00:00:00Z" and stored["last_purchase_at"] == "2200-12-31T23:59:59Z"
    refused = store_client.put("/v1/profiles/u-edge", json={"birthday": "0001-01-01"}, headers=AUTH)
    assert refused.json()["error"]["field"] == "birthday"


def test_an_unreadable_stored_record_is_reported_once_and_ignored(
    settings: Settings, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(with_redis(settings, redis_prefix))) as app:
        unreadable_record_is_ignored(app, caplog)


def unreadable_record_is_ignored(app: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """Only Redis holds documents written by other versions or by hand."""
    store = app.app_state["runtime"].store
    assert isinstance(store, RedisStore)
    raw = redis.Redis.from_url(app.app_state["runtime"].settings.redis_url)
    try:  # what an old version wrote: an unpadded year, and a pinned last purchase
        raw.hset(store.profile_key("u-bad"), mapping={"p": b'{"joined_at": "999-01-01T00:00:00Z", "orders": 3}'})
        raw.hset(store.profile_key("u-bad"), "e:last_purchase_at", "999-01-01T00:00:00Z")
    finally:
        raw.close()
    with caplog.at_level(logging.WARNING, logger="edge.store"):
        for _ in range(3):
            decided = app.post("/v1/decide", json={"session_id": "s-bad", "user_id": "u-bad", "now": NOW})
            assert decided.status_code == 200 and decided.json()["degraded"] is False
    assert len([r for r in caplog.records if "profile document of user u-bad" in r.getMessage()]) == 1
    purchase = {"type": "purchase", "user_id": "u-bad", "product_id": "SYN10003", "quantity": 1, "price": 5.0,
                "ts": "2026-10-30T12:00:00Z"}  # fmt: skip
    assert app.post("/v1/events", json={"events": [purchase]}).status_code == 202
    profile = app.get("/v1/profiles/u-bad", headers=AUTH)
    assert profile.status_code == 200
    assert profile.json()["last_purchase_at"] == "2026-10-30T12:00:00Z"  # repaired, not pinned by "999-..."
