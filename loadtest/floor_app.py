"""The floor for `bench_http.py`: what any Redis-backed decision costs in this stack before it decides anything.

    EDGE_REDIS_URL=redis://127.0.0.1:6379/0 EDGE_REDIS_PREFIX=edge-bench BARE_BODY_BYTES=2400 \
        .venv/bin/uvicorn --app-dir loadtest floor_app:app --port 8002 --loop uvloop --http httptools \
        --workers 1 --no-access-log

`POST /v1/decide` does the I/O a decision cannot do without, with Edge's own code: it decodes and
checks the body (`decode_decide`: msgspec into the request Struct), then makes the decision's one
Redis round trip (`RedisStore.fetch`: profile, session and today's offer counters, over the lean
connection, the profile parsed through the near cache), and answers a prepared body of about
BARE_BODY_BYTES bytes, as `bare_app.py` does. Nothing is decided: no segment, experiment, ranking,
content or attribution. Served like `edge serve` (uvicorn, uvloop, httptools, one worker, no access
log), so `bench_http.py` can say how much of a decision's cost the stack's floor already is: the
floor's own ratio to the bare endpoint is the best any decision logic could reach on this store.
FLOOR_READ=0 leaves the Redis read out (the body decoded and checked only): `bench_http.py
--baselines bare,decode,floor` serves it as `decode`, which splits the floor into its two parts.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge.core.requests import decode_decide
from edge.errors import DependencyError
from edge.settings import Settings
from edge.store.redis_store import RedisStore

BODY_BYTES = int(os.environ.get("BARE_BODY_BYTES", "0"))
_SHAPE = len(orjson.dumps({"session_id": "", "segment": "new_visitor", "products": [], "pad": ""}))


SETTINGS = Settings.from_env()  # the `EDGE_*` settings `edge serve` reads: URL, key prefix, timeout, pool, deadline
if SETTINGS.redis_url is None:
    raise SystemExit("floor_app: set EDGE_REDIS_URL (the floor is the Redis-backed decision's)")
STORE = RedisStore.from_url(
    SETTINGS.redis_url, SETTINGS.redis_prefix, SETTINGS.redis_timeout_ms, SETTINGS.redis_pool_size
)
DEADLINE_S = SETTINGS.deadline_ms / 1000.0
READ = os.environ.get("FLOOR_READ", "1") != "0"


async def decide(request: Request) -> Response:
    decision_request = decode_decide(await request.body())
    now = decision_request.now or datetime.now(UTC)
    if READ and decision_request.consent is not False:  # as `Decider.decide`: no read at all without consent
        try:  # as `Decider._fetch`: a slow or failing store degrades the answer, never fails it
            async with asyncio.timeout(DEADLINE_S):
                await STORE.fetch(decision_request.user_id, decision_request.session_id, now.strftime("%Y%m%d"))
        except (TimeoutError, DependencyError):
            pass
    session_id = decision_request.session_id
    pad = "x" * max(0, BODY_BYTES - _SHAPE - len(session_id))
    answer = {"session_id": session_id, "segment": "new_visitor", "products": [], "pad": pad}
    return Response(orjson.dumps(answer), media_type="application/json")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/v1/decide", decide, methods=["POST"])])


app = create_app()
