"""The OpenAPI document is valid OpenAPI 3.1 and says what docs/api.md says.

The examples and vocabularies below are copied from docs/api.md on purpose, independent of
edge/http/openapi.py, so a drift between the contract and the document fails here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from edge.http.openapi import openapi_document

DOC_URI = "urn:edge:openapi"

API_MD_DECIDE_REQUEST: dict[str, Any] = {
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

API_MD_DECIDE_RESPONSE: dict[str, Any] = {
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

API_MD_EVENTS: dict[str, Any] = {
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

API_MD_PROFILE: dict[str, Any] = {
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

CONTRACT_SEGMENTS = ["new_visitor", "campaign", "new_member", "active", "ambassador", "at_risk", "lapsed", "lost"]
CONTRACT_TIERS = ["bronze", "silver", "gold", "platinum"]
CONTRACT_REASONS = [
    "similar_to_viewed",
    "in_cart_complement",
    "bought_together",
    "for_you",
    "preference",
    "trending_local",
    "best_seller",
    "on_sale",
    "similar_item",
    "campaign",
    "search",
    "context",
    "add_on",
    "category",
]
CONTRACT_EVENT_TYPES = [
    "view",
    "add_to_cart",
    "remove_from_cart",
    "purchase",
    "search",
    "wishlist_add",
    "complaint",
    "subscription_cancel",
    "consent",
    "return",
    "order_cancel",
    "subscription_resume",
    "review",
    "activity",
    "click",  # attribution (docs/reports.md)
]
CONTRACT_OPERATIONS = {
    ("/v1/decide", "post"),
    ("/v1/events", "post"),
    ("/v1/profiles/{user_id}", "get"),
    ("/v1/profiles/{user_id}", "put"),
    ("/v1/profiles/{user_id}", "patch"),
    ("/v1/profiles/{user_id}", "delete"),
    ("/v1/profiles/{user_id}/preferences", "post"),
    ("/v1/offers/verify/{code}", "get"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
    ("/openapi.json", "get"),
    ("/v1/experiments", "get"),
    ("/v1/admin/reload", "post"),
    ("/demo", "get"),
    ("/demo/personas.json", "get"),
    ("/demo/explain", "post"),
    ("/v1/reports/experiments/{key}", "get"),  # reports (docs/reports.md)
    ("/v1/reports/personalization", "get"),
    ("/reports", "get"),
}
ADMIN_OPERATIONS = {
    ("/v1/profiles/{user_id}", "get"),
    ("/v1/profiles/{user_id}", "put"),
    ("/v1/profiles/{user_id}", "patch"),
    ("/v1/profiles/{user_id}", "delete"),
    ("/v1/experiments", "get"),
    ("/v1/admin/reload", "post"),
    ("/v1/reports/experiments/{key}", "get"),
    ("/v1/reports/personalization", "get"),
    ("/reports", "get"),
}
KEY_OR_ADMIN_OPERATIONS = {("/v1/profiles/{user_id}/preferences", "post"), ("/v1/offers/verify/{code}", "get")}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document("9.9.9")


def _validator(doc: dict[str, Any], schema_name: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(DOC_URI, Resource.from_contents(doc, DRAFT202012))
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#/components/schemas/{schema_name}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _errors(doc: dict[str, Any], schema_name: str, instance: object) -> list[ValidationError]:
    return list(_validator(doc, schema_name).iter_errors(instance))


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


# The document as a whole


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    validate(doc, cls=OpenAPIV31SpecValidator)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d["paths"]["/v1/decide"]["post"]["responses"]["200"].pop("description"),
        lambda d: d["components"]["securitySchemes"]["adminToken"].update(type="bearer"),
        lambda d: d["paths"]["/v1/profiles/{user_id}"]["parameters"][0].pop("in"),
    ],
)
def test_spec_validator_rejects_a_broken_document(doc: dict[str, Any], break_it: Callable[[Any], object]) -> None:
    broken = copy.deepcopy(doc)
    break_it(broken)
    with pytest.raises(OpenAPIValidationError):
        validate(broken, cls=OpenAPIV31SpecValidator)


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_ref_resolves_and_every_schema_is_used(doc: dict[str, Any]) -> None:
    refs = set(_refs(doc))
    for ref in refs:
        assert ref.startswith("#/components/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]
    used = {ref.rsplit("/", 1)[1] for ref in refs if ref.startswith("#/components/schemas/")}
    assert used == set(doc["components"]["schemas"])


def test_info_version_is_the_argument() -> None:
    assert openapi_document("1.2.3")["info"]["version"] == "1.2.3"  # type: ignore[index]
    assert openapi_document("2.0.0rc1")["info"]["version"] == "2.0.0rc1"  # type: ignore[index]


def test_each_call_returns_an_independent_document() -> None:
    first = openapi_document("1")
    first["components"]["schemas"]["Segment"]["enum"].append("vip")  # type: ignore[index]
    first["paths"]["/v1/decide"]["post"]["requestBody"]["content"]["application/json"]["schema"]["x"] = 1  # type: ignore[index]
    second = openapi_document("1")
    assert second["components"]["schemas"]["Segment"]["enum"] == CONTRACT_SEGMENTS  # type: ignore[index]
    assert "x" not in second["paths"]["/v1/decide"]["post"]["requestBody"]["content"]["application/json"]["schema"]  # type: ignore[index]


def test_document_round_trips_through_json(doc: dict[str, Any]) -> None:
    assert orjson.loads(orjson.dumps(doc)) == doc


def test_every_contract_operation_is_present(doc: dict[str, Any]) -> None:
    assert set(_operations(doc)) == CONTRACT_OPERATIONS


def test_operation_ids_are_unique(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for op in _operations(doc).values()]
    assert len(ids) == len(set(ids))


# Enums equal the contract's lists


@pytest.mark.parametrize(
    ("schema_name", "expected"),
    [
        ("Segment", CONTRACT_SEGMENTS),
        ("Tier", CONTRACT_TIERS),
        ("Reason", CONTRACT_REASONS),
        ("EventType", CONTRACT_EVENT_TYPES),
    ],
)
def test_enum_equals_contract(doc: dict[str, Any], schema_name: str, expected: list[str]) -> None:
    assert doc["components"]["schemas"][schema_name]["enum"] == expected


def test_enums_are_used_where_the_contract_uses_them(doc: dict[str, Any]) -> None:
    for segment in CONTRACT_SEGMENTS:
        assert not _errors(doc, "DecideResponse", {**API_MD_DECIDE_RESPONSE, "segment": segment})
    for tier in [*CONTRACT_TIERS, None]:
        assert not _errors(doc, "DecideResponse", {**API_MD_DECIDE_RESPONSE, "tier": tier})
    product = API_MD_DECIDE_RESPONSE["products"][0]
    for reason in CONTRACT_REASONS:
        assert not _errors(
            doc, "DecideResponse", {**API_MD_DECIDE_RESPONSE, "products": [{**product, "reason": reason}]}
        )
    assert _errors(doc, "DecideResponse", {**API_MD_DECIDE_RESPONSE, "segment": "vip"})
    assert _errors(doc, "DecideResponse", {**API_MD_DECIDE_RESPONSE, "tier": "diamond"})
    assert _errors(doc, "DecideResponse", {**API_MD_DECIDE_RESPONSE, "products": [{**product, "reason": "random"}]})


# Errors and security


def test_error_schema_matches_contract(doc: dict[str, Any]) -> None:
    good = {"error": {"code": "validation_failed", "message": "not a string", "field": "session.viewed[3]"}}
    assert not _errors(doc, "Error", good)
    assert not _errors(doc, "Error", {"error": {"code": "malformed_json", "message": "bad"}})
    assert _errors(doc, "Error", {"code": "malformed_json", "message": "bad"})
    assert _errors(doc, "Error", {"error": {"code": "malformed_json"}})


def test_shared_error_responses_reference_the_error_schema(doc: dict[str, Any]) -> None:
    responses = doc["components"]["responses"]
    for status in ("400", "401", "413", "415", "422", "503"):
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_json_body_endpoints_reference_the_body_errors(doc: dict[str, Any]) -> None:
    with_body = {key: op for key, op in _operations(doc).items() if "requestBody" in op}
    assert set(with_body) == {
        ("/v1/decide", "post"),
        ("/v1/events", "post"),
        ("/v1/profiles/{user_id}", "put"),
        ("/v1/profiles/{user_id}", "patch"),
        ("/v1/profiles/{user_id}/preferences", "post"),
        ("/demo/explain", "post"),
    }
    for key, op in with_body.items():
        assert set(op["requestBody"]["content"]) == {"application/json"}, key
        for status in ("400", "413", "415", "422"):
            assert op["responses"][status] == {"$ref": f"#/components/responses/{status}"}, (key, status)


def test_dependency_backed_endpoints_document_503(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    for key in [
        ("/v1/events", "post"),
        ("/readyz", "get"),
        *[k for k in ADMIN_OPERATIONS | KEY_OR_ADMIN_OPERATIONS if "profiles" in k[0]],
    ]:
        assert "503" in ops[key]["responses"], key


def test_admin_endpoints_need_the_bearer_token_and_others_do_not(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["adminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["adminToken"]["description"],
    }
    assert "security" not in doc  # no global requirement
    for key, op in _operations(doc).items():
        if key in ADMIN_OPERATIONS:
            assert op["security"] == [{"adminToken": []}], key
            assert "401" in op["responses"], key
        elif key in {("/v1/decide", "post"), ("/v1/events", "post")}:  # an API key once EDGE_API_KEYS is set
            assert op["security"] == [{"apiKey": []}, {}], key
            assert {"401", "403"} <= set(op["responses"]), key
        elif key in KEY_OR_ADMIN_OPERATIONS:  # a scoped API key, or the admin token (alone without keys)
            assert op["security"] == [{"apiKey": []}, {"adminToken": []}], key
            assert {"401", "403"} <= set(op["responses"]), key
        else:
            assert "security" not in op, key


def test_profile_endpoints_status_codes(doc: dict[str, Any]) -> None:
    item = doc["paths"]["/v1/profiles/{user_id}"]
    assert "404" in item["get"]["responses"]
    assert "204" in item["delete"]["responses"]
    assert "content" not in item["delete"]["responses"]["204"]
    assert item["parameters"][0]["name"] == "user_id"
    assert item["parameters"][0]["in"] == "path"


def test_metrics_is_text_and_events_answer_202(doc: dict[str, Any]) -> None:
    assert set(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    events = doc["paths"]["/v1/events"]["post"]["responses"]
    assert "202" in events
    assert "200" not in events


# POST /v1/decide


def test_api_md_decide_request_validates(doc: dict[str, Any]) -> None:
    assert not _errors(doc, "DecideRequest", API_MD_DECIDE_REQUEST)


def test_api_md_decide_response_validates(doc: dict[str, Any]) -> None:
    assert not _errors(doc, "DecideResponse", API_MD_DECIDE_RESPONSE)


def test_operation_examples_match_api_md(doc: dict[str, Any]) -> None:
    decide = doc["paths"]["/v1/decide"]["post"]
    assert decide["requestBody"]["content"]["application/json"]["example"] == API_MD_DECIDE_REQUEST
    assert decide["responses"]["200"]["content"]["application/json"]["example"] == API_MD_DECIDE_RESPONSE
    events = doc["paths"]["/v1/events"]["post"]
    assert events["requestBody"]["content"]["application/json"]["example"] == API_MD_EVENTS
    put = doc["paths"]["/v1/profiles/{user_id}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["example"] == API_MD_PROFILE


def test_only_session_id_is_required(doc: dict[str, Any]) -> None:
    assert not _errors(doc, "DecideRequest", {"session_id": "s"})
    assert _errors(doc, "DecideRequest", {})
    assert _errors(doc, "DecideRequest", {"user_id": "17850"})
    assert not _errors(doc, "DecideRequest", {"session_id": "s", "unknown_field": [1, 2]})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("session_id", "A-Za-z0-9._:-"),
        ("session_id", "x" * 128),
        ("user_id", "u:1.2_3"),
        ("limit", 1),
        ("limit", 100),
        ("location", {"country": "DE"}),
        ("now", "2011-11-02T09:30:00+00:00"),
        ("consent", {"personalization": False}),
        ("exclude", []),
        ("debug", True),
    ],
)
def test_decide_request_accepts_in_range_values(doc: dict[str, Any], field: str, value: object) -> None:
    assert not _errors(doc, "DecideRequest", {**API_MD_DECIDE_REQUEST, field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("session_id", ""),
        ("session_id", "x" * 129),
        ("session_id", "has space"),
        ("session_id", "s/1"),
        ("session_id", 17),
        ("user_id", "anna@example.com"),
        ("limit", 0),
        ("limit", 101),
        ("limit", 1.5),
        ("limit", "12"),
        ("location", {"country": "nl"}),
        ("location", {"country": "NLD"}),
        ("now", "yesterday"),
        ("session", {"viewed": [85123]}),
        ("session", {"cart": "84406B"}),
        ("session", {"utm": "newsletter"}),
        ("session", {"first_visit": "no"}),
        ("consent", {"personalization": "yes"}),
        ("exclude", "22423"),
        ("debug", 1),
    ],
)
def test_decide_request_rejects_bad_values(doc: dict[str, Any], field: str, value: object) -> None:
    assert _errors(doc, "DecideRequest", {**API_MD_DECIDE_REQUEST, field: value})


def test_limit_defaults_to_12(doc: dict[str, Any]) -> None:
    assert doc["components"]["schemas"]["DecideRequest"]["properties"]["limit"]["default"] == 12


def test_decide_response_requires_every_contract_field(doc: dict[str, Any]) -> None:
    for field in API_MD_DECIDE_RESPONSE:
        partial = {k: v for k, v in API_MD_DECIDE_RESPONSE.items() if k != field}
        assert _errors(doc, "DecideResponse", partial), field


def test_decide_response_offer_null_and_explain(doc: dict[str, Any]) -> None:
    no_offer = {**API_MD_DECIDE_RESPONSE, "cta": {**API_MD_DECIDE_RESPONSE["cta"], "offer": None}}
    assert not _errors(doc, "DecideResponse", no_offer)
    debug = {**API_MD_DECIDE_RESPONSE, "explain": {"rules": ["ambassador"], "timings": {"rank_ms": 0.4}}}
    assert not _errors(doc, "DecideResponse", debug)
    assert "explain" not in doc["components"]["schemas"]["DecideResponse"]["required"]
    bad_offer = {**API_MD_DECIDE_RESPONSE, "cta": {**API_MD_DECIDE_RESPONSE["cta"], "offer": {"code": "GOLD10"}}}
    assert _errors(doc, "DecideResponse", bad_offer)
    no_experiments = {**API_MD_DECIDE_RESPONSE, "experiments": []}
    assert not _errors(doc, "DecideResponse", no_experiments)


# POST /v1/events


def test_api_md_events_example_validates(doc: dict[str, Any]) -> None:
    assert not _errors(doc, "EventsRequest", API_MD_EVENTS)


def _event(**fields: object) -> dict[str, Any]:
    return {"events": [{"session_id": "s-8f2c01", **fields}]}


@pytest.mark.parametrize(
    "event",
    [
        {"type": "view", "product_id": "85123A"},
        {"type": "add_to_cart", "product_id": "85123A"},
        {"type": "remove_from_cart", "product_id": "85123A"},
        {"type": "purchase", "product_id": "85123A", "quantity": 2, "price": 2.55},
        {"type": "search", "query": "lantern"},
        {"type": "wishlist_add", "product_id": "22727"},
        {"type": "complaint"},
        {"type": "subscription_cancel"},
        {"type": "consent", "personalization": False},
    ],
)
def test_each_event_type_with_its_fields_validates(doc: dict[str, Any], event: dict[str, object]) -> None:
    assert not _errors(doc, "EventsRequest", _event(**event))


@pytest.mark.parametrize(
    "event",
    [
        {"type": "click", "product_id": "85123A"},
        {"type": "purchase", "product_id": "85123A", "quantity": 2},
        {"type": "purchase", "product_id": "85123A", "price": 2.55},
        {"type": "purchase", "product_id": "85123A", "quantity": 0, "price": 2.55},
        {"type": "search"},
        {"type": "consent"},
        {"type": "consent", "personalization": "no"},
        {"type": "view"},
        {"product_id": "85123A"},
        {"type": "view", "product_id": "85123A", "ts": "not a time"},
    ],
)
def test_bad_events_are_rejected(doc: dict[str, Any], event: dict[str, object]) -> None:
    assert _errors(doc, "EventsRequest", _event(**event))


def test_event_needs_a_session_or_user(doc: dict[str, Any]) -> None:
    assert _errors(doc, "EventsRequest", {"events": [{"type": "complaint"}]})
    assert not _errors(doc, "EventsRequest", {"events": [{"type": "complaint", "user_id": "17850"}]})


def test_events_batch_is_1_to_500(doc: dict[str, Any]) -> None:
    one = API_MD_EVENTS["events"][0]
    assert not _errors(doc, "EventsRequest", {"events": [one] * 500})
    assert _errors(doc, "EventsRequest", {"events": [one] * 501})
    assert _errors(doc, "EventsRequest", {"events": []})
    assert _errors(doc, "EventsRequest", {})


def test_events_accepted_body(doc: dict[str, Any]) -> None:
    assert not _errors(doc, "EventsAccepted", {"accepted": 3})
    assert _errors(doc, "EventsAccepted", {"accepted": "3"})
    assert _errors(doc, "EventsAccepted", {})


# Profiles


def test_api_md_profile_example_validates(doc: dict[str, Any]) -> None:
    assert not _errors(doc, "Profile", API_MD_PROFILE)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tier", "diamond"),
        ("country", "Netherlands"),
        ("points", -1),
        ("orders", 1.5),
        ("joined_at", "last year"),
        ("birthday", "23/11/1990"),
        ("consent", {"personalization": "yes"}),
        ("preferences", {"categories": "candles"}),
        ("purchased", "85123A"),
    ],
)
def test_profile_rejects_bad_values(doc: dict[str, Any], field: str, value: object) -> None:
    assert _errors(doc, "Profile", {**API_MD_PROFILE, field: value})
