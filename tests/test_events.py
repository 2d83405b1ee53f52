"""POST /v1/events through HTTP, on the embedded store and on Redis: validation, storage, state, re-ranking."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from edge.http.app import create_app
from edge.settings import Settings
from tests import conftest
from tests.conftest import AUTH, member, profile, stream_entries


def post_events(store_client: TestClient, *events: dict[str, Any], status: int = 202, **headers: str) -> dict[str, Any]:
    response = store_client.post("/v1/events", json={"events": list(events)}, headers=headers)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


decide = functools.partial(conftest.decide, headers=AUTH, location={"country": "NL"}, debug=True)  # debug: admin


def ids(result: dict[str, Any], reason: str | None = None) -> list[str]:
    return [p["id"] for p in result["products"] if reason is None or p["reason"] == reason]


def with_neighbours(catalog: dict[str, Any], category: str, n: int = 1) -> list[str]:
    """Products of `category` that have co-purchase neighbours (so complements exist)."""
    art = catalog["artifacts"]
    rows = {item.id: row for row, item in enumerate(art.items)}
    found = [i for i in catalog["by_category"][category] if (art.neighbors[rows[i]] >= 0).sum() >= 5]
    return [i for i in found if i not in catalog["repeatable"]][:n]


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "events"),
        ({"events": {}}, "events"),
        ({"events": []}, "events"),
        ({"events": [{"type": "view", "session_id": "s", "product_id": "p"}] * 501}, "events"),
        ({"events": ["view"]}, "events[0]"),
        ({"events": [{"session_id": "s"}]}, "events[0].type"),
        ({"events": [{"type": "tap", "session_id": "s"}]}, "events[0].type"),
        ({"events": [{"type": "click", "session_id": "s"}]}, "events[0].decision_id"),
        ({"events": [{"type": "click", "session_id": "s", "decision_id": "d 1"}]}, "events[0].decision_id"),
        ({"events": [{"type": "click", "session_id": "s", "decision_id": "d-1", "position": 0}]},
         "events[0].position"),
        ({"events": [{"type": "purchase", "session_id": "s", "product_id": "p", "quantity": 1, "price": 1.0,
                      "offer_code": ["X"]}]}, "events[0].offer_code"),
        ({"events": [{"type": "complaint"}]}, "events[0].session_id"),
        ({"events": [{"type": "complaint", "session_id": "s 1"}]}, "events[0].session_id"),
        ({"events": [{"type": "complaint", "user_id": ["u"]}]}, "events[0].user_id"),
        ({"events": [{"type": "view", "session_id": "s"}]}, "events[0].product_id"),
        ({"events": [{"type": "add_to_cart", "session_id": "s", "product_id": 85123}]}, "events[0].product_id"),
        ({"events": [{"type": "view", "session_id": "s", "product_id": "p", "ts": "yesterday"}]}, "events[0].ts"),
        ({"events": [{"type": "view", "session_id": "s", "product_id": "p", "ts": "2026-11-01T10:00:00"}]},
         "events[0].ts"),
        ({"events": [{"type": "complaint", "user_id": "u", "ts": "8052-09-10T00:08:38Z"}]}, "events[0].ts"),
        ({"events": [{"type": "purchase", "session_id": "s", "product_id": "p", "price": 1.0}]}, "events[0].quantity"),
        ({"events": [{"type": "purchase", "session_id": "s", "product_id": "p", "quantity": 0, "price": 1.0}]},
         "events[0].quantity"),
        ({"events": [{"type": "purchase", "session_id": "s", "product_id": "p", "quantity": 1}]}, "events[0].price"),
        ({"events": [{"type": "purchase", "session_id": "s", "product_id": "p", "quantity": 1, "price": -2}]},
         "events[0].price"),
        ({"events": [{"type": "search", "session_id": "s"}]}, "events[0].query"),
        ({"events": [{"type": "search", "session_id": "s", "query": "  "}]}, "events[0].query"),
        ({"events": [{"type": "consent", "session_id": "s"}]}, "events[0].personalization"),
        ({"events": [{"type": "consent", "session_id": "s", "personalization": "yes"}]}, "events[0].personalization"),
        ({"events": [{"type": "view", "session_id": "s", "product_id": "p", "utm": {"source": 3}}]},
         "events[0].utm.source"),
        ({"events": [{"type": "complaint", "user_id": "u"}, {"type": "view", "user_id": "u"}]}, "events[1].product_id"),
    ],
)  # fmt: skip
def test_bad_events_are_422_naming_the_field(refusing_client: TestClient, body: dict[str, Any], field: str) -> None:
    response = refusing_client.post("/v1/events", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert stream_entries(refusing_client) == []  # nothing of a rejected call is stored (nor of any before it)


def test_transport_errors(store_client: TestClient) -> None:
    assert (
        store_client.post("/v1/events", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    )
    assert store_client.post("/v1/events", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    big = {"events": [{"type": "search", "session_id": "s", "query": "x" * 250}] * 2000}
    assert store_client.post("/v1/events", json=big).status_code == 413
    bad_key = store_client.post(
        "/v1/events", json={"events": [{"type": "complaint", "user_id": "u"}]}, headers={"idempotency-key": "a b"}
    )
    assert bad_key.status_code == 422 and bad_key.json()["error"]["field"] == "idempotency-key"


# --- storage --------------------------------------------------------------------------------------


def test_every_event_type_is_accepted_and_streamed(store_client: TestClient) -> None:
    events = [
        {"type": "view", "session_id": "s-all", "product_id": "P1", "ts": "2026-11-01T10:00:00Z"},
        {"type": "add_to_cart", "session_id": "s-all", "product_id": "P1"},
        {"type": "remove_from_cart", "session_id": "s-all", "product_id": "P1"},
        {"type": "purchase", "session_id": "s-all", "user_id": "u-all", "product_id": "P2", "quantity": 2,
         "price": 3.5},
        {"type": "search", "session_id": "s-all", "query": "lantern"},
        {"type": "wishlist_add", "user_id": "u-all", "product_id": "P3"},
        {"type": "complaint", "user_id": "u-all"},
        {"type": "subscription_cancel", "user_id": "u-all"},
        {"type": "consent", "session_id": "s-all", "personalization": True, "unknown_field": 1},
    ]  # fmt: skip
    assert post_events(store_client, *events) == {"accepted": 9}
    stored = stream_entries(store_client)
    assert sorted(e["type"] for e in stored) == sorted(e["type"] for e in events)
    view = next(e for e in stored if e["type"] == "view")
    assert view == {"type": "view", "ts": "2026-11-01T10:00:00.000Z", "session_id": "s-all", "product_id": "P1"}
    purchase = next(e for e in stored if e["type"] == "purchase")
    assert (purchase["user_id"], purchase["quantity"], float(purchase["price"])) == ("u-all", "2", 3.5)
    assert next(e for e in stored if e["type"] == "consent")["personalization"] == "true"


def test_a_batch_of_500_is_stored_whole(store_client: TestClient, catalog: dict[str, Any]) -> None:
    products = [p for category in catalog["by_category"].values() for p in category][:500]
    events = [{"type": "view", "session_id": "s-500", "product_id": p} for p in products]
    assert post_events(store_client, *events) == {"accepted": 500}
    assert len(stream_entries(store_client)) == 500
    result = decide(store_client, session_id="s-500")
    assert result["explain"]["signals"]["viewed"] == 50  # EDGE_SESSION_MAX_VIEWED keeps the most recent
    assert result["personalized"] is True


def test_idempotency_key_applies_a_retried_call_once(store_client: TestClient) -> None:
    member(store_client, "u-idem")
    purchase = {"type": "purchase", "user_id": "u-idem", "product_id": "P9", "quantity": 1, "price": 40.0}
    for _ in range(3):
        assert post_events(store_client, purchase, **{"Idempotency-Key": "order-77"}) == {"accepted": 1}
    assert profile(store_client, "u-idem")["points"] == 300 + 40
    assert len(stream_entries(store_client)) == 1
    post_events(store_client, purchase, **{"Idempotency-Key": "order-78"})
    assert profile(store_client, "u-idem")["points"] == 300 + 80


# --- sessions and re-ranking ------------------------------------------------------------------------


def test_view_events_change_the_product_list(store_client: TestClient, catalog: dict[str, Any]) -> None:
    before = decide(store_client, session_id="s-views")
    assert before["personalized"] is False and not ids(before, "similar_to_viewed")
    viewed = catalog["by_category"]["lanterns"][:3]
    post_events(store_client, *({"type": "view", "session_id": "s-views", "product_id": p} for p in viewed))
    after = decide(store_client, session_id="s-views")
    assert after["personalized"] is True
    assert ids(after) != ids(before)
    similar = [p for p in after["products"] if p["reason"] == "similar_to_viewed"]
    assert len(similar) >= 3 and sum(p["category"] == "lanterns" for p in similar) >= 3
    assert after["explain"]["signals"]["viewed"] == 3


def test_stored_session_merges_with_the_request_session(store_client: TestClient, catalog: dict[str, Any]) -> None:
    stored, sent = catalog["by_category"]["candles"][:2], catalog["by_category"]["toys"][:2]
    post_events(store_client, *({"type": "view", "session_id": "s-merge", "product_id": p} for p in stored))
    result = decide(store_client, session_id="s-merge", session={"viewed": [*sent, stored[0]]})
    assert result["explain"]["signals"]["viewed"] == 4  # union, each product once
    other = decide(store_client, session_id="s-other", session={"viewed": sent})
    assert other["explain"]["signals"]["viewed"] == 2  # another session sees nothing of it


def test_cart_complements_appear_and_go_with_the_cart(store_client: TestClient, catalog: dict[str, Any]) -> None:
    (item,) = with_neighbours(catalog, "kitchen")
    post_events(store_client, {"type": "add_to_cart", "session_id": "s-cart", "product_id": item})
    in_cart = decide(store_client, session_id="s-cart")
    assert ids(in_cart, "in_cart_complement")
    assert item not in ids(in_cart)  # what is in the cart is not offered again
    post_events(store_client, {"type": "remove_from_cart", "session_id": "s-cart", "product_id": item})
    assert not ids(decide(store_client, session_id="s-cart"), "in_cart_complement")


def test_wishlist_pulls_in_what_completes_it(store_client: TestClient, catalog: dict[str, Any]) -> None:
    (wish,) = with_neighbours(catalog, "textiles")
    member(store_client, "u-wish")
    before = decide(store_client, session_id="s-wish", user_id="u-wish")
    post_events(store_client, {"type": "wishlist_add", "session_id": "s-wish", "user_id": "u-wish", "product_id": wish})
    after = decide(store_client, session_id="s-wish", user_id="u-wish")
    assert len(ids(after, "bought_together")) > len(ids(before, "bought_together"))
    assert profile(store_client, "u-wish")["wishlist"] == [wish]
    post_events(store_client, {"type": "wishlist_add", "session_id": "s-anon-wish", "product_id": wish})
    assert ids(decide(store_client, session_id="s-anon-wish"), "bought_together")  # an anonymous session's wish too


def test_searches_and_landing_utm_are_kept_for_the_session(store_client: TestClient) -> None:
    post_events(
        store_client,
        {"type": "search", "session_id": "s-land", "query": "lantern",
         "utm": {"source": "newsletter", "campaign": "xmas"}, "referrer": "https://mail.example/"},
        {"type": "search", "session_id": "s-land", "query": "candle", "utm": {"source": "other"}},
    )  # fmt: skip
    later_page = decide(store_client, session_id="s-land", locale="nl-NL")  # no UTM on this request
    assert later_page["segment"] == "campaign"
    assert later_page["cta"]["url"] == "/campaign/xmas"  # the landing's campaign, not the later one


def test_session_expires_after_idle_ttl(store_settings: Settings, catalog: dict[str, Any]) -> None:
    settings = dataclasses.replace(store_settings, session_ttl_s=1)
    with TestClient(create_app(settings)) as store_client:
        viewed = catalog["by_category"]["garden"][:2]
        post_events(store_client, *({"type": "view", "session_id": "s-ttl", "product_id": p} for p in viewed))
        assert decide(store_client, session_id="s-ttl")["explain"]["signals"]["viewed"] == 2
        deadline = time.monotonic() + 10
        while (expired := decide(store_client, session_id="s-ttl"))["explain"]["signals"]["viewed"] and (
            time.monotonic() < deadline
        ):  # the session expires one idle second after its last event
            time.sleep(0.1)
        assert expired["explain"]["signals"]["viewed"] == 0 and expired["personalized"] is False


def test_login_carries_the_anonymous_session_over(store_client: TestClient, catalog: dict[str, Any]) -> None:
    anonymous, later = catalog["by_category"]["bags"][:3], catalog["by_category"]["bags"][3]
    post_events(store_client, *({"type": "view", "session_id": "s-login", "product_id": p} for p in anonymous))
    member(store_client, "u-login")
    post_events(store_client, {"type": "view", "session_id": "s-login", "user_id": "u-login", "product_id": later})
    logged_in = decide(store_client, session_id="s-login", user_id="u-login")
    assert logged_in["explain"]["signals"]["viewed"] == 4
    assert "Anna" in logged_in["greeting"]["text"]


def test_a_decision_after_login_promotes_the_session_by_itself(
    store_client: TestClient, catalog: dict[str, Any]
) -> None:
    anonymous = catalog["by_category"]["party"][:3]
    post_events(store_client, *({"type": "view", "session_id": "s-promote", "product_id": p} for p in anonymous))
    member(store_client, "u-promote")
    decide(store_client, session_id="s-promote", user_id="u-promote")  # starts the promotion off the response path
    deadline = time.monotonic() + 2
    while decide(store_client, session_id="s-promote", user_id="u-promote")["explain"]["signals"]["viewed"] != 3:
        assert time.monotonic() < deadline, "the anonymous views never reached the logged-in session"
        time.sleep(0.02)


# --- profiles ---------------------------------------------------------------------------------------


def test_purchase_removes_the_item_and_earns_points(store_client: TestClient, catalog: dict[str, Any]) -> None:
    member(store_client, "u-buy")
    before = decide(store_client, session_id="s-buy", user_id="u-buy")
    bought = next(p for p in ids(before) if p not in catalog["repeatable"])
    post_events(
        store_client,
        {"type": "add_to_cart", "session_id": "s-buy", "user_id": "u-buy", "product_id": bought},
        {"type": "purchase", "session_id": "s-buy", "user_id": "u-buy", "product_id": bought, "quantity": 3,
         "price": 12.5, "ts": "2026-11-01T10:00:00Z"},
    )  # fmt: skip
    after = decide(store_client, session_id="s-buy", user_id="u-buy")
    assert bought not in ids(after)
    assert after["explain"]["signals"]["cart"] == 0  # bought items leave the cart
    found = profile(store_client, "u-buy")
    assert found["points"] == 300 + 37  # one point per currency unit
    assert (found["orders"], found["spend"]) == (5, 337.5)
    assert found["purchased"] == [bought]
    assert found["last_purchase_at"] == "2026-11-01T10:00:00Z"
    assert decide(store_client, session_id="s-new-visit", user_id="u-buy")["products"]  # other sessions too
    assert bought not in ids(decide(store_client, session_id="s-new-visit", user_id="u-buy"))


def test_one_order_of_several_lines_counts_once(store_client: TestClient) -> None:
    member(store_client, "u-order")
    line = {"type": "purchase", "user_id": "u-order", "quantity": 1, "price": 2.55, "ts": "2026-11-01T10:00:00Z"}
    post_events(store_client, *({**line, "product_id": p} for p in ("A1", "A2", "A3")))
    found = profile(store_client, "u-order")
    assert (found["orders"], found["points"], found["purchased"]) == (5, 300 + 7, ["A1", "A2", "A3"])


def test_spend_past_a_threshold_upgrades_the_tier(store_client: TestClient, catalog: dict[str, Any]) -> None:
    gold = catalog["artifacts"].manifest["tier_thresholds"]["gold"]
    member(store_client, "u-tier", tier="silver", spend=gold - 10, points=int(gold - 10))
    assert decide(store_client, session_id="s-tier", user_id="u-tier")["segment"] == "active"
    small = {
        "type": "purchase",
        "user_id": "u-tier",
        "product_id": "T1",
        "quantity": 1,
        "price": 5.0,
        "ts": "2026-10-31T10:00:00Z",
    }  # before the decisions' `now`: a replay counts only what came before
    post_events(store_client, small)
    assert profile(store_client, "u-tier")["tier"] == "silver"
    post_events(store_client, {**small, "product_id": "T2", "price": 20.0})
    upgraded = decide(store_client, session_id="s-tier", user_id="u-tier")
    assert (upgraded["tier"], upgraded["segment"]) == ("gold", "ambassador")
    assert profile(store_client, "u-tier")["tier"] == "gold"
    member(store_client, "u-tier", tier="silver", spend=10.0)  # an admin PUT replaces what events added
    assert (profile(store_client, "u-tier")["tier"], profile(store_client, "u-tier")["points"]) == ("silver", 300)


def test_first_purchase_creates_a_profile(store_client: TestClient) -> None:
    assert store_client.get("/v1/profiles/u-first", headers=AUTH).status_code == 404
    post_events(store_client, {"type": "purchase", "session_id": "s-first", "user_id": "u-first", "product_id": "F1",
                         "quantity": 1, "price": 9.99, "ts": "2026-10-30T12:00:00Z"})  # fmt: skip
    found = profile(store_client, "u-first")
    assert (found["orders"], found["points"], found["joined_at"]) == (1, 9, "2026-10-30T12:00:00Z")
    assert decide(store_client, session_id="s-first", user_id="u-first")["segment"] == "new_member"


def test_subscription_cancel_brings_the_welcome_back_offer(store_client: TestClient) -> None:
    member(store_client, "u-cancel", tier="gold")
    assert decide(store_client, session_id="s-cancel", user_id="u-cancel")["segment"] == "ambassador"
    post_events(store_client, {"type": "subscription_cancel", "user_id": "u-cancel"})
    lost = decide(store_client, session_id="s-cancel", user_id="u-cancel")
    assert lost["segment"] == "lost"
    assert lost["cta"]["offer"]["code"] == "WELCOMEBACK20"


def test_a_complaint_makes_the_customer_at_risk(store_client: TestClient) -> None:
    member(store_client, "u-complain", tier="gold")
    post_events(store_client, {"type": "complaint", "session_id": "s-complain", "user_id": "u-complain",
                         "ts": "2026-10-30T12:00:00Z"})  # fmt: skip
    result = decide(store_client, session_id="s-complain", user_id="u-complain")
    assert result["segment"] == "at_risk" and result["cta"]["offer"] is None
    assert profile(store_client, "u-complain")["complaints_at"] == ["2026-10-30T12:00:00Z"]


def test_consent_events_apply_from_the_next_decision(store_client: TestClient, catalog: dict[str, Any]) -> None:
    member(store_client, "u-consent", tier="gold")
    viewed = catalog["by_category"]["candles"][:3]
    post_events(store_client, *({"type": "view", "session_id": "s-c", "user_id": "u-consent", "product_id": p}
                          for p in viewed))  # fmt: skip
    assert decide(store_client, session_id="s-c", user_id="u-consent")["personalized"] is True
    post_events(
        store_client, {"type": "consent", "session_id": "s-c", "user_id": "u-consent", "personalization": False}
    )
    withdrawn = decide(store_client, session_id="s-c", user_id="u-consent")
    assert withdrawn["personalized"] is False and withdrawn["segment"] == "new_visitor"
    assert "Anna" not in withdrawn["greeting"]["text"] and withdrawn["tier"] is None
    assert {p["reason"] for p in withdrawn["products"]} <= {"trending_local", "best_seller", "on_sale"}
    elsewhere = decide(store_client, session_id="s-c2", user_id="u-consent")  # the profile's consent, in any session
    assert elsewhere["personalized"] is False
    post_events(store_client, {"type": "consent", "session_id": "s-c", "user_id": "u-consent", "personalization": True})
    assert decide(store_client, session_id="s-c", user_id="u-consent")["segment"] == "ambassador"


def test_anonymous_consent_withdrawal_stops_the_session(store_client: TestClient, catalog: dict[str, Any]) -> None:
    viewed = catalog["by_category"]["toys"][:3]
    post_events(store_client, *({"type": "view", "session_id": "s-ac", "product_id": p} for p in viewed))
    post_events(store_client, {"type": "consent", "session_id": "s-ac", "personalization": False})
    result = decide(store_client, session_id="s-ac", session={"viewed": viewed})
    assert result["personalized"] is False and not ids(result, "similar_to_viewed")
