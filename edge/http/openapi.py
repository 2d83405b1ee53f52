"""The HTTP contract (docs/api.md) as an OpenAPI 3.1 document, served at `GET /openapi.json`.

Every schema is GENERATED from msgspec Structs (`msgspec.json.schema_components`): requests,
events, profiles, the decide answer and errors from edge/core/shapes.py (the classes the service
decodes bodies into), the report, operations and demo answers from edge/core/answers.py, the
experiments listing from edge/core/experiments.py, so code and document cannot disagree. This
module adds what cannot be generated: the paths with their examples, security and error
responses, the prose of field descriptions, and the `Event` union's name and its session-or-user
rule. Built once at import: `openapi_document(version)`
returns a fresh deep copy with `info.version` filled in. Schemas use JSON Schema 2020-12 (the
OpenAPI 3.1 dialect): nullability is `{"type": "null"}` in an `anyOf` (null means absent).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
import orjson

from edge.core import answers, experiments, shapes

JSON = dict[str, object]


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


_ID: Final[JSON] = msgspec.json.schema(shapes.Id)  # path and query parameters


_DECIDE_REQUEST_EXAMPLE: Final[JSON] = {
    "session_id": "s-8f2c01",
    "user_id": "17850",
    "page": "home",
    "limit": 12,
    "locale": "nl-NL",
    "location": {"country": "NL", "region": "NH", "city": "Amsterdam", "timezone": "Europe/Amsterdam"},
    "context": {"device": "mobile", "weather": "rain", "store_id": "ams-01"},
    "session": {
        "viewed": ["85123A", "71053"],
        "cart": ["84406B"],
        "searches": ["lantern"],
        "utm": {"source": "newsletter", "medium": "email", "campaign": "xmas"},
        "referrer": "https://www.google.com/",
        "first_visit": False,
    },
    "consent": {"personalization": True},
    "exclude": ["22423"],
    "now": "2011-11-02T09:30:00Z",
    "debug": False,
}

_DECIDE_RESPONSE_EXAMPLE: Final[JSON] = {
    "decision_id": "d-01HF...",
    "segment": "ambassador",
    "tier": "gold",
    "personalized": True,
    "degraded": False,
    "variant": {"id": "home-ambassador"},
    "greeting": {"text": "Welkom terug, Anna! Je hebt 1.250 punten.", "locale": "nl"},
    "cta": {
        "id": "ambassador-exclusive",
        "text": "...",
        "url": "/exclusive",
        "offer": {"discount_pct": 10, "code": "GOLD10", "expires_at": "2011-11-09T09:30:00Z"},
    },
    "products": [
        {
            "id": "85123A",
            "name": "WHITE HANGING HEART T-LIGHT HOLDER",
            "price": 2.55,
            "category": "candles",
            "score": 0.81,
            "reason": "similar_to_viewed",
        }
    ],
    "experiments": [{"key": "hero-test", "arm": "b", "bucket": 0.4121}],
    "ttl_s": 60,
    "took_ms": 1.7,
}

_EVENTS_REQUEST_EXAMPLE: Final[JSON] = {
    "events": [
        {
            "type": "view",
            "session_id": "s-8f2c01",
            "user_id": "17850",
            "product_id": "85123A",
            "ts": "2011-11-02T09:29:58Z",
        }
    ]
}

_PROFILE_EXAMPLE: Final[JSON] = {
    "first_name": "Anna",
    "locale": "nl-NL",
    "country": "NL",
    "tier": "gold",
    "points": 1250,
    "joined_at": "2010-12-01T08:26:00Z",
    "birthday": "1990-11-23",
    "last_purchase_at": "2011-10-20T10:00:00Z",
    "orders": 12,
    "spend": 3400.5,
    "complaints_90d": 0,
    "returns_90d": 0,
    "subscription": "active",
    "consent": {"personalization": True, "marketing": False},
    "preferences": {"categories": ["candles"], "shops_for": ["home"], "style": ["vintage"]},
    "purchased": ["85123A"],
    "wishlist": ["22727"],
}


# --- generated from edge/core/shapes.py and edge/core/answers.py ----------------------------------

_GENERATED: Final = (
    shapes.DecideRequest,
    shapes.DecideResponse,
    shapes.EventsRequest,
    shapes.EventsAccepted,
    shapes.Profile,
    shapes.Preferences,
    shapes.PreferencesRecorded,
    shapes.Error,
    answers.ExperimentReport,
    answers.PersonalizationReport,
    answers.OfferVerdict,
    answers.Status,
    answers.Readiness,
    answers.Reloaded,
    answers.Personas,
    experiments.ExperimentsListing,
)
_RENAMED: Final = {"SegmentName": "Segment", "TierName": "Tier", "ReasonName": "Reason", "HoldoutFile": "Holdout"}
_VOCABULARIES: Final = {"Segment": shapes.SEGMENTS, "Tier": shapes.TIERS, "Reason": shapes.REASONS}

# Prose of the fields (`Struct.field`; `EventShape.x` is every event's `x`): what the type cannot say.
_DESCRIPTIONS: Final[dict[str, str]] = {
    "Context.device": "Matched against the content file's boosts.device.",
    "Context.weather": "Matched against the content file's boosts.weather.",
    "Context.product_id": "Product page: the product shown (never listed).",
    "Context.category": "Category page: the category shown.",
    "Context.query": "Search page: the query.",
    "Session.viewed": "Product ids viewed, most recent last.",
    "Session.cart": "Product ids in the cart.",
    "Session.searches": "Search queries, most recent last; the last 3 shape the list.",
    "DecideRequest.user_id": "Same alphabet as session_id; absent for an anonymous visitor.",
    "DecideRequest.exclude": "Product ids never to return.",
    "DecideRequest.now": "RFC 3339, years 1970-2200. Defaults to the server clock; given, every time rule uses it.",
    "DecideRequest.debug": "Adds `explain` to the response (admin token only).",
    "Location.timezone": "IANA time zone name (post-decode: one the server's time zone database knows).",
    "Offer.expires_at": "End of this person's window (fixed, or valid_days from first shown; it never moves); "
    "null for a tier's standing discount.",
    "DecideResponse.degraded": "A dependency failed or was slow and a fallback was used.",
    "DecideResponse.explain": "Only with `debug: true`: rules matched, scores, timings.",
    "EventShape.id": "Client-generated; a repeated id is dropped (retries are safe).",
    "EventShape.ts": "RFC 3339, years 1970-2200; defaults to the server clock. Post-decode: at most a day ahead "
    "of the server clock (a 422 otherwise).",
    "EventShape.utm": "Optional: the landing's campaign; the first one a session sees is kept.",
    "EventShape.referrer": "Optional: the landing's referrer.",
    "EventShape.decision_id": "The decision the event follows from (attribution).",
    "EventShape.position": "click: 1-based slot.",
    "EventShape.offer_code": "purchase only: the offer code used (records the redemption); null elsewhere.",
    "Search.query": "Post-decode: not blank once trimmed.",
    "Activity.activity": "A name under the content file's `activities`.",
    "Click.product_id": "Absent: the page's CTA was clicked.",
    "Preferences.categories": "Favourite categories.",
    "Preferences.shops_for": "Quiz answer: who or what the customer shops for.",
    "Preferences.style": "Quiz answer: styles.",
    "ProfilePreferences.categories": "Stated favourite categories.",
    "ProfilePreferences.shops_for": "Who or what the customer shops for.",
    "ProfilePreferences.style": "Stated styles.",
    "Profile.purchased": "Product ids bought.",
    "Profile.wishlist": "Product ids wished for.",
    "Profile.ledger": "Signed spend/points entries; a replay at a past `now` takes later ones back out.",
    "Profile.complaints_at": "Expire by rules.at_risk_days.",
    "Profile.quiz_answered_at": "Read-only: set by the preferences call.",
    "Profile.user_id": "Read-only: the path's user_id.",
    "Profile.cart": "Read-only: the persistent cart, kept by add_to_cart / remove_from_cart events.",
    "PreferencesRecorded.bonus_points": "Credited by this call (0 on a repeat).",
    "ErrorDetail.field": "The field at fault, when there is one.",
}
_ERROR_EXAMPLE: Final[JSON] = {
    "error": {"code": "validation_failed", "message": "session.viewed[3]: expected `str`, got `int`",
              "field": "session.viewed[3]"}
}  # fmt: skip


def _renamed(node: Any) -> Any:
    """`node` with the components of `_RENAMED` referenced by their contract names."""
    if isinstance(node, dict):
        return {key: _renamed(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_renamed(value) for value in node]
    if isinstance(node, str) and node.startswith("#/components/schemas/"):
        name = node.rsplit("/", 1)[1]
        return f"#/components/schemas/{_RENAMED.get(name, name)}"
    return node


def _generated_schemas() -> dict[str, Any]:
    """The components of the shapes, named as in the contract, with prose and the event union."""
    _, found = msgspec.json.schema_components(_GENERATED, ref_template="#/components/schemas/{name}")
    schemas: dict[str, Any] = {_RENAMED.get(name, name): _renamed(schema) for name, schema in found.items()}
    for schema in schemas.values():
        schema.pop("title", None)
        if schema.get("required") == []:
            del schema["required"]
    for name, values in _VOCABULARIES.items():  # in the contract's order (msgspec sorts enum values)
        schemas[name] = {"type": "string", "enum": list(values), "description": schemas[name]["description"]}
    events = [shape.__name__ for shape in shapes.EVENT_SHAPES]
    for path, text in _DESCRIPTIONS.items():
        owner, field = path.split(".")
        for name in events if owner == "EventShape" else [owner]:
            schemas[name]["properties"][field]["description"] = text
    listed = schemas["EventsRequest"]["properties"]["events"]
    union = listed.pop("items")
    listed["items"] = _ref("Event")
    schemas["EventType"] = {"type": "string", "enum": list(shapes.EVENT_TYPES)}
    schemas["Event"] = {
        **union,
        "properties": {"type": _ref("EventType")},
        "required": ["type"],
        "allOf": [  # post-decode in code (edge.events.from_shape), stated here too
            {"anyOf": [{"properties": {f: {"type": "string"}}, "required": [f]} for f in ("session_id", "user_id")]}
        ],
        "description": "One event, by `type`. Every event needs a session_id or a user_id; a type's own fields "
        "are checked on that type only, ignored on others.",
    }
    schemas["Error"]["examples"] = [_ERROR_EXAMPLE]
    schemas["Preferences"]["minProperties"] = 1  # post-decode in code (edge.loyalty_api.preferences)
    timezone = schemas["Location"]["properties"]["timezone"]["anyOf"][0]
    timezone["enum"] = sorted(shapes.ZONES)
    return schemas


_SCHEMAS: Final[dict[str, Any]] = _generated_schemas()

_ERRORS: Final[dict[str, str]] = {
    "400": "Malformed JSON or an unusable request.",
    "401": "Missing or wrong credential: the admin token, or an API key on decide and events.",
    "403": "The API key's scopes do not include this endpoint.",
    "409": "The Idempotency-Key was already used with a different body.",
    "404": "No such resource.",
    "413": "Body over the size limit (default 64 KiB).",
    "415": "Content type is not application/json.",
    "422": "A field has the wrong type or an out-of-range value.",
    "503": "A dependency could not answer; nothing was half-written, retry.",
}


def _json_content(schema: JSON, example: JSON | None = None) -> JSON:
    media: JSON = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _ok(description: str, schema: JSON, example: JSON | None = None) -> JSON:
    return {"description": description, "content": _json_content(schema, example)}


def _errors(*statuses: str) -> dict[str, object]:
    return {status: {"$ref": f"#/components/responses/{status}"} for status in statuses}


_BODY_ERRORS: Final = ("400", "413", "415", "422")
_ADMIN: Final[list[JSON]] = [{"adminToken": []}]
_API_KEY: Final[list[JSON]] = [{"apiKey": []}, {}]  # {}: anonymous, when no key is configured
_KEY_OR_ADMIN: Final[list[JSON]] = [{"apiKey": []}, {"adminToken": []}]  # a scoped key; the admin without keys
_USER_ID_PARAM: Final[JSON] = {"name": "user_id", "in": "path", "required": True, "schema": _ID}


def _operation(operation_id: str, summary: str, responses: dict[str, object], **extra: object) -> JSON:
    return {"operationId": operation_id, "summary": summary, "responses": responses, **extra}


_REPORT_PARAMS: Final[list[JSON]] = [
    {"name": "metric", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated metrics."},
    {"name": "segments", "in": "query", "schema": {"type": "boolean", "default": True}},
]

_PATHS: Final[JSON] = {
    "/v1/decide": {
        "post": _operation(
            "decide",
            "The page decision: segment, greeting, CTA, products and experiment arms.",
            {
                "200": _ok("The decision.", _ref("DecideResponse"), _DECIDE_RESPONSE_EXAMPLE),
                **_errors(*_BODY_ERRORS, "401", "403"),
            },
            security=_API_KEY,
            requestBody={"required": True, "content": _json_content(_ref("DecideRequest"), _DECIDE_REQUEST_EXAMPLE)},
        )
    },
    "/v1/events": {
        "post": _operation(
            "ingestEvents",
            "Real-time signals, 1-500 a call; 202 only once every event is durably stored.",
            {
                "202": _ok("All events stored.", _ref("EventsAccepted"), {"accepted": 1}),
                **_errors(*_BODY_ERRORS, "401", "403", "409", "503"),
            },
            security=_API_KEY,
            requestBody={"required": True, "content": _json_content(_ref("EventsRequest"), _EVENTS_REQUEST_EXAMPLE)},
            parameters=[
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                    "description": "A retried call with the same key is applied once; another body is a 409.",
                }
            ],
            description="The body limit is EDGE_EVENTS_MAX_BODY_BYTES (default 256 KiB), so 500 events fit.",
        )
    },
    "/v1/profiles/{user_id}": {
        "parameters": [_USER_ID_PARAM],
        "get": _operation(
            "getProfile",
            "Read a stored profile.",
            {
                "200": _ok("The profile.", _ref("Profile"), _PROFILE_EXAMPLE),
                **_errors("400", "401", "404", "422", "503"),
            },
            security=_ADMIN,
        ),
        "put": _operation(
            "putProfile",
            "Upsert a profile.",
            {
                "200": _ok("The stored profile.", _ref("Profile"), _PROFILE_EXAMPLE),
                **_errors(*_BODY_ERRORS, "401", "503"),
            },
            security=_ADMIN,
            requestBody={"required": True, "content": _json_content(_ref("Profile"), _PROFILE_EXAMPLE)},
        ),
        "patch": _operation(
            "patchProfile",
            "Partially update the stored profile document; what events added (points, orders, ledger) stays.",
            {
                "200": _ok("The profile after the update.", _ref("Profile"), _PROFILE_EXAMPLE),
                **_errors(*_BODY_ERRORS, "401", "404", "503"),
            },
            security=_ADMIN,
            requestBody={"required": True, "content": _json_content(_ref("Profile"))},
        ),
        "delete": _operation(
            "deleteProfile",
            "Erase everything held about the user: profile, vector, sessions, frequency counters, events.",
            {"204": {"description": "Erased (also when nothing was held)."}, **_errors("400", "401", "422", "503")},
            security=_ADMIN,
        ),
    },
    "/v1/profiles/{user_id}/preferences": {
        "parameters": [_USER_ID_PARAM],
        "post": _operation(
            "postPreferences",
            "Record the preference quiz's answers; credits the quiz's bonus points once and ends the quiz CTA.",
            {"200": _ok("Recorded.", _ref("PreferencesRecorded")), **_errors(*_BODY_ERRORS, "401", "403", "503")},
            security=_KEY_OR_ADMIN,
            requestBody={"required": True, "content": _json_content(_ref("Preferences"))},
        ),
    },
    "/v1/offers/verify/{code}": {
        "get": _operation(
            "verifyOffer",
            "Check a per-person offer code at checkout: this customer's, inside its window, not redeemed.",
            {"200": _ok("The verdict.", _ref("OfferVerdict")), **_errors("401", "403", "422", "503")},
            security=_KEY_OR_ADMIN,
            parameters=[
                {"name": "code", "in": "path", "required": True, "schema": _ID},
                {"name": "user_id", "in": "query", "required": True, "schema": _ID},
            ],
        )
    },
    "/healthz": {"get": _operation("healthz", "Process alive.", {"200": _ok("Alive.", _ref("Status"))})},
    "/readyz": {
        "get": _operation(
            "readyz",
            "Index loaded, build consistent, Redis reachable when configured; names the live versions.",
            {"200": _ok("Ready.", _ref("Readiness")), "503": _ok("Not ready (see checks).", _ref("Readiness"))},
        )
    },
    "/metrics": {
        "get": _operation(
            "metrics",
            "Prometheus metrics.",
            {
                "200": {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        )
    },
    "/openapi.json": {
        "get": _operation("openapi", "This contract as OpenAPI 3.1.", {"200": _ok("The document.", {"type": "object"})})
    },
    "/v1/experiments": {
        "get": _operation(
            "listExperiments",
            "The experiments currently loaded.",
            {"200": _ok("Loaded experiments.", _ref("ExperimentsListing")), **_errors("401")},
            security=_ADMIN,
        )
    },
    "/v1/reports/experiments/{key}": {
        "get": _operation(
            "experimentReport",
            "Results of one experiment: units, SRM, per metric uplift with 95 % interval, p-value, chance to win.",
            {"200": _ok("The report (docs/reports.md).", _ref("ExperimentReport")), **_errors("401", "404", "422")},
            security=_ADMIN,
            parameters=[
                {"name": "key", "in": "path", "required": True, "schema": _ID},
                *_REPORT_PARAMS,
            ],
        )
    },
    "/v1/reports/personalization": {
        "get": _operation(
            "personalizationReport",
            "Personalization against the holdout, per segment; offers; decision-level attribution.",
            {"200": _ok("The report (docs/reports.md).", _ref("PersonalizationReport")), **_errors("401", "422")},
            security=_ADMIN,
            parameters=_REPORT_PARAMS,
        )
    },
    "/reports": {
        "get": _operation(
            "reportsPage",
            "The HTML report (admin token as bearer, or ?token= for a browser).",
            {
                "200": {
                    "description": "A self-contained HTML page.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                **_errors("401", "422"),
            },
            security=_ADMIN,
            parameters=[{"name": "token", "in": "query", "schema": {"type": "string"}}, *_REPORT_PARAMS],
        )
    },
    "/v1/admin/reload": {
        "post": _operation(
            "reload",
            "Reload experiments, content and index artifacts without dropping requests.",
            {
                "200": _ok("The new configuration is live.", _ref("Reloaded")),
                **_errors("401"),
                "422": {
                    "description": "The new configuration is broken; it was refused and the old one kept.",
                    "content": _json_content(_ref("Error")),
                },
            },
            security=_ADMIN,
        )
    },
    "/demo": {
        "get": _operation(
            "demo",
            "The demo storefront (HTML); only while the demo is on (EDGE_DEMO).",
            {"200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}}}
            | _errors("404"),
            tags=["demo"],
        )
    },
    "/demo/personas.json": {
        "get": _operation(
            "demoPersonas",
            "One real customer of the loaded build per segment, for the demo's persona switcher.",
            {"200": _ok("The personas.", _ref("Personas")), **_errors("404")},
            tags=["demo"],
        )
    },
    "/demo/explain": {
        "post": _operation(
            "demoExplain",
            "The decision for a decide body with `explain`, read-only (no offer counted, no exposure).",
            {
                "200": _ok("The decision with explain.", _ref("DecideResponse")),
                **_errors(*_BODY_ERRORS, "404"),
            },
            requestBody={"required": True, "content": _json_content(_ref("DecideRequest"))},
            tags=["demo"],
        )
    },
}

_INFO: Final[JSON] = {
    "title": "Edge",
    "summary": "Real-time on-site personalization: one decision per page request.",
    "description": "The schemas are generated from the service's own body types (edge/core/shapes.py). Checked "
    "in code after decoding, a 422 naming the field (all but the clock rule are stated in the schemas too): "
    + "; ".join(shapes.POST_DECODE_RULES)
    + ".",
    "license": {"name": "MIT", "identifier": "MIT"},
}

_COMPONENTS: Final[JSON] = {
    "schemas": _SCHEMAS,
    "responses": {
        status: {"description": description, "content": _json_content(_ref("Error"))}
        for status, description in _ERRORS.items()
    },
    "securitySchemes": {
        "adminToken": {"type": "http", "scheme": "bearer", "description": "Bearer <EDGE_ADMIN_TOKEN>."},
        "apiKey": {"type": "http", "scheme": "bearer", "description": "Bearer <a secret of EDGE_API_KEYS>."},
    },
}


def _tree(data: JSON) -> JSON:
    """A deep copy with no shared sub-objects (the constants reuse small schemas in many places)."""
    copied: JSON = orjson.loads(orjson.dumps(data))
    return copied


def openapi_document(version: str) -> dict[str, object]:
    """A fresh OpenAPI 3.1 document for the contract, with `info.version` set to `version`.

    Every call returns a new tree sharing no object with another call or with the module's data.
    """
    return {
        "openapi": "3.1.0",
        "info": _tree({**_INFO, "version": version}),
        "paths": _tree(_PATHS),
        "components": _tree(_COMPONENTS),
    }
