"""Shapes: every wire shape of the HTTP contract, declared once as msgspec Structs with its limits.

The request bodies (`DecideRequest`, `EventsRequest` with `Event`, a tagged union on `type`,
`Profile`, `Preferences`) are decoded straight from the body bytes into these structs; the
answers (`DecideResponse`, `Error`, `EventsAccepted`, `PreferencesRecorded`) are declared here so
that edge/http/openapi.py generates the OpenAPI document from the same classes
(`msgspec.json.schema_components`): code and document cannot disagree. `Manifest` is the part of a
build's manifest file Edge reads.

`null` means absent for every optional field; unknown fields are ignored. A few rules a schema
cannot state are checked after decoding (`POST_DECODE_RULES`, also stated in the document): an
event `ts` more than `MAX_CLOCK_SKEW` ahead of the server clock, a time zone the server does not
know ... Decoding errors become `ValidationFailed` naming the field as `session.viewed[3]`, the
contract's error shape (`decode`, `convert`).

The vocabularies (segments, tiers, reasons, event types), the identifier, locale and country
patterns, the time range, RFC 3339 formatting (`stamp`) and the decoding of stored JSON-array
fields (`json_list`) have their one home here.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Final, Literal, TypeVar, cast, get_args

import msgspec
import orjson
from msgspec import UNSET, Meta, Struct, UnsetType

from edge.errors import MalformedJSON, ValidationFailed

# --- vocabularies ---------------------------------------------------------------------------------

Segment = Literal["new_visitor", "campaign", "new_member", "active", "ambassador", "at_risk", "lapsed", "lost"]
SEGMENTS: Final = cast(tuple[Segment, ...], get_args(Segment))
Tier = Literal["bronze", "silver", "gold", "platinum"]
TIERS: Final = cast(tuple[Tier, ...], get_args(Tier))
Reason = Literal[
    "similar_to_viewed", "in_cart_complement", "bought_together", "for_you", "preference", "trending_local",
    "best_seller", "on_sale",
    "similar_item",  # product page: like the product shown
    "campaign",  # the visit's campaign (content file `campaigns.products`)
    "search",  # matches the search query or the visit's recent searches
    "context",  # a weather / device / region boost (content file `boosts`)
    "add_on",  # cart page: a cheap add-on
    "category",  # category page: the category's items
]  # fmt: skip
REASONS: Final = cast(tuple[Reason, ...], get_args(Reason))
Subscription = Literal["active", "cancelled", "none"]
SUBSCRIPTIONS: Final = cast(tuple[Subscription, ...], get_args(Subscription))
LedgerKind = Literal["purchase", "return", "cancellation", "bonus", "adjustment"]
LEDGER_KINDS: Final = cast(tuple[LedgerKind, ...], get_args(LedgerKind))

# Named enumerations of the document (`#/components/schemas/Segment` ...), built from the tuples above.
SegmentName = StrEnum("SegmentName", {s: s for s in SEGMENTS})  # type: ignore[misc]
SegmentName.__doc__ = "Exactly one segment per decision."
TierName = StrEnum("TierName", {t: t for t in TIERS})  # type: ignore[misc]
TierName.__doc__ = "Loyalty tier; discounts grow with the tier."
ReasonName = StrEnum("ReasonName", {r: r for r in REASONS})  # type: ignore[misc]
ReasonName.__doc__ = "Why a product was recommended."

# --- patterns and limits --------------------------------------------------------------------------

# `(?!\n)$`: the end of the text in both regex dialects (Python's `$` alone also matches before a final newline).
ID_REGEX: Final = r"^[A-Za-z0-9._:-]{1,128}(?!\n)$"
COUNTRY_REGEX: Final = r"^[A-Z]{2}(?!\n)$"
LOCALE_REGEX: Final = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*(?!\n)$"
ID_PATTERN: Final = re.compile(ID_REGEX)
MIN_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)  # the supported range of every timestamp (docs/api.md)
MAX_TIME: Final = datetime(2200, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
MIN_DAY: Final = date(1900, 1, 1)  # calendar dates (birthdays)
MAX_DAY: Final = date(2200, 12, 31)
TIME_REGEX: Final = r"^(19[7-9][0-9]|20[0-9][0-9]|21[0-9][0-9]|2200)-"  # years 1970-2200, as written
DAY_REGEX: Final = r"^(19[0-9][0-9]|2[01][0-9][0-9]|2200)-"  # years 1900-2200
MAX_SIGNALS: Final = 200  # entries per session list of a decide request
MAX_EXCLUDE: Final = 500
MAX_EVENTS: Final = 500  # events per call
MAX_QUANTITY: Final = 1_000_000
MAX_PRICE: Final = 1e9
MAX_AMOUNT: Final = 1e12  # an order_cancel's amount
MAX_POSITION: Final = 1000  # a click's 1-based position on the decided page
MAX_CLOCK_SKEW: Final = timedelta(days=1)  # a storefront clock may be ahead; an event a day ahead is a bug
MAX_ITEMS: Final = 5000  # purchased / wishlist of a profile
MAX_LEDGER: Final = 2000  # ledger entries and complaint times of a profile (the oldest go first)
MAX_ANSWERS: Final = 50  # answers per preference question
ZONES: Final = frozenset(zoneinfo.available_timezones())

Id = Annotated[str, Meta(pattern=ID_REGEX, min_length=1, max_length=128, description="1-128 chars of [A-Za-z0-9._:-].")]
Country = Annotated[str, Meta(pattern=COUNTRY_REGEX, description="ISO 3166-1 alpha-2.")]
Locale = Annotated[str, Meta(pattern=LOCALE_REGEX, examples=["nl-NL"])]
Time = Annotated[
    datetime,
    Meta(
        tz=True, extra_json_schema={"pattern": TIME_REGEX}, description="RFC 3339, years 1970-2200 (answered in UTC)."
    ),
]
Day = Annotated[date, Meta(extra_json_schema={"pattern": DAY_REGEX}, description="A date YYYY-MM-DD, 1900-2200.")]
TimeZone = Annotated[
    str,
    Meta(
        max_length=64,
        extra_json_schema={"enum": sorted(ZONES)},
        description="IANA time zone name.",
        examples=["Europe/Amsterdam"],
    ),
]


Text32 = Annotated[str, Meta(max_length=32)]
Text64 = Annotated[str, Meta(max_length=64)]
Text128 = Annotated[str, Meta(max_length=128)]
Text256 = Annotated[str, Meta(max_length=256)]
Text2048 = Annotated[str, Meta(max_length=2048)]
Signals = Annotated[tuple[Text128, ...], Meta(max_length=MAX_SIGNALS)]
Searches = Annotated[tuple[Text256, ...], Meta(max_length=MAX_SIGNALS)]
Excluded = Annotated[tuple[Text128, ...], Meta(max_length=MAX_EXCLUDE)]
Answers = Annotated[tuple[Text64, ...], Meta(max_length=MAX_ANSWERS)]
Stated = Annotated[tuple[Text128, ...], Meta(max_length=50)]
Items = Annotated[tuple[Text128, ...], Meta(max_length=MAX_ITEMS)]


class Shape(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of the wire shapes: immutable, keyword-only, unknown fields ignored."""


# --- POST /v1/decide ------------------------------------------------------------------------------


class Location(Shape, frozen=True):
    country: Country | None = None
    region: Text64 | None = None
    city: Text128 | None = None
    timezone: TimeZone | None = None


class Context(Shape, frozen=True):
    device: Text32 | None = None
    weather: Text32 | None = None
    store_id: Text64 | None = None
    product_id: Text128 | None = None
    category: Text128 | None = None
    query: Text256 | None = None


class Utm(Shape, frozen=True):
    source: Text128 | None = None
    medium: Text128 | None = None
    campaign: Text128 | None = None


class Session(Shape, frozen=True):
    """Merged with what the service already holds for session_id."""

    viewed: Signals | None = None
    cart: Signals | None = None
    searches: Searches | None = None
    utm: Utm | None = None
    referrer: Text2048 | None = None
    first_visit: bool | None = None


class Consent(Shape, frozen=True):
    """Given, it wins over the stored profile's consent."""

    personalization: bool | None = None


class DecideRequest(Shape, frozen=True):
    """Only session_id is required; unknown fields are ignored. Checked after decoding: a known `location.timezone`."""

    session_id: Id
    user_id: Id | None = None
    page: Annotated[
        str,
        Meta(
            max_length=64,
            examples=["home", "product", "cart", "category", "search"],
            description="Placement: a page of the content file's `pages:` (strategies home, product, cart, "
            "category, search); an unlisted page is placed like home.",
        ),
    ] = "home"
    limit: Annotated[int, Meta(ge=1, le=100)] = 12
    locale: Locale | None = None
    location: Location | None = None
    context: Context | None = None
    session: Session | None = None
    consent: Consent | None = None
    exclude: Excluded | None = None
    now: Time | None = None
    debug: bool = False


class Offer(Shape, frozen=True):
    discount_pct: Annotated[float, Meta(ge=0, le=100)]
    code: str
    expires_at: Time | None
    kind: Literal["promotion", "tier_benefit"] | UnsetType = UNSET


class Product(Shape, frozen=True):
    id: str
    name: str
    price: Annotated[float, Meta(ge=0)]
    category: str
    score: float
    reason: ReasonName


class ExperimentAssignment(Shape, frozen=True):
    key: str
    arm: str
    bucket: Annotated[float, Meta(ge=0, le=1)]


class Variant(Shape, frozen=True):
    id: str


class Greeting(Shape, frozen=True):
    text: str
    locale: str


class Cta(Shape, frozen=True):
    id: str
    text: str
    url: str
    offer: Offer | None


class DecideResponse(Shape, frozen=True):
    """The page decision."""

    decision_id: str
    segment: SegmentName
    tier: TierName | None
    personalized: bool
    degraded: bool
    variant: Variant
    greeting: Greeting
    cta: Cta
    products: list[Product]
    experiments: list[ExperimentAssignment]
    ttl_s: Annotated[int, Meta(ge=0)]
    took_ms: Annotated[float, Meta(ge=0)]
    explain: dict[str, Any] | UnsetType = UNSET


# --- POST /v1/events ------------------------------------------------------------------------------

ProductId = Annotated[str, Meta(min_length=1, max_length=128)]
Quantity = Annotated[int, Meta(ge=1, le=MAX_QUANTITY)]
Price = Annotated[float, Meta(ge=0, le=MAX_PRICE)]


class EventShape(Shape, tag_field="type", frozen=True):
    """Fields every event may carry; a type's own fields are checked on that type only, ignored on others.

    Checked after decoding: a session_id or a user_id; `ts` at most a day ahead of the server clock.
    """

    session_id: Id | None = None
    user_id: Id | None = None
    id: Id | None = None
    ts: Time | None = None
    utm: Utm | None = None
    referrer: Text2048 | None = None
    decision_id: Id | None = None
    position: Annotated[int, Meta(ge=1, le=MAX_POSITION)] | None = None
    order_id: Id | None = None
    offer_code: None = None


class View(EventShape, tag="view", kw_only=True, frozen=True):
    product_id: ProductId


class AddToCart(EventShape, tag="add_to_cart", kw_only=True, frozen=True):
    product_id: ProductId


class RemoveFromCart(EventShape, tag="remove_from_cart", kw_only=True, frozen=True):
    product_id: ProductId


class Purchase(EventShape, tag="purchase", kw_only=True, frozen=True):
    product_id: ProductId
    quantity: Quantity
    price: Price
    offer_code: Id | None = None  # type: ignore[assignment]


class Search(EventShape, tag="search", kw_only=True, frozen=True):
    query: Annotated[str, Meta(min_length=1, max_length=256, pattern=r"\S")]


class WishlistAdd(EventShape, tag="wishlist_add", kw_only=True, frozen=True):
    product_id: ProductId


class Complaint(EventShape, tag="complaint", kw_only=True, frozen=True):
    pass


class SubscriptionCancel(EventShape, tag="subscription_cancel", kw_only=True, frozen=True):
    pass


class ConsentEvent(EventShape, tag="consent", kw_only=True, frozen=True):
    personalization: bool


class Return(EventShape, tag="return", kw_only=True, frozen=True):
    user_id: Id
    product_id: ProductId
    quantity: Quantity
    price: Price


class OrderCancel(EventShape, tag="order_cancel", kw_only=True, frozen=True):
    user_id: Id
    amount: Annotated[float, Meta(ge=0, le=MAX_AMOUNT)]


class SubscriptionResume(EventShape, tag="subscription_resume", kw_only=True, frozen=True):
    user_id: Id


class Review(EventShape, tag="review", kw_only=True, frozen=True):
    product_id: ProductId


class Activity(EventShape, tag="activity", kw_only=True, frozen=True):
    user_id: Id
    activity: Id
    product_id: Id | None = None


class Click(EventShape, tag="click", kw_only=True, frozen=True):
    decision_id: Id
    product_id: Text128 | None = None


Event = (
    View | AddToCart | RemoveFromCart | Purchase | Search | WishlistAdd | Complaint | SubscriptionCancel
    | ConsentEvent | Return | OrderCancel | SubscriptionResume | Review | Activity | Click
)  # fmt: skip
EVENT_SHAPES: Final[tuple[type[EventShape], ...]] = get_args(Event)
EVENT_TYPES: Final = tuple(str(shape.__struct_config__.tag) for shape in EVENT_SHAPES)


class EventsRequest(Shape, frozen=True):
    events: Annotated[list[Event], Meta(min_length=1, max_length=MAX_EVENTS)]


class EventsAccepted(Shape, frozen=True):
    accepted: Annotated[int, Meta(ge=1)]


# --- profiles -------------------------------------------------------------------------------------

Count = Annotated[int, Meta(ge=0)]


class ProfileConsent(Shape, frozen=True):
    personalization: bool | None = None
    marketing: bool | None = None


class Preferences(Shape, frozen=True, forbid_unknown_fields=True):
    """Quiz answers, a partial update: only the questions sent change (post-decode: at least one)."""

    categories: Answers | UnsetType | None = UNSET
    shops_for: Answers | UnsetType | None = UNSET
    style: Answers | UnsetType | None = UNSET

    def answers(self) -> dict[str, tuple[str, ...]]:
        """The questions sent, by name (a null answer is an empty one)."""
        sent = {name: getattr(self, name) for name in self.__struct_fields__}
        return {name: value or () for name, value in sent.items() if value is not UNSET}


class ProfilePreferences(Shape, frozen=True):
    categories: Stated | None = None
    shops_for: Stated | None = None
    style: Stated | None = None


class LedgerRow(Shape, frozen=True):
    ts: Time
    kind: LedgerKind
    amount: Annotated[float, Meta(ge=-1e15, le=1e15)] = 0.0
    points: Annotated[int, Meta(ge=-(10**12), le=10**12)] = 0


class Profile(Shape, frozen=True):
    """A profile document: the PUT body, a PATCH's merged result and the GET answer (all optional)."""

    user_id: Id | None = None  # read-only: the path's id

    first_name: Text64 | None = None
    locale: Locale | None = None
    country: Country | None = None
    tier: TierName | None = None
    points: Annotated[int, Meta(ge=0, le=10**12)] = 0
    joined_at: Time | None = None
    birthday: Day | None = None
    last_purchase_at: Time | None = None
    orders: Annotated[int, Meta(ge=0, le=10**9)] = 0
    spend: Annotated[float, Meta(ge=0, le=1e15)] = 0.0
    complaints_90d: Annotated[int, Meta(ge=0, le=10**6)] = 0
    returns_90d: Annotated[int, Meta(ge=0, le=10**6)] = 0
    subscription: Subscription = "none"
    consent: ProfileConsent | None = None
    preferences: ProfilePreferences | None = None
    purchased: Items | None = None
    wishlist: Items | None = None
    ledger: Annotated[tuple[LedgerRow, ...], Meta(max_length=MAX_LEDGER)] | None = None
    complaints_at: Annotated[tuple[Time, ...], Meta(max_length=MAX_LEDGER)] | None = None
    subscription_changed_at: Time | None = None
    quiz_answered_at: Time | None = None
    cart: Items | None = None  # read-only: the persistent cart (events)


class PreferencesRecorded(Shape, frozen=True):
    user_id: Id
    preferences: Preferences
    bonus_points: Annotated[int, Meta(ge=0)]
    points: Count


# --- errors ---------------------------------------------------------------------------------------


class ErrorDetail(Shape, frozen=True):
    code: Annotated[str, Meta(examples=["validation_failed"])]
    message: str
    field: str | UnsetType = UNSET


class Error(Shape, frozen=True):
    """The contract's error body."""

    error: ErrorDetail


def error_body(code: str, message: str, field: str | None = None) -> Error:
    """The contract's error body (`field` only when there is one)."""
    return Error(error=ErrorDetail(code=code, message=message, field=UNSET if field is None else field))


# --- files a deployment reads: the build's manifest (index_infos.json) ------------------------------


class TierThresholds(Struct, frozen=True):
    """Total spend from which a customer reaches silver, gold and platinum: a build's manifest
    `tier_thresholds` (from its customers' spend), else `EDGE_TIER_THRESHOLDS`. Post-decode:
    0 <= silver <= gold <= platinum (edge.core.loyalty.thresholds_in)."""

    silver: Annotated[float, Meta(ge=0)]
    gold: Annotated[float, Meta(ge=0)]
    platinum: Annotated[float, Meta(ge=0)]

    def tier(self, spend: float) -> Tier:
        if spend >= self.platinum:
            return "platinum"
        if spend >= self.gold:
            return "gold"
        if spend >= self.silver:
            return "silver"
        return "bronze"

    def as_args(self) -> tuple[float, float, float]:
        return (self.silver, self.gold, self.platinum)


DEFAULT_TIERS: Final = TierThresholds(500.0, 2000.0, 5000.0)


class Manifest(Shape, frozen=True):
    """What Edge reads of a build's manifest; other fields pass through untouched (edge/model/artifacts.py)."""

    format: str
    format_version: int
    version: str
    dim: Annotated[int, Meta(ge=1)]
    n_items: Annotated[int, Meta(ge=0)]
    n_users: Annotated[int, Meta(ge=0)]
    metric: str = "inner_product"
    tier_thresholds: TierThresholds | None = None


# --- decoding -------------------------------------------------------------------------------------

T = TypeVar("T")
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]+)`")


def decode(raw: bytes, shape: type[T]) -> T:
    """The body bytes as `shape`: `MalformedJSON` (400) if not JSON, `ValidationFailed` (422) naming the field."""
    decoder = _DECODERS.get(shape)
    if decoder is None:
        decoder = _DECODERS[shape] = msgspec.json.Decoder(shape)
    try:
        return cast(T, decoder.decode(raw))
    except msgspec.ValidationError:
        pass  # below: integral floats are integers, as in JSON Schema; else the error names the field
    except msgspec.DecodeError as exc:
        raise MalformedJSON(f"body is not valid JSON: {exc}") from exc
    return convert(msgspec.json.decode(raw), shape)


def convert(value: Any, shape: type[T]) -> T:
    """Decoded JSON (`dict`, `list` ...) as `shape`; `12.0` counts as 12; errors name the field."""
    try:
        return msgspec.convert(value, shape)
    except msgspec.ValidationError as exc:
        first = exc
    try:
        return msgspec.convert(_integral(value), shape)
    except msgspec.ValidationError:
        raise failure(first) from None


def _integral(value: Any) -> Any:
    """`value` with every integral float made an int (JSON Schema counts 12.0 as an integer)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def failure(exc: msgspec.ValidationError) -> ValidationFailed:
    """msgspec's `Expected ... - at `$.a.b[3]`` as the contract's error naming the field `a.b[3]`."""
    text = str(exc)
    message, at, where = text.rpartition(" - at `")
    if not at:
        message, where = text, "$`"
    path = where[:-1].removeprefix("$").removeprefix(".")
    for pattern, says in ((_MISSING, "is required"), (_UNKNOWN, "is not a field of this body")):
        named = pattern.fullmatch(message)
        if named is not None:
            field = f"{path}.{named[1]}" if path else named[1]
            return ValidationFailed(f"{field} {says}", field)
    field = path or "body"
    for regex, meaning in _PATTERN_MEANINGS.items():
        if message.endswith(f"matching regex {regex!r}"):
            return ValidationFailed(f"{field} must be {meaning}", field)
    return ValidationFailed(f"{field}: {message[0].lower()}{message[1:]}", field)


_PATTERN_MEANINGS: Final = {
    ID_REGEX: "1-128 characters of [A-Za-z0-9._:-]",
    COUNTRY_REGEX: "an ISO 3166-1 alpha-2 code such as NL",
    LOCALE_REGEX: "a language tag such as nl-NL",
}


# --- RFC 3339 as written in answers and stored fields --------------------------------------------


@lru_cache(maxsize=4096)
def stamp(ts: datetime) -> str:
    """Fixed-width RFC 3339 in UTC, seconds (`2011-11-02T09:30:00Z`): compares as text."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(raw: str | None) -> datetime | None:
    """An RFC 3339 text as written in a build's manifest, as an aware datetime; None if absent or unreadable."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def stamp_ms(ts: datetime) -> str:
    """RFC 3339 in UTC with milliseconds (stream entries)."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


# --- stored JSON-array fields (profiles, sessions, the in-memory store) ----------------------------


def json_list(raw: str | bytes | None, *, strict: bool = True) -> list[Any]:
    """A stored JSON-array field: missing, empty or not an array reads as `[]`.

    Unreadable JSON raises `orjson.JSONDecodeError` (the reader reports the record), or reads as
    `[]` when not `strict` (the store's write scripts, which replace what they cannot read).
    """
    if not raw:
        return []
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        if strict:
            raise
        return []
    return value if isinstance(value, list) else []


def json_strings(raw: str | bytes | None, *, strict: bool = True) -> list[str]:
    """`json_list` with every item as text."""
    return [str(v) for v in json_list(raw, strict=strict)]


# --- what a schema cannot state (post-decode) -----------------------------------------------------


def timestamp(value: datetime, field: str) -> datetime:
    """A decoded RFC 3339 time as aware UTC: the years as written 1970-2200, an offset's spill clamped."""
    if not MIN_TIME.year <= value.year <= MAX_TIME.year:
        raise ValidationFailed(f"{field} must be in the years 1970-2200", field)
    return min(max(value.astimezone(UTC), MIN_TIME), MAX_TIME)


def day(value: date, field: str) -> date:
    """A decoded calendar date inside 1900-2200."""
    if not MIN_DAY <= value <= MAX_DAY:
        raise ValidationFailed(f"{field} must be between {MIN_DAY} and {MAX_DAY}", field)
    return value


def known_zone(name: str, field: str) -> str:
    """An IANA time zone this server knows (the schema lists the same names)."""
    if name not in ZONES:
        raise ValidationFailed(f"{field}: unknown time zone {name!r}", field)
    return name


POST_DECODE_RULES: Final = (
    "DecideRequest.location.timezone: a time zone of the server's IANA database",
    "Event: a session_id or a user_id",
    "Event.ts: at most a day ahead of the server clock",
    "Event (search).query: not blank after trimming",
    "Preferences: at least one question",
)
