"""The demo's helper endpoints over HTTP (the page itself: tests/test_demo_browser.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from edge.http.app import create_app
from edge.http.demo import demo_now
from edge.http.openapi import openapi_document
from edge.settings import Settings
from tests.conftest import AUTH, NOW
from tests.test_openapi import _errors


def personas_of(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/demo/personas.json")
    assert response.status_code == 200
    return {p["key"]: p for p in response.json()["personas"]}


def test_personas_are_real_customers_of_the_loaded_build_in_their_segment(client: TestClient) -> None:
    personas = personas_of(client)
    assert list(personas) == [
        "new_visitor", "campaign", "new_member", "active", "ambassador", "at_risk", "lapsed", "lost", "consent_off",
    ]  # fmt: skip
    now = client.get("/demo/personas.json").json()["now"]  # None: the server clock, as the page does
    for key, persona in personas.items():
        body: dict[str, Any] = {"session_id": f"s-{key}"}
        if now:
            body["now"] = now
        if persona["user_id"]:
            body["user_id"] = persona["user_id"]
        if persona["utm"]:
            body["session"] = {"utm": persona["utm"]}
        if persona["consent"] is False:
            body["consent"] = {"personalization": False}
        decided = client.post("/v1/decide", json=body).json()
        assert decided["segment"] == persona["segment"], (key, decided["segment"])


def test_explain_is_the_decision_with_its_reasons_and_writes_nothing(client: TestClient) -> None:
    lost = personas_of(client)["lost"]
    body = {"session_id": "s-why", "user_id": lost["user_id"], "now": NOW}
    for _ in range(5):  # more than the offer cap (3 a day): explaining never counts a shown offer
        explained = client.post("/demo/explain", json=body)
        assert explained.status_code == 200
    result = explained.json()
    assert result["explain"]["profile"] == "used" and result["explain"]["segment_rule"]
    assert [s["id"] for s in result["explain"]["scores"]] == [p["id"] for p in result["products"]]
    decided = client.post("/v1/decide", json=body).json()
    assert decided["cta"]["offer"] is not None and decided["cta"]["offer"] == result["cta"]["offer"]
    assert "explain" not in decided
    assert set(result) == set(decided) | {"explain"}  # the served answer's fields and its reasons, nothing private
    bad = client.post("/demo/explain", json={"session_id": "s 1"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "session_id"


def test_the_page_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/demo")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/demo/static/demo.js" in page.text
    script = client.get("/demo/static/demo.js")
    assert script.status_code == 200 and "/v1/decide" in script.text and "/v1/events" in script.text
    assert client.get("/demo/static/demo.css").status_code == 200


def test_the_demo_is_off_with_redis_unless_asked_for(settings: Settings) -> None:
    assert settings.demo_enabled  # embedded store: on by default
    with_redis = dataclasses.replace(settings, redis_url="redis://127.0.0.1:6379/0")
    assert not with_redis.demo_enabled
    assert dataclasses.replace(with_redis, demo=True).demo_enabled
    assert Settings.from_env({"EDGE_DEMO": "auto"}).demo is None
    assert Settings.from_env({"EDGE_DEMO": "false"}).demo is False
    with TestClient(create_app(dataclasses.replace(settings, demo=False))) as client:
        for path in ("/demo", "/demo/personas.json", "/demo/static/demo.js"):
            off = client.get(path)
            assert off.status_code == 404 and off.json()["error"]["code"] == "not_found"
        assert client.post("/demo/explain", json={"session_id": "s-1"}).status_code == 404


def test_old_data_is_demoed_at_its_own_end() -> None:
    clock = datetime(2026, 11, 28, tzinfo=UTC)
    assert demo_now("2011-12-09T12:50:00Z", clock) == datetime(2011, 12, 9, 12, 50, tzinfo=UTC)
    assert demo_now("2026-11-27T00:00:00Z", clock) is None
    assert demo_now(None, clock) is None


def test_the_answers_match_the_openapi_document(client: TestClient) -> None:
    doc = openapi_document("0")
    assert not _errors(doc, "Personas", client.get("/demo/personas.json").json())
    explained = client.post("/demo/explain", json={"session_id": "s-doc", "user_id": "20001"}).json()
    assert not _errors(doc, "DecideResponse", explained)
    assert not _errors(doc, "Readiness", client.get("/readyz").json())
    reloaded = client.post("/v1/admin/reload", headers=AUTH).json()
    assert not _errors(doc, "Reloaded", reloaded)
    assert not _errors(doc, "Readiness", client.get("/readyz").json())  # with last_reload
