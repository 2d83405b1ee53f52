"""Decide: one page decision, from a validated request and a store snapshot to the response body.

Pure: segments, experiments, content, recommend, and the writes a decision causes as programs
(`offer_shown`, `exposures_of`, `remembered_ops`). The I/O around it (the store read under the
request's deadline, the write-behind, the promotion of a session that just logged in) is
`edge.decider.Decider`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

import numpy as np

from edge.core import content as content_mod
from edge.core import loyalty as loyalty_view
from edge.core.attribution import encode_ranked
from edge.core.content import Content, Overrides, Visitor, language_for
from edge.core.experiments import ArmAssignment, Assignment, ExperimentsConfig, assign
from edge.core.exposures import Exposure
from edge.core.ledger import FIRST_SHOWN
from edge.core.loyalty import DEFAULT_TIERS, TierThresholds
from edge.core.offers import code_maker
from edge.core.pages import PageContext, place
from edge.core.profiles import Profile
from edge.core.ranking import RankingParams
from edge.core.recommend import Model, Signals, uses_ranker
from edge.core.requests import DecideRequest, SessionSignals
from edge.core.segments import assign_segment
from edge.core.sessions import merged_signals
from edge.core.snapshot import Snapshot
from edge.core.validation import zone_named
from edge.core.writes import OFFERS_TTL_S, Group, Op, Program, register

NO_SESSION = SessionSignals()

COUNTRY_ZONES = {
    "NL": "Europe/Amsterdam", "BE": "Europe/Brussels", "GB": "Europe/London", "IE": "Europe/Dublin",
    "DE": "Europe/Berlin", "FR": "Europe/Paris", "ES": "Europe/Madrid", "IT": "Europe/Rome",
    "PT": "Europe/Lisbon", "CH": "Europe/Zurich", "AT": "Europe/Vienna", "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm", "NO": "Europe/Oslo", "FI": "Europe/Helsinki", "PL": "Europe/Warsaw",
    "US": "America/New_York", "CA": "America/Toronto", "AU": "Australia/Sydney", "JP": "Asia/Tokyo",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Decided:
    """One decision: the answer's body and what the I/O shell writes for it (never sent).

    `body` is the JSON tree of `edge.core.shapes.DecideResponse` (the served shape, checked against that
    Struct by tests/test_shapes_conformance.py); it is built as a tree because its products are the
    catalog's items serialized once per build (`Catalog.item_json`), not re-made per decision."""

    body: dict[str, Any]
    offer_code: str | None  # what the offer's frequency cap counts, when an offer is shown
    arms: list[ArmAssignment]  # the experiment arms to expose (forced arms are not exposures)
    profile_ops: list[Op]  # what the profile remembers of this page (first time an offer was shown, ...)
    holdout: bool


@dataclass(frozen=True, slots=True)
class Engine:
    """Everything a decision reads that is built at start-up; swapped whole on reload."""

    model: Model
    content: Content
    experiments: ExperimentsConfig
    params: RankingParams = field(default_factory=RankingParams)
    ttl_s: int = 60
    tiers: TierThresholds = DEFAULT_TIERS  # the build's (edge.model.artifacts.thresholds_for)
    offer_secret: str | None = None  # EDGE_OFFER_SECRET: per-person offer codes (edge.core.offers)


def local_zone(request: DecideRequest, profile_country: str | None) -> tzinfo:
    """The request's time zone, else the country's usual one, else UTC."""
    if request.location.timezone is not None:
        return request.location.timezone
    name = COUNTRY_ZONES.get(request.location.country or profile_country or "")
    return (zone_named(name) if name else None) or UTC


def consented(request: DecideRequest, snapshot: Snapshot) -> bool:
    """The request's consent wins; absent, the stored one (a consent event, else the profile's; unknown = given)."""
    if request.consent is not None:
        return request.consent
    return snapshot.consent is not False


def fitting_vector(vector: np.ndarray | None, model: Model) -> np.ndarray | None:
    """The profile vector when it fits the model's item vectors, else None (a profile of another build)."""
    if vector is None or vector.shape != (model.index.vectors.shape[1],):
        return None
    return vector


def offer_shown(unit: str, day: str, offer_code: str) -> Program:
    """The frequency counter a shown offer increments (per unit and UTC day)."""
    key = f"offers:{day}"
    return (Group(unit, (Op("I", key, (offer_code, 1)), Op("E", key, (OFFERS_TTL_S,)), *register(key))),)


def exposures_of(
    config: ExperimentsConfig, request: DecideRequest, arms: Sequence[ArmAssignment], decision_id: str, now: datetime
) -> list[Exposure]:
    """Exposure records of the arms a decision enrolled its unit in."""
    units = {exp.key: exp.unit for exp in config.experiments}
    ts = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    exposures = []
    for arm in arms:
        unit = "user_id" if request.user_id and units.get(arm.experiment) == "user_id" else "session_id"
        exposures.append(
            Exposure(arm.experiment, arm.arm, arm.bucket, unit, request.session_id, request.user_id, decision_id, ts)
        )
    return exposures


# --- loyalty (edge.core.loyalty, edge.core.ledger, edge.core.offers) ---------------------------------------------


def preferred_categories(content: Content, profile: Profile | None) -> list[str]:
    """The profile's categories, then those its quiz answers (`shops_for`, `style`) favour."""
    if profile is None:
        return []
    found = dict.fromkeys(profile.preferred_categories)
    for question, answers in (("shops_for", profile.shops_for), ("style", profile.style)):
        for answer in answers:
            found.update(dict.fromkeys(content.preference_categories.get(question, {}).get(answer, ())))
    return list(found)


def loyalty_visitor(
    engine: Engine, profile: Profile | None, segment: str, campaign: str | None, now: datetime
) -> tuple[Visitor, Op | None]:
    """What content may use about the visitor, and the marker op of an occasion celebrated once."""
    if profile is None:
        return Visitor(segment=segment, campaign=campaign if segment == "campaign" else None), None
    next_up, needed = loyalty_view.next_tier(profile, engine.tiers)
    occasion: str | None = None
    celebrate: Op | None = None
    milestone = loyalty_view.milestone_reached(profile, engine.content.rules.milestones)
    if loyalty_view.upgraded_since_document(profile) and profile.tier is not None:
        occasion, celebrate = "tier_upgrade", Op("S", "profile", ("e:celebrated_tier", profile.tier))
    elif milestone is not None:
        occasion, celebrate = "milestone", Op("S", "profile", ("e:celebrated_milestone", milestone))
    elif loyalty_view.cart_abandoned(profile, now, engine.content.rules.cart_idle_minutes):
        occasion = "cart_abandoned"
    visitor = Visitor(
        segment=segment,
        tier=profile.tier,
        first_name=profile.first_name,
        points=profile.points,
        birthday=profile.birthday,
        joined_at=profile.joined_at,
        next_tier=next_up,
        points_to_next_tier=needed,
        quiz_answered=profile.quiz_answered_at is not None,
        occasion=occasion,
        campaign=campaign,  # a member from a campaign keeps their page; the CTA continues the campaign
    )
    return visitor, celebrate


def remembered_ops(page: content_mod.Page, snapshot: Snapshot, celebrate: Op | None, now: datetime) -> list[Op]:
    """What a decision remembers on the profile: when an offer was first shown, an occasion celebrated."""
    ops = []
    offer = page.offer
    if offer is not None and offer.promotional and offer.id not in snapshot.offers_first_shown:
        ops.append(Op("SNX", "profile", (FIRST_SHOWN + offer.id, now.strftime("%Y-%m-%dT%H:%M:%SZ"))))
    if celebrate is not None and page.occasion in ("tier_upgrade", "milestone"):
        ops.append(celebrate)
    return ops


def decide_from_snapshot(
    engine: Engine,
    request: DecideRequest,
    snapshot: Snapshot,
    now: datetime,
    failure: str | None = None,
    forced_arms: Mapping[str, str] | None = None,
) -> Decided:
    """The decision given what the store answered; pure apart from the decision id."""
    content = engine.content
    model = engine.model
    catalog = model.catalog
    allowed = consented(request, snapshot)
    derived = model.derived
    profile = derived.as_of(snapshot.profile, now, engine.tiers) if allowed and snapshot.profile else None
    session = merged_signals(request.session, snapshot.session) if allowed else NO_SESSION
    segment, rule = assign_segment(profile, session, now, content.rules.segments)
    country = request.location.country or (profile.country if profile else None)
    tier = profile.tier if profile else None
    lang = language_for(content, request.locale, profile.locale if profile else None, country=country)
    assignment: Assignment = assign(
        engine.experiments,
        request.user_id,
        request.session_id,
        {
            "segment": segment,
            "tier": tier,
            "country": country,
            "device": request.device,
            "page": request.page,
            "locale": lang,
            "utm_source": session.utm.source,
            "utm_campaign": session.utm.campaign,
            "weather": request.weather,
            "region": request.location.region,
        },
        forced_arms,
    )
    params = engine.params
    overrides = Overrides()
    for arm in assignment.arms:
        params = params.with_overrides(arm.ranking)
        texts = arm.content.get(lang) or {}
        overrides = Overrides(
            variant=arm.variant or overrides.variant,
            greeting={lang: texts["greeting"]} if "greeting" in texts else overrides.greeting,
            cta_text={lang: texts["cta_text"]} if "cta_text" in texts else overrides.cta_text,
        )
    local_now = now.astimezone(local_zone(request, country))
    exclude = catalog.rows(request.exclude)
    if assignment.holdout or not allowed:
        signals = Signals(country=country, exclude=exclude)
    else:
        signals = Signals(
            viewed=catalog.rows(session.viewed),
            cart=catalog.rows(
                (*session.cart, *(p for p in profile.cart if p not in session.cart)) if profile else session.cart
            ),
            purchased=derived.rows(catalog, profile.purchased, session.purchased)
            if profile
            else catalog.rows(session.purchased),
            wishlist=derived.rows(catalog, profile.wishlist, session.wishlist)
            if profile
            else catalog.rows(session.wishlist),
            preferred_categories=[
                catalog.category_code_of[c]
                for c in preferred_categories(content, profile)
                if c in catalog.category_code_of
            ],
            user_vector=fitting_vector(snapshot.vector, model) if profile is not None else None,
            country=country,
            exclude=exclude,
        )
    context = PageContext(
        page=request.page,
        product_id=request.product_id,
        category=request.category,
        query=request.query,
        searches=session.searches if not assignment.holdout else (),
        campaign=session.utm.campaign if not assignment.holdout else None,
        attributes={"weather": request.weather, "device": request.device, "region": request.location.region},
    )
    placements = content.placements
    ranked = place(model, placements, context, signals, request.limit, params)
    # personalized: the profile or the session (a campaign arrival) chose the segment's page, or the
    # session's signals (viewed, cart, searches) changed the products
    changed = profile is not None or segment != "new_visitor"
    if not changed and (signals.viewed or signals.cart or signals.purchased or signals.wishlist or context.searches):
        anonymous = Signals(country=signals.country, exclude=signals.exclude)
        baseline = place(model, placements, replace(context, searches=()), anonymous, request.limit, params)
        changed = [r.row for r in baseline] != [r.row for r in ranked]
    visitor, celebrate = loyalty_visitor(engine, profile, segment, session.utm.campaign, now)
    if assignment.holdout:  # no personalization, but a member keeps the greeting and the tier discount
        page = content_mod.holdout_page(content, visitor, lang, local_now, now)
    else:
        page = content_mod.choose(
            content, visitor, lang, local_now, now, snapshot.offers_shown, overrides,
            first_shown=snapshot.offers_first_shown,
            unique_code=code_maker(engine.offer_secret, request.user_id),
        )  # fmt: skip
    profile_ops = remembered_ops(page, snapshot, celebrate, now) if profile is not None else []
    personalized = not assignment.holdout and allowed and changed
    item_json = catalog.item_json
    body: dict[str, Any] = {
        "decision_id": encode_ranked(now, page.variant, page.offer_code, item_json, ranked),  # edge/core/attribution.py
        "segment": segment,
        "tier": tier,
        "personalized": personalized,
        "degraded": failure is not None,
        "variant": {"id": page.variant},
        "greeting": page.greeting,
        "cta": page.cta,
        "products": [dict(item_json[r.row], score=r.score, reason=r.reason) for r in ranked],
        "experiments": assignment.to_json(),
        "ttl_s": engine.ttl_s,
        "took_ms": 0.0,
    }
    if request.debug:
        body["explain"] = {
            "segment_rule": rule,
            "consent": allowed if request.consent is None else request.consent,
            "profile": "used" if profile else ("ignored (no consent)" if snapshot.profile else "none"),
            "session": "stored" if snapshot.session and allowed else "request only",
            "store": failure or "ok",
            "language": lang,
            "local_time": local_now.isoformat(),
            "occasion": page.occasion,
            "loyalty": {
                "next_tier": visitor.next_tier,
                "points_to_next_tier": visitor.points_to_next_tier,
                "quiz_answered": visitor.quiz_answered,
                "ledger_rows": len(profile.ledger) if profile else 0,
                "offer": page.offer.id if page.offer else None,
            },
            "holdout": assignment.holdout,
            "model_version": model.version,
            "content_version": content.version,
            "experiments_version": engine.experiments.version,
            "ranking": {
                "strategy": params.strategy if params.strategy != "learned" or model.ranker else "blend",
                "ranker": model.ranker if uses_ranker(model, params) else None,
                "max_category_share": round(params.max_category_share, 4),
            },
            "signals": {
                "viewed": len(signals.viewed),
                "cart": len(signals.cart),
                "purchased": len(signals.purchased),
                "wishlist": len(signals.wishlist),
                "vector": signals.user_vector is not None,
            },
            "scores": [{"id": item_json[r.row]["id"], "score": r.score, "reason": r.reason} for r in ranked],
        }
    arms = [arm for arm in assignment.arms if not arm.forced]
    return Decided(body, page.counter_code, arms, profile_ops, assignment.holdout)
