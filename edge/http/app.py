"""App: the HTTP shell. Routes parse and render; decisions happen in `edge.core.decide`.

`create_app(settings)` is the factory (`uvicorn --factory edge.http.app:create_app`); the runtime
(artifacts, store, content, experiments) opens in the lifespan and lives in its state.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from edge import __version__, counters
from edge.core.answers import Readiness, ReadinessChecks, Reloaded, Status
from edge.core.profiles import parse_profile, profile_json
from edge.core.reports import load_experiment_report, load_personalization_report, parse_query
from edge.core.requests import decode_decide
from edge.core.shapes import EventsAccepted, error_body, parse_stamp
from edge.core.validation import identifier
from edge.errors import (
    ConfigError,
    EdgeError,
    MalformedJSON,
    NotFound,
    PayloadTooLarge,
    RequestError,
    StoreUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from edge.events import idempotency_key, ingest, parse_events, policy_for, with_activities
from edge.http import demo, loyalty_api
from edge.http.auth import NO_KEYS_WARNING, Guard, guard_for, parse_origins, refuse_named_user
from edge.http.openapi import openapi_document
from edge.http.report_html import render as render_reports
from edge.runtime import Runtime
from edge.settings import Settings
from edge.store import tombstones
from edge.store.dedup import fingerprint

log = logging.getLogger("edge")
JSON_TYPE = "application/json"
FORCE_ARM_HEADER = "x-edge-force-arm"


def json_response(body: Any, status: int = 200) -> Response:
    """`body` as JSON: a declared answer (a msgspec Struct) encoded by msgspec, a plain dict by orjson."""
    raw = msgspec.json.encode(body) if isinstance(body, msgspec.Struct) else orjson.dumps(body)
    return Response(raw, status_code=status, media_type=JSON_TYPE)


PRIVATE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}  # answers about one person


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.state.runtime
    return runtime


async def read_body(request: Request, limit: int) -> bytes:
    """The body bytes: 415 for another content type than JSON, 413 over `limit` bytes."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != JSON_TYPE:
        raise UnsupportedMediaType(f"content type must be {JSON_TYPE}", "content-type")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body is over the {limit}-byte limit")
            chunks.append(chunk)
    except ClientDisconnect as exc:  # gone, or closed by the read timeout (edge/http/limits.py): nothing to answer
        raise RequestError("the client closed the connection before the body arrived") from exc
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON: 415 for another content type, 413 over `limit` bytes, 400 if malformed."""
    raw = await read_body(request, limit)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from exc


def require_admin(request: Request) -> None:
    """401 unless the request carries the configured admin bearer token."""
    token = runtime_of(request).settings.admin_token
    if token is None:
        raise Unauthorized("admin API is disabled: set EDGE_ADMIN_TOKEN to enable it")
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise Unauthorized("missing or invalid admin token (Authorization: Bearer <EDGE_ADMIN_TOKEN>)")


def guard_of(request: Request) -> Guard:
    settings = runtime_of(request).settings
    return guard_for(settings.api_keys, settings.admin_token, settings.cors_origins)


def forced_arms(request: Request) -> dict[str, str] | None:
    """QA override `X-Edge-Force-Arm: exp=arm[,exp=arm]`, honoured only with the admin token."""
    header = request.headers.get(FORCE_ARM_HEADER)
    if not header:
        return None
    require_admin(request)
    pairs = [part.split("=", 1) for part in header.split(",") if "=" in part]
    return {key.strip(): arm.strip() for key, arm in pairs}


async def decide(request: Request) -> Response:
    runtime = runtime_of(request)
    caller = guard_of(request).check(request, "decide")
    decision_request = decode_decide(await read_body(request, runtime.settings.max_body_bytes))
    refuse_named_user(caller, [decision_request.user_id])
    if decision_request.debug and not caller.admin:  # debug is the admin's: ignored for anyone else
        decision_request = msgspec.structs.replace(decision_request, debug=False)
    result = await runtime.decider.decide(runtime.engine, decision_request, forced_arms(request))
    runtime.metrics.decision(result["segment"], result["personalized"], result["degraded"], result["took_ms"])
    offer = (result.get("cta") or {}).get("offer")
    if offer:
        runtime.metrics.offers[offer["code"]] += 1
    return json_response(result)


async def events(request: Request) -> Response:
    """202 once every event is stored (stream and state, atomically); 503 with nothing stored otherwise."""
    runtime = runtime_of(request)
    settings = runtime.settings
    caller = guard_of(request).check(request, "events")
    body = await read_json(request, settings.events_max_body_bytes)
    key = idempotency_key(request.headers.get("idempotency-key"))
    batch = parse_events(body, datetime.now(UTC))
    refuse_named_user(caller, [event.user_id for event in batch])
    policy = policy_for(settings, runtime.build_path)
    activities = tuple(sorted((k, a.points, a.per) for k, a in runtime.engine.content.activities.items()))
    policy = with_activities(policy, activities)  # review points per the content file
    await ingest(runtime.store, batch, policy, key, settings.events_timeout_ms / 1000.0, fingerprint(body))
    return json_response(EventsAccepted(accepted=len(batch)), 202)


async def profile(request: Request) -> Response:
    """GET, PUT or DELETE one profile (one route, so a 405 lists every method in `Allow`)."""
    handlers = {"GET": get_profile, "HEAD": get_profile, "PUT": put_profile, "DELETE": delete_profile,
                "PATCH": loyalty_api.patch_profile}  # fmt: skip
    return await handlers[request.method](request)


async def get_profile(request: Request) -> Response:
    require_admin(request)
    user_id = identifier(request.path_params["user_id"], "user_id")
    found = await runtime_of(request).store.get_profile(user_id)
    if found is None:
        raise NotFound(f"no profile for user {user_id}", "user_id")
    response = json_response(profile_json(found[0]))
    response.headers.update(PRIVATE)
    return response


async def put_profile(request: Request) -> Response:
    require_admin(request)
    runtime = runtime_of(request)
    user_id = identifier(request.path_params["user_id"], "user_id")
    profile = parse_profile(user_id, await read_json(request, runtime.settings.max_body_bytes))
    await runtime.store.put_profile(profile)
    response = json_response(profile_json(profile))
    response.headers.update(PRIVATE)
    return response


async def delete_profile(request: Request) -> Response:
    require_admin(request)
    runtime = runtime_of(request)
    user_id = identifier(request.path_params["user_id"], "user_id")
    await runtime.decider.drain()  # writes of this worker's earlier decisions land before the erasure
    await runtime.store.delete_user(user_id)
    runtime.engine.model.derived.forget(user_id)  # nothing derived from the profile stays in memory
    await asyncio.to_thread(record_erasure, runtime.settings, user_id)
    return Response(status_code=204)


def record_erasure(settings: Settings, user_id: str) -> None:
    """The tombstone in the artifacts folder: required on the embedded store, best effort beside Redis."""
    erased = tombstones.digest(user_id)
    try:
        tombstones.add(settings.artifacts, [erased])
        tombstones.scrub(settings.artifacts, frozenset([erased]))  # no build on disk keeps the profile
    except OSError as exc:
        if settings.redis_url is None:
            raise StoreUnavailable(f"could not record the erasure in {settings.artifacts}: {exc.strerror}") from exc
        log.warning("erasure tombstone not written to %s (%s); Redis holds it", settings.artifacts, exc.strerror)


async def healthz(request: Request) -> Response:
    return json_response(Status(status="ok"))


async def readyz(request: Request) -> Response:
    """Ready when the index is loaded, the build consistent and the store answers; names what is live."""
    runtime = runtime_of(request)
    engine = runtime.engine
    problem = runtime.consistency()
    checks = ReadinessChecks(index=engine.model.index.size > 0, build=problem is None, store=await runtime.store.ping())
    ready = checks.index and checks.build and checks.store
    body = Readiness(
        status="ready" if ready else "not ready",
        checks=checks,
        build=engine.model.version,
        content=engine.content.version,
        experiments=engine.experiments.version,
        data_end=parse_stamp(runtime.data_end),
        problem=msgspec.UNSET if problem is None else problem,
        last_reload=msgspec.UNSET if runtime.last_reload is None else runtime.last_reload,
        warnings=[NO_KEYS_WARNING] if guard_of(request).open else msgspec.UNSET,
    )
    return json_response(body, 200 if ready else 503)


async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    engine = runtime.engine
    info = {
        "version": __version__,
        "model": engine.model.version,
        "content": engine.content.version,
        "experiments": engine.experiments.version,
    }
    text = runtime.metrics.render(info) + counters.render(runtime)
    return Response(text, media_type="text/plain; version=0.0.4")


async def openapi(request: Request) -> Response:
    return json_response(openapi_document(__version__))


async def experiments(request: Request) -> Response:
    require_admin(request)
    return json_response(runtime_of(request).engine.experiments.listing())


async def reload(request: Request) -> Response:
    require_admin(request)
    runtime = runtime_of(request)
    try:
        engine = await runtime.reload()
    except ConfigError as exc:  # logged and counted by the runtime
        raise ValidationFailed(f"reload refused, old config kept: {exc.message}", exc.field) from exc
    return json_response(
        Reloaded(
            status="reloaded",
            model=engine.model.version,
            content=engine.content.version,
            experiments=engine.experiments.version,
        )
    )


# --- reports (edge/core/reports.py) --------------------------------------------------------------------


async def experiment_report(request: Request) -> Response:
    require_admin(request)
    runtime = runtime_of(request)
    key = identifier(request.path_params["key"], "key")
    query = parse_query(request.query_params)
    return json_response(await load_experiment_report(runtime.store, runtime.engine.experiments, key, query))


async def personalization_report(request: Request) -> Response:
    require_admin(request)
    runtime = runtime_of(request)
    query = parse_query(request.query_params)
    await runtime.decider.flush_shown()  # this worker's batched impressions land first
    return json_response(await load_personalization_report(runtime.store, runtime.engine.experiments, query))


async def reports_page(request: Request) -> Response:
    """The HTML report; the admin token as a bearer header or, for a browser, `?token=`."""
    token = request.query_params.get("token")
    configured = runtime_of(request).settings.admin_token
    if token is None or configured is None or not hmac.compare_digest(token.encode(), configured.encode()):
        require_admin(request)
    runtime = runtime_of(request)
    config = runtime.engine.experiments
    query = parse_query(request.query_params)
    await runtime.decider.flush_shown()
    experiments = [await load_experiment_report(runtime.store, config, e.key, query) for e in config.experiments]
    personalization = await load_personalization_report(runtime.store, config, query)
    html = render_reports(experiments, personalization)
    return Response(html, media_type="text/html; charset=utf-8", headers={"cache-control": "no-store"})


def count_error(request: Request, code: str, status: int) -> None:
    """Every error answer, 4xx and 5xx, lands in `edge_errors_total`."""
    runtime = request.scope.get("state", {}).get("runtime")
    if runtime is not None:
        runtime.metrics.error(code, status)


async def edge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EdgeError)
    count_error(request, exc.code, exc.status)
    return json_response(error_body(exc.code, exc.message, exc.field), exc.status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    count_error(request, code, exc.status_code)
    response = json_response(error_body(code, str(exc.detail)), exc.status_code)
    response.headers.update(exc.headers or {})  # e.g. Allow on a 405
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    count_error(request, "internal_error", 500)
    return json_response(error_body("internal_error", "internal error"), 500)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Starlette:
    """The Edge ASGI app; settings default to the `EDGE_*` environment.

    `runtime`, when given (`edge serve` with one worker), is the one already opened, so the
    artifacts are loaded once; otherwise the lifespan opens it.
    """
    settings = settings or (runtime.settings if runtime is not None else Settings.from_env())
    opened = [runtime] if runtime is not None else []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        runtime = opened.pop() if opened else Runtime.open(settings)
        if guard_for(settings.api_keys, settings.admin_token, settings.cors_origins).open:
            log.warning("%s; set it before exposing Edge beyond the storefront's servers", NO_KEYS_WARNING)
        await runtime.store.ping()  # learn a cluster's topology and open connections before traffic (False is fine)
        watcher = asyncio.create_task(runtime.watch(settings.watch_s)) if settings.watch_s > 0 else None
        try:
            yield {"runtime": runtime}
        finally:
            if watcher is not None:
                watcher.cancel()
            await runtime.close()

    routes = [
        Route("/v1/decide", decide, methods=["POST"]),
        Route("/v1/events", events, methods=["POST"]),
        Route("/v1/profiles/{user_id}", profile, methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route("/v1/profiles/{user_id}/preferences", loyalty_api.preferences, methods=["POST"]),
        Route("/v1/offers/verify/{code}", loyalty_api.verify_offer, methods=["GET"]),
        Route("/v1/experiments", experiments, methods=["GET"]),
        Route("/v1/admin/reload", reload, methods=["POST"]),
        Route("/v1/reports/experiments/{key}", experiment_report, methods=["GET"]),
        Route("/v1/reports/personalization", personalization_report, methods=["GET"]),
        Route("/reports", reports_page, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *demo.routes(),  # the demo storefront (edge/http/demo.py)
    ]
    origins = parse_origins(settings.cors_origins)
    cors = Middleware(CORSMiddleware, allow_origins=origins, allow_methods=["POST"], allow_headers=["content-type"])
    return Starlette(
        routes=routes,
        middleware=[cors] if origins else [],
        lifespan=lifespan,
        exception_handlers={EdgeError: edge_error, HTTPException: http_error, Exception: server_error},
    )
