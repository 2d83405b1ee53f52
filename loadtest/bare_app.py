"""The baseline for `bench_http.py`: a bare Starlette app with one JSON endpoint and nothing else.

    BARE_BODY_BYTES=2400 .venv/bin/uvicorn loadtest.bare_app:app --port 8001 --loop uvloop --http httptools \
        --workers 1 --no-access-log

`POST /v1/decide` reads the JSON body with orjson and answers a JSON body of about BARE_BODY_BYTES
bytes (the benchmark sets it to the mean size of Edge's answers for the mix, so both move the same
bytes) with orjson, served exactly the way `edge serve` serves Edge (uvicorn, uvloop, httptools,
one worker, no access log), so the ratio Edge/bare is the cost of Edge's own work: validation,
profile lookup, segment rules, experiments, retrieval, content and rendering.
"""

from __future__ import annotations

import os

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY_BYTES = int(os.environ.get("BARE_BODY_BYTES", "0"))
_SHAPE = len(orjson.dumps({"session_id": "", "segment": "new_visitor", "products": [], "pad": ""}))


async def decide(request: Request) -> Response:
    body = orjson.loads(await request.body())
    session_id = body.get("session_id")
    pad = "x" * max(0, BODY_BYTES - _SHAPE - len(str(session_id)))
    answer = {"session_id": session_id, "segment": "new_visitor", "products": [], "pad": pad}
    return Response(orjson.dumps(answer), media_type="application/json")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/v1/decide", decide, methods=["POST"])])


app = create_app()
