"""Profiles: the cached customer profile, validated from the admin API or the artifacts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from edge.core import shapes
from edge.core import validation as v
from edge.core.shapes import MAX_ITEMS, MAX_LEDGER, TIERS, Tier
from edge.errors import ValidationFailed

# Fields events write next to the stored profile document (docs/redis-format.md); PUT clears them.
EVENT_FIELDS = (
    "e:orders", "e:spend", "e:points", "e:purchased", "e:wishlist", "e:last_purchase_at",
    "e:complaints", "e:subscription", "e:consent", "e:tier", "e:first_seen",
    "e:ledger", "e:complaints_at", "e:subscription_at",
)  # fmt: skip
# Loyalty fields (edge.core.ledger) that events, the preferences call and decisions write; PUT keeps them.
LOYALTY_FIELDS = (
    "e:ledger", "e:complaints_at", "e:subscription_at", "e:quiz_at", "e:pref:categories", "e:pref:shops_for",
    "e:pref:style", "e:celebrated_tier", "e:celebrated_milestone", "e:cart", "e:cart_at",
)  # fmt: skip
_KNOWN_FROM_EVENTS = (frozenset(EVENT_FIELDS) | {"e:ledger", "e:complaints_at", "e:quiz_at"}) - {
    "e:consent",
    "e:first_seen",
}


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One signed change of spend and points: a purchase (+), return or cancellation (-), bonus, adjustment."""

    ts: datetime
    kind: str
    amount: float = 0.0  # spend change
    points: int = 0


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
    ledger: tuple[LedgerEntry, ...] = ()
    complaints_at: tuple[datetime, ...] = ()
    subscription_changed_at: datetime | None = None
    quiz_answered_at: datetime | None = None
    # what the stored document says, before events (tiers never fall below it; milestones count from it)
    document_tier: Tier | None = None
    document_points: int = 0
    document_ledger: int = 0  # ledger rows that came with the document (a build's history)
    celebrated_tier: Tier | None = None
    celebrated_milestone: int = 0
    cart: tuple[str, ...] = ()  # the persistent cart (survives the session)
    cart_updated_at: datetime | None = None


def parse_profile(user_id: str, body: Any) -> Profile:
    """Validate a profile document (the admin PUT body, or a stored one); unknown fields are ignored."""
    return from_shape(user_id, shapes.convert(body, shapes.Profile))


def from_shape(user_id: str, data: shapes.Profile) -> Profile:
    """A decoded profile document as the core's `Profile` (times in UTC, lists as tuples)."""
    consent = data.consent or NO_CONSENT
    preferences = data.preferences or NO_PREFERENCES
    _time(data.quiz_answered_at, "quiz_answered_at")  # read-only (the preferences call sets it), but in range
    return Profile(
        user_id=user_id,
        first_name=data.first_name,
        locale=data.locale,
        country=data.country,
        tier=None if data.tier is None else as_tier(data.tier.value),
        points=data.points,
        joined_at=_time(data.joined_at, "joined_at"),
        birthday=None if data.birthday is None else shapes.day(data.birthday, "birthday"),
        last_purchase_at=_time(data.last_purchase_at, "last_purchase_at"),
        orders=data.orders,
        spend=data.spend,
        complaints_90d=data.complaints_90d,
        returns_90d=data.returns_90d,
        subscription=data.subscription,
        consent_personalization=consent.personalization,
        consent_marketing=consent.marketing,
        preferred_categories=preferences.categories or (),
        shops_for=preferences.shops_for or (),
        style=preferences.style or (),
        purchased=data.purchased or (),
        wishlist=data.wishlist or (),
        ledger=tuple(
            LedgerEntry(shapes.timestamp(row.ts, f"ledger[{i}].ts"), row.kind, row.amount, row.points)
            for i, row in enumerate(data.ledger or ())
        ),
        complaints_at=tuple(shapes.timestamp(t, f"complaints_at[{i}]") for i, t in enumerate(data.complaints_at or ())),
        subscription_changed_at=_time(data.subscription_changed_at, "subscription_changed_at"),
    )


NO_CONSENT = shapes.ProfileConsent()
NO_PREFERENCES = shapes.ProfilePreferences()


def _time(value: datetime | None, field: str) -> datetime | None:
    return None if value is None else shapes.timestamp(value, field)


def ledger_json(entry: LedgerEntry) -> dict[str, Any]:
    return {"ts": _ts(entry.ts), "kind": entry.kind, "amount": entry.amount, "points": entry.points}


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
        "ledger": [ledger_json(e) for e in profile.ledger],
        "complaints_at": [_ts(t) for t in profile.complaints_at],
        "subscription_changed_at": _ts(profile.subscription_changed_at),
        "quiz_answered_at": _ts(profile.quiz_answered_at),
        "cart": list(profile.cart),
    }


def _ts(value: datetime | None) -> str | None:
    return None if value is None else shapes.stamp(value)


def latest_unique(items: Iterable[str], cap: int) -> tuple[str, ...]:
    """Items without repeats, each at its latest position; the last `cap` kept."""
    seen: set[str] = set()
    backwards = []
    for item in reversed(list(items)):
        if item not in seen:
            seen.add(item)
            backwards.append(item)
    return tuple(reversed(backwards[:cap]))


def event_consent(fields: Mapping[str, str]) -> bool | None:
    """Consent given or withdrawn by a `consent` event, None when there was none."""
    value = fields.get("e:consent")
    return None if value is None else value == "1"


def with_events(base: Profile | None, user_id: str, fields: Mapping[str, str]) -> Profile | None:
    """The profile as events changed it: the stored document plus the event-driven `e:*` fields.

    None when there is no document and events only recorded a consent (nothing to personalize with).
    """
    if base is None and not _KNOWN_FROM_EVENTS.intersection(fields):
        return None
    profile = base or Profile(user_id=user_id, joined_at=_parse_ts(fields.get("e:first_seen")))
    if not fields:
        return replace(
            profile, document_tier=profile.tier, document_points=profile.points, document_ledger=len(profile.ledger)
        )
    last = _parse_ts(fields.get("e:last_purchase_at"))
    if profile.last_purchase_at is not None and (last is None or profile.last_purchase_at > last):
        last = profile.last_purchase_at
    tier = as_tier(fields.get("e:tier"))
    consent = event_consent(fields)
    return replace(
        profile,
        orders=profile.orders + int(fields.get("e:orders", 0)),
        spend=max(0.0, round(profile.spend + float(fields.get("e:spend", 0.0)), 2)),
        points=max(0, profile.points + int(fields.get("e:points", 0))),
        purchased=latest_unique((*profile.purchased, *shapes.json_strings(fields.get("e:purchased"))), MAX_ITEMS),
        wishlist=latest_unique((*profile.wishlist, *shapes.json_strings(fields.get("e:wishlist"))), MAX_ITEMS),
        last_purchase_at=last,
        complaints_90d=profile.complaints_90d + int(fields.get("e:complaints", 0)),
        subscription=fields.get("e:subscription", profile.subscription),
        consent_personalization=profile.consent_personalization if consent is None else consent,
        tier=tier if _rank(tier) > _rank(profile.tier) else profile.tier,
        **_loyalty_fields(profile, fields),
    )


def _loyalty_fields(profile: Profile, fields: Mapping[str, str]) -> dict[str, Any]:
    """The loyalty part of the event fields (ledger, complaint times, preferences, celebrations)."""
    ledger = [
        LedgerEntry(ts, str(raw[1]), float(raw[2]), int(raw[3]))
        for raw in _rows(fields.get("e:ledger"))
        if len(raw) >= 4 and (ts := _parse_ts(str(raw[0]))) is not None
    ]
    complaints = [t for t in map(_parse_ts, shapes.json_strings(fields.get("e:complaints_at"))) if t is not None]
    found: dict[str, Any] = {
        "ledger": (*profile.ledger, *ledger)[-MAX_LEDGER:],
        "complaints_at": (*profile.complaints_at, *complaints)[-MAX_LEDGER:],
        "subscription_changed_at": _parse_ts(fields.get("e:subscription_at")) or profile.subscription_changed_at,
        "quiz_answered_at": _parse_ts((fields.get("e:quiz_at") or "")[:27]) or profile.quiz_answered_at,
        "document_tier": profile.tier,
        "document_points": profile.points,
        "document_ledger": len(profile.ledger),
        "celebrated_tier": as_tier(fields.get("e:celebrated_tier")),
        "celebrated_milestone": int(fields.get("e:celebrated_milestone", 0)),
        "cart": tuple(shapes.json_strings(fields.get("e:cart"))),
        "cart_updated_at": _parse_ts(fields.get("e:cart_at")),
    }
    for name, attr in (("categories", "preferred_categories"), ("shops_for", "shops_for"), ("style", "style")):
        if f"e:pref:{name}" in fields:
            found[attr] = tuple(shapes.json_strings(fields[f"e:pref:{name}"]))
    return found


def _rows(raw: str | None) -> list[list[Any]]:
    return [row for row in shapes.json_list(raw) if isinstance(row, list)]


def as_tier(value: str | None) -> Tier | None:
    """`value` when it names a tier, else None."""
    for tier in TIERS:
        if value == tier:
            return tier
    return None


def _rank(tier: Tier | None) -> int:
    return 0 if tier is None else TIERS.index(tier) + 1


def _parse_ts(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return v.parse_timestamp(raw, "ts")
    except ValidationFailed:
        return None
