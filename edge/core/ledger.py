"""Ledger: how loyalty events change a profile, as write ops (pure).

Spend, points and orders move by signed entries that are both summed (`e:spend`, `e:points`,
`e:orders`) and appended to the profile's ledger (`e:ledger`, JSON rows `[ts, kind, amount,
points]`), so a decision replayed at a past `now` can take later entries back out
(`edge.core.loyalty.as_of`) and returns and cancellations count against spend and tier:

    purchase             +spend, +points, +1 order          (planned per call in edge.events)
    return               -spend, -points; at risk for `rules.segments.at_risk_days`
    order_cancel         -spend, -points, -1 order; not a complaint
    complaint            its time in `e:complaints_at`: at risk while inside the window
    subscription_cancel  / subscription_resume: the subscription and when it changed
    review               points per the content file's `activities.review`, once per product
    activity             `activity: <name>`: points per `activities.<name>`, once ever or per product
    preferences (quiz)   points once ever (`edge.preferences`)

A purchase carrying `offer_code` records the redemption (`o:redeemed:<code>`, first time wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from edge.core import validation as v
from edge.core.loyalty import points_for
from edge.core.profiles import MAX_LEDGER
from edge.core.writes import Op
from edge.errors import ValidationFailed

LOYALTY_EVENTS = ("return", "order_cancel", "subscription_resume", "review", "activity")
REDEEMED = "o:redeemed:"  # + code -> when a purchase carrying it was recorded
FIRST_SHOWN = "o:first:"  # + offer id -> when this person first saw the offer
MAX_AMOUNT = 1e12


def stamp(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def entry(ts: datetime, kind: str, amount: float, points: int) -> str:
    """One ledger row as stored: `[ts, kind, amount, points]`."""
    return orjson.dumps([stamp(ts), kind, round(amount, 4), points]).decode()


def parse_fields(data: Mapping[str, Any], kind: str, where: str) -> dict[str, Any]:
    """The loyalty fields of one event body: `offer_code` (purchase), `amount` and `order_id` (order_cancel)."""
    found: dict[str, Any] = {}
    if data.get("offer_code") is not None:
        if kind != "purchase":
            raise ValidationFailed(f"{where}.offer_code belongs on a purchase event", f"{where}.offer_code")
        found["offer_code"] = v.identifier(data["offer_code"], f"{where}.offer_code")
    if kind == "order_cancel":
        if data.get("amount") is None:
            raise ValidationFailed(f"{where}.amount is required for an order_cancel event", f"{where}.amount")
        found["amount"] = v.number(data["amount"], f"{where}.amount", 0.0, MAX_AMOUNT)
    if data.get("order_id") is not None:
        found["order_id"] = v.identifier(data["order_id"], f"{where}.order_id")
    if kind == "activity":
        if data.get("activity") is None:
            raise ValidationFailed(f"{where}.activity is required for an activity event", f"{where}.activity")
        found["activity"] = v.identifier(data["activity"], f"{where}.activity")
        if data.get("product_id") is not None:
            found["activity_product"] = v.identifier(data["product_id"], f"{where}.product_id")
    return found


def purchase_ops(ts: datetime, spend: float) -> list[Op]:
    """The ledger row of one call's purchases (the sums are planned in edge.events)."""
    return [Op("LP", "profile", ("e:ledger", entry(ts, "purchase", spend, points_for(spend)), MAX_LEDGER))]


def event_ops(
    kind: str,
    ts: datetime,
    *,
    product_id: str | None,
    value: float,
    offer_code: str | None,
    activities: Mapping[str, tuple[int, str]],
    activity: str | None = None,
) -> list[Op] | None:
    """The profile ops of a loyalty event; None for an event this module does not handle."""
    when = stamp(ts)
    match kind:
        case "return" | "order_cancel":
            points = points_for(value)
            ops = [
                Op("F", "profile", ("e:spend", repr(-round(value, 4)))),
                Op("I", "profile", ("e:points", -points)),
                Op("LP", "profile", ("e:ledger", entry(ts, "return" if kind == "return" else "cancellation",
                                                       -value, -points), MAX_LEDGER)),
            ]  # fmt: skip
            if kind == "order_cancel":
                ops.append(Op("I", "profile", ("e:orders", -1)))
            return ops
        case "complaint":
            return [Op("LP", "profile", ("e:complaints_at", orjson.dumps(when).decode(), MAX_LEDGER))]
        case "subscription_cancel" | "subscription_resume":
            state = "cancelled" if kind == "subscription_cancel" else "active"
            return [Op("S", "profile", ("e:subscription", state)), Op("S", "profile", ("e:subscription_at", when))]
        case "review" | "activity":
            name = activity if kind == "activity" else "review"
            points, per = activities.get(name or "", (0, "ever"))
            if points <= 0 or (per == "product" and not product_id):
                return []  # an activity the content file does not reward (or without its product)
            marker = f"e:done:{name}:{product_id}" if per == "product" else f"e:done:{name}"
            return [bonus(marker, ts, points)]
        case "purchase" if offer_code:
            return [Op("SNX", "profile", (REDEEMED + offer_code, when))]
    return None


MAX_CART = 100  # products kept in a profile's persistent cart


def cart_ops(kind: str, ts: datetime, product_id: str | None) -> list[Op]:
    """A logged-in visitor's cart also lives on the profile (`e:cart`, `e:cart_at`): it outlives the session."""
    if product_id is None or kind not in ("add_to_cart", "remove_from_cart", "purchase"):
        return []
    change = (
        Op("LA", "profile", ("e:cart", product_id, MAX_CART))
        if kind == "add_to_cart"
        else Op("LR", "profile", ("e:cart", product_id))
    )
    return [change, Op("S", "profile", ("e:cart_at", stamp(ts)))]


def bonus(marker: str, ts: datetime, points: int, value: str | None = None) -> Op:
    """Credit `points` once: only when `marker` is not set yet (then set it to `value`), with a bonus ledger row."""
    return Op("BONUS", "profile", (marker, value or stamp(ts), points, entry(ts, "bonus", 0.0, points), MAX_LEDGER))
