"""Closing the loop through HTTP: decisions and events of a storefront with a known uplift, then the reports."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from edge.cli import load
from edge.core.answers import ExperimentReport, PersonalizationReport
from edge.core.experiments import assign, parse_experiments
from edge.core.reports import experiment_report
from edge.core.writes import session_unit, user_unit
from edge.http.app import create_app
from edge.settings import Settings
from tests.conftest import AUTH, NOW, wait_for
from tests.test_cluster import Cluster

CONFIG = """
holdout: {percent: 10, seed: global-holdout}
experiments:
  - key: hero-test
    unit: user_id
    conversion_window_hours: 48
    arms:
      - {key: control, weight: 0.5}
      - {key: b, weight: 0.5}
"""
LATER = "2026-11-01T12:00:00Z"  # inside every window
TOO_LATE = "2026-11-04T12:00:00Z"  # after hero-test's 48 h window
PRICE = 20.0


@dataclasses.dataclass
class Truth:
    """What the simulated storefront did, to compare the reports with."""

    units: dict[str, int] = dataclasses.field(default_factory=dict)  # arm -> units
    converted: dict[str, int] = dataclasses.field(default_factory=dict)
    revenue: dict[str, float] = dataclasses.field(default_factory=dict)
    clicks: int = 0
    decisions: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # session -> decision


def report(client: TestClient, path: str) -> dict[str, Any]:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def simulate(client: TestClient, units: int, rates: dict[str, float], seed: int = 11) -> Truth:
    """Decide for `units` anonymous visitors, then send their clicks, carts and purchases."""
    rng = random.Random(seed)
    truth = Truth()
    for n in range(units):
        session = f"sim-{seed}-{n}"
        response = client.post("/v1/decide", json={"session_id": session, "now": NOW, "limit": 4})
        assert response.status_code == 200, response.text
        truth.decisions[session] = response.json()
    events: list[dict[str, Any]] = []
    for session, decision in truth.decisions.items():
        arm = decision["experiments"][0]["arm"] if decision["experiments"] else "holdout"
        truth.units[arm] = truth.units.get(arm, 0) + 1
        base = {"session_id": session, "decision_id": decision["decision_id"], "ts": LATER}
        product = decision["products"][1]["id"]
        if rng.random() < 0.3:
            events.append({**base, "type": "click", "product_id": product, "position": 2})
            truth.clicks += 1
        if rng.random() < rates.get(arm, rates["control"]):
            quantity = rng.randint(1, 3)
            events.append({**base, "type": "add_to_cart", "product_id": product})
            events.append({**base, "type": "purchase", "product_id": product, "quantity": quantity, "price": PRICE})
            truth.converted[arm] = truth.converted.get(arm, 0) + 1
            truth.revenue[arm] = truth.revenue.get(arm, 0.0) + quantity * PRICE
    for start in range(0, len(events), 500):
        response = client.post("/v1/events", json={"events": events[start : start + 500]})
        assert response.status_code == 202, response.text
    return truth


def settled(client: TestClient, units: int) -> dict[str, Any]:
    """The experiment report once every decision's enrolment has landed."""

    def ready() -> dict[str, Any] | None:
        body = report(client, "/v1/reports/experiments/hero-test")
        personalization = report(client, "/v1/reports/personalization")
        total = sum(a["units"] for a in body["arms"]) + personalization["arms"][0]["units"]
        return body if total == units else None

    return wait_for(ready, timeout=20, what="the enrolment of every decision")


@pytest.fixture()
def sim_settings(store_settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "experiments.yaml"
    path.write_text(CONFIG)
    return dataclasses.replace(store_settings, experiments=path)


@pytest.fixture()
def sim_client(sim_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sim_settings)) as client:
        yield client


def result(body: dict[str, Any], metric: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in body["results"] if r["metric"] == metric)
    return found


def test_every_number_of_the_reports_adds_up(sim_client: TestClient) -> None:
    """The wiring, on 300 decisions per store: each decision's enrolment and each event reach the reports exactly
    (the statistics, a known uplift inside the interval, are tested on 20,000 units of the pure path below)."""
    units = 300
    truth = simulate(sim_client, units, {"control": 0.40, "b": 0.44, "holdout": 0.40})
    body = settled(sim_client, units)
    arms = {a["key"]: a for a in body["arms"]}
    for arm in ("control", "b"):
        assert arms[arm]["units"] == truth.units[arm]
        assert arms[arm]["metrics"]["conversion"]["sum"] == truth.converted[arm]
        assert arms[arm]["metrics"]["revenue"]["sum"] == pytest.approx(truth.revenue[arm])
    conversion = result(body, "conversion")
    assert conversion["arm"] == "b" and conversion["baseline"] == "control"
    assert conversion["uplift"] == pytest.approx(
        (truth.converted["b"] / truth.units["b"]) / (truth.converted["control"] / truth.units["control"]) - 1, abs=1e-6
    )
    assert conversion["ci"][0] < conversion["uplift"] < conversion["ci"][1]
    assert body["srm"]["ok"] and body["conversion_window_hours"] == 48
    assert {r["metric"] for r in body["results"]} == {"conversion", "revenue", "add_to_cart", "click", "redemption"}
    assert body["timeseries"][0]["points"][-1]["units"] == truth.units["control"]

    personalization = report(sim_client, "/v1/reports/personalization")
    assert personalization["arms"][0] == {
        **personalization["arms"][0],
        "key": "holdout",
        "units": truth.units["holdout"],
    }
    reasons = personalization["attribution"]["reason"]
    assert sum(r["click"] for r in reasons) == truth.clicks
    assert sum(r["shown"] for r in reasons) == 4 * units
    assert personalization["attribution"]["slot"][1]["click"] == truth.clicks  # every click was on slot 2


def test_a_known_uplift_is_recovered_from_the_write_programs() -> None:
    """The statistics, on the pure path the service runs for each decision and event: 20,000 sessions bucketed
    by `assign`, enrolled by `decision_attribution`, converting at 40 % (control, holdout) and 44 % (b), their
    purchases planned by `event_ops` and applied by the embedded store, then `experiment_report`: the true
    uplift (+10 %) is inside the interval, b wins, the split passes SRM and every count is the simulated one."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from edge.core.attribution import decision_attribution, event_ops
    from edge.core.writes import Group
    from edge.store.memory import MemoryStore

    config = parse_experiments(yaml.safe_load(CONFIG), source="")
    start = datetime(2026, 11, 1, 10, 30, tzinfo=UTC)
    rates = {"control": 0.40, "b": 0.44, "holdout": 0.40}
    rng = random.Random(11)
    store = MemoryStore()
    units: Counter[str] = Counter()
    converted: Counter[str] = Counter()
    revenue: dict[str, float] = {}
    body = {"segment": "new_visitor", "cta": {}}

    async def run() -> ExperimentReport:
        for n in range(20_000):
            session = f"pure-{n}"
            assignment = assign(config, None, session, {})
            arm = assignment.arms[0].arm if assignment.arms else "holdout"
            units[arm] += 1
            unit = session_unit(session)
            await store.apply(
                decision_attribution(config, unit, body, assignment.arms, assignment.holdout, False, start)
            )
            if rng.random() < rates[arm]:
                quantity = rng.randint(1, 3)
                converted[arm] += 1
                revenue[arm] = revenue.get(arm, 0.0) + quantity * PRICE
                ops = event_ops("purchase", start + timedelta(hours=2), quantity * PRICE, None, "p", None, None)
                await store.apply((Group(unit, tuple(ops)),))
        return experiment_report(config, "hero-test", await store.read_aggregate("xa:hero-test"))

    report_body = asyncio.run(run())
    arms = {a.key: a for a in report_body.arms}
    for arm in ("control", "b"):
        assert arms[arm].units == units[arm]
        assert arms[arm].metrics["conversion"].sum == converted[arm]
        assert arms[arm].metrics["revenue"].sum == pytest.approx(revenue[arm])
    assert 0.08 < units["holdout"] / 20_000 < 0.12
    conversion = next(r for r in report_body.results if r.metric == "conversion")
    assert conversion.uplift == pytest.approx(
        (converted["b"] / units["b"]) / (converted["control"] / units["control"]) - 1, abs=1e-6
    )
    assert conversion.ci is not None and conversion.ci[0] < 0.10 < conversion.ci[1], conversion
    assert conversion.chance_to_win is not None and conversion.chance_to_win > 0.9
    assert report_body.srm.ok


def test_window_unknown_decisions_and_retries(sim_client: TestClient) -> None:
    truth = simulate(sim_client, 200, {"control": 0.0, "b": 0.0, "holdout": 0.0})
    settled(sim_client, 200)
    session, decision = next((s, d) for s, d in truth.decisions.items() if d["experiments"])
    arm = decision["experiments"][0]["arm"]
    purchase = {"type": "purchase", "session_id": session, "product_id": "x", "quantity": 1, "price": 10.0}
    late = {"events": [{**purchase, "ts": TOO_LATE}]}
    assert sim_client.post("/v1/events", json=late).status_code == 202
    unknown = {"events": [{**purchase, "ts": LATER, "decision_id": "d-unknown"}]}
    for _ in range(2):  # the same Idempotency-Key twice: counted once
        response = sim_client.post("/v1/events", json=unknown, headers={"Idempotency-Key": f"retry-{session}"})
        assert response.status_code == 202
    body = report(sim_client, "/v1/reports/experiments/hero-test")
    arms = {a["key"]: a for a in body["arms"]}
    assert arms[arm]["metrics"]["conversion"]["sum"] == 1  # the late one is outside the 48 h window
    assert arms[arm]["metrics"]["revenue"]["sum"] == 10.0
    unattributed = report(sim_client, "/v1/reports/personalization")["attribution"]["unattributed"]
    assert unattributed["purchase"] == 1 and unattributed["revenue"] == 10.0


def test_reports_need_the_admin_token_and_name_bad_parameters(sim_client: TestClient) -> None:
    assert sim_client.get("/v1/reports/experiments/hero-test").status_code == 401
    assert sim_client.get("/v1/reports/personalization").status_code == 401
    assert sim_client.get("/reports").status_code == 401
    missing = sim_client.get("/v1/reports/experiments/nope", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "key"
    for query, field in (("metric=profit", "metric"), ("segments=maybe", "segments"), ("colour=red", "colour")):
        bad = sim_client.get(f"/v1/reports/experiments/hero-test?{query}", headers=AUTH)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text
    only = report(sim_client, "/v1/reports/experiments/hero-test?metric=revenue&segments=false")
    assert [r["metric"] for r in only["results"]] == ["revenue"] and "segments" not in only


def test_html_report_renders_offline(sim_client: TestClient) -> None:
    simulate(sim_client, 300, {"control": 0.3, "b": 0.4, "holdout": 0.3})
    settled(sim_client, 300)
    page = sim_client.get("/reports?token=test-admin-token")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Experiment hero-test" in html and "Sample ratio OK" in html
    assert html.count("<svg") >= 4 and "<polyline" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_a_skewed_split_trips_srm(sim_client: TestClient) -> None:
    simulate(sim_client, 400, {"control": 0.3, "b": 0.3})
    settled(sim_client, 400)
    store = sim_client.app_state["runtime"].store
    partitions = sim_client.portal.call(store.read_aggregate, "xa:hero-test")  # type: ignore[union-attr]
    claimed = parse_experiments(
        {
            "experiments": [
                {"key": "hero-test", "arms": [{"key": "control", "weight": 0.8}, {"key": "b", "weight": 0.2}]}
            ]
        },
        source="",
    )
    skewed = experiment_report(claimed, "hero-test", partitions)
    assert not skewed.srm.ok and skewed.srm.p_value is not None and skewed.srm.p_value < 0.001


def test_erasure_removes_the_units_records(sim_client: TestClient) -> None:
    decided = sim_client.post("/v1/decide", json={"session_id": "s-erase", "user_id": "erase-me", "now": NOW})
    decision = decided.json()
    store = sim_client.app_state["runtime"].store
    unit = user_unit("erase-me")
    records = wait_for(lambda: sim_client.portal.call(store.read_hash, unit, "xp"), timeout=20)
    assert set(records) >= {"~holdout", *(e["key"] for e in decision["experiments"])}
    assert sim_client.delete("/v1/profiles/erase-me", headers=AUTH).status_code == 204
    assert sim_client.portal.call(store.read_hash, unit, "xp") == {}
    assert sim_client.portal.call(store.read_hash, session_unit("s-erase"), "xp") == {}


def test_on_a_redis_cluster(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "cluster").mkdir()
    cluster = Cluster(tmp_path / "cluster")
    try:
        path = tmp_path / "experiments.yaml"
        path.write_text(CONFIG)
        cluster_settings = dataclasses.replace(
            settings, redis_url=cluster.url, redis_prefix="edge", deadline_ms=2000, experiments=path
        )
        assert load(cluster_settings, cluster.url) == 0
        with TestClient(create_app(cluster_settings)) as client:
            truth = simulate(client, 300, {"control": 0.3, "b": 0.4, "holdout": 0.3})
            body = settled(client, 300)
            arms = {a["key"]: a for a in body["arms"]}
            for arm in ("control", "b"):
                assert arms[arm]["metrics"]["conversion"]["sum"] == truth.converted[arm]
                assert arms[arm]["metrics"]["revenue"]["sum"] == pytest.approx(truth.revenue[arm])
    finally:
        cluster.stop()


def test_no_consent_no_attribution_records(sim_client: TestClient) -> None:
    body = {"session_id": "s-private", "now": NOW, "consent": {"personalization": False}}
    assert sim_client.post("/v1/decide", json=body).status_code == 200
    marker = sim_client.post("/v1/decide", json={"session_id": "s-marker", "now": NOW}).json()
    store = sim_client.app_state["runtime"].store
    wait_for(lambda: sim_client.portal.call(store.read_hash, session_unit("s-marker"), "xp"), timeout=20)
    assert marker["decision_id"]  # the later decision's writes landed, the earlier one wrote nothing
    assert sim_client.portal.call(store.read_hash, session_unit("s-private"), "xp") == {}


def test_offers_redemption_discount_and_incremental_revenue() -> None:
    """Offer tracks against the holdout, through the store's own write programs (embedded store)."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from edge.core.attribution import (
        HOLDOUT_TRACK,
        OFFER_TRACK,
        Enrolment,
        ShownCounts,
        decision_program,
        encode_decision,
        event_ops,
    )
    from edge.core.reports import load_personalization_report
    from edge.core.writes import Group
    from edge.store.memory import MemoryStore

    config = parse_experiments({"holdout": {"percent": 50}}, source="")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    store = MemoryStore()
    window = 72 * 3600
    impressions = ShownCounts()

    async def run() -> PersonalizationReport:
        for n in range(10):  # 5 held out spending 10 each; 5 shown GOLD10, 2 of them redeem for 90 each
            unit = user_unit(f"offer-{n}")
            shown = n >= 5
            tracks = [Enrolment(HOLDOUT_TRACK, "personalized" if shown else "holdout", window)]
            tracks += [Enrolment(OFFER_TRACK + "GOLD10", "shown", window)] if shown else []
            offer = {"code": "GOLD10", "discount_pct": 10} if shown else None
            decision = encode_decision(start, "home", "GOLD10" if shown else None, [])
            await store.apply(decision_program(unit, start, "active", tracks))
            impressions.add(
                {"decision_id": decision, "variant": {"id": "home"}, "cta": {"offer": offer}, "products": []}
            )
            redeem = n >= 8
            code = "GOLD10" if redeem else None
            amount = 90.0 if redeem else (10.0 if not shown else 0.0)
            if amount:
                ops = event_ops("purchase", start + timedelta(hours=2), amount, decision, "p", None, code)
                await store.apply((Group(unit, tuple(ops)),))
        await store.apply(impressions.take())
        return await load_personalization_report(store, config)

    body = asyncio.run(run())
    (offer,) = body.offers
    assert offer.code == "GOLD10" and offer.discount_pct == 10 and offer.units == 5 and offer.shown == 5
    assert offer.redemptions == 2 and offer.redemption_rate == pytest.approx(0.4)
    assert offer.discount_given == pytest.approx(180 * 10 / 90)
    assert offer.incremental_revenue == pytest.approx((180 / 5 - 10) * 5)
    assert body.incremental_revenue.value == pytest.approx((180 / 5 - 10) * 5)
    assert body.attribution.offer[0].redemption == 2
    assert isinstance(body.segments, list) and [s.segment for s in body.segments] == ["active"]


def test_decision_ids_describe_their_decision() -> None:
    from datetime import UTC, datetime

    from edge.core.attribution import decode_decision, encode_decision

    now = datetime(2026, 11, 1, 10, 30, tzinfo=UTC)
    products = [(f"P{i}", "best_seller" if i % 2 else "trending_local") for i in range(100)]
    decision_id = encode_decision(now, "home-lifestyle", "GOLD10", products)
    assert len(decision_id) <= 128 and decision_id.startswith("d-")
    decoded = decode_decision(decision_id)
    assert decoded is not None
    assert (decoded.ts, decoded.variant, decoded.offer) == (int(now.timestamp()), "home-lifestyle", "GOLD10")
    assert decoded.slots[1][0] == "best_seller" and decoded.slot_of("P3", None) == 4
    assert decoded.slot_of(None, 2) == 2 and decoded.slot_of("nowhere", None) in (0, *range(1, len(decoded.slots) + 1))
    assert encode_decision(now, "home", None, []) != encode_decision(now, "home", None, [])  # unique
    for foreign in ("d-unknown", "d-01HF...", "x.y.z.w", "d-zzzzzzzzzzzz.a.b.c"):
        assert decode_decision(foreign) is None


def test_ranked_ids_describe_the_same_decision_and_credits_spread_to_every_dimension() -> None:
    from datetime import UTC, datetime

    from edge.core.attribution import Enrolled, credit_ops, decode_decision, encode_decision, encode_ranked, merged
    from edge.core.ranking import Ranked

    now = datetime(2026, 11, 1, 10, 30, tzinfo=UTC)
    item_json = tuple({"id": f"P{i}"} for i in range(50))
    ranked = [Ranked(row=i * 3, score=1.0, reason="best_seller" if i % 2 else "trending_local") for i in range(12)]
    fast = decode_decision(encode_ranked(now, "home", "GOLD10", item_json, ranked))
    plain = decode_decision(encode_decision(now, "home", "GOLD10", [(f"P{r.row}", r.reason) for r in ranked]))
    assert fast is not None and fast == plain and fast.slot_of("P9", None) == 4

    decision_id = encode_ranked(now, "home", "GOLD10", item_json, ranked)
    (op,) = credit_ops(decision_id, int(now.timestamp()) + 60, "purchase", "P9", None, None, 25.0)
    field = op.args[2]
    totals = merged([{f"{field}|purchase": "1", f"{field}|revenue": "25.0"}, {"variant|home|purchase": "2"}])
    assert totals["variant|home|purchase"] == 3 and totals["offer|GOLD10|revenue"] == 25.0
    assert totals["slot|4|purchase"] == 1 and totals["reason|best_seller|purchase"] == 1

    enrolled = Enrolled(size=2)
    assert enrolled.first("u=1", "t") and not enrolled.first("u=1", "t") and enrolled.first("u=1", "~holdout")
    assert enrolled.first("u=2", "t") and enrolled.first("u=3", "t")  # u=1 forgotten: the oldest unit goes first
    assert enrolled.first("u=1", "t")
