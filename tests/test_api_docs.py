"""docs/api.md describes everything the OpenAPI document (edge/http/openapi.py) has: every path with each
of its methods, every property of every schema, every parameter and every enumerated value. An
endpoint or field added to the OpenAPI document without its prose fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.http.openapi import openapi_document

API_MD = Path(__file__).parents[1] / "docs" / "api.md"
METHODS = ("get", "put", "post", "delete", "patch")


def documented_words(text: str) -> set[str]:
    """Every word inside `code spans`, code blocks and "quoted strings" of the text."""
    spans = re.findall(r"```.*?```", text, flags=re.S)
    spans += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    spans += re.findall(r'"([^"\n]+)"', text)
    return {word for span in spans for word in re.findall(r"[A-Za-z0-9_][A-Za-z0-9_-]*", span)}


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document("0")


@pytest.fixture(scope="module")
def text() -> str:
    return API_MD.read_text()


def undocumented_operations(doc: dict[str, Any], text: str) -> list[str]:
    """`METHOD /path` of each operation no line of the text names (methods may share a line: `GET, PUT /x`)."""
    missing = []
    for path, item in doc["paths"].items():
        pattern = re.compile(re.escape(path) + r"(?![\w/.{])")
        lines = [line for line in text.splitlines() if pattern.search(line)]
        for method in (m for m in item if m in METHODS):
            if not any(re.search(rf"\b{method.upper()}\b", line) for line in lines):
                missing.append(f"{method.upper()} {path}")
    return missing


MAX_SPELLED_OUT = 100  # an enumeration longer than this is a named vocabulary, not one to list


def undocumented_names(doc: dict[str, Any], text: str) -> list[str]:
    """Properties, parameters and enumerated values of the document that the text never mentions."""
    words = documented_words(text)
    lowered = {w.lower() for w in words}
    missing: set[str] = set()
    for node in walk(doc):
        properties = node.get("properties")
        for name in properties if isinstance(properties, dict) else ():
            if name not in words:
                missing.add(f"property {name}")
        if node.get("in") in {"header", "path", "query"} and isinstance(node.get("name"), str):
            if node["name"].lower() not in lowered:
                missing.add(f"{node['in']} parameter {node['name']}")
        values = node.get("enum")
        if isinstance(values, list) and len(values) > MAX_SPELLED_OUT and "IANA" in words:
            continue  # a published vocabulary (the IANA time zones): the contract names it, not each value
        for value in values if isinstance(values, list) else ():
            if not all(part in words for part in str(value).split()):
                missing.add(f"value {value}")
    return sorted(missing)


def test_every_path_and_method_is_in_the_contract(doc: dict[str, Any], text: str) -> None:
    assert not undocumented_operations(doc, text), "not described in docs/api.md"


def test_every_property_parameter_and_value_is_in_the_contract(doc: dict[str, Any], text: str) -> None:
    assert not undocumented_names(doc, text), "not described in docs/api.md"


def test_the_checker_notices_what_is_missing(doc: dict[str, Any], text: str) -> None:
    sample = 'a `b.c` and "d e" but not f\n```json\n{"g": 1}\n```'
    assert documented_words(sample) == {"b", "c", "d", "e", "json", "g", "1"}
    grown = openapi_document("0")
    grown["paths"]["/v1/shiny"] = {
        "post": {"parameters": [{"name": "X-Shiny", "in": "header"}], "responses": {}},
        "get": {"responses": {}},
    }
    grown["components"]["schemas"]["Shiny"] = {"properties": {"shiny_field": {"enum": ["glossy"]}}}
    grown["paths"]["/v1/decide"]["put"] = {"responses": {}}
    assert undocumented_operations(grown, text) == ["PUT /v1/decide", "POST /v1/shiny", "GET /v1/shiny"]
    assert undocumented_names(grown, text) == ["header parameter X-Shiny", "property shiny_field", "value glossy"]
