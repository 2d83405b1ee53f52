"""Decisions through HTTP against both stores: the embedded default and a real Redis."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests import conftest
from tests.conftest import AUTH

MEMBER = {"first_name": "Anna", "joined_at": "2024-03-10T08:00:00Z", "orders": 12, "spend": 900.0,
          "last_purchase_at": "2026-10-15T10:00:00Z", "subscription": "active", "points": 1250,
          "consent": {"personalization": True}}  # fmt: skip

# segment -> (profile overrides, variant, cta id, offer code or None)
# promotions expire valid_days after first shown; a tier's standing discount does not expire
EXPIRES = {"new_member": "2026-11-15T10:30:00Z", "lapsed": "2026-11-15T10:30:00Z", "lost": "2026-11-08T10:30:00Z"}
CASES: dict[str, tuple[dict[str, Any], str, str, str | None]] = {
    "new_member": ({"joined_at": "2026-10-20T08:00:00Z", "orders": 1, "tier": "bronze"},
                   "home-welcome", "preference-quiz", "WELCOME10"),
    "active": ({"tier": "silver"}, "home-personal", "member-picks", "SILVER5"),
    "ambassador": ({"tier": "gold"}, "home-ambassador", "ambassador-exclusive", "GOLD10"),
    "at_risk": ({"tier": "gold", "complaints_90d": 1}, "home-service", "service-first", None),
    "lapsed": ({"tier": "silver", "last_purchase_at": "2026-07-01T10:00:00Z"},
               "home-reengage", "comeback", "COMEBACK15"),
    "lost": ({"tier": "platinum", "last_purchase_at": "2026-03-01T10:00:00Z"},
             "home-welcome-back", "welcome-back", "WELCOMEBACK20"),
}  # fmt: skip
GREETINGS = {
    ("ambassador", "en"): "Good morning, Anna, lovely to see you again! You have 1,250 points.",
    ("ambassador", "nl"): "Goedemorgen, Anna, fijn je weer te zien! Je hebt 1.250 punten.",
    ("lost", "en"): "Good morning, Anna, we miss you!",
    ("lost", "nl"): "Goedemorgen, Anna, we missen je!",
}


def put_profile(client: TestClient, user_id: str, **fields: Any) -> None:
    response = client.put(f"/v1/profiles/{user_id}", json={**MEMBER, **fields}, headers=AUTH)
    assert response.status_code == 200, response.text


decide = functools.partial(  # offer counters are written off the response path: settled before returning
    conftest.decide,
    settle_writes=True,
    session_id="s-decide",
    location={"country": "NL", "timezone": "Europe/Amsterdam"},
)


@pytest.mark.parametrize("lang", ["en", "nl"])
@pytest.mark.parametrize("segment", list(CASES))
def test_each_segment_has_its_own_page_in_both_languages(store_client: TestClient, segment: str, lang: str) -> None:
    overrides, variant, cta_id, code = CASES[segment]
    user = f"u-{segment}-{lang}"
    put_profile(store_client, user, **overrides)
    result = decide(store_client, user_id=user, locale=f"{lang}-XX")
    assert result["segment"] == segment
    assert result["personalized"] is True
    assert result["variant"]["id"] == variant
    assert result["cta"]["id"] == cta_id
    assert result["greeting"]["locale"] == lang
    assert "Anna" in result["greeting"]["text"]
    assert (GREETINGS.get((segment, lang)) or result["greeting"]["text"]) == result["greeting"]["text"]
    offer = result["cta"]["offer"]
    if code is None:
        assert offer is None
    else:
        assert offer["code"] == code
        assert offer["expires_at"] == EXPIRES.get(segment)
        assert offer["kind"] == ("promotion" if segment in EXPIRES else "tier_benefit")
        assert f"{offer['discount_pct']}%" in result["cta"]["text"]
    dutch_words = {"je", "jou", "jouw", "bij", "voor", "wat", "kijk", "welkom", "korting", "ons"}
    words = set(result["cta"]["text"].lower().replace(",", " ").replace(":", " ").split())
    assert bool(words & dutch_words) == (lang == "nl"), result["cta"]["text"]


def test_anonymous_segments(store_client: TestClient) -> None:
    visitor = decide(store_client, locale="en-GB")
    assert (visitor["segment"], visitor["variant"]["id"], visitor["cta"]["id"]) == (
        "new_visitor", "home-elevator-pitch", "join-loyalty",
    )  # fmt: skip
    assert visitor["cta"]["offer"] is None
    campaign = decide(store_client, locale="nl-NL", session={"utm": {"source": "newsletter", "campaign": "xmas"}})
    assert (campaign["segment"], campaign["variant"]["id"]) == ("campaign", "home-campaign")
    assert "kerstcollectie" in campaign["greeting"]["text"]
    assert campaign["cta"]["url"] == "/campaign/xmas"
    assert campaign["personalized"] is True
    social = decide(store_client, session={"referrer": "https://www.instagram.com/p/abc"})
    assert social["segment"] == "campaign"
    search = decide(store_client, session={"referrer": "https://www.google.com/"})
    assert search["segment"] == "new_visitor"


def test_welcome_back_offer_only_for_lost(store_client: TestClient) -> None:
    seen: dict[str, str | None] = {}
    for segment, (overrides, *_rest) in CASES.items():
        put_profile(store_client, f"w-{segment}", **overrides)
        offer = decide(store_client, user_id=f"w-{segment}")["cta"]["offer"]
        seen[segment] = offer and offer["code"]
    cancelled = "w-cancelled"
    put_profile(store_client, cancelled, subscription="cancelled", tier="gold")
    lost = decide(store_client, user_id=cancelled)
    assert lost["segment"] == "lost" and lost["cta"]["offer"]["code"] == "WELCOMEBACK20"
    assert [s for s, code in seen.items() if code == "WELCOMEBACK20"] == ["lost"]


def test_tier_discount_grows_with_tier_and_exclusive_needs_gold(store_client: TestClient) -> None:
    found = {}
    for tier in ["bronze", "silver", "gold", "platinum"]:
        put_profile(store_client, f"t-{tier}", tier=tier)
        result = decide(store_client, user_id=f"t-{tier}")
        found[tier] = result
    assert found["bronze"]["cta"]["offer"] is None  # 0 %: no offer, and the text promises none
    assert "%" not in found["bronze"]["cta"]["text"]
    pcts = [found[t]["cta"]["offer"]["discount_pct"] for t in ["silver", "gold", "platinum"]]
    assert pcts == [5, 10, 15]
    for tier in ["bronze", "silver"]:
        assert found[tier]["cta"]["id"] != "ambassador-exclusive"
        assert found[tier]["variant"]["id"] != "home-ambassador"


def test_offer_frequency_cap(store_client: TestClient) -> None:
    put_profile(store_client, "cap-user", tier="silver", last_purchase_at="2026-07-01T10:00:00Z")
    offers = [decide(store_client, user_id="cap-user")["cta"]["offer"] for _ in range(5)]
    assert [o is not None for o in offers] == [True, True, True, False, False]
    capped = decide(store_client, user_id="cap-user")
    assert capped["cta"]["id"] == "comeback" and "%" not in capped["cta"]["text"]
    tomorrow = decide(store_client, user_id="cap-user", now="2026-11-02T10:30:00Z")
    assert tomorrow["cta"]["offer"] is not None
    assert tomorrow["cta"]["offer"]["expires_at"] == "2026-11-15T10:30:00Z"  # from first shown: it never moves


def test_the_cap_never_hides_a_standing_tier_discount(store_client: TestClient) -> None:
    put_profile(store_client, "cap-gold", tier="gold")
    offers = [decide(store_client, user_id="cap-gold")["cta"]["offer"] for _ in range(6)]
    assert [o and o["code"] for o in offers] == ["GOLD10"] * 6


def test_birthday_and_anniversary_are_celebrated(store_client: TestClient) -> None:
    put_profile(store_client, "bday", tier="silver", birthday="1990-11-01")
    birthday = decide(store_client, user_id="bday", locale="en")
    assert birthday["greeting"]["text"].startswith("Happy birthday, Anna!")
    assert birthday["cta"]["offer"]["code"] == "BIRTHDAY15"
    put_profile(store_client, "anniv", tier="silver", joined_at="2024-11-01T09:00:00Z")
    anniversary = decide(store_client, user_id="anniv", locale="nl")
    assert anniversary["greeting"]["text"].startswith("Gefeliciteerd met je lidmaatschapsjubileum, Anna!")
    assert anniversary["cta"]["offer"]["code"] == "ANNIVERSARY10"
    normal = decide(store_client, user_id="bday", now="2026-11-05T10:30:00Z", locale="en")
    assert "birthday" not in normal["greeting"]["text"].lower()


@pytest.mark.parametrize(
    ("now", "timezone", "expected"),
    [
        ("2026-11-01T07:00:00Z", "Europe/Amsterdam", "Goedemorgen"),
        ("2026-11-01T13:00:00Z", "Europe/Amsterdam", "Goedemiddag"),
        ("2026-11-01T19:00:00Z", "Europe/Amsterdam", "Goedenavond"),
        ("2026-11-01T13:00:00Z", "America/Los_Angeles", "Goedemorgen"),
    ],
)
def test_greeting_follows_local_time(store_client: TestClient, now: str, timezone: str, expected: str) -> None:
    result = decide(store_client, locale="nl-NL", now=now, location={"country": "NL", "timezone": timezone})
    assert result["greeting"]["text"].startswith(expected)


def test_consent_false_uses_nothing_personal(store_client: TestClient, catalog: dict[str, Any]) -> None:
    put_profile(store_client, "private", tier="gold")
    viewed = catalog["by_category"]["candles"][:3]
    result = decide(store_client, user_id="private", consent={"personalization": False}, session={"viewed": viewed})
    assert result["personalized"] is False
    assert result["segment"] == "new_visitor"
    assert result["tier"] is None
    assert "Anna" not in result["greeting"]["text"]
    assert result["cta"]["offer"] is None
    assert {p["reason"] for p in result["products"]} <= {"trending_local", "best_seller", "on_sale"}


def test_stored_consent_applies_unless_the_request_says_otherwise(store_client: TestClient) -> None:
    put_profile(store_client, "opted-out", tier="gold", consent={"personalization": False})
    stored = decide(store_client, user_id="opted-out")
    assert stored["segment"] == "new_visitor" and "Anna" not in stored["greeting"]["text"]
    given = decide(store_client, user_id="opted-out", consent={"personalization": True})
    assert given["segment"] == "ambassador" and "Anna" in given["greeting"]["text"]


def test_known_customer_gets_for_you_products_and_no_repurchases(
    store_client: TestClient, catalog: dict[str, Any]
) -> None:
    art = catalog["artifacts"]
    profile = next(p for p in art.profiles if len(p["purchased"]) >= 5 and p["consent"]["personalization"])
    result = decide(store_client, user_id=profile["user_id"], limit=24)
    reasons = {p["reason"] for p in result["products"]}
    assert "for_you" in reasons or "bought_together" in reasons
    repeatable = set(catalog["repeatable"])
    shown = {p["id"] for p in result["products"]}
    assert not (shown & set(profile["purchased"])) - repeatable


def test_greeting_never_echoes_viewed_products(store_client: TestClient, catalog: dict[str, Any]) -> None:
    art = catalog["artifacts"]
    viewed = catalog["by_category"]["toys"][:2]
    names = {item.name.lower() for item in art.items if item.id in viewed}
    put_profile(store_client, "echo", tier="silver")
    result = decide(store_client, user_id="echo", session={"viewed": viewed})
    text = (result["greeting"]["text"] + " " + result["cta"]["text"]).lower()
    assert not any(name in text for name in names)
    assert not any(v.lower() in text for v in viewed)
