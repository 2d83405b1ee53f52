"""Events received while personalization consent is withdrawn are not kept for personalization."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.conftest import AUTH, NOW, stream_entries

USER, SESSION = "u-withdrawn", "s-withdrawn"


def post(client: TestClient, *events: dict[str, Any]) -> None:
    assert client.post("/v1/events", json={"events": list(events)}).status_code == 202


def signals(client: TestClient, user_id: str | None, session_id: str) -> dict[str, Any]:
    body = {"session_id": session_id, "user_id": user_id, "now": NOW, "debug": True}
    explained: dict[str, Any] = client.post("/v1/decide", json=body, headers=AUTH).json()["explain"]["signals"]
    return explained


def test_a_members_events_while_withdrawn_are_withheld_but_purchases_counted(store_client: TestClient) -> None:
    assert store_client.put(f"/v1/profiles/{USER}", json={"points": 10}, headers=AUTH).status_code == 200
    mine = {"user_id": USER, "session_id": SESSION}
    post(store_client, {"type": "consent", **mine, "personalization": False})
    post(
        store_client,
        {"type": "view", **mine, "product_id": "SYN10003"},
        {"type": "search", **mine, "query": "lantern"},
        {"type": "wishlist_add", **mine, "product_id": "SYN10004"},
        {"type": "purchase", **mine, "product_id": "SYN10005", "quantity": 2, "price": 10.0},
    )
    post(store_client, {"type": "consent", **mine, "personalization": True})  # consent comes back ...
    assert signals(store_client, USER, SESSION)["viewed"] == 0  # ... what happened meanwhile was not kept
    profile = store_client.get(f"/v1/profiles/{USER}", headers=AUTH).json()
    assert profile["wishlist"] == [] and profile["purchased"] == []
    assert profile["orders"] == 1 and profile["points"] == 30  # what the shop owes the customer stays
    kinds = [e["type"] for e in stream_entries(store_client)]
    assert kinds == ["consent", "purchase", "consent"]
    post(store_client, {"type": "view", **mine, "product_id": "SYN10006"})
    assert signals(store_client, USER, SESSION)["viewed"] == 1  # with consent, events count again


def test_an_anonymous_visitors_events_while_withdrawn_are_withheld(store_client: TestClient) -> None:
    post(store_client, {"type": "consent", "session_id": "s-anon-withdrawn", "personalization": False})
    post(
        store_client,
        *({"type": "view", "session_id": "s-anon-withdrawn", "product_id": f"SYN1000{i}"} for i in range(3)),
    )
    post(store_client, {"type": "consent", "session_id": "s-anon-withdrawn", "personalization": True})
    assert signals(store_client, None, "s-anon-withdrawn")["viewed"] == 0
    assert [e["type"] for e in stream_entries(store_client)] == ["consent", "consent"]


def test_a_profile_document_without_consent_withholds_too(store_client: TestClient) -> None:
    body = {"consent": {"personalization": False}}
    assert store_client.put("/v1/profiles/u-doc-withdrawn", json=body, headers=AUTH).status_code == 200
    post(store_client, {"type": "wishlist_add", "user_id": "u-doc-withdrawn", "product_id": "SYN10004"})
    assert store_client.get("/v1/profiles/u-doc-withdrawn", headers=AUTH).json()["wishlist"] == []
