"""API keys on decide/events, the admin-only debug, anonymous browser mode, keyless warnings."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from edge.errors import ConfigError
from edge.http.app import create_app
from edge.http.auth import NO_KEYS_WARNING, parse_keys
from edge.settings import Settings
from tests.conftest import AUTH, NOW

SHOP = "shop-backend-secret-0001"
TRACKER = "event-tracker-secret-02"
KEYS = f"shop:{SHOP},tracker:{TRACKER}:events"
ORIGIN = "https://shop.example"
DECIDE = {"session_id": "s-auth", "user_id": "20001", "now": NOW}
VIEW = {"type": "view", "session_id": "s-auth", "product_id": "SYN10003"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture()
def keyed(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(dataclasses.replace(settings, api_keys=KEYS, cors_origins=ORIGIN))) as client:
        yield client


def test_decide_and_events_need_a_valid_key_when_keys_are_configured(keyed: TestClient) -> None:
    for headers, status in [({}, 401), (bearer("not-a-key-at-all-xx"), 401), (bearer(SHOP), 200), (AUTH, 200)]:
        answer = keyed.post("/v1/decide", json=DECIDE, headers=headers)
        assert answer.status_code == status, (headers, answer.text)
    assert keyed.post("/v1/decide", json=DECIDE, headers={"Authorization": SHOP}).status_code == 401  # no scheme
    assert keyed.post("/v1/events", json={"events": [VIEW]}).status_code == 401
    assert keyed.post("/v1/events", json={"events": [VIEW]}, headers=bearer(SHOP)).status_code == 202
    assert "warnings" not in keyed.get("/readyz").json()


def test_a_scoped_key_may_call_only_its_scopes(keyed: TestClient) -> None:
    assert keyed.post("/v1/events", json={"events": [VIEW]}, headers=bearer(TRACKER)).status_code == 202
    refused = keyed.post("/v1/decide", json=DECIDE, headers=bearer(TRACKER))
    assert refused.status_code == 403
    assert "tracker" in refused.json()["error"]["message"]


def test_debug_and_forced_arms_are_the_admins(keyed: TestClient) -> None:
    body = {**DECIDE, "debug": True}
    plain = keyed.post("/v1/decide", json=body, headers=bearer(SHOP))
    assert plain.status_code == 200 and "explain" not in plain.json()  # ignored, not an error
    assert "explain" in keyed.post("/v1/decide", json=body, headers=AUTH).json()
    forced = keyed.post("/v1/decide", json=DECIDE, headers={**bearer(SHOP), "X-Edge-Force-Arm": "x=y"})
    assert forced.status_code == 401


def test_without_keys_edge_serves_but_warns(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge"), TestClient(create_app(settings)) as client:
        assert client.post("/v1/decide", json=DECIDE).status_code == 200
        assert client.post("/v1/events", json={"events": [VIEW]}).status_code == 202
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["warnings"] == [NO_KEYS_WARNING]
        assert "explain" not in client.post("/v1/decide", json={**DECIDE, "debug": True}).json()
    assert any(NO_KEYS_WARNING in r.getMessage() for r in caplog.records)


def test_browsers_of_allowed_origins_may_only_call_anonymously(keyed: TestClient) -> None:
    browser = {"Origin": ORIGIN}
    anonymous = keyed.post("/v1/decide", json={"session_id": "s-browser", "now": NOW}, headers=browser)
    assert anonymous.status_code == 200
    assert anonymous.headers["access-control-allow-origin"] == ORIGIN
    named = keyed.post("/v1/decide", json=DECIDE, headers=browser)
    assert named.status_code == 401 and named.json()["error"]["field"] == "user_id"
    event = {**VIEW, "user_id": "20001"}
    assert keyed.post("/v1/events", json={"events": [event]}, headers=browser).status_code == 401
    assert keyed.post("/v1/events", json={"events": [VIEW]}, headers=browser).status_code == 202
    other = keyed.post("/v1/decide", json={"session_id": "s-b", "now": NOW}, headers={"Origin": "https://evil.example"})
    assert other.status_code == 401
    preflight = keyed.options(
        "/v1/decide",
        headers={**browser, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == ORIGIN


def test_profile_answers_are_not_cached_or_sniffed(client: TestClient) -> None:
    answer = client.get("/v1/profiles/20001", headers=AUTH)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_keys_come_inline_or_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# storefront keys\nshop:{SHOP}\ntracker:{TRACKER}:events  # events only\n")
    inline, from_file = parse_keys(KEYS), parse_keys(str(path))
    assert [(k.name, sorted(k.scopes)) for k in inline] == [
        ("shop", ["decide", "events", "offers", "preferences"]),
        ("tracker", ["events"]),
    ]
    assert from_file == inline


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("shop", "name:secret"),
        ("shop:short", "at least 16"),
        (f"shop:{SHOP}:admin", "unknown scope"),
        (f"shop:{SHOP},shop:{TRACKER}", "used twice"),
        ("/nonexistent/edge-keys", "cannot read"),
    ],
)
def test_a_bad_key_list_stops_start_up(raw: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as error:
        Settings.from_env({"EDGE_API_KEYS": raw})
    assert error.value.field == "EDGE_API_KEYS"


def test_quiz_answers_and_offer_checks_take_a_scoped_key(keyed: TestClient, client: TestClient) -> None:
    answers = {"style": ["cosy"]}
    url = "/v1/profiles/20001/preferences"
    assert keyed.post(url, json=answers).status_code == 401
    assert keyed.post(url, json=answers, headers=bearer(TRACKER)).status_code == 403  # events only
    assert keyed.post(url, json=answers, headers=bearer(SHOP)).status_code == 200
    assert keyed.get("/v1/offers/verify/NOPE?user_id=20001", headers=bearer(TRACKER)).status_code == 403
    assert keyed.get("/v1/offers/verify/NOPE?user_id=20001", headers=bearer(SHOP)).status_code == 200
    refused = keyed.patch("/v1/profiles/20001", json={"first_name": "Eve"}, headers=bearer(SHOP))
    assert refused.status_code == 401  # a partial profile edit stays the admin's
    assert client.post(url, json=answers).status_code == 401  # no key configured: the admin token only
    assert client.post(url, json=answers, headers=AUTH).status_code == 200
