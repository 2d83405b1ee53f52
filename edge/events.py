"""Events: `POST /v1/events` validated into `Event`s and planned into one write `Program`.

Every event is appended to the event stream of its unit's partition and applied to state in the
same program: the session (viewed, cart, searches, purchases and wishes of an anonymous visitor,
consent) and, when the event names a user, the profile's event-driven fields (orders, spend,
points, tier, purchased, wishlist, last purchase, complaints, subscription, consent). The store
runs the program atomically (one Lua script; one per hash slot in a cluster), so a call is either
stored or answered 503 with nothing written. docs/redis-format.md lists every field.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from edge.core import consent, ledger
from edge.core import validation as v
from edge.core.attribution import DECISION_METRICS, event_ops
from edge.core.loyalty import TierThresholds, points_for
from edge.core.requests import SessionSignals, parse_session
from edge.core.sessions import SessionPolicy, landing_ops, session_rel, touch_ops
from edge.core.writes import IDEMPOTENCY_TTL_S, Applied, Group, Op, Program, register, session_unit, user_unit
from edge.errors import Conflict, DependencyError, StoreUnavailable, ValidationFailed
from edge.model.artifacts import thresholds_for
from edge.settings import Settings
from edge.store import dedup
from edge.store.base import ProfileStore, promote_session

log = logging.getLogger("edge.events")

EVENT_TYPES = (
    "view", "add_to_cart", "remove_from_cart", "purchase", "search",
    "wishlist_add", "complaint", "subscription_cancel", "consent",
    *ledger.LOYALTY_EVENTS,
    "click",  # attribution (edge/core/attribution.py)
)  # fmt: skip
PRODUCT_EVENTS = frozenset({"view", "add_to_cart", "remove_from_cart", "purchase", "wishlist_add", "return", "review"})
MAX_EVENTS = 500
MAX_QUANTITY = 1_000_000
MAX_PRICE = 1e9
MAX_CLOCK_SKEW = timedelta(days=1)  # a storefront clock may be ahead; an event a day ahead is a bug
MAX_POSITION = 1000  # a click's 1-based position on the decided page


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    ts: datetime
    session_id: str | None = None
    user_id: str | None = None
    product_id: str | None = None
    quantity: int | None = None
    price: float | None = None
    query: str | None = None
    personalization: bool | None = None
    landing: SessionSignals | None = None  # optional `utm` / `referrer` of the page the event happened on
    id: str | None = None  # client-generated: the store drops an id it has seen (edge.store.dedup)
    # loyalty (edge.core.ledger): the offer code a purchase used, an order_cancel's amount, the order
    offer_code: str | None = None
    amount: float | None = None
    order_id: str | None = None
    activity: str | None = None  # `activity` events: which of the content file's `activities`
    activity_product: str | None = None
    attribution: Attribution | None = None  # optional `decision_id`, `offer_code`, `position`

    @property
    def unit(self) -> str:
        """Where the event is stored: the user's slot when it names one, else the session's."""
        return user_unit(self.user_id) if self.user_id else session_unit(self.session_id or "")


@dataclass(frozen=True, slots=True)
class Attribution:
    """What ties an event to a decision: its id, the offer code redeemed, the clicked position."""

    decision_id: str | None = None
    offer_code: str | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class EventPolicy:
    """What applying events needs besides the events: session limits, tiers, stream retention."""

    session: SessionPolicy = field(default_factory=SessionPolicy)
    tiers: TierThresholds = field(default_factory=TierThresholds)
    stream_maxlen: int = 200_000  # events kept over all partitions (XADD MAXLEN ~)
    max_items: int = 5000  # purchased / wishlist kept on a profile
    activities: tuple[tuple[str, int, str], ...] = ()  # (activity, points, per) from the content file


@lru_cache(maxsize=16)
def with_activities(policy: EventPolicy, activities: tuple[tuple[str, int, str], ...]) -> EventPolicy:
    """`policy` with the content file's activity points (edge.core.content.Activity)."""
    return replace(policy, activities=activities)


NO_ATTRIBUTION = Attribution()


@lru_cache(maxsize=8)
def policy_for(settings: Settings, build: Path) -> EventPolicy:
    """The policy of these settings and this build (its manifest's tier thresholds); built once."""
    return EventPolicy(
        session=settings.session_policy(),
        tiers=thresholds_for(build, settings.default_tiers()),
        stream_maxlen=settings.events_maxlen,
    )


# --- validation -----------------------------------------------------------------------------------


def parse_events(body: Any, now: datetime) -> tuple[Event, ...]:
    """Validate a decoded `/v1/events` body; `now` stamps events without `ts`."""
    data = v.obj(body, "body")
    events = data.get("events")
    if not isinstance(events, list):
        raise ValidationFailed("events must be a list of events", "events")
    if not 1 <= len(events) <= MAX_EVENTS:
        raise ValidationFailed(f"events must have 1-{MAX_EVENTS} entries", "events")
    return tuple(parse_event(event, f"events[{i}]", now) for i, event in enumerate(events))


def _required(data: dict[str, Any], name: str, where: str) -> Any:
    if data.get(name) is None:
        raise ValidationFailed(f"{where}.{name} is required for a {data['type']} event", f"{where}.{name}")
    return data[name]


def parse_event(value: Any, where: str, now: datetime) -> Event:
    data = v.obj(value, where)
    if data.get("type") is None:
        raise ValidationFailed(f"{where}.type is required", f"{where}.type")
    kind = v.one_of(data["type"], f"{where}.type", EVENT_TYPES)
    session_id = None if data.get("session_id") is None else v.identifier(data["session_id"], f"{where}.session_id")
    user_id = None if data.get("user_id") is None else v.identifier(data["user_id"], f"{where}.user_id")
    if session_id is None and user_id is None:
        raise ValidationFailed(f"{where} needs a session_id or a user_id", f"{where}.session_id")
    product_id = quantity = price = query = personalization = None
    if kind in PRODUCT_EVENTS:
        product_id = v.text(_required(data, "product_id", where), f"{where}.product_id", 128)
        if not product_id:
            raise ValidationFailed(f"{where}.product_id must not be empty", f"{where}.product_id")
    if kind == "click" and data.get("product_id") is not None:  # absent: the page's CTA was clicked
        product_id = v.text(data["product_id"], f"{where}.product_id", 128) or None
    if kind in ("purchase", "return"):
        quantity = v.integer(_required(data, "quantity", where), f"{where}.quantity", 1, MAX_QUANTITY)
        price = v.number(_required(data, "price", where), f"{where}.price", 0.0, MAX_PRICE)
    if kind == "search":
        query = v.text(_required(data, "query", where), f"{where}.query", 256).strip()
        if not query:
            raise ValidationFailed(f"{where}.query must not be empty", f"{where}.query")
    if kind == "consent":
        personalization = v.boolean(_required(data, "personalization", where), f"{where}.personalization")
    ts = v.optional_timestamp(data.get("ts"), f"{where}.ts") or now
    if ts > now + MAX_CLOCK_SKEW:
        raise ValidationFailed(
            f"{where}.ts is in the future (more than a day ahead of the server clock)", f"{where}.ts"
        )
    landing = None
    if data.get("utm") is not None or data.get("referrer") is not None:
        landing = parse_session({"utm": data.get("utm"), "referrer": data.get("referrer")}, where)
    event_id = None if data.get("id") is None else v.identifier(data["id"], f"{where}.id")
    extra = ledger.parse_fields(data, kind, where)
    if kind in ledger.LOYALTY_EVENTS and kind != "review" and user_id is None:
        raise ValidationFailed(f"{where}.user_id is required for a {kind} event", f"{where}.user_id")
    attributed = parse_attribution(data, kind, where, extra.get("offer_code"))
    return Event(
        kind, ts, session_id, user_id, product_id, quantity, price, query, personalization, landing, event_id,
        attribution=attributed, **extra,
    )  # fmt: skip


def parse_attribution(data: dict[str, Any], kind: str, where: str, offer_code: Any = None) -> Attribution | None:
    """`decision_id` (any event; required on a click), `offer_code` (a purchase's: edge.core.ledger), `position`."""
    decision_id, position = data.get("decision_id"), data.get("position")
    if kind == "click":
        _required(data, "decision_id", where)
    if decision_id is None and offer_code is None and position is None:
        return None
    if decision_id is not None and not (isinstance(decision_id, str) and v.ID_PATTERN.fullmatch(decision_id)):
        v.identifier(decision_id, f"{where}.decision_id")  # names the field
    if position is not None:
        position = v.integer(position, f"{where}.position", 1, MAX_POSITION)
    return Attribution(decision_id, offer_code, position)


def idempotency_key(value: str | None) -> str | None:
    """The optional `Idempotency-Key` header: a retried call with the same key is applied once."""
    return None if value is None else v.identifier(value, "idempotency-key")


# --- planning (pure) ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def stamp(ts: datetime) -> str:
    """Fixed-width RFC 3339, seconds: compares as text (used for `e:last_purchase_at`)."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=4096)
def stamp_ms(ts: datetime) -> str:
    """RFC 3339 with milliseconds (stream entries)."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def stream_fields(event: Event) -> tuple[str, ...]:
    """The stream entry: type and time, then only the fields the event has."""
    fields = ["type", event.type, "ts", stamp_ms(event.ts)]
    for name in ("session_id", "user_id", "product_id", "query", "id"):
        value = getattr(event, name)
        if value is not None:
            fields += [name, value]
    if event.quantity is not None:
        fields += ["quantity", str(event.quantity), "price", repr(event.price)]
    if event.personalization is not None:
        fields += ["personalization", "true" if event.personalization else "false"]
    # loyalty fields (edge.core.ledger)
    if event.offer_code is not None:
        fields += ["offer_code", event.offer_code]
    if event.amount is not None:
        fields += ["amount", repr(event.amount)]
    if event.order_id is not None:
        fields += ["order_id", event.order_id]
    if event.activity is not None:
        fields += [
            "activity",
            event.activity,
            *(["product_id", event.activity_product] if event.activity_product else []),
        ]
    a = event.attribution
    if a is not None:  # offer_code: written above with the loyalty fields
        if a.decision_id is not None:
            fields += ["decision_id", a.decision_id]
        if a.position is not None:
            fields += ["position", str(a.position)]
    return tuple(fields)


def session_ops(rel: str, event: Event, anonymous: bool, policy: SessionPolicy) -> list[Op]:
    """How one event changes the session hash `rel` (the first UTM/referrer seen is the landing's)."""
    landing = list(landing_ops(rel, event.landing)) if event.landing is not None else []
    return [*landing, *_session_change(rel, event, anonymous, policy)]


def _session_change(rel: str, event: Event, anonymous: bool, policy: SessionPolicy) -> list[Op]:
    product = event.product_id or ""
    match event.type:
        case "view":
            return [Op("LA", rel, ("viewed", product, policy.max_viewed))]
        case "add_to_cart":
            return [Op("LA", rel, ("cart", product, policy.max_cart))]
        case "remove_from_cart":
            return [Op("LR", rel, ("cart", product))]
        case "search":
            return [Op("LA", rel, ("searches", event.query or "", policy.max_searches))]
        case "purchase":
            bought = [Op("LA", rel, ("purchased", product, policy.max_items))] if anonymous else []
            return [Op("LR", rel, ("cart", product)), *bought]
        case "wishlist_add" if anonymous:
            return [Op("LA", rel, ("wishlist", product, policy.max_items))]
        case "consent":
            return [Op("S", rel, ("consent", "1" if event.personalization else "0"))]
    return []


def profile_ops(event: Event, policy: EventPolicy) -> list[Op]:
    """How one event changes the profile's event-driven fields (sums are added per call)."""
    first_seen = Op("SNX", "profile", ("e:first_seen", stamp(event.ts)))
    product = event.product_id or ""
    loyalty = ledger.event_ops(
        event.type,
        event.ts,
        product_id=event.product_id or event.activity_product,
        activity=event.activity,
        value=event.amount if event.amount is not None else (event.quantity or 0) * (event.price or 0.0),
        offer_code=event.offer_code,
        activities={name: (points, per) for name, points, per in policy.activities},
    )
    if loyalty is not None and event.type != "purchase":
        return [*loyalty, first_seen]
    cart = ledger.cart_ops(event.type, event.ts, event.product_id)
    if event.type in ("add_to_cart", "remove_from_cart"):
        return cart
    match event.type:
        case "purchase":
            return [
                Op("LA", "profile", ("e:purchased", product, policy.max_items)),
                Op("MAX", "profile", ("e:last_purchase_at", stamp(event.ts))),
                first_seen,
                *(loyalty or []),
                *cart,
            ]
        case "wishlist_add":
            return [Op("LA", "profile", ("e:wishlist", product, policy.max_items)), first_seen]
        case "consent":
            return [Op("S", "profile", ("e:consent", "1" if event.personalization else "0"))]
    return []


def plan_group(
    unit: str, events: Sequence[Event], policy: EventPolicy, key: str | None, fingerprint: str | None = None
) -> Group:
    """The ops of one unit's events, in order; purchases of one call at one time count as one order."""
    user_id = events[0].user_id
    ops: list[Op] = list(dedup.check_ids(events))
    if key is not None:
        bound = (IDEMPOTENCY_TTL_S,) if fingerprint is None else (IDEMPOTENCY_TTL_S, fingerprint)
        ops += [Op("G", f"idem:{key}", bound), *register(f"idem:{key}")]
    ops += dedup.mark_ids(events)
    changes: list[tuple[Event, list[Op]]] = []
    sessions: dict[str, None] = {}
    for event in events:
        changed = []
        if event.session_id is not None:
            changed = session_ops(session_rel(user_id, event.session_id), event, user_id is None, policy.session)
            if changed:
                sessions[event.session_id] = None
        changes.append((event, changed))
    if user_id is not None:  # report sessions this call creates in the user's slot: they may need promoting
        ops += [Op("N", session_rel(user_id, sid), (f"{user_id} {sid}",)) for sid in sessions]
    spend = 0.0
    orders: set[str] = set()
    by_order: dict[str, tuple[datetime, list[float]]] = {}
    for event, changed in changes:
        personal = [Op("X", "@events", (policy.stream_maxlen, *stream_fields(event))), *changed]
        if user_id is not None:
            personal += profile_ops(event, policy)
        personal += attribution_ops(event)
        ops += consent.gated(user_id, event.session_id, event.type, personal)  # withheld while withdrawn
        if user_id is not None:
            if event.type == "purchase":
                spend += (event.quantity or 0) * (event.price or 0.0)
                orders.add(stamp(event.ts))
                book = by_order.setdefault(stamp(event.ts), (event.ts, []))
                book[1].append((event.quantity or 0) * (event.price or 0.0))
    if orders:
        ops += [
            Op("I", "profile", ("e:orders", len(orders))),
            Op("F", "profile", ("e:spend", repr(round(spend, 4)))),
            Op("I", "profile", ("e:points", sum(points_for(sum(values)) for _, values in by_order.values()))),
            Op("TIER", "profile", (repr(round(spend, 4)), *policy.tiers.as_args())),
        ]
        for ts, values in by_order.values():  # one ledger row per order (edge.core.ledger)
            ops += ledger.purchase_ops(ts, sum(values))
    for sid in sessions:
        ops += touch_ops(user_id, sid, policy.session)
    return Group(unit, tuple(ops))


def attribution_ops(event: Event) -> list[Op]:
    """Experiment and decision attribution of a metric event (edge/core/attribution.py)."""
    if event.type not in DECISION_METRICS:
        return []
    revenue = (event.quantity or 0) * (event.price or 0.0)
    a = event.attribution or NO_ATTRIBUTION
    return event_ops(event.type, event.ts, revenue, a.decision_id, event.product_id, a.position, a.offer_code)


def plan_events(
    events: Sequence[Event], policy: EventPolicy, key: str | None = None, fingerprint: str | None = None
) -> Program:
    """One group per unit (user, else session), in the order units first appear (ids: edge.store.dedup)."""
    by_unit: dict[str, list[Event]] = {}
    for event in events:
        by_unit.setdefault(event.unit, []).append(event)
    return tuple(
        plan_group(unit, part, policy, key if n == 0 else None, fingerprint)
        for unit, batch in by_unit.items()
        for n, part in enumerate(dedup.parts(batch))
    )


# --- the I/O shell --------------------------------------------------------------------------------


async def ingest(
    store: ProfileStore,
    events: Sequence[Event],
    policy: EventPolicy,
    key: str | None,
    timeout_s: float,
    fingerprint: str | None = None,
) -> Applied:
    """Store the events (all or nothing) within `timeout_s`, then promote sessions that just logged in.

    Raises `StoreUnavailable` when the store cannot take them: the caller answers 503 and retries
    (with the same Idempotency-Key, a retry of a call that was in fact stored is not applied twice).
    """
    program = plan_events(events, policy, key, fingerprint)
    try:
        async with asyncio.timeout(timeout_s):
            applied = await store.apply(program)
    except TimeoutError as exc:
        raise StoreUnavailable("the event store did not answer in time; retry") from exc
    except Conflict as exc:
        raise Conflict(f"Idempotency-Key {key!r} was already used with a different body", "idempotency-key") from exc
    if applied.created:
        pairs = [tag.split(" ", 1) for tag in applied.created]
        try:
            async with asyncio.timeout(timeout_s):
                outcomes = await asyncio.gather(
                    *(promote_session(store, u, s, policy.session) for u, s in pairs), return_exceptions=True
                )
        except TimeoutError:
            outcomes = [TimeoutError()]
        for outcome in outcomes:
            if isinstance(outcome, TimeoutError | DependencyError):
                log.warning("a session promotion after login failed; its anonymous part expires on its own")
            elif isinstance(outcome, BaseException):
                raise outcome
    return applied
