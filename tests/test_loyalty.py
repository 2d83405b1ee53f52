"""Loyalty through HTTP on both stores: preferences and points, admin PATCH, the points ledger,
honest offers (windows, per-person codes, redemption), holdout and guards, programme mechanics."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from edge.errors import ConfigError
from edge.http.app import create_app
from edge.settings import PACKAGE_DATA, Settings
from tests import conftest
from tests.conftest import AUTH, NOW, member, profile, stream_entries

SECRET = "test-offer-secret"


@pytest.fixture()
def client(store_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(dataclasses.replace(store_settings, offer_secret=SECRET))) as test_client:
        yield test_client


def events(client: TestClient, *batch: dict[str, Any], status: int = 202) -> None:
    response = client.post("/v1/events", json={"events": list(batch)})
    assert response.status_code == status, response.text


def decide(client: TestClient, user_id: str, **body: Any) -> dict[str, Any]:
    """A member's decision in their own session, once its off-path writes have landed (AUTH: `debug` is the admin's)."""
    defaults = {
        "session_id": f"s-{user_id}",
        "location": {"country": "NL", "timezone": "Europe/Amsterdam"},
        "locale": "en",
    }
    return conftest.decide(client, headers=AUTH, settle_writes=True, user_id=user_id, **{**defaults, **body})


def purchase(user_id: str, ts: str, price: float, product: str = "P1", **extra: Any) -> dict[str, Any]:
    return {"type": "purchase", "user_id": user_id, "product_id": product, "quantity": 1, "price": price, "ts": ts,
            **extra}  # fmt: skip


# --- 1. preferences and points --------------------------------------------------------------------


def test_preferences_credit_the_bonus_once_and_end_the_quiz(client: TestClient) -> None:
    user = "p-quiz"
    member(client, user, joined_at="2026-10-25T08:00:00Z", orders=0, points=0, spend=0.0, last_purchase_at=None)
    before = decide(client, user)
    assert (before["segment"], before["cta"]["id"]) == ("new_member", "preference-quiz")
    url = f"/v1/profiles/{user}/preferences"
    first = client.post(url, json={"shops_for": ["kids"], "style": ["festive"]}, headers=AUTH)
    assert first.status_code == 200, first.text
    assert (first.json()["bonus_points"], first.json()["points"]) == (100, 100)
    again = client.post(url, json={"style": ["vintage"]}, headers=AUTH)  # partial: shops_for stays
    assert (again.json()["bonus_points"], again.json()["points"]) == (0, 100)
    stored = profile(client, user)
    assert stored["preferences"]["shops_for"] == ["kids"] and stored["preferences"]["style"] == ["vintage"]
    assert stored["points"] == 100 and stored["ledger"][-1]["kind"] == "bonus"
    after = decide(client, user)
    assert after["segment"] == "new_member" and after["cta"]["id"] == "welcome-picks"


def test_preferences_need_a_token_and_valid_answers(client: TestClient) -> None:
    url = "/v1/profiles/p-auth/preferences"
    assert client.post(url, json={"style": ["cosy"]}).status_code == 401
    bad = client.post(url, json={"style": "cosy"}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "style"
    unknown = client.post(url, json={"colour": ["red"]}, headers=AUTH)
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "colour"
    assert client.post(url, json={}, headers=AUTH).status_code == 422


def test_quiz_answers_feed_the_ranking(client: TestClient) -> None:
    user = "p-rank"
    member(client, user)
    kids = {"toys", "party", "stationery"}
    before = sum(p["category"] in kids for p in decide(client, user)["products"])
    response = client.post(f"/v1/profiles/{user}/preferences", json={"shops_for": ["kids"]}, headers=AUTH)
    assert response.status_code == 200
    after = sum(p["category"] in kids for p in decide(client, user)["products"])
    assert after > before


def test_a_review_earns_points_once_per_product(client: TestClient) -> None:
    user = "p-review"
    member(client, user)
    review = {"type": "review", "user_id": user, "product_id": "R1", "ts": "2026-10-30T10:00:00Z"}
    events(client, review, review)
    events(client, review)
    assert profile(client, user)["points"] == 300 + 25
    events(client, {**review, "product_id": "R2"})
    assert profile(client, user)["points"] == 300 + 50
    signup = {"type": "activity", "activity": "newsletter_signup", "user_id": user, "ts": "2026-10-30T11:00:00Z"}
    events(client, signup, signup, {**signup, "activity": "not_rewarded"})
    assert profile(client, user)["points"] == 300 + 50 + 50
    events(client, {**signup, "activity": "photo_review", "product_id": "R1"})
    assert profile(client, user)["points"] == 300 + 50 + 50 + 10
    events(client, {"type": "activity", "user_id": user}, status=422)


def test_patch_updates_part_of_the_profile_and_keeps_what_events_earned(client: TestClient) -> None:
    user = "p-patch"
    member(client, user)
    events(client, purchase(user, "2026-10-30T10:00:00Z", 40.0))
    earned = profile(client, user)
    assert (earned["orders"], earned["points"]) == (5, 340)
    patched = client.patch(
        f"/v1/profiles/{user}", json={"first_name": "Annie", "consent": {"marketing": True}}, headers=AUTH
    )
    assert patched.status_code == 200, patched.text
    found = profile(client, user)
    assert (found["first_name"], found["orders"], found["points"], found["spend"]) == ("Annie", 5, 340, 340.0)
    assert found["consent"] == {"personalization": True, "marketing": True}
    assert found["ledger"][-1]["kind"] == "purchase"
    bad = client.patch(f"/v1/profiles/{user}", json={"tier": "diamond"}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "tier"
    assert client.patch(f"/v1/profiles/{user}", json={"first_name": "X"}).status_code == 401


# --- 2. the points ledger -------------------------------------------------------------------------


def test_returns_and_cancellations_are_netted_and_tiers_follow_net_spend(
    client: TestClient, catalog: dict[str, Any]
) -> None:
    gold = catalog["artifacts"].manifest["tier_thresholds"]["gold"]
    user = "l-net"
    member(client, user, tier="silver", spend=gold - 310, points=int(gold - 310))
    events(
        client, purchase(user, "2026-10-20T10:00:00Z", 300.0, "N0"), purchase(user, "2026-10-30T10:00:00Z", 50.0, "N1")
    )
    assert decide(client, user)["segment"] == "ambassador"
    events(client, {"type": "order_cancel", "user_id": user, "amount": 50.0, "order_id": "o-1",
                    "ts": "2026-10-30T12:00:00Z"})  # fmt: skip
    cancelled = decide(client, user)
    assert (cancelled["tier"], cancelled["segment"]) == ("silver", "active")  # a routine cancellation: not at risk
    found = profile(client, user)
    assert (found["orders"], found["spend"], found["points"]) == (5, round(gold - 10, 2), int(gold - 310) + 300)
    assert [e["kind"] for e in found["ledger"]] == ["purchase", "purchase", "cancellation"]
    events(client, purchase(user, "2026-10-31T10:00:00Z", 30.0, "N2"))
    events(client, {"type": "return", "user_id": user, "product_id": "N0", "quantity": 1, "price": 100.0,
                    "ts": "2026-10-31T15:00:00Z"})  # fmt: skip
    returned = decide(client, user)  # 150 of 380 returned or cancelled in 90 days: over the 25 % share
    assert returned["segment"] == "at_risk" and returned["tier"] == "silver"


def test_a_replay_counts_only_what_happened_before_now(client: TestClient, catalog: dict[str, Any]) -> None:
    gold = catalog["artifacts"].manifest["tier_thresholds"]["gold"]
    user = "l-replay"
    member(client, user, tier="silver", spend=gold - 10, points=int(gold - 10))
    events(client, purchase(user, "2026-11-01T09:00:00Z", 50.0))
    events(client, {"type": "complaint", "user_id": user, "ts": "2026-11-01T11:00:00Z"})
    earlier = decide(client, user, now="2026-11-01T08:00:00Z", debug=True)
    assert (earlier["tier"], earlier["segment"]) == ("silver", "active")
    between = decide(client, user, now="2026-11-01T10:00:00Z")
    assert (between["tier"], between["segment"]) == ("gold", "ambassador")
    after = decide(client, user, now="2026-11-01T12:00:00Z")
    assert after["segment"] == "at_risk"


def test_a_complaint_expires_after_the_rules_window(client: TestClient) -> None:
    user = "l-expire"
    member(client, user, tier="silver")
    events(
        client,
        {"type": "complaint", "user_id": user, "ts": "2026-08-01T10:00:00Z"},
        purchase(user, "2026-10-25T10:00:00Z", 10.0),
    )
    assert decide(client, user, now="2026-09-01T10:00:00Z")["segment"] == "at_risk"
    later = decide(client, user, now="2026-11-11T10:00:00Z")  # 102 days later under a 90-day rule
    assert later["segment"] == "active"


def test_a_purchase_after_a_cancelled_subscription_reactivates(client: TestClient) -> None:
    user = "l-sub"
    member(client, user, tier="silver")
    events(client, {"type": "subscription_cancel", "user_id": user, "ts": "2026-10-20T10:00:00Z"})
    assert decide(client, user)["segment"] == "lost"
    events(client, purchase(user, "2026-10-28T10:00:00Z", 10.0))
    assert decide(client, user)["segment"] == "active"
    events(client, {"type": "subscription_cancel", "user_id": user, "ts": "2026-10-29T10:00:00Z"})
    assert decide(client, user)["segment"] == "lost"
    events(client, {"type": "subscription_resume", "user_id": user, "ts": "2026-10-30T10:00:00Z"})
    assert decide(client, user)["segment"] == "active"
    assert profile(client, user)["subscription"] == "active"


def test_loyalty_events_are_validated(client: TestClient) -> None:
    events(client, {"type": "order_cancel", "user_id": "l-v"}, status=422)
    events(client, {"type": "return", "user_id": "l-v", "product_id": "X"}, status=422)
    events(client, {"type": "return", "session_id": "s-v", "product_id": "X", "quantity": 1, "price": 1.0}, status=422)
    events(client, {"type": "view", "session_id": "s-v", "product_id": "X", "offer_code": "A"}, status=422)


# --- 3. honest offers -----------------------------------------------------------------------------


def test_a_promotions_expiry_never_moves_and_it_ends(client: TestClient) -> None:
    user = "o-window"
    member(client, user, tier="silver", last_purchase_at="2026-07-01T10:00:00Z")
    first = decide(client, user)["cta"]["offer"]
    assert (first["expires_at"], first["kind"]) == ("2026-11-15T10:30:00Z", "promotion")
    assert first["code"].startswith("COMEBACK15-")  # this person's own code (EDGE_OFFER_SECRET is set)
    later = decide(client, user, now="2026-11-05T18:00:00Z")["cta"]["offer"]
    assert (later["expires_at"], later["code"]) == ("2026-11-15T10:30:00Z", first["code"])
    over = decide(client, user, now="2026-11-16T10:00:00Z")
    assert over["cta"]["offer"] is None and "%" not in over["cta"]["text"]


def test_unique_codes_verify_and_redeem_once(client: TestClient) -> None:
    user, other = "o-lost", "o-other"
    for who in (user, other):
        member(client, who, tier="gold", subscription="cancelled")
    body = {"now": None}
    offer = decide(client, user, **body)["cta"]["offer"]  # real time: the checkout verifies at real time
    code = offer["code"]
    assert code.startswith("WELCOMEBACK20-") and code != decide(client, other, **body)["cta"]["offer"]["code"]
    again = decide(client, user, **body)["cta"]["offer"]
    assert again["code"] == code and again["expires_at"] == offer["expires_at"]
    verdict = client.get(f"/v1/offers/verify/{code}", params={"user_id": user}, headers=AUTH).json()
    assert (verdict["valid"], verdict["reason"], verdict["discount_pct"]) == (True, "ok", 20)
    assert verdict["expires_at"] == offer["expires_at"]
    stolen = client.get(f"/v1/offers/verify/{code}", params={"user_id": other}, headers=AUTH).json()
    assert (stolen["valid"], stolen["reason"]) == (False, "other_customer")
    forged = client.get(f"/v1/offers/verify/{code[:-2]}AA", params={"user_id": user}, headers=AUTH).json()
    assert forged["valid"] is False
    unknown = client.get("/v1/offers/verify/GOLD10", params={"user_id": user}, headers=AUTH).json()
    assert unknown["reason"] == "unknown_code"
    assert client.get(f"/v1/offers/verify/{code}", params={"user_id": user}).status_code == 401
    events(client, {"type": "purchase", "user_id": user, "product_id": "W1", "quantity": 1, "price": 30.0,
                    "offer_code": code})  # fmt: skip
    redeemed = client.get(f"/v1/offers/verify/{code}", params={"user_id": user}, headers=AUTH).json()
    assert (redeemed["valid"], redeemed["reason"]) == (False, "redeemed")
    assert any(e.get("offer_code") == code for e in stream_entries(client))


def test_holdout_keeps_loyalty_entitlements(store_settings: Settings, tmp_path: Path) -> None:
    everyone = tmp_path / "holdout.yaml"
    everyone.write_text("holdout: {percent: 100}\nexperiments: []\n")
    settings = dataclasses.replace(store_settings, experiments=everyone)
    with TestClient(create_app(settings)) as client:
        member(client, "o-holdout", tier="platinum", spend=9000.0)
        result = decide(client, "o-holdout")
        assert result["personalized"] is False
        assert result["cta"]["offer"]["code"] == "PLATINUM15" and "join" not in result["cta"]["text"].lower()
        assert "Anna" in result["greeting"]["text"] and "points" in result["greeting"]["text"]
        anonymous = client.post("/v1/decide", json={"session_id": "s-anon", "now": NOW}).json()
        assert anonymous["cta"]["offer"] is None


def write_experiments(tmp_path: Path, arm: dict[str, Any], when: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "experiments.yaml"
    experiment: dict[str, Any] = {
        "key": "guard-test",
        "arms": [{"key": "control", "weight": 0.0}, {"key": "b", "weight": 1.0, **arm}],
    }
    if when:
        experiment["when"] = when
    path.write_text(yaml.safe_dump({"experiments": [experiment]}))
    return path


def test_experiments_that_bypass_the_guards_are_refused(store_settings: Settings, tmp_path: Path) -> None:
    exclusive = write_experiments(tmp_path, {"variant": "home-ambassador"})
    with pytest.raises(ConfigError, match="exclusive"):
        with TestClient(create_app(dataclasses.replace(store_settings, experiments=exclusive))):
            pass
    literal = write_experiments(tmp_path, {"content": {"en": {"cta_text": "20 % off everything"}}})
    with pytest.raises(ConfigError, match="discount_pct"):
        with TestClient(create_app(dataclasses.replace(store_settings, experiments=literal))):
            pass
    targeted = write_experiments(tmp_path, {"variant": "home-ambassador"}, {"tier": ["gold", "platinum"]})
    with TestClient(create_app(dataclasses.replace(store_settings, experiments=targeted))) as client:
        assert client.post("/v1/decide", json={"session_id": "s-g", "now": NOW}).status_code == 200


def test_an_arm_never_promises_a_discount_the_visitor_does_not_get(store_settings: Settings, tmp_path: Path) -> None:
    arm = {"content": {"en": {"cta_text": "Only for you: {discount_pct}% off"}}}
    settings = dataclasses.replace(store_settings, experiments=write_experiments(tmp_path, arm))
    with TestClient(create_app(settings)) as client:
        member(client, "g-bronze", tier="bronze")
        bronze = decide(client, "g-bronze")
        assert bronze["cta"]["offer"] is None and "%" not in bronze["cta"]["text"]
        member(client, "g-silver", tier="silver")
        silver = decide(client, "g-silver")
        assert silver["cta"]["text"] == "Only for you: 5% off" and silver["cta"]["offer"]["discount_pct"] == 5


# --- 4. programme mechanics -----------------------------------------------------------------------


def test_progress_to_the_next_tier_is_shown(client: TestClient, catalog: dict[str, Any]) -> None:
    silver = catalog["artifacts"].manifest["tier_thresholds"]["silver"]
    member(client, "m-progress", tier="bronze", spend=silver - 40, points=int(silver - 40))
    result = decide(client, "m-progress", debug=True)
    greeting = result["greeting"]["text"]
    assert "40 more and you reach Silver" in greeting and "{" not in greeting
    assert result["explain"]["loyalty"]["next_tier"] == "silver"


def test_a_tier_upgrade_and_a_milestone_are_celebrated_once(client: TestClient, catalog: dict[str, Any]) -> None:
    gold = catalog["artifacts"].manifest["tier_thresholds"]["gold"]
    user = "m-celebrate"
    member(client, user, tier="silver", spend=gold - 10, points=990)
    events(client, purchase(user, "2026-10-30T10:00:00Z", 50.0))
    upgraded = decide(client, user)
    assert upgraded["greeting"]["text"].startswith("Congratulations, Anna: you are now Gold!")
    assert upgraded["cta"]["id"] == "tier-welcome"
    milestone = decide(client, user)  # the upgrade is celebrated; next, the 1,000 points milestone
    assert milestone["greeting"]["text"].startswith("Well done, Anna")
    assert milestone["cta"]["id"] == "spend-points"
    plain = decide(client, user)
    assert plain["cta"]["id"] == "ambassador-exclusive"


def test_the_cart_persists_and_an_idle_cart_is_an_occasion(client: TestClient, catalog: dict[str, Any]) -> None:
    user = "m-cart"
    member(client, user, tier="silver")
    item = catalog["by_category"]["garden"][0]
    events(client, {"type": "add_to_cart", "session_id": "s-anon-cart", "product_id": item,
                    "ts": "2026-11-01T08:00:00Z"})  # fmt: skip
    decide(client, user, session_id="s-anon-cart", now="2026-11-01T08:05:00Z")  # login: the cart moves over
    assert profile(client, user)["cart"] == [item]
    events(client, {"type": "add_to_cart", "session_id": "s-cart-2", "user_id": user, "product_id": "C2",
                    "ts": "2026-11-01T08:10:00Z"})  # fmt: skip
    fresh = decide(client, user, session_id="s-other", now="2026-11-01T08:20:00Z")
    assert fresh["cta"]["id"] == "member-picks"
    idle = decide(client, user, session_id="s-later", now="2026-11-01T10:30:00Z")  # a new session, hours later
    assert idle["cta"]["id"] == "cart-reminder" and idle["cta"]["offer"]["code"].startswith("BASKET5-")
    assert item not in [p["id"] for p in idle["products"]]  # what is in the cart is not offered again
    events(client, purchase(user, "2026-11-01T10:40:00Z", 5.0, item), purchase(user, "2026-11-01T10:40:00Z", 5.0, "C2"))
    assert decide(client, user, now="2026-11-01T12:00:00Z")["cta"]["id"] != "cart-reminder"


def test_the_strict_loader_takes_the_ranking_sections_and_refuses_their_typos(tmp_path: Path) -> None:
    from edge.model.config_files import load_content

    raw = yaml.safe_load((PACKAGE_DATA / "content.yaml").read_text())
    assert {"pages", "boosts"} <= set(raw) and load_content(PACKAGE_DATA / "content.yaml").segments["lost"].cta.offer
    raw["pages"]["product"]["anything"] = True
    path = tmp_path / "content.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"pages\.product\.anything"):
        load_content(path)


def test_a_reload_with_an_arm_that_bypasses_a_guard_is_refused(store_settings: Settings, tmp_path: Path) -> None:
    path = write_experiments(tmp_path, {"variant": "home-lifestyle"})
    with TestClient(create_app(dataclasses.replace(store_settings, experiments=path, watch_s=0))) as client:
        version = client.get("/v1/experiments", headers=AUTH).json()["version"]
        write_experiments(tmp_path, {"variant": "home-ambassador"}, {"segment": ["active"]})
        refused = client.post("/v1/admin/reload", headers=AUTH)
        assert refused.status_code == 422 and "exclusive" in refused.json()["error"]["message"]
        assert client.get("/v1/experiments", headers=AUTH).json()["version"] == version
