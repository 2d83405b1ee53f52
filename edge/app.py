"""App: the HTTP shell. Routes parse and render; decisions happen in `edge.decide`.

`create_app(settings)` is the factory (`uvicorn --factory edge.app:create_app`); the runtime
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

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge import __version__
from edge.errors import (
    ConfigError,
    EdgeError,
    MalformedJSON,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from edge.events import idempotency_key, ingest, parse_events, policy_for
from edge.openapi import openapi_document
from edge.profiles import parse_profile, profile_json
from edge.report_html import render as render_reports
from edge.reports import load_experiment_report, load_personalization_report, parse_query
from edge.requests import parse_decide
from edge.runtime import Runtime
from edge.settings import Settings
from edge.validation import identifier

log = logging.getLogger("edge")
JSON_TYPE = "application/json"
FORCE_ARM_HEADER = "x-edge-force-arm"


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_TYPE)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.state.runtime
    return runtime


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON: 415 for another content type, 413 over `limit` bytes, 400 if malformed."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != JSON_TYPE:
        raise UnsupportedMediaType(f"content type must be {JSON_TYPE}", "content-type")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
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
    body = await read_json(request, runtime.settings.max_body_bytes)
    decision_request = parse_decide(body)
    result = await runtime.decider.decide(runtime.engine, decision_request, forced_arms(request))
    runtime.metrics.decision(result["segment"], result["personalized"], result["degraded"], result["took_ms"])
    return json_response(result)


async def events(request: Request) -> Response:
    """202 once every event is stored (stream and state, atomically); 503 with nothing stored otherwise."""
    runtime = runtime_of(request)
    settings = runtime.settings
    body = await read_json(request, settings.events_max_body_bytes)
    key = idempotency_key(request.headers.get("idempotency-key"))
    batch = parse_events(body, datetime.now(UTC))
    policy = policy_for(settings, runtime.engine.model.path)
    await ingest(runtime.store, batch, policy, key, settings.events_timeout_ms / 1000.0)
    return json_response({"accepted": len(batch)}, 202)


async def profile(request: Request) -> Response:
    """GET, PUT or DELETE one profile (one route, so a 405 lists every method in `Allow`)."""
    handlers = {"GET": get_profile, "HEAD": get_profile, "PUT": put_profile, "DELETE": delete_profile}
    return await handlers[request.method](request)


async def get_profile(request: Request) -> Response:
    require_admin(request)
    user_id = identifier(request.path_params["user_id"], "user_id")
    found = await runtime_of(request).store.get_profile(user_id)
    if found is None:
        raise NotFound(f"no profile for user {user_id}", "user_id")
    return json_response(profile_json(found[0]))


async def put_profile(request: Request) -> Response:
    require_admin(request)
    runtime = runtime_of(request)
    user_id = identifier(request.path_params["user_id"], "user_id")
    profile = parse_profile(user_id, await read_json(request, runtime.settings.max_body_bytes))
    await runtime.store.put_profile(profile)
    return json_response(profile_json(profile))


async def delete_profile(request: Request) -> Response:
    require_admin(request)
    runtime = runtime_of(request)
    user_id = identifier(request.path_params["user_id"], "user_id")
    await runtime.decider.drain()  # writes of this worker's earlier decisions land before the erasure
    await runtime.store.delete_user(user_id)
    return Response(status_code=204)


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime = runtime_of(request)
    checks = {"index": runtime.engine.model.index.size > 0, "store": await runtime.store.ping()}
    ready = all(checks.values())
    return json_response({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)


async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    engine = runtime.engine
    info = {
        "version": __version__,
        "model": engine.model.version,
        "content": engine.content.version,
        "experiments": engine.experiments.version,
    }
    return Response(runtime.metrics.render(info), media_type="text/plain; version=0.0.4")


async def openapi(request: Request) -> Response:
    return json_response(openapi_document(__version__))


async def experiments(request: Request) -> Response:
    require_admin(request)
    return json_response(runtime_of(request).engine.experiments.to_json())


async def reload(request: Request) -> Response:
    require_admin(request)
    runtime = runtime_of(request)
    try:
        engine = await runtime.reload()
    except ConfigError as exc:
        log.warning("reload refused, old config kept: %s", exc.message)
        raise ValidationFailed(f"reload refused, old config kept: {exc.message}", exc.field) from exc
    return json_response(
        {
            "status": "reloaded",
            "model": engine.model.version,
            "content": engine.content.version,
            "experiments": engine.experiments.version,
        }
    )


# --- reports (edge/reports.py) --------------------------------------------------------------------


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


async def edge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EdgeError)
    runtime = request.scope.get("state", {}).get("runtime")
    if runtime is not None:
        runtime.metrics.error(exc.code, exc.status)
    return json_response(exc.to_json(), exc.status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = json_response({"error": {"code": code, "message": str(exc.detail)}}, exc.status_code)
    response.headers.update(exc.headers or {})  # e.g. Allow on a 405
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return json_response({"error": {"code": "internal_error", "message": "internal error"}}, 500)


def create_app(settings: Settings | None = None) -> Starlette:
    """The Edge ASGI app; settings default to the `EDGE_*` environment."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        runtime = Runtime.open(settings)
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
        Route("/v1/profiles/{user_id}", profile, methods=["GET", "PUT", "DELETE"]),
        Route("/v1/experiments", experiments, methods=["GET"]),
        Route("/v1/admin/reload", reload, methods=["POST"]),
        Route("/v1/reports/experiments/{key}", experiment_report, methods=["GET"]),
        Route("/v1/reports/personalization", personalization_report, methods=["GET"]),
        Route("/reports", reports_page, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={EdgeError: edge_error, HTTPException: http_error, Exception: server_error},
    )
