"""Event ids make retries safe; a reused Idempotency-Key with another body is a 409."""

from __future__ import annotations

from typing import Any

import redis
from starlette.testclient import TestClient

from edge.http.app import create_app
from edge.settings import Settings
from tests.conftest import AUTH, PrivateRedis, stream_entries, wait_for
from tests.test_faults import fault_settings

USER = "u-dedup"


def purchase(event_id: str | None, product: str = "SYN10003", ts: str = "2026-10-30T12:00:00Z") -> dict[str, Any]:
    event = {"type": "purchase", "user_id": USER, "product_id": product, "quantity": 1, "price": 25.0, "ts": ts}
    return event if event_id is None else {**event, "id": event_id}


def post(client: TestClient, *events: dict[str, Any], **headers: str) -> int:
    return client.post("/v1/events", json={"events": list(events)}, headers=headers).status_code


def points(client: TestClient) -> tuple[int, int]:
    found = client.get(f"/v1/profiles/{USER}", headers=AUTH).json()
    return found["orders"], found["points"]


def test_a_repeated_event_id_is_stored_once(store_client: TestClient) -> None:
    for _ in range(3):
        assert post(store_client, purchase("ord-1-line-1"), purchase("ord-1-line-2", "SYN10004")) == 202
    assert points(store_client) == (1, 50)  # one order of two lines, counted once
    assert len(stream_entries(store_client)) == 2
    assert {e["id"] for e in stream_entries(store_client)} == {"ord-1-line-1", "ord-1-line-2"}


def test_a_duplicate_never_drops_a_new_event_sent_with_it(store_client: TestClient) -> None:
    assert post(store_client, purchase("p-1")) == 202
    view = {"type": "view", "user_id": USER, "session_id": "s-dedup", "product_id": "SYN10005", "id": "v-1"}
    later = purchase("p-2", "SYN10006", ts="2026-10-31T09:00:00Z")
    assert post(store_client, purchase("p-1"), view, later, {**view}) == 202  # p-1 again, v-1 twice in one call
    assert points(store_client) == (2, 50)
    assert sorted(e["id"] for e in stream_entries(store_client)) == ["p-1", "p-2", "v-1"]


def test_events_without_ids_are_still_stored_every_time(store_client: TestClient) -> None:
    assert post(store_client, purchase(None)) == 202 and post(store_client, purchase(None)) == 202
    assert points(store_client) == (2, 50)


def test_a_reused_idempotency_key_with_another_body_is_a_409(store_client: TestClient) -> None:
    assert post(store_client, purchase(None), **{"Idempotency-Key": "order-9"}) == 202
    assert post(store_client, purchase(None), **{"Idempotency-Key": "order-9"}) == 202  # a retry: applied once
    other = store_client.post(
        "/v1/events", json={"events": [purchase(None, "SYN10009")]}, headers={"Idempotency-Key": "order-9"}
    )
    assert other.status_code == 409
    assert other.json()["error"]["field"] == "idempotency-key" and "order-9" in other.json()["error"]["message"]
    assert (
        points(store_client) == (1, 25) and len(stream_entries(store_client)) == 1
    )  # nothing of the refused call stored


def test_an_event_answered_503_and_stored_later_is_not_counted_twice(
    settings: Settings, private_redis: PrivateRedis
) -> None:
    """The DEBUG SLEEP / CLIENT PAUSE case: the write lands after the 503; the retry with its id is dropped."""
    admin = redis.Redis(port=private_redis.port)
    with TestClient(create_app(fault_settings(settings, private_redis))) as client:
        assert client.put(f"/v1/profiles/{USER}", json={}, headers=AUTH).status_code == 200
        admin.execute_command("CLIENT", "PAUSE", "700", "WRITE")  # the script waits, the call times out
        assert post(client, purchase("late-1")) == 503
        wait_for(lambda: post(client, purchase("late-1")) == 202)  # the caller retries until acknowledged
        assert points(client) == (1, 25)
        assert [e["id"] for e in stream_entries(client)] == ["late-1"]
    admin.close()
