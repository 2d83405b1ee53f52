"""The served document and the service give the same verdict on every body.

Every documented request example, plus bodies generated from the document itself (each property
set to a wrong type, null, one over its limit, one under its range, an unlisted value, removed when
required; the fields all events share are broken on one event type, each type's own fields on it),
goes through both the schema of GET /openapi.json (jsonschema, 2020-12, formats checked) and the
service over HTTP; the test requires the same verdict: valid <=> 2xx, invalid <=> 422. The checks a
schema cannot state (edge/core/shapes.py, POST_DECODE_RULES) are the only allowed difference,
asserted on their own below.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from edge.core import answers, shapes
from edge.core.experiments import ExperimentsListing
from edge.http.app import create_app
from edge.settings import Settings
from tests.conftest import ADMIN, AUTH

DOC_URI = "urn:edge:served-openapi"
EVENT_BASES: list[dict[str, Any]] = [  # one of each type, with its own fields (docs/api.md: event types)
    {"type": "view", "product_id": "SYN10001"},
    {"type": "add_to_cart", "product_id": "SYN10001"},
    {"type": "remove_from_cart", "product_id": "SYN10001"},
    {"type": "purchase", "product_id": "SYN10001", "quantity": 2, "price": 2.5, "offer_code": "GOLD10"},
    {"type": "search", "query": "lantern"},
    {"type": "wishlist_add", "product_id": "SYN10002"},
    {"type": "complaint"},
    {"type": "subscription_cancel"},
    {"type": "consent", "personalization": True},
    {"type": "return", "product_id": "SYN10001", "quantity": 1, "price": 2.5},
    {"type": "order_cancel", "amount": 12.5},
    {"type": "subscription_resume"},
    {"type": "review", "product_id": "SYN10001"},
    {"type": "activity", "activity": "photo_upload", "product_id": "SYN10001"},
    {"type": "click", "decision_id": "d-1", "product_id": "SYN10001", "position": 2},
]
PREFERENCES_EXAMPLE = {"categories": ["candles"], "shops_for": ["home"], "style": ["vintage"]}


@pytest.fixture(scope="module")
def client(artifacts_dir: Path) -> Iterator[TestClient]:
    settings = Settings(artifacts=artifacts_dir, admin_token=ADMIN, build_if_missing=False)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    served: dict[str, Any] = client.get("/openapi.json").json()
    return served


def validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(DOC_URI, Resource.from_contents(doc, DRAFT202012))
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#/components/schemas/{name}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The schema of a value: references followed, the non-null branch of a nullable `anyOf`."""
    while True:
        if "$ref" in node:
            node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in node and "discriminator" not in node:
            branches = [b for b in node["anyOf"] if b != {"type": "null"}]
            if len(branches) != 1:
                return node
            node = branches[0]
        else:
            return node


def wrong_values(doc: dict[str, Any], node: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Values the schema `node` refuses, named: a wrong type, past each limit, off the list."""
    schema = resolve(doc, node)
    kind = schema.get("type")
    yield "wrong type", ["x"] if kind in ("string", "integer", "number", "boolean", "object") else "x"
    if kind == "string" and "maxLength" in schema:
        yield "too long", "a" * (schema["maxLength"] + 1)
    if kind == "string" and schema.get("minLength", 0) > 0:
        yield "empty", ""
    if kind in ("integer", "number"):
        if "maximum" in schema:
            yield "over the maximum", schema["maximum"] + 1
        if "minimum" in schema:
            yield "under the minimum", schema["minimum"] - 1
        if kind == "integer":
            yield "a fraction", 1.5
    if kind == "boolean":
        yield "a number", 1
    if kind == "array":
        if "maxItems" in schema:
            yield "too many items", ["a"] * (schema["maxItems"] + 1)
        yield "a wrong item", [{"not": "an item"}]
    if "enum" in schema and len(schema["enum"]) < 100:
        yield "off the list", "zzz-not-listed"
    if "format" in schema:
        yield "not a time", "yesterday"
        yield "no time zone", "2011-11-02T09:30:00"
        yield "before 1970", "1969-12-31T23:59:59Z"


def mutations(
    doc: dict[str, Any], name: str, example: Any, path: tuple[Any, ...] = (), like: str | None = None
) -> Iterator[tuple[str, Any]]:
    """(label, body) for every property of schema `name` reachable from `example`, each broken one way.

    With `like`, a property declared exactly as in schema `like` (and as required there) is skipped: tested there.
    """
    schema = resolve(doc, {"$ref": f"#/components/schemas/{name}"})
    same = resolve(doc, {"$ref": f"#/components/schemas/{like}"}) if like else {}
    for field, node in schema.get("properties", {}).items():
        if field == "type" and path and "events" in path:
            continue  # the tag: broken on its own below
        required = field in schema.get("required", [])
        if same.get("properties", {}).get(field) == node and (field in same.get("required", [])) == required:
            continue
        here = (*path, field)
        for label, value in wrong_values(doc, node):
            yield f"{'.'.join(map(str, here))}: {label}", put(example, here, value)
        yield f"{'.'.join(map(str, here))}: null", put(example, here, None)
        if field in schema.get("required", []):
            yield f"{'.'.join(map(str, here))}: missing", put(example, here, DELETE)
        target = resolve(doc, node)
        ref = node.get("$ref") or next((b.get("$ref") for b in node.get("anyOf", []) if "$ref" in b), None)
        if target.get("type") == "object" and ref is not None:
            yield from mutations(doc, ref.rsplit("/", 1)[1], example, here)


DELETE = object()


def put(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of `body` with `path` set to `value` (parents created) or deleted."""
    changed = copy.deepcopy(body)
    node = changed
    for part in path[:-1]:
        if isinstance(node, dict) and not isinstance(node.get(part), dict | list):
            node[part] = {}
        node = node[part]
    if value is DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return changed


def event_bodies(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each event type valid, then each broken one way (its own fields and the shared ones)."""
    for base in EVENT_BASES:
        event = {"session_id": "s-conform", "user_id": "u-conform", "ts": "2011-11-02T09:29:58Z", **base}
        yield f"{base['type']}: valid", {"events": [event]}
        struct = next(s for s in shapes.EVENT_SHAPES if s.__struct_config__.tag == base["type"])
        like = None if struct is shapes.EVENT_SHAPES[0] else shapes.EVENT_SHAPES[0].__name__  # shared fields once
        for label, body in mutations(doc, struct.__name__, {"events": [event]}, ("events", 0), like):
            yield f"{base['type']} {label}", body
    one = {"type": "view", "session_id": "s-conform", "product_id": "SYN10001"}
    yield "unknown type", {"events": [{**one, "type": "tap"}]}
    yield "no type", {"events": [{k: v for k, v in one.items() if k != "type"}]}
    yield "neither session nor user", {"events": [{"type": "complaint"}]}
    yield "a null session and user", {"events": [{"type": "complaint", "session_id": None, "user_id": None}]}
    yield "500 events", {"events": [one] * 500}
    yield "501 events", {"events": [one] * 501}
    yield "no events", {"events": []}
    yield "not a list", {"events": one}


def cases(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, str, Any]]:
    """(schema, method, path, label, body) for every example and generated body."""
    paths = doc["paths"]
    for method, path, name in [
        ("post", "/v1/decide", "DecideRequest"),
        ("put", "/v1/profiles/{user_id}", "Profile"),
        ("post", "/v1/profiles/{user_id}/preferences", "Preferences"),
    ]:
        media = paths[path][method]["requestBody"]["content"]["application/json"]
        example = media.get("example", PREFERENCES_EXAMPLE if name == "Preferences" else None)
        assert example is not None, (method, path)
        url = path.replace("{user_id}", "u-conform")
        yield name, method, url, "the documented example", example
        yield name, method, url, "an unknown field", {**example, "zz_unknown": [1]}  # ignored, but by Preferences
        yield name, method, url, "not an object", [example]
        for label, body in mutations(doc, name, example):
            yield name, method, url, label, body
    events = paths["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["example"]
    yield "EventsRequest", "post", "/v1/events", "the documented example", events
    for label, body in event_bodies(doc):
        yield "EventsRequest", "post", "/v1/events", label, body


def test_schema_and_service_agree_on_every_body(client: TestClient, doc: dict[str, Any]) -> None:
    validators = {name: validator(doc, name) for name in ("DecideRequest", "Profile", "Preferences", "EventsRequest")}
    seen, disagreements = 0, []
    verdicts = {True: 0, False: 0}
    for name, method, url, label, body in cases(doc):
        schema_ok = validators[name].is_valid(body)
        response = client.request(method.upper(), url, json=body, headers=AUTH)
        assert response.status_code < 500, (label, response.text)
        if response.status_code >= 400:
            assert response.status_code == 422, (label, response.text)
        service_ok = response.status_code < 300
        if schema_ok != service_ok:
            disagreements.append(f"{name} {label}: schema {schema_ok}, service {response.status_code} {response.text}")
        seen += 1
        verdicts[service_ok] += 1
    assert not disagreements, "\n".join(disagreements)
    assert seen > 300 and verdicts[True] > 20 and verdicts[False] > 200  # the generator did generate


def test_a_refused_body_names_the_field_the_schema_names(client: TestClient) -> None:
    refused = client.post("/v1/decide", json={"session_id": "s", "session": {"viewed": ["a"] * 201}})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "session.viewed"
    refused = client.post("/v1/decide", json={"session_id": "s", "exclude": ["a", 7]})
    assert refused.json()["error"] == {
        "code": "validation_failed",
        "message": "exclude[1]: expected `str`, got `int`",
        "field": "exclude[1]",
    }


def test_post_decode_rules_are_stated_in_the_schema_and_enforced(client: TestClient, doc: dict[str, Any]) -> None:
    """A ts two days ahead passes the schema (it cannot know the clock) and says so; the service refuses it."""
    ahead = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"events": [{"type": "complaint", "user_id": "u-conform", "ts": ahead}]}
    assert validator(doc, "EventsRequest").is_valid(body)
    assert "a day ahead" in doc["components"]["schemas"]["Complaint"]["properties"]["ts"]["description"]
    refused = client.post("/v1/events", json=body)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "events[0].ts"
    blank = {"events": [{"type": "search", "session_id": "s", "query": "   "}]}
    assert not validator(doc, "EventsRequest").is_valid(blank)  # stated as a pattern as well
    assert client.post("/v1/events", json=blank).status_code == 422


def test_answers_conform_to_the_declared_shapes(client: TestClient, doc: dict[str, Any]) -> None:
    """Decisions (anonymous, a member, with explain), a stored profile and an error all match their schema."""
    client.put("/v1/profiles/u-answer", json={"first_name": "Anna", "tier": "gold", "points": 10}, headers=AUTH)
    client.post(
        "/v1/events", json={"events": [{"type": "add_to_cart", "user_id": "u-answer", "product_id": "SYN10001"}]}
    )
    bodies = [
        {"session_id": "s-answer"},
        {"session_id": "s-answer", "user_id": "u-answer", "page": "product", "context": {"product_id": "SYN10001"}},
        {"session_id": "s-answer", "user_id": "20001", "debug": True, "session": {"viewed": ["SYN10002"]}},
    ]
    for body in bodies:
        answer = client.post("/v1/decide", json=body, headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert not list(validator(doc, "DecideResponse").iter_errors(answer.json())), body
        msgspec.convert(answer.json(), shapes.DecideResponse)  # the struct, not only the schema
    stored = client.get("/v1/profiles/u-answer", headers=AUTH).json()
    assert stored["cart"] == ["SYN10001"]
    assert not list(validator(doc, "Profile").iter_errors(stored))
    refused = client.post("/v1/decide", json={"session_id": "s", "limit": 0}).json()
    assert not list(validator(doc, "Error").iter_errors(refused)) and refused["error"]["field"] == "limit"


def test_report_operations_and_demo_answers_conform_to_their_declared_shapes(artifacts_dir: Path) -> None:
    """Each served answer whose schema is generated from edge/core/answers.py (and the experiments listing) matches
    it, and decodes as the struct."""
    experiments = Path(__file__).parent / "data" / "experiments_valid.yaml"
    settings = Settings(artifacts=artifacts_dir, admin_token=ADMIN, build_if_missing=False, experiments=experiments)
    with TestClient(create_app(settings)) as client:
        doc = client.get("/openapi.json").json()
        for i in range(20):  # exposures, a purchase and a click for the reports to describe
            body = {"session_id": f"s-report-{i}", "location": {"country": "NL"}, "context": {"device": "mobile"}}
            decision = client.post("/v1/decide", json=body).json()
            events = [{"type": "purchase", "session_id": f"s-report-{i}", "product_id": "SYN10001", "quantity": 1,
                       "price": 2.5}, {"type": "click", "session_id": f"s-report-{i}",
                       "decision_id": decision["decision_id"], "position": 1}]  # fmt: skip
            assert client.post("/v1/events", json={"events": events}).status_code == 202
        served = {
            "Reloaded": client.post("/v1/admin/reload", headers=AUTH),
            "Readiness": client.get("/readyz"),  # after the reload: with `last_reload`
            "Status": client.get("/healthz"),
            "ExperimentReport": client.get("/v1/reports/experiments/hero-test", headers=AUTH),
            "PersonalizationReport": client.get("/v1/reports/personalization", headers=AUTH),
            "OfferVerdict": client.get("/v1/offers/verify/WELCOME10-x-y", params={"user_id": "u1"}, headers=AUTH),
            "Personas": client.get("/demo/personas.json"),
            "ExperimentsListing": client.get("/v1/experiments", headers=AUTH),
        }
    for name, answer in served.items():
        assert answer.status_code == 200, (name, answer.text)
        assert not list(validator(doc, name).iter_errors(answer.json())), name
        struct = ExperimentsListing if name == "ExperimentsListing" else getattr(answers, name)
        msgspec.convert(answer.json(), struct)  # the struct, not only the schema
    assert "last_reload" in served["Readiness"].json() and served["ExperimentReport"].json()["results"]
