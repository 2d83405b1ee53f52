"""Privacy: erasure leaves nothing behind, consent stops use at once, logs carry no personal data."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from starlette.testclient import TestClient

from edge.core.profiles import Profile
from edge.http.app import create_app
from edge.settings import Settings
from edge.store.redis_store import RedisStore
from tests.conftest import AUTH, NOW, REDIS_URL, require_redis, settle, stream_entries

USER = "zz-erase-7f3a"  # distinctive: any trace of it in Redis is a leftover
SESSIONS = ("s-erase-anon-91c2", "s-erase-login-44d0")
NAME = "Zoëtje"
EXPERIMENTS = """
experiments:
  - key: everyone
    unit: user_id
    arms: [{key: a, weight: 0.5}, {key: b, weight: 0.5}]
"""


@pytest.fixture()
def everyone(tmp_path: Path) -> Path:
    path = tmp_path / "experiments.yaml"
    path.write_text(EXPERIMENTS)
    return path


def history(client: TestClient, catalog: dict[str, Any]) -> None:
    """A customer's whole life through HTTP: anonymous browsing, login, orders, decisions, offers."""
    lanterns = catalog["by_category"]["lanterns"]
    put = {"first_name": NAME, "tier": "gold", "orders": 3, "spend": 900.0, "email": "zoe@example.com",
           "joined_at": "2024-01-01T00:00:00Z", "last_purchase_at": "2026-10-20T10:00:00Z",
           "birthday": "1990-11-01"}  # fmt: skip
    assert client.put(f"/v1/profiles/{USER}", json=put, headers=AUTH).status_code == 200
    anonymous = SESSIONS[0]
    events = [{"type": "view", "session_id": anonymous, "product_id": p} for p in lanterns[:3]]
    events += [{"type": "search", "session_id": anonymous, "query": "lantern", "utm": {"source": "mail"}}]
    assert client.post("/v1/events", json={"events": events}).status_code == 202
    for session_id in SESSIONS:
        logged_in = [
            {"type": "view", "session_id": session_id, "user_id": USER, "product_id": lanterns[5]},
            {"type": "add_to_cart", "session_id": session_id, "user_id": USER, "product_id": lanterns[6]},
            {"type": "purchase", "session_id": session_id, "user_id": USER, "product_id": lanterns[7],
             "quantity": 1, "price": 20.0},
            {"type": "wishlist_add", "session_id": session_id, "user_id": USER, "product_id": lanterns[8]},
            {"type": "consent", "session_id": session_id, "user_id": USER, "personalization": True},
        ]  # fmt: skip
        response = client.post("/v1/events", json={"events": logged_in}, headers={"Idempotency-Key": f"k-{session_id}"})
        assert response.status_code == 202
    for session_id in SESSIONS:
        result = client.post("/v1/decide", json={"session_id": session_id, "user_id": USER, "now": NOW}).json()
        assert NAME in result["greeting"]["text"] and result["cta"]["offer"] is not None
    anonymous_decision = client.post("/v1/decide", json={"session_id": anonymous, "now": NOW}).json()
    assert anonymous_decision["experiments"]
    assert client.post("/v1/decide", json={"session_id": "s-someone-else", "now": NOW}).status_code == 200


def traces(client: redis.Redis, prefix: str, needles: list[bytes]) -> list[str]:
    """Every key under `prefix` whose name or content contains one of `needles`."""
    found = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        kind = client.type(key)
        if kind == b"hash":
            content = b" ".join(k + b"=" + v for k, v in client.hgetall(key).items())
        elif kind == b"set":
            content = b" ".join(client.smembers(key))
        elif kind == b"stream":
            content = b" ".join(k + b"=" + v for _, fields in client.xrange(key) for k, v in fields.items())
        else:
            content = client.dump(key) or b""
        if any(needle in key or needle in content for needle in needles):
            found.append(key.decode())
    return found


def test_erasure_leaves_nothing_in_redis(
    settings: Settings, redis_prefix: str, catalog: dict[str, Any], everyone: Path
) -> None:
    reader = require_redis()
    redis_settings = dataclasses.replace(settings, redis_url=REDIS_URL, redis_prefix=redis_prefix, experiments=everyone)
    needles = [USER.encode(), *(s.encode() for s in SESSIONS), NAME.encode()]
    with TestClient(create_app(redis_settings)) as client:
        store: RedisStore = client.app_state["runtime"].store
        vector = np.ones(catalog["artifacts"].item_vectors.shape[1], dtype=np.float32)
        client.portal.call(store.put_profiles, [(Profile(USER), vector)])  # as `edge load` would
        history(client, catalog)
        settle(client)
        before = traces(reader, redis_prefix, needles)
        kinds = {key.rsplit(":", 1)[-1] for key in before}
        assert {"profile", "session", "events", "exposures", "index", "links"} <= kinds, before
        assert any(":offers:" in key for key in before) and any(":idem:" in key for key in before)

        assert client.delete(f"/v1/profiles/{USER}", headers=AUTH).status_code == 204
        assert traces(reader, redis_prefix, needles) == []
        assert client.get(f"/v1/profiles/{USER}", headers=AUTH).status_code == 404
        forgotten = client.post("/v1/decide", json={"session_id": SESSIONS[1], "user_id": USER, "now": NOW}).json()
        assert forgotten["personalized"] is False and NAME not in forgotten["greeting"]["text"]
        others = [e for e in stream_entries(client) if e.get("session_id") == "s-someone-else"]
        assert client.delete(f"/v1/profiles/{USER}", headers=AUTH).status_code == 204  # idempotent
        assert others == [e for e in stream_entries(client) if e.get("session_id") == "s-someone-else"]
    reader.close()


def test_erasure_in_the_embedded_store(settings: Settings, catalog: dict[str, Any], everyone: Path) -> None:
    with TestClient(create_app(dataclasses.replace(settings, experiments=everyone))) as client:
        history(client, catalog)
        assert any(e.get("user_id") == USER for e in stream_entries(client, "exposures"))
        assert client.delete(f"/v1/profiles/{USER}", headers=AUTH).status_code == 204
        left = [e for name in ("events", "exposures") for e in stream_entries(client, name)]
        assert left and not [e for e in left if USER in e.values() or set(SESSIONS) & set(e.values())]
        assert client.get(f"/v1/profiles/{USER}", headers=AUTH).status_code == 404
        again = client.post("/v1/decide", json={"session_id": SESSIONS[0], "user_id": USER, "now": NOW}).json()
        assert again["personalized"] is False


@pytest.fixture()
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def test_logs_never_carry_names_emails_or_profiles(
    store_settings: Settings, catalog: dict[str, Any], everyone: Path, logged: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(dataclasses.replace(store_settings, experiments=everyone))) as client:
        history(client, catalog)
        bad = client.put(f"/v1/profiles/{USER}", json={"first_name": NAME * 20}, headers=AUTH)
        assert bad.status_code == 422 and NAME not in bad.text
        client.delete(f"/v1/profiles/{USER}", headers=AUTH)
    text = "\n".join(record.getMessage() for record in logged.records)
    assert logged.records  # the service did log (start-up), just nothing personal
    for secret in (NAME, "zoe@example.com", '"first_name"', "Welkom", "purchased"):
        assert secret not in text
