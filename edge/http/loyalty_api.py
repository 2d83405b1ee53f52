"""Loyalty HTTP handlers: quiz answers (`POST /v1/profiles/{user_id}/preferences`), partial profile
updates (`PATCH /v1/profiles/{user_id}`) and offer code checks (`GET /v1/offers/verify/{code}`).

Who may call them is decided in one place, `authorize`: the admin token, or a storefront's API key
whose scopes include `preferences` (quiz answers) or `offers` (code checks); without any API key
configured only the admin token may call them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from edge.core import validation as v
from edge.core.ledger import bonus
from edge.core.offers import verify
from edge.core.profiles import parse_profile, profile_json
from edge.core.shapes import Preferences, PreferencesRecorded, decode
from edge.core.writes import Group, Op, user_unit
from edge.errors import NotFound, Unauthorized, ValidationFailed

QUESTIONS = Preferences.__struct_fields__
# the document fields a PATCH may merge one level deep
NESTED = ("consent", "preferences")


def authorize(request: Request, scope: str) -> None:
    """401/403 unless the caller is the admin or holds an API key with `scope` (edge.http.auth)."""
    from edge.http.app import guard_of, require_admin  # the HTTP shell owns the credentials

    guard = guard_of(request)
    if guard.open:  # no storefront key configured: profiles are the admin's alone
        require_admin(request)
        return
    if guard.check(request, scope).anonymous_only:
        raise Unauthorized(f"{scope} needs an API key or the admin token")


def _runtime(request: Request) -> Any:
    return request.state.runtime


def _json(body: Any) -> Response:
    from edge.http.app import json_response  # the HTTP shell's one encoder of answers

    return json_response(body)


async def preferences(request: Request) -> Response:
    """Record quiz answers (a partial update) and credit the quiz's bonus points once."""
    from edge.http.app import read_body

    authorize(request, "preferences")
    runtime = _runtime(request)
    user_id = v.identifier(request.path_params["user_id"], "user_id")
    answers = decode(await read_body(request, runtime.settings.max_body_bytes), Preferences).answers()
    if not answers:
        raise ValidationFailed(f"send at least one of {', '.join(QUESTIONS)}", "body")
    now = datetime.now(UTC)
    marker = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + os.urandom(3).hex()  # this call's own: tells if it credited
    quiz = runtime.engine.content.activities.get("quiz")
    ops = [
        Op("S", "profile", (f"e:pref:{name}", orjson.dumps(list(values)).decode())) for name, values in answers.items()
    ]
    if quiz is not None and quiz.points > 0:
        ops.append(bonus("e:quiz_at", now, quiz.points, marker))
    else:
        ops.append(Op("SNX", "profile", ("e:quiz_at", marker)))
    await runtime.store.apply((Group(user_unit(user_id), tuple(ops)),))
    credited = (await runtime.store.read_hash(user_unit(user_id), "profile")).get("e:quiz_at") == marker
    found = await runtime.store.get_profile(user_id)
    profile = found[0] if found else None
    return _json(
        PreferencesRecorded(
            user_id=user_id,
            preferences=Preferences(
                categories=tuple(profile.preferred_categories) if profile else (),
                shops_for=tuple(profile.shops_for) if profile else (),
                style=tuple(profile.style) if profile else (),
            ),
            bonus_points=quiz.points if credited and quiz is not None else 0,
            points=profile.points if profile else 0,
        )
    )


async def patch_profile(request: Request) -> Response:
    """Merge the given fields into the stored document; what events added (points, orders, ledger) stays."""
    from edge.http.app import read_json, require_admin

    require_admin(request)  # an admin edit, like PUT
    runtime = _runtime(request)
    user_id = v.identifier(request.path_params["user_id"], "user_id")
    changes = v.obj(await read_json(request, runtime.settings.max_body_bytes), "body")
    document = await runtime.store.get_document(user_id)
    merged = profile_json(document) if document is not None else {}
    for name, value in changes.items():
        if name in NESTED and isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    await runtime.store.put_document(parse_profile(user_id, merged))
    found = await runtime.store.get_profile(user_id)
    if found is None:
        raise NotFound(f"no profile for user {user_id}", "user_id")
    return _json(profile_json(found[0]))


async def verify_offer(request: Request) -> Response:
    """Whether a per-person code is valid for this customer now (the checkout asks before applying it)."""
    authorize(request, "offers")
    runtime = _runtime(request)
    code = v.identifier(request.path_params["code"], "code")
    user_id = v.identifier(request.query_params.get("user_id"), "user_id")
    fields = await runtime.store.read_hash(user_unit(user_id), "profile")
    verdict = verify(runtime.engine.content, runtime.settings.offer_secret, code, user_id, datetime.now(UTC), fields)
    return _json(verdict.answer(code, user_id))
