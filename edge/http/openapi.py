"""The HTTP contract (docs/api.md) as an OpenAPI 3.1 document, served at `GET /openapi.json`.

Plain data, built once at import: `openapi_document(version)` returns a fresh deep copy with
`info.version` filled in, so callers may serialize or mutate it freely. Schemas use JSON Schema
2020-12 (the OpenAPI 3.1 dialect): nullability is `{"type": "null"}` in an `anyOf`, never `nullable`.
Request schemas leave `additionalProperties` open because the contract ignores unknown fields.
"""

from __future__ import annotations

import zoneinfo
from typing import Any, Final

import orjson

from edge.core.profiles import TIERS
from edge.core.ranking import REASONS
from edge.core.segments import SEGMENTS
from edge.events import EVENT_TYPES

__all__ = ["EVENT_TYPES", "REASONS", "SEGMENTS", "TIERS", "openapi_document"]

JSON = dict[str, object]

_PRODUCT_EVENTS: Final = ("view", "add_to_cart", "remove_from_cart", "purchase", "wishlist_add", "return", "review")

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
_DATE_TIME: Final[JSON] = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(19[7-9][0-9]|20[0-9][0-9]|21[0-9][0-9]|2200)-",
    "description": "RFC 3339, years 1970-2200 (answered in UTC).",
}
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
            "expires_at": {
                **_nullable(_DATE_TIME),
                "description": "End of this person's window (fixed, or valid_days from first shown; it never "
                "moves); null for a tier's standing discount.",
            },
            "kind": {"type": "string", "enum": ["promotion", "tier_benefit"]},
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
                "id": {**_ID, "description": "Client-generated; a repeated id is dropped (retries are safe)."},
                "product_id": {"type": "string", "minLength": 1, "maxLength": 128},
                "ts": {**_DATE_TIME, "description": "Defaults to the server clock."},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "purchase only."},
                "price": {"type": "number", "minimum": 0, "maximum": 1e9, "description": "purchase only."},
                "query": {"type": "string", "minLength": 1, "maxLength": 256, "description": "search only."},
                "personalization": {"type": "boolean", "description": "consent only."},
                "offer_code": {**_ID, "description": "purchase only: the offer code used (records the redemption)."},
                "amount": {"type": "number", "minimum": 0, "maximum": 1e12, "description": "order_cancel only."},
                "order_id": _ID,
                "activity": {**_ID, "description": "activity only: a name under the content file's `activities`."},
                "utm": {
                    **_obj(
                        {"source": {"type": "string"}, "medium": {"type": "string"}, "campaign": {"type": "string"}}
                    ),
                    "description": "Optional: the landing's campaign; the first one a session sees is kept.",
                },
                "referrer": {"type": "string", "description": "Optional: the landing's referrer."},
                "decision_id": {**_ID, "description": "The decision the event follows from (attribution)."},
                "position": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "click: 1-based slot."},
            },
            ("type",),
        ),
        "anyOf": [{"required": ["session_id"]}, {"required": ["user_id"]}],
        "allOf": [
            _event_rule(_PRODUCT_EVENTS, ("product_id",)),
            _event_rule(("purchase", "return"), ("quantity", "price")),
            _event_rule(("order_cancel",), ("amount", "user_id")),
            _event_rule(("return", "subscription_resume"), ("user_id",)),
            _event_rule(("activity",), ("activity", "user_id")),
            _event_rule(("search",), ("query",)),
            _event_rule(("consent",), ("personalization",)),
            _event_rule(("click",), ("decision_id",)),
        ],
    },
    "EventsRequest": _obj(
        {"events": {"type": "array", "items": _ref("Event"), "minItems": 1, "maxItems": 500}}, ("events",)
    ),
    "ReportResult": _obj(
        {
            "metric": {"type": "string", "enum": ["conversion", "revenue", "add_to_cart", "click", "redemption"]},
            "arm": {"type": "string"},
            "baseline": {"type": "string"},
            "baseline_units": {"type": "integer"},
            "units": {"type": "integer"},
            "baseline_mean": {"type": "number"},
            "mean": {"type": "number"},
            "uplift": _nullable({"type": "number", "description": "Relative: 0.10 = +10 %."}),
            "ci": _nullable({"type": "array", "items": {"type": "number"}, "description": "95 %, relative."}),
            "p_value": _nullable({"type": "number"}),
            "significant": {"type": "boolean"},
            "chance_to_win": _nullable({"type": "number"}),
            "bayes_ci": _nullable({"type": "array", "items": {"type": "number"}}),
            "risk": _nullable({"type": "array", "items": {"type": "number"}}),
            "error": _nullable({"type": "string"}),
        },
        ("metric", "arm", "baseline", "baseline_mean", "mean", "uplift", "ci", "p_value", "chance_to_win"),
    ),
    "ExperimentReport": _obj(
        {
            "experiment": {"type": "string"},
            "generated_at": _DATE_TIME,
            "conversion_window_hours": {"type": "number"},
            "weights": {"type": "object", "additionalProperties": {"type": "number"}},
            "srm": _obj(
                {"p_value": _nullable({"type": "number"}), "ok": {"type": "boolean"}, "threshold": {"type": "number"}},
                ("p_value", "ok"),
            ),
            "arms": {
                "type": "array",
                "items": _obj(
                    {"key": {"type": "string"}, "units": {"type": "integer"}, "metrics": {"type": "object"}},
                    ("key", "units"),
                ),
            },
            "results": {"type": "array", "items": _ref("ReportResult")},
            "timeseries": {"type": "array", "items": {"type": "object"}},
            "segments": {"type": "array", "items": {"type": "object"}},
        },
        ("experiment", "srm", "arms", "results"),
    ),
    "PersonalizationReport": _obj(
        {
            "generated_at": _DATE_TIME,
            "holdout": {"type": "object"},
            "baseline": {"type": "string"},
            "srm": {"type": "object"},
            "arms": {"type": "array", "items": {"type": "object"}},
            "results": {"type": "array", "items": _ref("ReportResult")},
            "timeseries": {"type": "array", "items": {"type": "object"}},
            "segments": {"type": "array", "items": {"type": "object"}},
            "incremental_revenue": {"type": "object"},
            "offers": {"type": "array", "items": {"type": "object"}},
            "attribution": {"type": "object"},
        },
        ("holdout", "arms", "results", "incremental_revenue", "offers", "attribution"),
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
            "birthday": _nullable(
                {"type": "string", "format": "date", "pattern": "^(19[0-9][0-9]|2[01][0-9][0-9]|2200)-"}
            ),
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
            "ledger": {
                "type": "array",
                "items": _obj(
                    {
                        "ts": _DATE_TIME,
                        "kind": {
                            "type": "string",
                            "enum": ["purchase", "return", "cancellation", "bonus", "adjustment"],
                        },
                        "amount": {"type": "number"},
                        "points": {"type": "integer"},
                    },
                    ("ts", "kind"),
                ),
                "description": "Signed spend/points entries; a replay at a past `now` takes later ones back out.",
            },
            "complaints_at": {"type": "array", "items": _DATE_TIME, "description": "Expire by rules.at_risk_days."},
            "subscription_changed_at": _nullable(_DATE_TIME),
            "quiz_answered_at": {**_nullable(_DATE_TIME), "description": "Read-only: set by the preferences call."},
        }
    ),
    "Preferences": _obj(
        {
            "categories": _string_array("Favourite categories."),
            "shops_for": _string_array("Quiz answer: who or what the customer shops for."),
            "style": _string_array("Quiz answer: styles."),
        },
        description="A partial update: only the questions sent change.",
    ),
    "PreferencesRecorded": _obj(
        {
            "user_id": _ID,
            "preferences": _ref("Preferences"),
            "bonus_points": {"type": "integer", "minimum": 0, "description": "Credited by this call (0 on a repeat)."},
            "points": {"type": "integer", "minimum": 0},
        },
        ("user_id", "preferences", "bonus_points", "points"),
    ),
    "OfferVerdict": _obj(
        {
            "code": {"type": "string"},
            "user_id": _ID,
            "valid": {"type": "boolean"},
            "reason": {
                "type": "string",
                "enum": ["ok", "unknown_code", "other_customer", "not_started", "expired", "redeemed"],
            },
            "offer_id": _nullable({"type": "string"}),
            "discount_pct": _nullable({"type": "integer"}),
            "expires_at": _nullable(_DATE_TIME),
        },
        ("code", "user_id", "valid", "reason"),
    ),
    "Status": _obj({"status": {"type": "string", "examples": ["ok"]}}),
    "Readiness": _obj(
        {
            "status": {"type": "string", "enum": ["ready", "not ready"]},
            "checks": _obj(
                {
                    "index": {"type": "boolean", "description": "The item index is loaded and not empty."},
                    "build": {"type": "boolean", "description": "Index, catalog and profile vectors agree."},
                    "store": {"type": "boolean", "description": "The store (Redis) answers."},
                },
                ("index", "build", "store"),
            ),
            "build": {"type": "string", "description": "Version of the live build (artifacts)."},
            "content": {"type": "string", "description": "Version (hash) of the live content file."},
            "experiments": {"type": "string", "description": "Version (hash) of the live experiments."},
            "data_end": _nullable({**_DATE_TIME, "description": "The last timestamp in the build's data."}),
            "problem": {"type": "string", "description": "Why the build is inconsistent (only then)."},
            "last_reload": _obj(
                {
                    "status": {"type": "string", "enum": ["ok", "failed"]},
                    "trigger": {"type": "string", "enum": ["admin", "watch"]},
                    "at": _DATE_TIME,
                    "error": {"type": "string", "description": "Why it was refused (the old build is kept)."},
                },
                ("status", "trigger", "at"),
                description="The last reload attempt since start-up (absent before the first).",
            ),
        },
        ("status", "checks", "build", "content", "experiments"),
    ),
    "Reloaded": _obj(
        {
            "status": {"type": "string", "enum": ["reloaded"]},
            "model": {"type": "string", "description": "Version of the live build."},
            "content": {"type": "string"},
            "experiments": {"type": "string"},
        },
        ("status", "model", "content", "experiments"),
    ),
    "Persona": _obj(
        {
            "key": {"type": "string", "examples": ["ambassador"]},
            "label": {"type": "string"},
            "segment": _ref("Segment"),
            "user_id": _nullable(_ID),
            "first_name": _nullable({"type": "string"}),
            "tier": _nullable(_ref("Tier")),
            "utm": _nullable(
                _obj({"source": {"type": "string"}, "medium": {"type": "string"}, "campaign": {"type": "string"}})
            ),
            "consent": _nullable({"type": "boolean"}),
        },
        ("key", "label", "segment", "user_id"),
    ),
    "Personas": _obj(
        {
            "build": {"type": "string"},
            "now": _nullable({**_DATE_TIME, "description": "Send as `now` (set when the build's data is old)."}),
            "personas": {"type": "array", "items": _ref("Persona")},
        },
        ("build", "now", "personas"),
    ),
}

# --- the request schemas as the server validates them (schemathesis: valid accepted, invalid refused) ---
_NULL_MEANS_ABSENT: Final[dict[str, tuple[str, ...]]] = {
    "DecideRequest": (
        "user_id", "locale", "location", "location.country", "location.region", "location.city",
        "location.timezone", "context", "context.device", "context.weather", "context.store_id", "session",
        "session.viewed", "session.cart", "session.searches", "session.utm", "session.utm.source",
        "session.utm.medium", "session.utm.campaign", "session.referrer", "session.first_visit", "consent",
        "consent.personalization", "exclude", "now",
    ),
    "Event": (
        "session_id", "user_id", "id", "ts", "utm", "utm.source", "utm.medium", "utm.campaign", "referrer",
    ),
    "Profile": (
        "locale", "country", "tier", "consent", "preferences", "preferences.categories", "preferences.shops_for",
        "preferences.style", "purchased", "wishlist",
    ),
}  # fmt: skip
_TEXT_LIMITS: Final[dict[str, int]] = {
    "DecideRequest.page": 64, "DecideRequest.location.region": 64, "DecideRequest.location.city": 128,
    "DecideRequest.context.device": 32, "DecideRequest.context.weather": 32, "DecideRequest.context.store_id": 64,
    "DecideRequest.session.referrer": 2048, "DecideRequest.session.utm.source": 128,
    "DecideRequest.session.utm.medium": 128, "DecideRequest.session.utm.campaign": 128,
    "Event.referrer": 2048, "Event.utm.source": 128, "Event.utm.medium": 128, "Event.utm.campaign": 128,
}  # fmt: skip
_LIST_LIMITS: Final[dict[str, tuple[int, int]]] = {  # (items, characters an item)
    "DecideRequest.session.viewed": (200, 128), "DecideRequest.session.cart": (200, 128),
    "DecideRequest.session.searches": (200, 256), "DecideRequest.exclude": (500, 128),
    "Profile.preferences.categories": (50, 128), "Profile.preferences.shops_for": (50, 128),
    "Profile.preferences.style": (50, 128), "Profile.purchased": (5000, 128), "Profile.wishlist": (5000, 128),
}  # fmt: skip
_MAXIMA: Final[dict[str, float]] = {
    "Profile.points": 10**12, "Profile.orders": 10**9, "Profile.spend": 1e15, "Profile.complaints_90d": 10**6,
    "Profile.returns_90d": 10**6,
}  # fmt: skip


def _parent(schemas: dict[str, JSON], path: str) -> tuple[dict[str, Any], str]:
    """The `properties` mapping holding `path` (`Schema.a.b`) and the last name."""
    name, *parts = path.split(".")
    node: dict[str, Any] = schemas[name]
    for part in parts[:-1]:
        node = node["properties"][part]
    return node["properties"], parts[-1]


def _refine(schemas: dict[str, JSON], path: str, **changes: Any) -> None:
    """Replace the property's schema with a refined copy (the constants share small schemas)."""
    holder, leaf = _parent(schemas, path)
    holder[leaf] = {**holder[leaf], **changes}


def _as_validated(schemas: dict[str, JSON]) -> None:
    """Limits, time zones and `null` (= absent) as edge/core/requests.py, events.py and profiles.py check them."""
    for path, length in _TEXT_LIMITS.items():
        _refine(schemas, path, maxLength=length)
    for path, (items, length) in _LIST_LIMITS.items():
        _refine(schemas, path, maxItems=items, items={"type": "string", "maxLength": length})
    for path, maximum in _MAXIMA.items():
        _refine(schemas, path, maximum=maximum)
    zones = sorted(zoneinfo.available_timezones())
    _refine(schemas, "DecideRequest.location.timezone", enum=zones, maxLength=64)
    for name, paths in _NULL_MEANS_ABSENT.items():
        for path in sorted(paths, key=lambda p: -p.count(".")):  # children before their parent is wrapped
            holder, leaf = _parent(schemas, f"{name}.{path}")
            holder[leaf] = _nullable(holder[leaf])
    event: dict[str, Any] = schemas["Event"]
    event["anyOf"] = [{"properties": {f: {"type": "string"}}, "required": [f]} for f in ("session_id", "user_id")]
    fields = event["properties"]
    for rule in event["allOf"]:  # a type's own fields are checked on that type only, ignored on others
        rule["then"]["properties"] = {f: fields[f] for f in rule["then"]["required"]}
    for name in {f for rule in event["allOf"] for f in rule["then"]["required"]}:
        fields[name] = {"description": f"{fields[name].get('description', '')} Ignored on other event types."}


_as_validated(_SCHEMAS)

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
            {"200": _ok("Loaded experiments.", {"type": "object"}), **_errors("401")},
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
