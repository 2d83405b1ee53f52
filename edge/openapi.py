"""The HTTP contract (docs/api.md) as an OpenAPI 3.1 document, served at `GET /openapi.json`.

Plain data, built once at import: `openapi_document(version)` returns a fresh deep copy with
`info.version` filled in, so callers may serialize or mutate it freely. Schemas use JSON Schema
2020-12 (the OpenAPI 3.1 dialect): nullability is `{"type": "null"}` in an `anyOf`, never `nullable`.
Request schemas leave `additionalProperties` open because the contract ignores unknown fields.
"""

from __future__ import annotations

from typing import Final

import orjson

from edge.events import EVENT_TYPES
from edge.profiles import TIERS
from edge.ranking import REASONS
from edge.segments import SEGMENTS

__all__ = ["EVENT_TYPES", "REASONS", "SEGMENTS", "TIERS", "openapi_document"]

JSON = dict[str, object]

_PRODUCT_EVENTS: Final = ("view", "add_to_cart", "remove_from_cart", "purchase", "wishlist_add")

_ID_PATTERN: Final = "^[A-Za-z0-9._:-]{1,128}$"
_LOCALE: Final[JSON] = {"type": "string", "pattern": "^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$", "examples": ["nl-NL"]}


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def _string_array(description: str) -> JSON:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def _obj(properties: dict[str, JSON], required: tuple[str, ...] = (), **extra: object) -> JSON:
    schema: JSON = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


_ID: Final[JSON] = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": _ID_PATTERN}
_DATE_TIME: Final[JSON] = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC."}
_COUNTRY: Final[JSON] = {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2."}
_COUNT: Final[JSON] = {"type": "integer", "minimum": 0}

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


def _event_rule(types: tuple[str, ...], required: tuple[str, ...]) -> JSON:
    return {
        "if": {"properties": {"type": {"enum": list(types)}}, "required": ["type"]},
        "then": {"required": list(required)},
    }


_SCHEMAS: Final[dict[str, JSON]] = {
    "Segment": {"type": "string", "enum": list(SEGMENTS), "description": "Exactly one segment per decision."},
    "Tier": {"type": "string", "enum": list(TIERS), "description": "Loyalty tier; discounts grow with the tier."},
    "Reason": {"type": "string", "enum": list(REASONS), "description": "Why a product was recommended."},
    "EventType": {"type": "string", "enum": list(EVENT_TYPES)},
    "Error": _obj(
        {
            "error": _obj(
                {
                    "code": {"type": "string", "examples": ["validation_failed"]},
                    "message": {"type": "string"},
                    "field": {"type": "string", "description": "The field at fault, when there is one."},
                },
                ("code", "message"),
            )
        },
        ("error",),
        examples=[{"error": {"code": "validation_failed", "message": "not a string", "field": "session.viewed[3]"}}],
    ),
    "DecideRequest": _obj(
        {
            "session_id": {**_ID, "description": "1-128 chars of [A-Za-z0-9._:-]."},
            "user_id": {**_ID, "description": "Same alphabet as session_id; absent for an anonymous visitor."},
            "page": {
                "type": "string",
                "examples": ["home", "product", "cart", "category", "search"],
                "description": "Placement: a page of the content file's `pages:` (strategies home, product, cart, "
                "category, search); an unlisted page is placed like home.",
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 12},
            "locale": _LOCALE,
            "location": _obj(
                {
                    "country": _COUNTRY,
                    "region": {"type": "string"},
                    "city": {"type": "string"},
                    "timezone": {
                        "type": "string",
                        "description": "IANA time zone name.",
                        "examples": ["Europe/Amsterdam"],
                    },
                }
            ),
            "context": _obj(
                {
                    "device": {"type": "string", "description": "Matched against the content file's boosts.device."},
                    "weather": {"type": "string", "description": "Matched against the content file's boosts.weather."},
                    "store_id": {"type": "string"},
                    "product_id": {"type": "string", "description": "Product page: the product shown (never listed)."},
                    "category": {"type": "string", "description": "Category page: the category shown."},
                    "query": {"type": "string", "description": "Search page: the query."},
                }
            ),
            "session": _obj(
                {
                    "viewed": _string_array("Product ids viewed, most recent last."),
                    "cart": _string_array("Product ids in the cart."),
                    "searches": _string_array("Search queries, most recent last; the last 3 shape the list."),
                    "utm": _obj(
                        {"source": {"type": "string"}, "medium": {"type": "string"}, "campaign": {"type": "string"}}
                    ),
                    "referrer": {"type": "string"},
                    "first_visit": {"type": "boolean"},
                },
                description="Merged with what the service already holds for session_id.",
            ),
            "consent": _obj(
                {"personalization": {"type": "boolean"}},
                description="Given, it wins over the stored profile's consent.",
            ),
            "exclude": _string_array("Product ids never to return."),
            "now": {**_DATE_TIME, "description": "Defaults to the server clock; given, every time rule uses it."},
            "debug": {"type": "boolean", "default": False, "description": "Adds `explain` to the response."},
        },
        ("session_id",),
        description="Only session_id is required; unknown fields are ignored.",
    ),
    "Offer": _obj(
        {
            "discount_pct": {"type": "number", "minimum": 0, "maximum": 100},
            "code": {"type": "string"},
            "expires_at": _DATE_TIME,
        },
        ("discount_pct", "code", "expires_at"),
    ),
    "Product": _obj(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "price": {"type": "number", "minimum": 0},
            "category": {"type": "string"},
            "score": {"type": "number"},
            "reason": _ref("Reason"),
        },
        ("id", "name", "price", "category", "score", "reason"),
    ),
    "ExperimentAssignment": _obj(
        {
            "key": {"type": "string"},
            "arm": {"type": "string"},
            "bucket": {"type": "number", "minimum": 0, "maximum": 1},
        },
        ("key", "arm", "bucket"),
    ),
    "DecideResponse": _obj(
        {
            "decision_id": {"type": "string"},
            "segment": _ref("Segment"),
            "tier": _nullable(_ref("Tier")),
            "personalized": {"type": "boolean"},
            "degraded": {"type": "boolean", "description": "A dependency failed or was slow and a fallback was used."},
            "variant": _obj({"id": {"type": "string"}}, ("id",)),
            "greeting": _obj({"text": {"type": "string"}, "locale": {"type": "string"}}, ("text", "locale")),
            "cta": _obj(
                {
                    "id": {"type": "string"},
                    "text": {"type": "string"},
                    "url": {"type": "string"},
                    "offer": _nullable(_ref("Offer")),
                },
                ("id", "text", "url", "offer"),
            ),
            "products": {"type": "array", "items": _ref("Product")},
            "experiments": {"type": "array", "items": _ref("ExperimentAssignment")},
            "ttl_s": _COUNT,
            "took_ms": {"type": "number", "minimum": 0},
            "explain": {"type": "object", "description": "Only with `debug: true`: rules matched, scores, timings."},
        },
        (
            "decision_id",
            "segment",
            "tier",
            "personalized",
            "degraded",
            "variant",
            "greeting",
            "cta",
            "products",
            "experiments",
            "ttl_s",
            "took_ms",
        ),
    ),
    "Event": {
        **_obj(
            {
                "type": _ref("EventType"),
                "session_id": _ID,
                "user_id": _ID,
                "product_id": {"type": "string", "minLength": 1, "maxLength": 128},
                "ts": {**_DATE_TIME, "description": "Defaults to the server clock."},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "purchase only."},
                "price": {"type": "number", "minimum": 0, "maximum": 1e9, "description": "purchase only."},
                "query": {"type": "string", "minLength": 1, "maxLength": 256, "description": "search only."},
                "personalization": {"type": "boolean", "description": "consent only."},
                "utm": {
                    **_obj(
                        {"source": {"type": "string"}, "medium": {"type": "string"}, "campaign": {"type": "string"}}
                    ),
                    "description": "Optional: the landing's campaign; the first one a session sees is kept.",
                },
                "referrer": {"type": "string", "description": "Optional: the landing's referrer."},
            },
            ("type",),
        ),
        "anyOf": [{"required": ["session_id"]}, {"required": ["user_id"]}],
        "allOf": [
            _event_rule(_PRODUCT_EVENTS, ("product_id",)),
            _event_rule(("purchase",), ("quantity", "price")),
            _event_rule(("search",), ("query",)),
            _event_rule(("consent",), ("personalization",)),
        ],
    },
    "EventsRequest": _obj(
        {"events": {"type": "array", "items": _ref("Event"), "minItems": 1, "maxItems": 500}}, ("events",)
    ),
    "EventsAccepted": _obj({"accepted": {"type": "integer", "minimum": 1}}, ("accepted",)),
    "Profile": _obj(
        {
            "first_name": _nullable({"type": "string", "maxLength": 64}),
            "locale": _nullable(_LOCALE),
            "country": _nullable(_COUNTRY),
            "tier": _nullable(_ref("Tier")),
            "points": _COUNT,
            "joined_at": _nullable(_DATE_TIME),
            "birthday": _nullable({"type": "string", "format": "date"}),
            "last_purchase_at": _nullable(_DATE_TIME),
            "orders": _COUNT,
            "spend": {"type": "number", "minimum": 0},
            "complaints_90d": _COUNT,
            "returns_90d": _COUNT,
            "subscription": {"type": "string", "enum": ["active", "cancelled", "none"]},
            "consent": _obj(
                {"personalization": _nullable({"type": "boolean"}), "marketing": _nullable({"type": "boolean"})}
            ),
            "preferences": _obj(
                {
                    "categories": _string_array("Stated favourite categories."),
                    "shops_for": _string_array("Who or what the customer shops for."),
                    "style": _string_array("Stated styles."),
                }
            ),
            "purchased": _string_array("Product ids bought."),
            "wishlist": _string_array("Product ids wished for."),
        }
    ),
    "Status": _obj({"status": {"type": "string", "examples": ["ok"]}}),
}

_ERRORS: Final[dict[str, str]] = {
    "400": "Malformed JSON or an unusable request.",
    "401": "Missing or wrong admin token.",
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
_USER_ID_PARAM: Final[JSON] = {"name": "user_id", "in": "path", "required": True, "schema": _ID}


def _operation(operation_id: str, summary: str, responses: dict[str, object], **extra: object) -> JSON:
    return {"operationId": operation_id, "summary": summary, "responses": responses, **extra}


_PATHS: Final[JSON] = {
    "/v1/decide": {
        "post": _operation(
            "decide",
            "The page decision: segment, greeting, CTA, products and experiment arms.",
            {
                "200": _ok("The decision.", _ref("DecideResponse"), _DECIDE_RESPONSE_EXAMPLE),
                **_errors(*_BODY_ERRORS),
            },
            requestBody={"required": True, "content": _json_content(_ref("DecideRequest"), _DECIDE_REQUEST_EXAMPLE)},
        )
    },
    "/v1/events": {
        "post": _operation(
            "ingestEvents",
            "Real-time signals, 1-500 a call; 202 only once every event is durably stored.",
            {
                "202": _ok("All events stored.", _ref("EventsAccepted"), {"accepted": 1}),
                **_errors(*_BODY_ERRORS, "503"),
            },
            requestBody={"required": True, "content": _json_content(_ref("EventsRequest"), _EVENTS_REQUEST_EXAMPLE)},
            parameters=[
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                    "description": "A retried call with the same key is applied once.",
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
        "delete": _operation(
            "deleteProfile",
            "Erase everything held about the user: profile, vector, sessions, frequency counters, events.",
            {"204": {"description": "Erased (also when nothing was held)."}, **_errors("400", "401", "422", "503")},
            security=_ADMIN,
        ),
    },
    "/healthz": {"get": _operation("healthz", "Process alive.", {"200": _ok("Alive.", _ref("Status"))})},
    "/readyz": {
        "get": _operation(
            "readyz",
            "Index loaded; Redis reachable when configured.",
            {"200": _ok("Ready.", _ref("Status")), **_errors("503")},
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
            {"200": _ok("Loaded experiments.", {"type": "object"}), **_errors("401")},
            security=_ADMIN,
        )
    },
    "/v1/admin/reload": {
        "post": _operation(
            "reload",
            "Reload experiments, content and index artifacts without dropping requests.",
            {
                "200": _ok("The new configuration is live.", _ref("Status")),
                **_errors("401"),
                "422": {
                    "description": "The new configuration is broken; it was refused and the old one kept.",
                    "content": _json_content(_ref("Error")),
                },
            },
            security=_ADMIN,
        )
    },
}

_INFO: Final[JSON] = {
    "title": "Edge",
    "summary": "Real-time on-site personalization: one decision per page request.",
    "license": {"name": "MIT", "identifier": "MIT"},
}

_COMPONENTS: Final[JSON] = {
    "schemas": _SCHEMAS,
    "responses": {
        status: {"description": description, "content": _json_content(_ref("Error"))}
        for status, description in _ERRORS.items()
    },
    "securitySchemes": {
        "adminToken": {"type": "http", "scheme": "bearer", "description": "Bearer <EDGE_ADMIN_TOKEN>."}
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
