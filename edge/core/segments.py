"""Segments: which lifecycle segment a visitor is in, by the contract's rules (first match wins)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from edge.core.loyalty import recent
from edge.core.profiles import TIERS, Profile
from edge.core.requests import SessionSignals
from edge.errors import ConfigError

Segment = Literal["new_visitor", "campaign", "new_member", "active", "ambassador", "at_risk", "lapsed", "lost"]
SEGMENTS: tuple[Segment, ...] = (
    "new_visitor",
    "campaign",
    "new_member",
    "active",
    "ambassador",
    "at_risk",
    "lapsed",
    "lost",
)
CLICK_IDS = ("utm_", "gclid=", "fbclid=", "msclkid=", "ttclid=")


@dataclass(frozen=True, slots=True)
class SegmentRules:
    """The thresholds behind the default rules; marketers change them in the content file."""

    lost_days: int = 180
    lapsed_days: int = 90
    new_member_days: int = 30
    new_member_max_orders: int = 1
    ambassador_tiers: frozenset[str] = frozenset({"gold", "platinum"})
    at_risk_days: int = 90  # a complaint, or returns/cancellations above the share below, count this long
    at_risk_credit_share: float = 0.25  # returned or cancelled value over this share of the window's purchases
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

    @classmethod
    def from_config(cls, data: Mapping[str, Any], where: str = "rules.segments") -> SegmentRules:
        """Rules from the content file's `rules.segments` mapping; missing keys keep the defaults."""
        defaults = cls()
        unknown = sorted(set(data) - _RULE_KEYS)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(sorted(_RULE_KEYS))}")
        try:
            tiers = frozenset(data.get("ambassador_tiers", defaults.ambassador_tiers))
            referrers = tuple(str(r).lower() for r in data.get("campaign_referrers", defaults.campaign_referrers))
            rules = cls(
                lost_days=int(data.get("lost_days", defaults.lost_days)),
                lapsed_days=int(data.get("lapsed_days", defaults.lapsed_days)),
                new_member_days=int(data.get("new_member_days", defaults.new_member_days)),
                new_member_max_orders=int(data.get("new_member_max_orders", defaults.new_member_max_orders)),
                ambassador_tiers=tiers,
                campaign_referrers=referrers,
                at_risk_days=int(data.get("at_risk_days", defaults.at_risk_days)),
                at_risk_credit_share=float(data.get("at_risk_credit_share", defaults.at_risk_credit_share)),
                purchase_ends_cancellation=bool(
                    data.get("purchase_ends_cancellation", defaults.purchase_ends_cancellation)
                ),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        if not tiers <= set(TIERS) or not {"bronze", "silver"}.isdisjoint(tiers):
            raise ConfigError(f"{where}.ambassador_tiers: only gold and platinum may be ambassador tiers")
        if not 0 < rules.lapsed_days < rules.lost_days:
            raise ConfigError(f"{where}: need 0 < lapsed_days < lost_days")
        if rules.at_risk_days < 1:
            raise ConfigError(f"{where}.at_risk_days: must be >= 1")
        if not 0 < rules.at_risk_credit_share <= 1:
            raise ConfigError(f"{where}.at_risk_credit_share: must be in (0, 1]")
        return rules


_RULE_KEYS = frozenset(
    {"lost_days", "lapsed_days", "new_member_days", "new_member_max_orders", "ambassador_tiers",
     "campaign_referrers", "at_risk_days", "at_risk_credit_share", "purchase_ends_cancellation"}
)  # fmt: skip


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
