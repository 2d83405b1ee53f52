"""Requests: the `/v1/decide` body, validated into a frozen `DecideRequest`.

Unknown fields are ignored; wrong types and out-of-range values raise `ValidationFailed`
naming the field, as the contract asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.core import validation as v
from edge.errors import ValidationFailed

MAX_SIGNALS = 200  # entries per session list
MAX_EXCLUDE = 500


@dataclass(frozen=True, slots=True)
class Location:
    country: str | None = None
    region: str | None = None
    city: str | None = None
    timezone: ZoneInfo | None = None


@dataclass(frozen=True, slots=True)
class Utm:
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None

    def __bool__(self) -> bool:
        return bool(self.source or self.medium or self.campaign)


@dataclass(frozen=True, slots=True)
class SessionSignals:
    """What this session did; `viewed` is most-recent-last."""

    viewed: tuple[str, ...] = ()
    cart: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    utm: Utm = field(default_factory=Utm)
    referrer: str | None = None
    first_visit: bool | None = None
    purchased: tuple[str, ...] = ()  # bought in this session (from events; not part of a decide request)
    wishlist: tuple[str, ...] = ()  # wished for in this session (from events)

    @property
    def empty(self) -> bool:
        return not (
            self.viewed or self.cart or self.searches or self.utm or self.referrer or self.purchased or self.wishlist
        )


@dataclass(frozen=True, slots=True)
class DecideRequest:
    session_id: str
    user_id: str | None = None
    page: str = "home"
    limit: int = 12
    locale: str | None = None
    location: Location = field(default_factory=Location)
    device: str | None = None
    weather: str | None = None
    store_id: str | None = None
    product_id: str | None = None  # product page: the product shown
    category: str | None = None  # category page: the category shown
    query: str | None = None  # search page: what was searched
    session: SessionSignals = field(default_factory=SessionSignals)
    consent: bool | None = None  # consent.personalization; None = the stored profile decides
    exclude: tuple[str, ...] = ()
    now: datetime | None = None
    debug: bool = False

    @property
    def unit_key(self) -> str:
        """Who a frequency cap counts: `u=<user_id>`, else `s=<session_id>` (see `edge.core.writes`)."""
        return f"u={self.user_id}" if self.user_id else f"s={self.session_id}"


def parse_decide(body: Any) -> DecideRequest:
    """Validate a decoded `/v1/decide` body."""
    data = v.obj(body, "body")
    if "session_id" not in data:
        raise ValidationFailed("session_id is required", "session_id")
    location = v.optional_obj(data.get("location"), "location")
    context = v.optional_obj(data.get("context"), "context")
    consent = v.optional_obj(data.get("consent"), "consent")
    timezone = location.get("timezone")
    return DecideRequest(
        session_id=v.identifier(data["session_id"], "session_id"),
        user_id=None if data.get("user_id") is None else v.identifier(data["user_id"], "user_id"),
        page=v.text(data.get("page", "home"), "page", 64),
        limit=v.integer(data.get("limit", 12), "limit", 1, 100),
        locale=None if data.get("locale") is None else v.locale(data["locale"], "locale"),
        location=Location(
            country=None if location.get("country") is None else v.country(location["country"], "location.country"),
            region=v.optional_text(location.get("region"), "location.region", 64),
            city=v.optional_text(location.get("city"), "location.city", 128),
            timezone=None if timezone is None else v.timezone(timezone, "location.timezone"),
        ),
        device=v.optional_text(context.get("device"), "context.device", 32),
        weather=v.optional_text(context.get("weather"), "context.weather", 32),
        store_id=v.optional_text(context.get("store_id"), "context.store_id", 64),
        product_id=v.optional_text(context.get("product_id"), "context.product_id", 128),
        category=v.optional_text(context.get("category"), "context.category", 128),
        query=v.optional_text(context.get("query"), "context.query", 256),
        session=parse_session(data.get("session"), "session"),
        consent=v.optional_boolean(consent.get("personalization"), "consent.personalization"),
        exclude=v.strings(data.get("exclude"), "exclude", MAX_EXCLUDE),
        now=v.optional_timestamp(data.get("now"), "now"),
        debug=v.boolean(data.get("debug", False), "debug"),
    )


def parse_session(value: Any, field: str) -> SessionSignals:
    """The `session` object of a decide request."""
    session = v.optional_obj(value, field)
    utm = v.optional_obj(session.get("utm"), f"{field}.utm")
    return SessionSignals(
        viewed=v.strings(session.get("viewed"), f"{field}.viewed", MAX_SIGNALS),
        cart=v.strings(session.get("cart"), f"{field}.cart", MAX_SIGNALS),
        searches=v.strings(session.get("searches"), f"{field}.searches", MAX_SIGNALS, 256),
        utm=Utm(
            source=v.optional_text(utm.get("source"), f"{field}.utm.source", 128),
            medium=v.optional_text(utm.get("medium"), f"{field}.utm.medium", 128),
            campaign=v.optional_text(utm.get("campaign"), f"{field}.utm.campaign", 128),
        ),
        referrer=v.optional_text(session.get("referrer"), f"{field}.referrer", 2048),
        first_visit=v.optional_boolean(session.get("first_visit"), f"{field}.first_visit"),
    )
