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
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from edge.core import consent, ledger, shapes
from edge.core import validation as v
from edge.core.attribution import DECISION_METRICS, event_ops
from edge.core.loyalty import DEFAULT_TIERS, TierThresholds, points_for
from edge.core.requests import SessionSignals, landing_utm
from edge.core.sessions import SessionPolicy, landing_ops, session_rel, touch_ops
from edge.core.shapes import MAX_CLOCK_SKEW, stamp, stamp_ms
from edge.core.writes import IDEMPOTENCY_TTL_S, Applied, Group, Op, Program, register, session_unit, user_unit
from edge.errors import Conflict, DependencyError, StoreUnavailable, ValidationFailed
from edge.model.artifacts import thresholds_for
from edge.settings import Settings
from edge.store import dedup
from edge.store.base import ProfileStore, promote_session

log = logging.getLogger("edge.events")


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
    tiers: TierThresholds = DEFAULT_TIERS
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
    request = shapes.convert(body, shapes.EventsRequest)
    return tuple(from_shape(event, f"events[{i}]", now) for i, event in enumerate(request.events))


def from_shape(data: shapes.EventShape, where: str, now: datetime) -> Event:
    """One decoded event as the core's `Event`, with the checks a schema cannot state."""
    kind = data.__struct_config__.tag
    assert isinstance(kind, str)
    if data.session_id is None and data.user_id is None:
        raise ValidationFailed(f"{where} needs a session_id or a user_id", f"{where}.session_id")
    ts = now if data.ts is None else shapes.timestamp(data.ts, f"{where}.ts")
    if ts > now + MAX_CLOCK_SKEW:
        raise ValidationFailed(
            f"{where}.ts is in the future (more than a day ahead of the server clock)", f"{where}.ts"
        )
    product_id = quantity = price = query = personalization = None
    amount = activity = activity_product = None
    match data:
        case shapes.Purchase() | shapes.Return():
            product_id, quantity, price = data.product_id, data.quantity, data.price
        case shapes.View() | shapes.AddToCart() | shapes.RemoveFromCart() | shapes.WishlistAdd() | shapes.Review():
            product_id = data.product_id
        case shapes.Click():
            product_id = data.product_id or None  # absent or empty: the page's CTA was clicked
        case shapes.Search():
            query = data.query.strip()
            if not query:
                raise ValidationFailed(f"{where}.query must not be empty", f"{where}.query")
        case shapes.ConsentEvent():
            personalization = data.personalization
        case shapes.OrderCancel():
            amount = data.amount
        case shapes.Activity():
            activity, activity_product = data.activity, data.product_id
    landing = None
    if data.utm is not None or data.referrer is not None:
        landing = SessionSignals(utm=landing_utm(data.utm), referrer=data.referrer)
    offer_code = data.offer_code if isinstance(data, shapes.Purchase) else None
    attributed = None
    if data.decision_id is not None or offer_code is not None or data.position is not None:
        attributed = Attribution(data.decision_id, offer_code, data.position)
    return Event(
        kind, ts, data.session_id, data.user_id, product_id, quantity, price, query, personalization, landing,
        data.id, offer_code=offer_code, amount=amount, order_id=data.order_id, activity=activity,
        activity_product=activity_product, attribution=attributed,
    )  # fmt: skip


def idempotency_key(value: str | None) -> str | None:
    """The optional `Idempotency-Key` header: a retried call with the same key is applied once."""
    return None if value is None else v.identifier(value, "idempotency-key")


# --- planning (pure) ------------------------------------------------------------------------------


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
