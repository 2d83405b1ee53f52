"""The exposure log: every decision that enrols its unit in an experiment leaves one record per arm."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from edge.http.app import create_app
from edge.settings import Settings
from tests.conftest import AUTH, NOW, decide, settle, stream_entries

EXPERIMENTS = """
experiments:
  - key: by-user
    unit: user_id
    arms: [{key: a, weight: 0.5}, {key: b, weight: 0.5}]
  - key: nl-only
    unit: session_id
    arms: [{key: x, weight: 0.5}, {key: y, weight: 0.5}]
    when: {country: [NL]}
"""


@pytest.fixture()
def client(store_settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "experiments.yaml"
    path.write_text(EXPERIMENTS)
    with TestClient(create_app(dataclasses.replace(store_settings, experiments=path))) as test_client:
        yield test_client


def logged(client: TestClient) -> list[dict[str, str]]:
    settle(client)
    return stream_entries(client, "exposures")


def test_each_enrolled_arm_is_logged_with_the_decision(client: TestClient) -> None:
    results = [decide(client, session_id=f"s-exp-{i}", user_id=f"u-exp-{i}", location={"country": "NL"})
               for i in range(20)]  # fmt: skip
    entries = logged(client)
    assert len(entries) == sum(len(r["experiments"]) for r in results) == 40
    by_decision: dict[str, list[dict[str, str]]] = {}
    for entry in entries:
        by_decision.setdefault(entry["decision_id"], []).append(entry)
    for i, result in enumerate(results):
        mine = {e["experiment"]: e for e in by_decision[result["decision_id"]]}
        for arm in result["experiments"]:
            entry = mine[arm["key"]]
            assert (entry["arm"], float(entry["bucket"])) == (arm["arm"], arm["bucket"])
            when = NOW.replace("Z", ".000Z")  # the decision's time
            assert (entry["session_id"], entry["user_id"], entry["ts"]) == (f"s-exp-{i}", f"u-exp-{i}", when)
        assert mine["by-user"]["unit"] == "user_id" and mine["nl-only"]["unit"] == "session_id"


def test_only_enrolling_decisions_are_logged(client: TestClient, settings: Settings) -> None:
    decide(client, session_id="s-be", location={"country": "BE"})  # by-user falls back to the session
    assert [(e["experiment"], e["unit"], e.get("user_id")) for e in logged(client)] == [("by-user", "session_id", None)]
    forced = client.post("/v1/decide", json={"session_id": "s-qa", "now": NOW},
                         headers={**AUTH, "X-Edge-Force-Arm": "by-user=b"})  # fmt: skip
    assert forced.json()["experiments"][0]["arm"] == "b"
    assert len(logged(client)) == 1  # a QA override is no exposure
    with TestClient(create_app(settings)) as plain:  # no experiments configured
        plain.post("/v1/decide", json={"session_id": "s-none", "now": NOW})
        assert logged(plain) == []
