"""Loyalty: points and tiers earned by spend (one point per currency unit, tiers past spend thresholds).

The thresholds come from the build's manifest (`tier_thresholds`, computed from the customers'
spend distribution) when it has them, else from `EDGE_TIER_THRESHOLDS`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import msgspec

from edge.core.profiles import LedgerEntry, Profile
from edge.core.shapes import DEFAULT_TIERS as DEFAULT_TIERS  # declared with the manifest's shapes; re-exported
from edge.core.shapes import TIERS, Tier
from edge.core.shapes import TierThresholds as TierThresholds  # likewise

RANK: dict[str | None, int] = {None: 0, **{tier: i + 1 for i, tier in enumerate(TIERS)}}


def points_for(amount: float) -> int:
    """Points earned by spending `amount`: one per whole currency unit."""
    return math.floor(amount + 1e-9)


def upgraded_tier(current: Tier | None, spend_before: float, spend_after: float, rules: TierThresholds) -> Tier | None:
    """The tier after spend grew from `spend_before` to `spend_after`: up only, and only past a threshold."""
    reached = rules.tier(spend_after)
    if RANK[reached] > RANK[rules.tier(spend_before)] and RANK[reached] > RANK[current]:
        return reached
    return current


def thresholds_in(manifest: Any, default: TierThresholds) -> TierThresholds:
    """The thresholds a build's manifest names (`tier_thresholds`), else `default`."""
    try:
        found = msgspec.convert(manifest["tier_thresholds"], TierThresholds)
    except (KeyError, TypeError, msgspec.ValidationError):
        return default
    return found if 0 <= found.silver <= found.gold <= found.platinum else default


# --- the ledger at a moment (pure) ----------------------------------------------------------------


def as_of(profile: Profile, now: datetime, rules: TierThresholds) -> Profile:
    """The profile as it stood at `now`: ledger entries after `now` are taken back out.

    Spend, points and orders are the stored sums (document + events) minus what the ledger dates
    after `now`; the last purchase is the latest purchase entry up to `now`; the tier follows the
    net spend (returns and cancellations count against it), never below the document's own tier;
    complaints after `now` are dropped. A profile without ledger entries is returned unchanged.
    """
    if not profile.ledger and not profile.complaints_at:
        return profile
    later = [e for e in profile.ledger if e.ts > now]
    spend = round(profile.spend - sum(e.amount for e in later), 2)
    points = max(0, profile.points - sum(e.points for e in later))
    orders = profile.orders - sum(1 for e in later if e.kind == "purchase")
    orders += sum(1 for e in later if e.kind == "cancellation" and e.amount < 0)
    purchases = [e.ts for e in standing_purchases(profile.ledger, now)]
    last = profile.last_purchase_at
    if last is not None and last > now:
        last = None
    if purchases and (last is None or max(purchases) > last):
        last = max(purchases)
    tier: Tier | None = profile.tier
    if profile.ledger:  # an assigned tier (a document without its own ledger) is a floor
        reached = rules.tier(max(spend, 0.0))
        floor = profile.document_tier if profile.document_ledger == 0 else None
        tier = reached if RANK[reached] >= RANK[floor] else floor
    return replace(
        profile,
        spend=spend,
        points=points,
        orders=max(0, orders),
        last_purchase_at=last,
        tier=tier,
        ledger=tuple(e for e in profile.ledger if e.ts <= now),
        complaints_at=tuple(t for t in profile.complaints_at if t <= now),
    )


FULL_MATCH = 0.01  # a cancellation within 1 % of an order's value cancels that order


def standing_purchases(ledger: tuple[LedgerEntry, ...], now: datetime) -> list[LedgerEntry]:
    """Purchase rows up to `now` that no later cancellation (up to `now`) of the same value undid."""
    cancels = sorted((e for e in ledger if e.kind == "cancellation" and e.ts <= now), key=lambda e: e.ts)
    kept = []
    open_cancels = [(-c.amount, c.ts) for c in cancels]
    for row in sorted((e for e in ledger if e.kind == "purchase" and e.ts <= now), key=lambda e: e.ts, reverse=True):
        match = next(
            (i for i, (value, ts) in enumerate(open_cancels)
             if ts >= row.ts and abs(value - row.amount) <= FULL_MATCH * max(value, 1.0)),
            None,
        )  # fmt: skip
        if match is None:
            kept.append(row)
        else:
            open_cancels.pop(match)
    return kept


def recent(profile: Profile, now: datetime, days: int) -> tuple[int, float, float]:
    """In the `days` before `now` (from their times, so they expire): complaints, the value returned
    or cancelled, and the value bought."""
    since = now - timedelta(days=days)
    complaints = sum(1 for t in profile.complaints_at if since < t <= now)
    window = [e for e in profile.ledger if since < e.ts <= now]
    credited = -sum(e.amount for e in window if e.kind in ("return", "cancellation"))
    bought = sum(e.amount for e in window if e.kind == "purchase")
    return complaints, credited, bought


def next_tier(profile: Profile, rules: TierThresholds) -> tuple[Tier | None, int | None]:
    """The next tier up and the points (one per currency unit of spend) still needed; (None, None) at the top."""
    current = RANK[profile.tier]
    for tier, threshold in zip(TIERS[1:], rules.as_args(), strict=True):
        if RANK[tier] > current and threshold > profile.spend:
            return tier, max(1, math.ceil(threshold - profile.spend - 1e-9))
    return None, None


def milestone_reached(profile: Profile, milestones: tuple[int, ...]) -> int | None:
    """The highest milestone the points crossed since the document (by events), not celebrated yet."""
    crossed = [m for m in milestones if profile.document_points < m <= profile.points]
    if crossed and crossed[-1] > profile.celebrated_milestone:
        return crossed[-1]
    return None


def upgraded_since_document(profile: Profile) -> bool:
    """The tier rose above the document's by events and that tier was not celebrated yet."""
    return RANK[profile.tier] > RANK[profile.document_tier] and profile.celebrated_tier != profile.tier


def cart_abandoned(profile: Profile, now: datetime, idle_minutes: int) -> bool:
    """The persistent cart holds something and was last touched at least `idle_minutes` before `now`."""
    touched = profile.cart_updated_at
    return bool(profile.cart) and touched is not None and timedelta(minutes=idle_minutes) <= now - touched
