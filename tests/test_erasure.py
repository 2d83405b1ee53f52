"""Erasure lasts: tombstones keep builds, loads, restarts and every worker from bringing a user back."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from edge.cli import build_synthetic, load
from edge.http.app import create_app
from edge.settings import Settings
from edge.store import tombstones
from tests.conftest import ADMIN, ANCHOR, AUTH, NOW, REDIS_URL, require_redis, settle, stream_entries
from tests.test_serve import run_edge

SESSION_ONLY = """
experiments:
  - key: by-session
    unit: session_id
    arms: [{key: a, weight: 0.5}, {key: b, weight: 0.5}]
"""


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A build of this test's own (an erasure writes its tombstone into the artifacts folder)."""
    build_synthetic(tmp_path / "artifacts", seed=11, items=300, customers=120, anchor=ANCHOR)
    return tmp_path / "artifacts"


def first_user(root: Path) -> str:
    from edge.model import artifacts

    return str(artifacts.load(root).profiles[0]["user_id"])


def files_mentioning(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_an_erased_user_stays_erased_through_restart_and_rebuild(root: Path) -> None:
    user = first_user(root)
    settings = Settings(artifacts=root, admin_token=ADMIN, build_if_missing=False)
    with TestClient(create_app(settings)) as client:
        assert client.get(f"/v1/profiles/{user}", headers=AUTH).status_code == 200
        assert client.delete(f"/v1/profiles/{user}", headers=AUTH).status_code == 204
    assert tombstones.digest(user) in tombstones.read(root)
    assert files_mentioning(root, f'"{user}"') == []  # the tombstone holds a digest; the builds were scrubbed
    with TestClient(create_app(settings)) as client:  # a restart
        assert client.get(f"/v1/profiles/{user}", headers=AUTH).status_code == 404
    build_synthetic(root, seed=11, items=300, customers=120, anchor=ANCHOR)  # the same data, built again
    assert files_mentioning(root, f'"{user}"') == []
    with TestClient(create_app(settings)) as client:
        assert client.get(f"/v1/profiles/{user}", headers=AUTH).status_code == 404
        assert client.get(f"/v1/profiles/{first_user(root)}", headers=AUTH).status_code == 200  # the others stay


def test_load_and_build_into_redis_never_bring_an_erased_user_back(root: Path, redis_prefix: str) -> None:
    reader = require_redis()
    user = first_user(root)
    settings = Settings(artifacts=root, admin_token=ADMIN, build_if_missing=False, redis_prefix=redis_prefix)
    assert load(settings, REDIS_URL) == 0
    with TestClient(create_app(dataclasses.replace(settings, redis_url=REDIS_URL))) as client:
        assert client.get(f"/v1/profiles/{user}", headers=AUTH).status_code == 200
        assert client.delete(f"/v1/profiles/{user}", headers=AUTH).status_code == 204
    (root / tombstones.FILE).unlink()  # a fresh artifacts folder: the store's own list must do
    build_synthetic(root, seed=11, items=300, customers=120, anchor=ANCHOR)
    assert load(settings, REDIS_URL) == 0  # `edge build --redis` = build, then this
    assert tombstones.digest(user) in tombstones.read(root)  # merged back into the artifacts folder
    assert files_mentioning(root, f'"{user}"') == []
    with TestClient(create_app(dataclasses.replace(settings, redis_url=REDIS_URL))) as client:
        assert client.get(f"/v1/profiles/{user}", headers=AUTH).status_code == 404
    leftovers = [k for k in reader.scan_iter(match=f"{redis_prefix}:*", count=1000) if user.encode() in k]
    leftovers += [k for k in reader.scan_iter(match=f"{redis_prefix}:*", count=1000)
                  if reader.type(k) == b"hash" and any(user.encode() in v for v in reader.hvals(k))]  # fmt: skip
    assert leftovers == []
    reader.close()


@pytest.fixture()
def session_experiment(tmp_path: Path) -> Path:
    path = tmp_path / "experiments.yaml"
    path.write_text(SESSION_ONLY)
    return path


@pytest.fixture(params=["memory", "redis"])
def client(request: pytest.FixtureRequest, root: Path, session_experiment: Path) -> Iterator[TestClient]:
    settings = Settings(artifacts=root, admin_token=ADMIN, build_if_missing=False, experiments=session_experiment)
    if request.param == "redis":
        require_redis().close()
        settings = dataclasses.replace(
            settings, redis_url=REDIS_URL, redis_prefix=request.getfixturevalue("redis_prefix")
        )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_exposures_of_a_session_that_only_made_decisions_are_erased(client: TestClient) -> None:
    user, session = "zz-decider-19af", "s-only-decisions-77c1"
    assert client.put(f"/v1/profiles/{user}", json={"first_name": "Ada"}, headers=AUTH).status_code == 200
    assert client.post("/v1/decide", json={"session_id": session, "now": NOW}).status_code == 200  # before login
    assert client.post("/v1/decide", json={"session_id": session, "user_id": user, "now": NOW}).status_code == 200
    settle(client)
    assert any(e["session_id"] == session and "user_id" not in e for e in stream_entries(client, "exposures"))
    assert client.delete(f"/v1/profiles/{user}", headers=AUTH).status_code == 204
    assert [e for e in stream_entries(client, "exposures") if session in e.values() or user in e.values()] == []


def test_several_workers_on_the_embedded_store_are_refused(root: Path) -> None:
    result = run_edge("serve", "--workers", "2", env={"EDGE_ARTIFACTS": str(root)})
    assert result.returncode == 2
    assert "--workers 2 needs a shared store" in result.stderr and "EDGE_REDIS_URL" in result.stderr


def test_tombstones_hold_digests_and_are_appended_once(tmp_path: Path) -> None:
    tombstones.add(tmp_path, [tombstones.digest("u-1"), tombstones.digest("u-2")])
    tombstones.add(tmp_path, [tombstones.digest("u-1")])
    text = (tmp_path / tombstones.FILE).read_text()
    assert text.count("\n") == 2 and "u-1" not in text
    assert tombstones.read(tmp_path) == {tombstones.digest("u-1"), tombstones.digest("u-2")}
