"""Experiments through HTTP, as a storefront and an analyst see them."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from edge.core.experiments import assign
from edge.http.app import create_app
from edge.model.config_files import load_experiments
from edge.settings import Settings
from tests.conftest import AUTH, NOW, decide

HALF = """
experiments:
  - key: hero-test
    unit: user_id
    arms:
      - {key: control, weight: 0.5}
      - {key: b, weight: 0.5}
"""
ARMS = """
experiments:
  - key: hero-test
    arms:
      - {key: control, weight: 0.5}
      - key: b
        weight: 0.5
        variant: home-lifestyle
        content:
          en: {greeting: "Hi {first_name}, new looks are in!", cta_text: "Shop the look"}
          nl: {greeting: "Hoi {first_name}, nieuwe looks!", cta_text: "Shop de look"}
        ranking: {strategy: popular, max_category_share: 0.2}
    when: {country: [NL, BE]}
"""
HOLDOUT = "holdout: {percent: 5, seed: global-holdout}\n"


@pytest.fixture()
def experiments_file(tmp_path: Path) -> Path:
    return tmp_path / "experiments.yaml"


def app_with(settings: Settings, path: Path, text: str) -> TestClient:
    path.write_text(text)
    return TestClient(create_app(Settings(artifacts=settings.artifacts, admin_token=settings.admin_token,
                                          build_if_missing=False, experiments=path)))  # fmt: skip


@pytest.fixture()
def half_client(settings: Settings, experiments_file: Path) -> Iterator[TestClient]:
    with app_with(settings, experiments_file, HALF) as client:
        yield client


def test_each_decision_carries_the_arm_assign_draws_and_keeps_it(
    half_client: TestClient, experiments_file: Path
) -> None:
    """Wiring, not statistics (the split's fairness is tested on `assign` in test_experiments): the service
    buckets the session as `assign` does with the loaded file, reports that arm, and repeats it."""
    config = load_experiments(experiments_file)
    arms: Counter[str] = Counter()
    for n in range(200):
        session = f"anon-{n}"
        (exp,) = decide(half_client, session_id=session, limit=1)["experiments"]
        assert [exp] == assign(config, None, session, {}).to_json()
        arms[exp["arm"]] += 1
        if n < 50:
            assert decide(half_client, session_id=session, limit=1)["experiments"] == [exp]
    assert set(arms) == {"control", "b"}, arms


def test_a_user_keeps_the_arm_across_sessions_and_reloads(
    settings: Settings, experiments_file: Path, half_client: TestClient
) -> None:
    before = {u: decide(half_client, session_id="s-a", user_id=f"user-{u}")["experiments"][0] for u in range(50)}
    for u, exp in before.items():
        assert decide(half_client, session_id="s-other", user_id=f"user-{u}")["experiments"][0] == exp
    experiments_file.write_text(HALF.replace("coverage", "coverage") + "  - key: other\n    arms:\n"
                                "      - {key: x, weight: 0.5}\n      - {key: y, weight: 0.5}\n")  # fmt: skip
    reloaded = half_client.post("/v1/admin/reload", headers=AUTH)
    assert reloaded.status_code == 200
    for u, exp in before.items():
        after = decide(half_client, session_id="s-b", user_id=f"user-{u}")["experiments"]
        assert after[0] == exp and after[1]["key"] == "other"


def test_holdout_gets_no_personalization(settings: Settings, experiments_file: Path) -> None:
    """The units `assign` holds out (its ~5 % share is tested on `assign`) get the default page, no experiment and
    unpersonalized products, on every decision; the others are enrolled."""
    with app_with(settings, experiments_file, HOLDOUT + HALF) as client:
        config = load_experiments(experiments_file)
        held = 0
        for i in range(400):
            result = decide(client, session_id=f"h-{i}", limit=3, session={"viewed": ["SYN10001"]})
            if not assign(config, None, f"h-{i}", {}).holdout:
                assert result["personalized"] is True and len(result["experiments"]) == 1
                continue
            held += 1
            assert result["personalized"] is False
            assert result["variant"]["id"] == "home-default"
            assert result["experiments"] == []
            assert {p["reason"] for p in result["products"]} <= {"trending_local", "best_seller", "on_sale"}
            assert decide(client, session_id=f"h-{i}", limit=3)["personalized"] is False  # stable
        assert held >= 5, held


MEMBER = {"first_name": "Anna", "tier": "silver", "points": 10, "last_purchase_at": "2026-10-20T10:00:00Z"}


def test_an_arm_switches_variant_content_and_ranking(settings: Settings, experiments_file: Path) -> None:
    with app_with(settings, experiments_file, ARMS) as client:
        seen: dict[str, dict[str, Any]] = {}
        for n in range(200):
            if len(seen) == 2:
                break
            client.put(f"/v1/profiles/arm-{n}", json=MEMBER, headers=AUTH)
            result = decide(
                client, session_id=f"arm-{n}", user_id=f"arm-{n}", locale="nl-NL", location={"country": "NL"},
                session={"viewed": ["SYN10001", "SYN10013"]}, limit=10,
            )  # fmt: skip
            seen.setdefault(result["experiments"][0]["arm"], result)
        control, b = seen["control"], seen["b"]
        assert control["variant"]["id"] == "home-personal" and b["variant"]["id"] == "home-lifestyle"
        assert b["greeting"]["text"] == "Hoi Anna, nieuwe looks!" and b["cta"]["text"] == "Shop de look"
        assert "nieuwe looks" not in control["greeting"]["text"]
        assert "similar_to_viewed" in {p["reason"] for p in control["products"]}
        assert {p["reason"] for p in b["products"]} <= {"trending_local", "best_seller", "on_sale"}
        per_category = Counter(p["category"] for p in b["products"])
        assert max(per_category.values()) <= 2  # max_category_share 0.2 of 10
        outside = decide(client, session_id="arm-x", location={"country": "GB"})
        assert outside["experiments"] == []  # targeting: NL and BE only


def test_qa_override_forces_an_arm_with_the_admin_token(settings: Settings, experiments_file: Path) -> None:
    with app_with(settings, experiments_file, ARMS) as client:
        body = {"session_id": "qa-1", "location": {"country": "GB"}, "now": NOW}
        for arm in ("control", "b"):
            forced = client.post("/v1/decide", json=body, headers={**AUTH, "X-Edge-Force-Arm": f"hero-test={arm}"})
            assert forced.json()["experiments"][0]["arm"] == arm
        denied = client.post("/v1/decide", json=body, headers={"X-Edge-Force-Arm": "hero-test=b"})
        assert denied.status_code == 401


def test_experiments_endpoint_and_a_broken_reload(settings: Settings, experiments_file: Path) -> None:
    with app_with(settings, experiments_file, HALF) as client:
        shown = client.get("/v1/experiments", headers=AUTH).json()
        assert shown["version"] and [e["key"] for e in shown["experiments"]] == ["hero-test"]
        experiments_file.write_text(HALF.replace("weight: 0.5}\n      - {key: b, weight: 0.5}",
                                                 "weight: 0.7}\n      - {key: b, weight: 0.7}"))  # fmt: skip
        refused = client.post("/v1/admin/reload", headers=AUTH)
        assert refused.status_code == 422
        assert "hero-test" in refused.json()["error"]["message"]
        assert client.get("/v1/experiments", headers=AUTH).json()["version"] == shown["version"]
        assert decide(client, session_id="still-fine")["experiments"][0]["key"] == "hero-test"


def test_reload_under_load_drops_no_request(settings: Settings, experiments_file: Path) -> None:
    with app_with(settings, experiments_file, HALF) as client:
        failures: list[int] = []

        def hammer() -> None:
            for n in range(150):
                response = client.post("/v1/decide", json={"session_id": f"load-{n}", "now": NOW, "limit": 3})
                if response.status_code != 200:
                    failures.append(response.status_code)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        for _ in range(10):
            assert client.post("/v1/admin/reload", headers=AUTH).status_code == 200
        for thread in threads:
            thread.join()
        assert failures == []


def test_content_file_change_is_picked_up(settings: Settings, tmp_path: Path) -> None:
    import asyncio

    from edge.runtime import Runtime

    content = tmp_path / "content.yaml"
    shutil.copy(settings.content, content)
    runtime = Runtime.open(Settings(artifacts=settings.artifacts, content=content, build_if_missing=False))

    async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "the watcher did not act in time"
            await asyncio.sleep(0.02)

    async def scenario() -> tuple[str, str, str]:
        watcher = asyncio.create_task(runtime.watch(interval_s=0.05))
        before = runtime.engine.content.version
        reloads = runtime.metrics.reloads
        await asyncio.sleep(0)  # the watcher runs up to its first wait: it has taken its first look
        content.write_text(content.read_text().replace("home-elevator-pitch", "home-pitch-v2"))
        await until(lambda: runtime.engine.content.version != before)
        changed = runtime.engine.content.version
        content.write_text("segments: [broken")
        await until(lambda: reloads[("watch", "failed")] >= 1)
        kept = runtime.engine.content.version
        watcher.cancel()
        await runtime.close()
        return before, changed, kept

    before, changed, kept = asyncio.run(scenario())
    assert changed != before
    assert kept == changed
    assert runtime.engine.content.segments["new_visitor"].variant == "home-pitch-v2"


def test_an_experiments_file_change_is_applied_without_a_call(settings: Settings, experiments_file: Path) -> None:
    import time

    experiments_file.write_text(HALF)
    watching = Settings(artifacts=settings.artifacts, admin_token=settings.admin_token, build_if_missing=False,
                        experiments=experiments_file, watch_s=0.05)  # fmt: skip
    with TestClient(create_app(watching)) as client:
        before = client.get("/v1/experiments", headers=AUTH).json()["version"]
        experiments_file.write_text(HOLDOUT + HALF)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            shown = client.get("/v1/experiments", headers=AUTH).json()
            if shown["version"] != before:
                break
            time.sleep(0.05)
        assert shown["version"] != before and shown["holdout"]["percent"] == 5


WEIGHTS = """
experiments:
  - key: no-similar
    unit: session_id
    arms:
      - {key: control, weight: 0.5}
      - {key: "off", weight: 0.5, ranking: {weights: {similar_to_viewed: 0}}}
"""


def test_an_arm_changes_the_blend_weights(settings: Settings, experiments_file: Path) -> None:
    with app_with(settings, experiments_file, WEIGHTS) as client:
        reasons: dict[str, set[str]] = {}
        for n in range(100):
            result = decide(client, session_id=f"w-{n}", session={"viewed": ["SYN10001", "SYN10013"]})
            reasons.setdefault(result["experiments"][0]["arm"], set()).update(p["reason"] for p in result["products"])
            if len(reasons) == 2:
                break
        assert "similar_to_viewed" in reasons["control"]
        assert "similar_to_viewed" not in reasons["off"]
