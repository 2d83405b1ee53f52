"""Pages and signals through HTTP: every page type, searches, campaigns, weather/device/region, near-duplicates."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from edge.model import artifacts
from tests import conftest
from tests.conftest import AUTH

MEMBER = {"first_name": "Anna", "joined_at": "2024-03-10T08:00:00Z", "orders": 12, "spend": 900.0,
          "last_purchase_at": "2026-10-15T10:00:00Z", "points": 1250, "tier": "silver",
          "consent": {"personalization": True}}  # fmt: skip


decide = functools.partial(
    conftest.decide, session_id="s-pages", location={"country": "GB", "timezone": "Europe/London"}
)


@pytest.fixture(scope="module")
def build(artifacts_dir: Path) -> artifacts.Artifacts:
    return artifacts.load(artifacts_dir)


def ids(decision: dict[str, Any]) -> list[str]:
    return [p["id"] for p in decision["products"]]


def test_product_page_shows_similar_and_bought_together_never_the_product(
    client: TestClient, build: artifacts.Artifacts
) -> None:
    product = build.items[int(build.popularity.global_rows[3])]
    page = decide(client, page="product", context={"product_id": product.id}, limit=12)
    home = decide(client, limit=12)
    assert product.id not in ids(page) and len(page["products"]) == 12
    assert {p["reason"] for p in page["products"]} <= {"similar_item", "bought_together", "best_seller"}
    assert ids(page) != ids(home)
    same_category = sum(p["category"] == product.category for p in page["products"])
    assert same_category >= 3  # similar items share the product's category (up to the category cap)


def test_cart_page_complements_then_small_add_ons(client: TestClient, build: artifacts.Artifacts) -> None:
    cart = [build.items[int(r)].id for r in build.popularity.global_rows[:2]]
    page = decide(client, page="cart", session={"cart": cart}, limit=10)
    products = page["products"]
    assert not set(cart) & set(ids(page)) and len(products) == 10
    assert products[0]["reason"] == "in_cart_complement"
    add_ons = [p for p in products if p["reason"] == "add_on"]
    assert add_ons and all(p["price"] <= 5.0 for p in add_ons)  # 3 places
    assert products[-len(add_ons) :] == add_ons  # add-ons come after the complements


def test_category_page_holds_only_that_category(client: TestClient) -> None:
    page = decide(client, page="category", context={"category": "garden"}, limit=12)
    assert len(page["products"]) == 12
    assert {p["category"] for p in page["products"]} == {"garden"}
    assert {p["reason"] for p in page["products"]} == {"category"}
    unknown = decide(client, page="category", context={"category": "no-such-category"}, limit=12)
    assert len(unknown["products"]) == 12  # an unknown category falls back to the home list


def test_search_page_matches_the_query_in_personal_order(client: TestClient) -> None:
    page = decide(client, page="search", context={"query": "lanterns"}, limit=8)
    assert page["products"] and all("lantern" in p["name"].lower() for p in page["products"])
    assert {p["reason"] for p in page["products"]} == {"search"}
    client.put("/v1/profiles/u-pages-search", json=MEMBER, headers=AUTH)
    viewed = [p["id"] for p in decide(client, page="search", context={"query": "star lantern"}, limit=3)["products"]]
    personal = decide(client, page="search", context={"query": "lanterns"}, limit=8, session={"viewed": viewed})
    assert all("lantern" in p["name"].lower() for p in personal["products"])
    assert ids(personal) != ids(page) and personal["personalized"] is True


def test_recent_searches_change_the_home_list(client: TestClient) -> None:
    plain = decide(client, limit=12)
    searched = decide(client, limit=12, session={"searches": ["advent calendar"]})
    assert plain["personalized"] is False and searched["personalized"] is True
    assert ids(searched) != ids(plain)
    found = [p for p in searched["products"] if p["reason"] == "search"]
    assert found and all("advent" in p["name"].lower() or "calendar" in p["name"].lower() for p in found)


def test_campaign_brings_its_products_for_anonymous_and_known_visitors(client: TestClient) -> None:
    utm = {"utm": {"source": "newsletter", "campaign": "xmas"}}
    plain = decide(client, limit=12)
    anonymous = decide(client, limit=12, session=utm)
    assert anonymous["segment"] == "campaign" and "Christmas collection" in anonymous["greeting"]["text"]
    campaign = [p for p in anonymous["products"] if p["reason"] == "campaign"]
    assert campaign and all(p["category"] == "christmas" for p in campaign)
    assert anonymous["products"][0]["reason"] == "campaign" and ids(anonymous) != ids(plain)

    assert client.put("/v1/profiles/u-pages-xmas", json=MEMBER, headers=AUTH).status_code == 200
    member = decide(client, user_id="u-pages-xmas", limit=12, session=utm)
    usual = decide(client, user_id="u-pages-xmas", limit=12)
    assert member["segment"] == usual["segment"] == "active"  # the member keeps their segment
    assert member["greeting"] == usual["greeting"]
    assert member["cta"]["url"] == "/campaign/xmas" and "Christmas" in member["cta"]["text"]
    assert [p for p in member["products"] if p["reason"] == "campaign"]
    assert not [p for p in usual["products"] if p["reason"] == "campaign"]


def test_weather_rule_brings_its_products(client: TestClient) -> None:
    dry = decide(client, limit=12)
    rain = decide(client, limit=12, context={"weather": "rain"})
    boosted = [p for p in rain["products"] if p["reason"] == "context"]
    assert 1 <= len(boosted) <= 3 and ids(rain) != ids(dry)
    assert all(p["category"] in {"textiles", "candles"} or "blanket" in p["name"].lower() for p in boosted)
    assert not [
        p for p in decide(client, limit=12, context={"weather": "cloudy"})["products"] if p["reason"] == "context"
    ]


def _few_complements(build: artifacts.Artifacts) -> str:
    """An item with no co-purchase neighbours: its cart has no complements."""
    row = int(np.flatnonzero((build.neighbors >= 0).sum(axis=1) == 0)[0])
    return build.items[row].id


@pytest.mark.parametrize(("share", "most"), [(None, 4), (0.25, 3)])
def test_cart_page_add_ons_never_exceed_their_share_when_complements_are_few(
    settings: Any, tmp_path: Path, build: artifacts.Artifacts, share: float | None, most: int
) -> None:
    from edge.http.app import create_app
    from edge.settings import Settings

    content = settings.content
    if share is not None:  # the packaged content file with the cart's share configured
        text = settings.content.read_text()
        line = "  cart: {strategy: cart, add_ons: 3, add_on_max_price: 5.0}"
        assert line in text
        content = tmp_path / "content.yaml"
        wider = f"  cart: {{strategy: cart, add_ons: 6, add_on_max_price: 5.0, add_on_share: {share}}}"
        content.write_text(text.replace(line, wider))
    app = create_app(
        Settings(
            artifacts=settings.artifacts, admin_token=settings.admin_token, build_if_missing=False, content=content
        )
    )
    with TestClient(app) as client:
        page = decide(client, page="cart", session={"cart": [_few_complements(build)]}, limit=12)
    products = page["products"]
    add_ons = [p for p in products if p["reason"] == "add_on"]
    assert len(products) == 12
    assert 1 <= len(add_ons) <= most  # a third of 12 by default; a quarter when configured (even with 6 places)
    assert len(add_ons) == most  # the places are used up to the cap: there are small items to add
    assert products[-len(add_ons) :] == add_ons
    assert [p for p in products if p["reason"] not in {"add_on", "in_cart_complement"}]  # the usual list fills


def test_device_rule_brings_its_products(client: TestClient) -> None:
    desktop = decide(client, limit=12, context={"device": "desktop"})
    mobile = decide(client, limit=12, context={"device": "Mobile"})
    boosted = [p for p in mobile["products"] if p["reason"] == "context"]
    assert 1 <= len(boosted) <= 2 and ids(mobile) != ids(desktop)
    assert all(
        p["category"] in {"stationery", "party"} or {"card", "notebook"} & set(p["name"].lower().split())
        for p in boosted
    )
    assert not [p for p in desktop["products"] if p["reason"] == "context"]


def test_region_rule_brings_its_products(client: TestClient) -> None:
    elsewhere = decide(client, limit=12, location={"country": "NL", "region": "ZH", "timezone": "Europe/Amsterdam"})
    holland = decide(client, limit=12, location={"country": "NL", "region": "NH", "timezone": "Europe/Amsterdam"})
    boosted = [p for p in holland["products"] if p["reason"] == "context"]
    assert 1 <= len(boosted) <= 2 and ids(holland) != ids(elsewhere)
    assert all(p["category"] == "bags" or "bag" in p["name"].lower() for p in boosted)
    assert not [p for p in elsewhere["products"] if p["reason"] == "context"]


def test_near_duplicates_one_in_the_top_6_two_in_12(client: TestClient, build: artifacts.Artifacts) -> None:
    assert build.learned is not None
    groups = build.learned.duplicate_group
    row_of = {item.id: row for row, item in enumerate(build.items)}
    # a visitor who viewed one variant of a product with many variants
    sizes: dict[int, int] = {}
    for g in groups.tolist():
        if g >= 0:
            sizes[g] = sizes.get(g, 0) + 1
    biggest = max(sizes, key=lambda g: sizes[g])
    members = [build.items[r].id for r in range(len(groups)) if groups[r] == biggest]
    assert len(members) >= 3
    for page in (
        decide(client, limit=12, session={"viewed": members[:2]}),
        decide(client, page="product", context={"product_id": members[0]}, limit=12),
    ):
        seen = [int(groups[row_of[i]]) for i in ids(page)]
        top6 = [g for g in seen[:6] if g >= 0]
        assert len(top6) == len(set(top6)), seen
        assert all(seen.count(g) <= 2 for g in set(seen) if g >= 0), seen


def test_bad_context_fields_are_named(client: TestClient) -> None:
    response = client.post("/v1/decide", json={"session_id": "s", "context": {"query": 7}})
    assert response.status_code == 422 and response.json()["error"]["field"] == "context.query"


def test_experiments_can_target_weather_and_region(settings: Any, tmp_path: Path) -> None:
    from edge.http.app import create_app
    from edge.settings import Settings

    path = tmp_path / "experiments.yaml"
    path.write_text(
        "experiments:\n"
        "  - key: rainy-days\n"
        "    arms: [{key: a, weight: 0.5}, {key: b, weight: 0.5, ranking: {strategy: blend}}]\n"
        "    when: {weather: [rain], region: [NH]}\n"
    )
    app = create_app(
        Settings(
            artifacts=settings.artifacts, admin_token=settings.admin_token, build_if_missing=False, experiments=path
        )
    )
    with TestClient(app) as client:
        where = {"country": "NL", "region": "NH"}
        rain = decide(client, location=where, context={"weather": "rain"})
        assert [e["key"] for e in rain["experiments"]] == ["rainy-days"]
        assert decide(client, location=where, context={"weather": "sun"})["experiments"] == []
        assert (
            decide(client, location={"country": "NL", "region": "ZH"}, context={"weather": "rain"})["experiments"] == []
        )
