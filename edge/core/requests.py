"""Requests: the `/v1/decide` body, decoded into `edge.core.shapes.DecideRequest` (the wire shape,
with its limits) and handed to the core as a frozen `DecideRequest` (flattened context, a time
zone object, session signals that events extend).

Unknown fields are ignored; wrong types and out-of-range values raise `ValidationFailed`
naming the field, as the contract asks. The core's classes are msgspec Structs too: built per
request, they cost a fraction of a frozen dataclass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from msgspec import Struct, field

from edge.core import shapes
from edge.core.validation import zone_named


class Location(Struct, frozen=True):
    country: str | None = None
    region: str | None = None
    city: str | None = None
    timezone: ZoneInfo | None = None


class Utm(Struct, frozen=True):
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None

    def __bool__(self) -> bool:
        return bool(self.source or self.medium or self.campaign)


class SessionSignals(Struct, frozen=True, kw_only=True):
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


class DecideRequest(Struct, frozen=True, kw_only=True):
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
    """Validate a decoded `/v1/decide` body (a dict)."""
    return from_shape(shapes.convert(body, shapes.DecideRequest))


def decode_decide(raw: bytes) -> DecideRequest:
    """Validate the `/v1/decide` body bytes (decoded straight into `edge.core.shapes.DecideRequest`)."""
    return from_shape(shapes.decode(raw, shapes.DecideRequest))


NO_LOCATION = Location()
NO_SESSION = SessionSignals()


def from_shape(body: shapes.DecideRequest) -> DecideRequest:
    """The decoded body as the core's request; the checks a schema cannot state (the time zone) here."""
    where = body.location
    location = NO_LOCATION
    if where is not None:
        zone = None if where.timezone is None else shapes.known_zone(where.timezone, "location.timezone")
        location = Location(where.country, where.region, where.city, None if zone is None else zone_named(zone))
    context = body.context or NO_CONTEXT
    return DecideRequest(
        session_id=body.session_id,
        user_id=body.user_id,
        page=body.page,
        limit=body.limit,
        locale=body.locale,
        location=location,
        device=context.device,
        weather=context.weather,
        store_id=context.store_id,
        product_id=context.product_id,
        category=context.category,
        query=context.query,
        session=NO_SESSION if body.session is None else session_signals(body.session),
        consent=None if body.consent is None else body.consent.personalization,
        exclude=body.exclude or (),
        now=None if body.now is None else shapes.timestamp(body.now, "now"),
        debug=body.debug,
    )


NO_CONTEXT = shapes.Context()


def session_signals(session: shapes.Session) -> SessionSignals:
    """The `session` object of a decide request."""
    return SessionSignals(
        viewed=session.viewed or (),
        cart=session.cart or (),
        searches=session.searches or (),
        utm=landing_utm(session.utm),
        referrer=session.referrer,
        first_visit=session.first_visit,
    )


def landing_utm(utm: shapes.Utm | None) -> Utm:
    return NO_UTM if utm is None else Utm(utm.source, utm.medium, utm.campaign)


NO_UTM = Utm()


def parse_session(value: Any, field: str) -> SessionSignals:
    """A decoded `session` object (tests and tools; requests come through `from_shape`)."""
    return session_signals(shapes.convert(value or {}, shapes.Session))
