"""Sessions: what the service holds about one visit, decoded from its stored hash and merged with a request.

A session is a hash (docs/redis-format.md): list fields `viewed` (most-recent-last), `cart`,
`searches`, `purchased` and `wishlist` as JSON arrays; `utm` (JSON object) and `referrer` of the
landing; `consent` ("1"/"0") from a consent event; `n`, a write counter. Events write it (see
`edge.events`), a decision reads it in its one round trip and merges it with the request's own
`session` signals. A session that logs in is promoted into the user's hash slot (`promotion_ops`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from edge.core.profiles import latest_unique
from edge.core.requests import SessionSignals, Utm
from edge.core.shapes import MAX_SIGNALS, json_strings
from edge.core.writes import LINKS_TTL_S, Group, Op, register, session_unit, user_unit

LIST_FIELDS = ("viewed", "cart", "searches", "purchased", "wishlist")


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lives and how much of it is kept."""

    ttl_s: int = 1800  # idle time after which the session is gone
    max_viewed: int = 50
    max_cart: int = 100
    max_searches: int = 20
    max_items: int = 500  # purchased / wishlist within one session

    def cap(self, name: str) -> int:
        caps = {"viewed": self.max_viewed, "cart": self.max_cart, "searches": self.max_searches}
        return caps.get(name, self.max_items)


@dataclass(frozen=True, slots=True)
class StoredSession:
    viewed: tuple[str, ...] = ()
    cart: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    purchased: tuple[str, ...] = ()
    wishlist: tuple[str, ...] = ()
    utm: Utm = field(default_factory=Utm)
    referrer: str | None = None
    consent: bool | None = None
    version: str = "0"


def session_rel(user_id: str | None, session_id: str) -> str:
    """The session's key relative to its unit: the user's slot when logged in, else its own."""
    return f"s={session_id}:session" if user_id else "session"


def session_owner(user_id: str | None, session_id: str) -> str:
    return user_unit(user_id) if user_id else session_unit(session_id)


def _strings(raw: str | None) -> tuple[str, ...]:
    return tuple(json_strings(raw))


def decode_session(fields: Mapping[str, str]) -> StoredSession | None:
    """The stored session, None when there is none (or it is unreadable)."""
    if not fields:
        return None
    try:
        raw_utm = fields.get("utm")
        utm = orjson.loads(raw_utm) if raw_utm else {}
        consent = fields.get("consent")
        return StoredSession(
            viewed=_strings(fields.get("viewed")),
            cart=_strings(fields.get("cart")),
            searches=_strings(fields.get("searches")),
            purchased=_strings(fields.get("purchased")),
            wishlist=_strings(fields.get("wishlist")),
            utm=Utm(utm.get("source"), utm.get("medium"), utm.get("campaign")) if isinstance(utm, dict) else Utm(),
            referrer=fields.get("referrer") or None,
            consent=None if consent is None else consent == "1",
            version=fields.get("n", "0"),
        )
    except orjson.JSONDecodeError:
        return None


def merged_signals(request: SessionSignals, stored: StoredSession | None) -> SessionSignals:
    """The request's session signals merged with what the service holds (the request's are the most recent)."""
    if stored is None:
        return request
    return SessionSignals(
        viewed=latest_unique((*stored.viewed, *request.viewed), MAX_SIGNALS),
        cart=tuple(dict.fromkeys((*stored.cart, *request.cart))),
        searches=latest_unique((*stored.searches, *request.searches), MAX_SIGNALS),
        utm=request.utm or stored.utm,
        referrer=request.referrer or stored.referrer,
        first_visit=request.first_visit,
        purchased=tuple(dict.fromkeys((*stored.purchased, *request.purchased))),
        wishlist=tuple(dict.fromkeys((*stored.wishlist, *request.wishlist))),
    )


def utm_json(utm: Utm) -> str:
    return orjson.dumps({"source": utm.source, "medium": utm.medium, "campaign": utm.campaign}).decode()


def landing_ops(rel: str, request: SessionSignals) -> tuple[Op, ...]:
    """Keep the landing's UTM and referrer for the rest of the session (the first one wins)."""
    ops = []
    if request.utm:
        ops.append(Op("SNX", rel, ("utm", utm_json(request.utm))))
    if request.referrer:
        ops.append(Op("SNX", rel, ("referrer", request.referrer)))
    return tuple(ops)


def touch_ops(user_id: str | None, session_id: str, policy: SessionPolicy) -> tuple[Op, ...]:
    """After writing a session: count the write, restart its idle TTL, and list it for erasure."""
    rel = session_rel(user_id, session_id)
    ops = [Op("I", rel, ("n", 1)), Op("E", rel, (policy.ttl_s,))]
    if user_id:
        ops += [*register(rel), Op("SA", "links", (session_id,)), Op("E", "links", (LINKS_TTL_S,))]
    return tuple(ops)


def promotion(
    user_id: str, session_id: str, anonymous: Mapping[str, str], policy: SessionPolicy
) -> tuple[Group, Group] | None:
    """Groups that move an anonymous session into the user's slot when the visitor logs in.

    The user's session gets the anonymous lists first (the login session's own entries stay the
    most recent), the landing's UTM and referrer, and the consent unless it has its own; the
    anonymous hash is deleted only if nothing was written to it meanwhile (its `n` is unchanged).
    """
    if not anonymous:
        return None
    rel = session_rel(user_id, session_id)
    ops: list[Op] = []
    for name in LIST_FIELDS:
        if anonymous.get(name):
            ops.append(Op("LM", rel, (name, anonymous[name], policy.cap(name))))
    for name in ("utm", "referrer"):
        if anonymous.get(name):
            ops.append(Op("S", rel, (name, anonymous[name])))
    if "consent" in anonymous:
        ops.append(Op("SNX", rel, ("consent", anonymous["consent"])))
    if anonymous.get("cart"):  # the persistent cart on the profile takes the anonymous cart too (edge.core.ledger)
        ops.append(Op("LM", "profile", ("e:cart", anonymous["cart"], policy.cap("cart"))))
    ops += touch_ops(user_id, session_id, policy)
    cleanup = Op("CD", "session", ("n", anonymous.get("n", "0")))
    return Group(user_unit(user_id), tuple(ops)), Group(session_unit(session_id), (cleanup,))
