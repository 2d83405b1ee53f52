"""The decide body's validation: msgspec (edge/core/shapes.py) vs the hand-written checks it replaced vs pydantic v2.

    .venv/bin/python loadtest/bench_shapes.py

The hand-written checks are read from git (edge/requests.py and edge/validation.py at BEFORE, the
commit before the shapes), so the comparison runs on the same machine in the same process. Quote
the medians with the load average printed (the machine is shared).
"""

import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Annotated

import msgspec
import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from edge.core import shapes
from edge.core.requests import decode_decide
from edge.http import openapi

BEFORE = "402611b"
OLD = Path(tempfile.mkdtemp())
for name in ("requests", "validation"):
    shown = subprocess.run(["git", "show", f"{BEFORE}:edge/{name}.py"], capture_output=True, text=True, check=True)
    (OLD / f"old_{name}.py").write_text(
        shown.stdout.replace("from edge import validation as v", "import old_validation as v")
    )
sys.path.insert(0, str(OLD))
old_requests = importlib.import_module("old_requests")

BODY = openapi._DECIDE_REQUEST_EXAMPLE  # the documented decide body (docs/api.md), defined once
RAW = orjson.dumps(BODY)
ID = Field(pattern=shapes.ID_REGEX.replace("(?!\\n)", ""), min_length=1, max_length=128)
S = Annotated[str, Field(max_length=128)]


class M(BaseModel):
    model_config = ConfigDict(strict=False, frozen=True)


class PLoc(M):
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    region: Annotated[str, Field(max_length=64)] | None = None
    city: S | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None


class PCtx(M):
    device: Annotated[str, Field(max_length=32)] | None = None
    weather: Annotated[str, Field(max_length=32)] | None = None
    store_id: Annotated[str, Field(max_length=64)] | None = None
    product_id: S | None = None
    category: S | None = None
    query: Annotated[str, Field(max_length=256)] | None = None


class PUtm(M):
    source: S | None = None
    medium: S | None = None
    campaign: S | None = None


class PSession(M):
    viewed: Annotated[tuple[S, ...], Field(max_length=200)] | None = None
    cart: Annotated[tuple[S, ...], Field(max_length=200)] | None = None
    searches: Annotated[tuple[Annotated[str, Field(max_length=256)], ...], Field(max_length=200)] | None = None
    utm: PUtm | None = None
    referrer: Annotated[str, Field(max_length=2048)] | None = None
    first_visit: bool | None = None


class PConsent(M):
    personalization: bool | None = None


class PDecide(M):
    session_id: Annotated[str, ID]
    user_id: Annotated[str, ID] | None = None
    page: Annotated[str, Field(max_length=64)] = "home"
    limit: Annotated[int, Field(ge=1, le=100)] = 12
    locale: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")] | None = None
    location: PLoc | None = None
    context: PCtx | None = None
    session: PSession | None = None
    consent: PConsent | None = None
    exclude: Annotated[tuple[S, ...], Field(max_length=500)] | None = None
    now: AwareDatetime | None = None
    debug: bool = False


assert PDecide.model_validate_json(RAW).session_id == "s-8f2c01"
DEC = msgspec.json.Decoder(shapes.DecideRequest)
cases = {
    "hand-written: orjson.loads + parse_decide (before)": lambda: old_requests.parse_decide(orjson.loads(RAW)),
    "msgspec: decode bytes -> DecideRequest struct": lambda: DEC.decode(RAW),
    "msgspec: decode_decide (struct + post-decode -> core request) (after)": lambda: decode_decide(RAW),
    "pydantic v2: PDecide.model_validate_json": lambda: PDecide.model_validate_json(RAW),
}
N = 20000
res = {}
for name, fn in cases.items():
    runs = [min(timeit.repeat(fn, number=N, repeat=3)) / N * 1e6 for _ in range(5)]
    res[name] = statistics.median(runs)
base = res["hand-written: orjson.loads + parse_decide (before)"]
print(f"load average: {os.getloadavg()}")
for name, us in res.items():
    print(f"{us:8.2f} us/body  x{base / us:5.2f} vs hand-written   {name}")
