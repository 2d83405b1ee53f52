"""Decide: one page decision, from a validated request and a store snapshot to the response body.

The I/O is one `store.fetch` under the request's deadline (a failure or timeout degrades to a
non-personalized answer) and a fire-and-forget frequency counter; everything else is the pure
parts: segments, experiments, content, recommend.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from edge import content as content_mod
from edge.content import Content, Overrides, Visitor, language_for
from edge.errors import DependencyError
from edge.experiments import Assignment, ExperimentsConfig, assign
from edge.profiles import Profile
from edge.ranking import RankingParams
from edge.recommend import Model, Signals, recommend
from edge.requests import DecideRequest
from edge.segments import assign_segment
from edge.store import EMPTY, ProfileStore, Snapshot
from edge.validation import zone_named

COUNTRY_ZONES = {
    "NL": "Europe/Amsterdam", "BE": "Europe/Brussels", "GB": "Europe/London", "IE": "Europe/Dublin",
    "DE": "Europe/Berlin", "FR": "Europe/Paris", "ES": "Europe/Madrid", "IT": "Europe/Rome",
    "PT": "Europe/Lisbon", "CH": "Europe/Zurich", "AT": "Europe/Vienna", "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm", "NO": "Europe/Oslo", "FI": "Europe/Helsinki", "PL": "Europe/Warsaw",
    "US": "America/New_York", "CA": "America/Toronto", "AU": "Australia/Sydney", "JP": "Asia/Tokyo",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Engine:
    """Everything a decision reads that is built at start-up; swapped whole on reload."""

    model: Model
    content: Content
    experiments: ExperimentsConfig
    params: RankingParams = field(default_factory=RankingParams)
    ttl_s: int = 60


def local_zone(request: DecideRequest, profile_country: str | None) -> tzinfo:
    """The request's time zone, else the country's usual one, else UTC."""
    if request.location.timezone is not None:
        return request.location.timezone
    name = COUNTRY_ZONES.get(request.location.country or profile_country or "")
    return (zone_named(name) if name else None) or UTC


def consented(request: DecideRequest, profile: Profile | None) -> bool:
    """The request's consent wins; absent, the profile's (unknown counts as given)."""
    if request.consent is not None:
        return request.consent
    return profile is None or profile.consent_personalization is not False


def new_decision_id() -> str:
    return f"d-{time.time_ns():x}{os.urandom(5).hex()}"


class Decider:
    """Runs decisions against a store; keeps the background writes it started alive."""

    def __init__(self, store: ProfileStore, deadline_s: float, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.deadline_s = deadline_s
        self.clock = clock or (lambda: datetime.now(UTC))
        self._background: set[asyncio.Task[None]] = set()

    async def _fetch(self, request: DecideRequest, day: str) -> tuple[Snapshot, str | None]:
        try:
            async with asyncio.timeout(self.deadline_s):
                return await self.store.fetch(request.user_id, request.unit_key, day), None
        except TimeoutError:
            return EMPTY, "store timeout"
        except DependencyError as exc:
            return EMPTY, exc.message

    def _count_offer(self, unit: str, day: str, code: str) -> None:
        async def write() -> None:
            try:
                async with asyncio.timeout(self.deadline_s * 4):
                    await self.store.count_offer(unit, day, code)
            except (TimeoutError, DependencyError):
                pass  # a lost counter only means the cap may let one more offer through

        task = asyncio.get_running_loop().create_task(write())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def decide(
        self, engine: Engine, request: DecideRequest, forced_arms: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The contract's decision for one request."""
        started = time.perf_counter()
        now = request.now or self.clock()
        day = now.strftime("%Y%m%d")
        if request.consent is False:
            snapshot, failure = EMPTY, None  # no profile read at all
        else:
            snapshot, failure = await self._fetch(request, day)
        fetched = time.perf_counter()
        body = decide_from_snapshot(engine, request, snapshot, now, failure, forced_arms)
        code = body.pop("_offer_code")
        if code is not None:
            self._count_offer(request.unit_key, day, code)
        done = time.perf_counter()
        body["took_ms"] = round((done - started) * 1000, 3)
        if request.debug:
            body["explain"]["timings_ms"] = {
                "fetch": round((fetched - started) * 1000, 3),
                "decide": round((done - fetched) * 1000, 3),
            }
        return body


def decide_from_snapshot(
    engine: Engine,
    request: DecideRequest,
    snapshot: Snapshot,
    now: datetime,
    failure: str | None = None,
    forced_arms: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The decision given what the store answered; pure apart from the decision id."""
    content = engine.content
    model = engine.model
    catalog = model.catalog
    allowed = consented(request, snapshot.profile)
    profile = snapshot.profile if allowed else None
    session = request.session if request.consent is not False else type(request.session)()
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
        },
        forced_arms,
    )
    params = engine.params
    overrides = Overrides()
    for arm in assignment.arms:
        if arm.ranking:
            params = params.with_overrides(arm.ranking)
        texts = arm.content.get(lang) or {}
        overrides = Overrides(
            variant=arm.variant or overrides.variant,
            greeting={lang: texts["greeting"]} if "greeting" in texts else overrides.greeting,
            cta_text={lang: texts["cta_text"]} if "cta_text" in texts else overrides.cta_text,
        )
    local_now = now.astimezone(local_zone(request, country))
    exclude = catalog.rows(request.exclude)
    if assignment.holdout or request.consent is False:
        signals = Signals(country=country, exclude=exclude)
    else:
        signals = Signals(
            viewed=catalog.rows(session.viewed),
            cart=catalog.rows(session.cart),
            purchased=catalog.rows(profile.purchased) if profile else (),
            wishlist=catalog.rows(profile.wishlist) if profile else (),
            preferred_categories=[
                catalog.category_code_of[c]
                for c in (profile.preferred_categories if profile else ())
                if c in catalog.category_code_of
            ],
            user_vector=snapshot.vector if profile is not None else None,
            country=country,
            exclude=exclude,
        )
    ranked = recommend(model, signals, request.limit, params)
    if assignment.holdout:
        page = content_mod.default_page(content, lang, local_now)
    else:
        visitor = Visitor(
            segment=segment,
            tier=tier,
            first_name=profile.first_name if profile else None,
            points=profile.points if profile else None,
            birthday=profile.birthday if profile else None,
            joined_at=profile.joined_at if profile else None,
            campaign=session.utm.campaign if segment == "campaign" else None,
        )
        page = content_mod.choose(content, visitor, lang, local_now, now, snapshot.offers_shown, overrides)
    personalized = (
        not assignment.holdout and request.consent is not False and (profile is not None or not session.empty)
    )
    item_json = catalog.item_json
    body: dict[str, Any] = {
        "decision_id": new_decision_id(),
        "segment": segment,
        "tier": tier,
        "personalized": personalized,
        "degraded": failure is not None,
        "variant": {"id": page.variant},
        "greeting": page.greeting,
        "cta": page.cta,
        "products": [{**item_json[r.row], "score": r.score, "reason": r.reason} for r in ranked],
        "experiments": assignment.to_json(),
        "ttl_s": engine.ttl_s,
        "took_ms": 0.0,
        "_offer_code": page.offer_code,
    }
    if request.debug:
        body["explain"] = {
            "segment_rule": rule,
            "consent": allowed if request.consent is None else request.consent,
            "profile": "used" if profile else ("ignored (no consent)" if snapshot.profile else "none"),
            "store": failure or "ok",
            "language": lang,
            "local_time": local_now.isoformat(),
            "occasion": page.occasion,
            "holdout": assignment.holdout,
            "model_version": model.version,
            "content_version": content.version,
            "experiments_version": engine.experiments.version,
            "ranking": {"strategy": params.strategy, "max_category_share": round(params.max_category_share, 4)},
            "signals": {
                "viewed": len(signals.viewed),
                "cart": len(signals.cart),
                "purchased": len(signals.purchased),
                "wishlist": len(signals.wishlist),
                "vector": signals.user_vector is not None,
            },
            "scores": [{"id": item_json[r.row]["id"], "score": r.score, "reason": r.reason} for r in ranked],
        }
    return body
