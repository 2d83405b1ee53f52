"""Demo storefront at `/demo`: a small shop (static HTML/CSS/JS in `edge/http/static/demo`) on the real API.

The page itself calls the public `/v1/decide` and `/v1/events`, exactly as a storefront would. Two
demo-only endpoints help it, and exist only while the demo is on (`EDGE_DEMO`; by default with the
embedded store, never silently in a Redis deployment):

- `GET /demo/personas.json`: one real customer of the loaded build per segment, picked by the
  service's own segment rules, and the `now` the demo should send (the data's end when the build's
  data is old, so a 2011 data set still shows active customers).
- `POST /demo/explain`: the same decide body, decided in-process with `explain` and without side
  effects (a read of the store, no offer counter, no exposure), for the page's "why" panel. The
  public API's `debug` flag is not needed for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from edge.core.answers import Persona, Personas
from edge.core.decide import decide_from_snapshot
from edge.core.profiles import Profile
from edge.core.requests import SessionSignals, decode_decide
from edge.core.segments import SegmentRules, assign_segment
from edge.core.shapes import SegmentName, TierName, Utm
from edge.core.snapshot import EMPTY
from edge.errors import DependencyError, NotFound
from edge.runtime import STALE_DATA, Runtime
from edge.store.base import profiles_from_records

STATIC = Path(__file__).parent / "static" / "demo"
CAMPAIGN_UTM = {"source": "newsletter", "medium": "email", "campaign": "xmas"}
PROFILE_SEGMENTS = ("new_member", "active", "ambassador", "at_risk", "lapsed", "lost")
SCAN_LIMIT = 20_000  # profiles looked at for personas (enough for every segment of a real shop)


def demo_now(data_end: str | None, clock: datetime) -> datetime | None:
    """The `now` the demo sends: the data's end when the build is older than the clock by a lot, else None."""
    if not data_end:
        return None
    end = datetime.fromisoformat(data_end.replace("Z", "+00:00"))
    return end if clock - end > STALE_DATA else None


def _score(profile: Profile) -> tuple[int, int, str]:
    """Prefer customers who show well: a first name, a consent not refused, some history."""
    named = 0 if profile.first_name else 1
    refused = 1 if profile.consent_personalization is False else 0
    return (named + refused, -min(profile.orders, 20), profile.user_id)


def pick_personas(profiles: Iterable[Profile], rules: SegmentRules, now: datetime) -> list[Persona]:
    """One persona per segment (real customers where a profile is needed) and a consent-off visitor."""
    best: dict[str, Profile] = {}
    for n, profile in enumerate(profiles):
        if n >= SCAN_LIMIT:
            break
        segment, _ = assign_segment(profile, SessionSignals(), now, rules)
        if segment in PROFILE_SEGMENTS and (segment not in best or _score(profile) < _score(best[segment])):
            best[segment] = profile
    personas = [
        _persona("new_visitor", "New visitor", "new_visitor"),
        _persona("campaign", "Campaign arrival (UTM link)", "campaign", utm=Utm(**CAMPAIGN_UTM)),
    ]
    labels = {
        "new_member": "New member",
        "active": "Active customer",
        "ambassador": "Ambassador",
        "at_risk": "At risk",
        "lapsed": "Lapsed",
        "lost": "Lost",
    }
    for key in PROFILE_SEGMENTS:
        found = best.get(key)
        personas.append(
            _persona(
                key,
                labels[key],
                key,
                user_id=found.user_id if found else None,
                first_name=found.first_name if found else None,
                tier=found.tier if found else None,
            )
        )
    known = best.get("ambassador") or best.get("active")
    if known is not None:  # someone the shop knows well, who said no to personalization
        personas.append(_persona("consent_off", "Consent off", "new_visitor", user_id=known.user_id, consent=False))
    return personas


def _persona(
    key: str,
    label: str,
    segment: str,
    *,
    user_id: str | None = None,
    first_name: str | None = None,
    tier: str | None = None,
    utm: Utm | None = None,
    consent: bool | None = None,
) -> Persona:
    """A persona with every field written out (null when unknown), as the page reads it."""
    return Persona(
        key=key, label=label, segment=SegmentName(segment), user_id=user_id, first_name=first_name,
        tier=None if tier is None else TierName(tier), utm=utm, consent=consent,
    )  # fmt: skip


def personas_document(runtime: Runtime, clock: datetime | None = None) -> Personas:
    """What `/demo/personas.json` answers for the loaded build."""
    now = demo_now(runtime.data_end, clock or datetime.now(UTC))
    rules = runtime.engine.content.rules.segments
    profiles = profiles_from_records(runtime.profiles[:SCAN_LIMIT])
    personas = pick_personas(profiles, rules, now or datetime.now(UTC))
    return Personas(build=runtime.engine.model.version, now=now, personas=personas)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.state.runtime
    if not runtime.settings.demo_enabled:
        raise NotFound("the demo is off (EDGE_DEMO)", "path")
    return runtime


async def page(request: Request) -> Response:
    _runtime(request)
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


async def personas(request: Request) -> Response:
    runtime = _runtime(request)
    key = (runtime.engine.model.version, runtime.engine.content.version)
    cached = runtime.demo_cache.get(key)
    if cached is None:
        cached = msgspec.json.encode(await asyncio.to_thread(personas_document, runtime))
        runtime.demo_cache.clear()
        runtime.demo_cache[key] = cached
    return Response(cached, media_type="application/json")


async def explain(request: Request) -> Response:
    """The decision for this body with `explain`, read-only: nothing is counted or logged as exposure."""
    from edge.http.app import read_body  # the API's own body rules (415, 413, 400); app mounts this module

    runtime = _runtime(request)
    decision_request = msgspec.structs.replace(
        decode_decide(await read_body(request, runtime.settings.max_body_bytes)), debug=True
    )
    now = decision_request.now or datetime.now(UTC)
    snapshot, failure = EMPTY, None
    if decision_request.consent is not False:
        try:
            async with asyncio.timeout(runtime.decider.deadline_s):
                snapshot = await runtime.store.fetch(
                    decision_request.user_id, decision_request.session_id, now.strftime("%Y%m%d")
                )
        except TimeoutError:
            failure = "store timeout"
        except DependencyError as exc:
            failure = exc.message
    decided = decide_from_snapshot(runtime.engine, decision_request, snapshot, now, failure)
    return Response(orjson.dumps(decided.body), media_type="application/json")


class DemoFiles:
    """The page's static files, served only while the demo is on."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = scope.get("state", {}).get("runtime")
        if runtime is not None and not runtime.settings.demo_enabled:
            raise NotFound("the demo is off (EDGE_DEMO)", "path")
        await self.files(scope, receive, send)


def routes() -> Sequence[BaseRoute]:
    """The demo's routes (mounted by `edge.http.app.create_app`); each answers 404 while the demo is off."""
    return [
        Route("/demo", page, methods=["GET"]),
        Route("/demo/", page, methods=["GET"]),
        Route("/demo/personas.json", personas, methods=["GET"]),
        Route("/demo/explain", explain, methods=["POST"]),
        Mount("/demo/static", app=DemoFiles(), name="demo-static"),
    ]
