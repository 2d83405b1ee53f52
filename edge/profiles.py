"""Profiles: the cached customer profile, validated from the admin API or the artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, cast

from edge import validation as v

Tier = Literal["bronze", "silver", "gold", "platinum"]
TIERS: tuple[Tier, ...] = ("bronze", "silver", "gold", "platinum")
SUBSCRIPTIONS = ("active", "cancelled", "none")
MAX_ITEMS = 5000


@dataclass(frozen=True, slots=True)
class Profile:
    """What Edge knows about one customer (all optional but the id)."""

    user_id: str
    first_name: str | None = None
    locale: str | None = None
    country: str | None = None
    tier: Tier | None = None
    points: int = 0
    joined_at: datetime | None = None
    birthday: date | None = None
    last_purchase_at: datetime | None = None
    orders: int = 0
    spend: float = 0.0
    complaints_90d: int = 0
    returns_90d: int = 0
    subscription: str = "none"
    consent_personalization: bool | None = None
    consent_marketing: bool | None = None
    preferred_categories: tuple[str, ...] = ()
    shops_for: tuple[str, ...] = ()
    style: tuple[str, ...] = ()
    purchased: tuple[str, ...] = ()
    wishlist: tuple[str, ...] = ()


def parse_profile(user_id: str, body: Any) -> Profile:
    """Validate a profile document (the admin PUT body, or a stored one); unknown fields are ignored."""
    data = v.obj(body, "body")
    consent = v.optional_obj(data.get("consent"), "consent")
    preferences = v.optional_obj(data.get("preferences"), "preferences")
    tier = data.get("tier")
    return Profile(
        user_id=user_id,
        first_name=v.optional_text(data.get("first_name"), "first_name", 64),
        locale=None if data.get("locale") is None else v.locale(data["locale"], "locale"),
        country=None if data.get("country") is None else v.country(data["country"], "country"),
        tier=None if tier is None else cast(Tier, v.one_of(tier, "tier", TIERS)),
        points=v.integer(data.get("points", 0), "points", 0, 10**12),
        joined_at=v.optional_timestamp(data.get("joined_at"), "joined_at"),
        birthday=None if data.get("birthday") is None else v.day(data["birthday"], "birthday"),
        last_purchase_at=v.optional_timestamp(data.get("last_purchase_at"), "last_purchase_at"),
        orders=v.integer(data.get("orders", 0), "orders", 0, 10**9),
        spend=v.number(data.get("spend", 0.0), "spend", 0.0, 1e15),
        complaints_90d=v.integer(data.get("complaints_90d", 0), "complaints_90d", 0, 10**6),
        returns_90d=v.integer(data.get("returns_90d", 0), "returns_90d", 0, 10**6),
        subscription=v.one_of(data.get("subscription", "none"), "subscription", SUBSCRIPTIONS),
        consent_personalization=v.optional_boolean(consent.get("personalization"), "consent.personalization"),
        consent_marketing=v.optional_boolean(consent.get("marketing"), "consent.marketing"),
        preferred_categories=v.strings(preferences.get("categories"), "preferences.categories", 50),
        shops_for=v.strings(preferences.get("shops_for"), "preferences.shops_for", 50),
        style=v.strings(preferences.get("style"), "preferences.style", 50),
        purchased=v.strings(data.get("purchased"), "purchased", MAX_ITEMS),
        wishlist=v.strings(data.get("wishlist"), "wishlist", MAX_ITEMS),
    )


def profile_json(profile: Profile) -> dict[str, Any]:
    """The profile in the admin API's shape (what GET returns and what the stores keep)."""
    return {
        "user_id": profile.user_id,
        "first_name": profile.first_name,
        "locale": profile.locale,
        "country": profile.country,
        "tier": profile.tier,
        "points": profile.points,
        "joined_at": _ts(profile.joined_at),
        "birthday": None if profile.birthday is None else profile.birthday.isoformat(),
        "last_purchase_at": _ts(profile.last_purchase_at),
        "orders": profile.orders,
        "spend": profile.spend,
        "complaints_90d": profile.complaints_90d,
        "returns_90d": profile.returns_90d,
        "subscription": profile.subscription,
        "consent": {"personalization": profile.consent_personalization, "marketing": profile.consent_marketing},
        "preferences": {
            "categories": list(profile.preferred_categories),
            "shops_for": list(profile.shops_for),
            "style": list(profile.style),
        },
        "purchased": list(profile.purchased),
        "wishlist": list(profile.wishlist),
    }


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")
