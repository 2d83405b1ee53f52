"""HTTP tests through the app with its lifespan: the contract as a storefront sees it."""

from __future__ import annotations

import functools
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from edge.http.app import create_app
from edge.settings import Settings
from tests import conftest
from tests.conftest import AUTH

SEGMENTS = {"new_visitor", "campaign", "new_member", "active", "ambassador", "at_risk", "lapsed", "lost"}
REASONS = {
    "similar_to_viewed", "in_cart_complement", "bought_together", "for_you",
    "preference", "trending_local", "best_seller", "on_sale",
}  # fmt: skip


decide = functools.partial(conftest.decide, headers=AUTH, session_id="s-test")  # the admin token may ask for debug


def assert_valid_decision(result: dict[str, Any], limit: int = 12) -> None:
    assert result["segment"] in SEGMENTS
    assert result["variant"]["id"]
    assert result["greeting"]["text"] and result["greeting"]["locale"] in {"en", "nl"}
    assert set(result["cta"]) == {"id", "text", "url", "offer"}
    assert result["decision_id"].startswith("d-")
    assert isinstance(result["took_ms"], float)
    products = result["products"]
    assert len(products) == limit
    assert len({p["id"] for p in products}) == limit
    for product in products:
        assert set(product) == {"id", "name", "price", "category", "score", "reason"}
        assert product["reason"] in REASONS
    counts: dict[str, int] = {}
    for product in products:
        counts[product["category"]] = counts.get(product["category"], 0) + 1
    assert max(counts.values()) <= max(1, limit // 3), counts


def test_cold_start_gets_local_best_sellers_and_is_not_personalized(client: TestClient) -> None:
    result = decide(client, location={"country": "NL"})
    assert_valid_decision(result)
    assert result["segment"] == "new_visitor"
    assert result["personalized"] is False
    assert result["degraded"] is False
    assert result["tier"] is None
    assert {p["reason"] for p in result["products"]} <= {"trending_local", "best_seller", "on_sale"}
    assert result["variant"]["id"] == "home-elevator-pitch"
    assert result["cta"]["id"] == "join-loyalty"
    assert result["greeting"]["locale"] == "nl"  # from the country


def test_viewed_items_bring_similar_items(client: TestClient, catalog: dict[str, Any]) -> None:
    viewed = catalog["by_category"]["lanterns"][:3]
    result = decide(client, session={"viewed": viewed})
    assert result["personalized"] is True
    similar = [p for p in result["products"] if p["reason"] == "similar_to_viewed"]
    assert len(similar) >= 3
    assert sum(p["category"] == "lanterns" for p in similar) >= 3
    assert result["products"][0]["reason"] == "similar_to_viewed"


def test_limit_exclude_and_unknown_ids(client: TestClient, catalog: dict[str, Any]) -> None:
    first = decide(client, location={"country": "GB"}, limit=5)
    assert len(first["products"]) == 5
    excluded = [p["id"] for p in first["products"][:2]]
    second = decide(
        client, location={"country": "GB"}, limit=5, exclude=[*excluded, "NO-SUCH-ID"],
        session={"viewed": ["NO-SUCH-ID", "ALSO-UNKNOWN"]},
    )  # fmt: skip
    assert not set(excluded) & {p["id"] for p in second["products"]}
    assert len(second["products"]) == 5


def test_out_of_stock_items_never_shown_in_that_country(client: TestClient, catalog: dict[str, Any]) -> None:
    out_nl = set(catalog["out_of_stock"]["NL"])
    for viewed in catalog["by_category"].values():
        result = decide(client, location={"country": "NL"}, session={"viewed": viewed[:2]}, limit=30)
        assert not out_nl & {p["id"] for p in result["products"]}


def test_same_input_and_now_give_the_same_decision(client: TestClient) -> None:
    body = {"user_id": "20001", "session": {"viewed": ["SYN10003"]}, "location": {"country": "GB"}}
    first, second = decide(client, **body), decide(client, **body)
    for volatile in ("decision_id", "took_ms"):
        first.pop(volatile)
        second.pop(volatile)
    assert first == second


def test_debug_explains_the_decision(client: TestClient) -> None:
    result = decide(client, user_id="20001", debug=True)
    explain = result["explain"]
    assert explain["segment_rule"]
    assert explain["store"] == "ok"
    assert set(explain["timings_ms"]) == {"fetch", "decide"}
    assert [s["id"] for s in explain["scores"]] == [p["id"] for p in result["products"]]
    assert "explain" not in decide(client, user_id="20001")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "session_id"),
        ({"session_id": ""}, "session_id"),
        ({"session_id": "has space"}, "session_id"),
        ({"session_id": "x" * 129}, "session_id"),
        ({"session_id": 42}, "session_id"),
        ({"session_id": "s", "user_id": "a/b"}, "user_id"),
        ({"session_id": "s", "limit": 0}, "limit"),
        ({"session_id": "s", "limit": 101}, "limit"),
        ({"session_id": "s", "limit": "12"}, "limit"),
        ({"session_id": "s", "limit": True}, "limit"),
        ({"session_id": "s", "location": {"country": "nl"}}, "location.country"),
        ({"session_id": "s", "location": {"timezone": "Mars/Base"}}, "location.timezone"),
        ({"session_id": "s", "location": "NL"}, "location"),
        ({"session_id": "s", "session": {"viewed": ["85123A", 7]}}, "session.viewed[1]"),
        ({"session_id": "s", "session": {"cart": "84406B"}}, "session.cart"),
        ({"session_id": "s", "session": {"utm": {"source": 1}}}, "session.utm.source"),
        ({"session_id": "s", "session": {"first_visit": "yes"}}, "session.first_visit"),
        ({"session_id": "s", "consent": {"personalization": "true"}}, "consent.personalization"),
        ({"session_id": "s", "now": "yesterday"}, "now"),
        ({"session_id": "s", "now": "2011-11-02T09:30:00"}, "now"),
        ({"session_id": "s", "debug": 1}, "debug"),
        ({"session_id": "s", "exclude": [None]}, "exclude[0]"),
        ([1, 2], "body"),
    ],
)
@pytest.mark.parametrize("refusing_client", ["memory"], indirect=True)
def test_bad_fields_are_422_naming_the_field(refusing_client: TestClient, body: Any, field: str) -> None:
    response = refusing_client.post("/v1/decide", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["field"] == field
    assert error["message"]


def test_an_integral_float_is_an_integer(client: TestClient) -> None:
    assert len(decide(client, limit=5.0)["products"]) == 5


def test_unknown_fields_are_ignored(client: TestClient) -> None:
    result = decide(client, surprise={"nested": True}, session={"viewed": [], "mood": "happy"})
    assert result["segment"] == "new_visitor"


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post("/v1/decide", content=b'{"session_id": "s",', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post("/v1/decide", content=b"session_id=s", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_oversized_body_is_413(client: TestClient) -> None:
    body = orjson.dumps({"session_id": "s", "exclude": ["x" * 100] * 700})
    assert len(body) > 65536
    response = client.post("/v1/decide", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_unknown_route_and_method_are_json_4xx(client: TestClient) -> None:
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.get("/v1/decide")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]
    post = client.request("POST", "/v1/profiles/20001", headers=AUTH)
    assert post.status_code == 405 and {"GET", "PUT", "PATCH", "DELETE"} <= set(post.headers["allow"].split(", "))


def test_operations_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"index": True, "build": True, "store": True}
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1") and "/v1/decide" in spec["paths"]
    decide(client)
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'edge_decisions_total{segment="new_visitor",personalized="false",degraded="false"}' in metrics.text
    assert "edge_decision_duration_ms_count" in metrics.text


def test_admin_endpoints_need_the_token(client: TestClient) -> None:
    for method, path in [
        ("GET", "/v1/profiles/20001"),
        ("PUT", "/v1/profiles/20001"),
        ("DELETE", "/v1/profiles/20001"),
        ("GET", "/v1/experiments"),
        ("POST", "/v1/admin/reload"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}):
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"]["code"] == "unauthorized"


def test_admin_disabled_without_token(artifacts_dir: Any) -> None:
    with TestClient(create_app(Settings(artifacts=artifacts_dir, admin_token=None))) as client:
        response = client.get("/v1/profiles/20001", headers=AUTH)
        assert response.status_code == 401
        assert "disabled" in response.json()["error"]["message"]


def test_profile_put_get_delete(client: TestClient) -> None:
    body = {"first_name": "Anna", "tier": "gold", "points": 1250, "consent": {"personalization": True}}
    put = client.put("/v1/profiles/u-anna", json=body, headers=AUTH)
    assert put.status_code == 200 and put.json()["first_name"] == "Anna"
    got = client.get("/v1/profiles/u-anna", headers=AUTH).json()
    assert got["tier"] == "gold" and got["points"] == 1250
    bad = client.put("/v1/profiles/u-anna", json={"tier": "diamond"}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "tier"
    bad_date = client.put("/v1/profiles/u-anna", json={"birthday": "1990-13-01"}, headers=AUTH)
    assert bad_date.status_code == 422 and bad_date.json()["error"]["field"] == "birthday"
    assert client.delete("/v1/profiles/u-anna", headers=AUTH).status_code == 204
    assert client.get("/v1/profiles/u-anna", headers=AUTH).status_code == 404
    assert decide(client, user_id="u-anna")["segment"] == "new_visitor"
