"""Segments: which lifecycle segment a visitor is in, by the contract's rules (first match wins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from msgspec import Meta
from msgspec.structs import force_setattr

from edge.core.files import FileShape
from edge.core.loyalty import recent
from edge.core.profiles import Profile
from edge.core.requests import SessionSignals
from edge.core.shapes import Segment

CLICK_IDS = ("utm_", "gclid=", "fbclid=", "msclkid=", "ttclid=")


class SegmentRules(FileShape, frozen=True):
    """The thresholds behind the default rules; marketers change them in the content file (`rules.segments`)."""

    lost_days: Annotated[int, Meta(ge=1)] = 180
    lapsed_days: Annotated[int, Meta(ge=1)] = 90  # below lost_days
    new_member_days: Annotated[int, Meta(ge=0)] = 30
    new_member_max_orders: Annotated[int, Meta(ge=0)] = 1
    ambassador_tiers: frozenset[Literal["gold", "platinum"]] = frozenset({"gold", "platinum"})
    at_risk_days: Annotated[int, Meta(ge=1)] = (
        90  # a complaint, or returns/cancellations above the share below, count this long
    )
    at_risk_credit_share: Annotated[float, Meta(gt=0, le=1)] = (
        0.25  # returned or cancelled value over this share of the window's purchases
    )
    purchase_ends_cancellation: bool = True  # a purchase after a subscription cancellation reactivates
    campaign_referrers: tuple[str, ...] = (
        "facebook.com",
        "instagram.com",
        "pinterest.com",
        "tiktok.com",
        "t.co",
        "x.com",
        "youtube.com",
        "mail.google.com",
        "outlook.live.com",
    )

    def __post_init__(self) -> None:
        if self.lapsed_days >= self.lost_days:
            raise ValueError("lapsed_days: must be below lost_days")
        force_setattr(self, "campaign_referrers", tuple(r.lower() for r in self.campaign_referrers))


def is_campaign_arrival(session: SessionSignals, rules: SegmentRules) -> bool:
    """The session carries UTM parameters or came from a campaign referrer."""
    if session.utm:
        return True
    if not session.referrer:
        return False
    referrer = session.referrer.lower()
    if any(marker in referrer for marker in CLICK_IDS):
        return True
    host = urlsplit(referrer).hostname or ""
    return any(host == domain or host.endswith("." + domain) for domain in rules.campaign_referrers)


def days_between(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds() / 86400.0


def assign_segment(
    profile: Profile | None, session: SessionSignals, now: datetime, rules: SegmentRules
) -> tuple[Segment, str]:
    """The visitor's segment and the rule that matched (for `explain`)."""
    if profile is None:
        if is_campaign_arrival(session, rules):
            return "campaign", "no profile; session carries UTM or a campaign referrer"
        return "new_visitor", "no usable profile"
    if profile.subscription == "cancelled":
        cancelled_at = profile.subscription_changed_at
        bought_since = (
            rules.purchase_ends_cancellation
            and cancelled_at is not None
            and profile.last_purchase_at is not None
            and profile.last_purchase_at > cancelled_at
        )
        if not bought_since:
            return "lost", "subscription cancelled"
    # a member who never bought is idle since joining
    last = profile.last_purchase_at or (profile.joined_at if profile.orders == 0 else None)
    if last is not None:
        idle = days_between(last, now)
        if idle >= rules.lost_days:
            return "lost", f"no purchase for {idle:.0f} days (>= {rules.lost_days})"
        if idle >= rules.lapsed_days:
            return "lapsed", f"no purchase for {idle:.0f} days (>= {rules.lapsed_days})"
    complaints, credited, bought = recent(profile, now, rules.at_risk_days)
    if complaints or profile.complaints_90d > 0:
        return "at_risk", f"a complaint in the last {rules.at_risk_days} days"
    if profile.returns_90d > 0 or (credited > 0 and credited > rules.at_risk_credit_share * bought):
        share = f"{rules.at_risk_credit_share:.0%}"
        return "at_risk", f"returns/cancellations over {share} of the last {rules.at_risk_days} days' purchases"
    if profile.tier in rules.ambassador_tiers:
        return "ambassador", f"tier {profile.tier}"
    joined = profile.joined_at
    if joined is not None and days_between(joined, now) < rules.new_member_days:
        if profile.orders <= rules.new_member_max_orders:
            return "new_member", f"joined < {rules.new_member_days} days ago, {profile.orders} order(s)"
    if profile.orders == 0 and profile.last_purchase_at is None and joined is not None:
        return "lapsed", "no order on record (cancelled orders do not count)"
    return "active", "member with recent activity"
