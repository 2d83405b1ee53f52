"""Placements: the content file's `pages:`, `boosts:` and `campaigns.products:` sections.

    pages:                       page name -> placement strategy (and its knobs)
      product: {strategy: product}
      cart: {strategy: cart, add_ons: 3, add_on_max_price: 5.0, add_on_share: 0.33}
    boosts:                      context attribute -> value -> items to bring in
      weather:
        rain: {categories: [textiles], keywords: [blanket], boost: 0.3, max_items: 3}
    campaigns:
      products:                  campaign key (utm_campaign) -> its items
        xmas: {categories: [christmas], keywords: [christmas, advent], items: ["22086"]}

A rule's items are the catalog rows matching any of its categories, keywords (whole words of the
product name) or ids. Parsed once at load; `ConfigError` names the entry of a bad value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from edge.errors import ConfigError

Strategy = Literal["home", "product", "cart", "category", "search"]
STRATEGIES: Final[tuple[Strategy, ...]] = ("home", "product", "cart", "category", "search")
BOOST_ATTRIBUTES: Final = ("weather", "device", "region")
DEFAULT_BOOST = 0.3
DEFAULT_BOOST_ITEMS = 3
DEFAULT_ADD_ON_SHARE = 1 / 3  # cart: add-ons never take more than this share of the list
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Match:
    """Which products a rule selects: any of the categories, keywords (name words) or item ids."""

    categories: frozenset[str] = frozenset()
    keywords: frozenset[str] = frozenset()
    items: frozenset[str] = frozenset()

    def selects(self, item_id: str, name: str, category: str) -> bool:
        if item_id in self.items or category in self.categories:
            return True
        return bool(self.keywords) and not self.keywords.isdisjoint(_WORD.findall(name.lower()))


@dataclass(frozen=True, slots=True)
class Boost:
    match: Match
    boost: float = DEFAULT_BOOST  # added to the shown score of the rule's items, in (0, 1]
    max_items: int = DEFAULT_BOOST_ITEMS  # at most this many of the rule's items are brought in


@dataclass(frozen=True, slots=True)
class PageRule:
    strategy: Strategy
    add_ons: int = 3  # cart: places kept for small add-ons
    add_on_max_price: float = 5.0  # cart: an add-on costs at most this
    add_on_share: float = DEFAULT_ADD_ON_SHARE  # cart: add-ons fill at most this share of the list


@dataclass(frozen=True, slots=True)
class Placements:
    pages: Mapping[str, PageRule] = field(default_factory=lambda: {s: PageRule(s) for s in STRATEGIES})
    boosts: Mapping[str, Mapping[str, Boost]] = field(default_factory=dict)  # attribute -> value -> boost
    campaigns: Mapping[str, Match] = field(default_factory=dict)

    def page(self, name: str) -> PageRule:
        """The rule of a page name; an unknown page is placed like the home page."""
        return self.pages.get(name) or PageRule("home")


def parse(data: Mapping[str, Any], source: str) -> Placements:
    """The placement sections of a decoded content file (absent sections: the defaults)."""

    def fail(where: str, message: str) -> ConfigError:
        return ConfigError(f"{source}: {where}: {message}", field=where)

    def mapping(value: Any, where: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise fail(where, f"must be a mapping, got {type(value).__name__}")
        return value

    def words(value: Any, where: str) -> frozenset[str]:
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str | int) and str(v).strip() for v in value):
            raise fail(where, "must be a list of non-empty strings")
        return frozenset(str(v).strip() for v in value)

    def number(value: Any, where: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise fail(where, f"must be a number in [{low}, {high}], got {value!r}")
        return float(value)

    def match(body: Mapping[str, Any], where: str, extra: frozenset[str] = frozenset()) -> Match:
        unknown = set(body) - {"categories", "keywords", "items"} - extra
        if unknown:
            raise fail(f"{where}.{sorted(unknown)[0]}", "unknown field (allowed: categories, keywords, items)")
        found = Match(
            words(body.get("categories"), f"{where}.categories"),
            frozenset(k.lower() for k in words(body.get("keywords"), f"{where}.keywords")),
            words(body.get("items"), f"{where}.items"),
        )
        if not (found.categories or found.keywords or found.items):
            raise fail(where, "names no categories, keywords or items")
        return found

    pages: dict[str, PageRule] = {s: PageRule(s) for s in STRATEGIES}
    for name, raw in mapping(data.get("pages"), "pages").items():
        where = f"pages.{name}"
        body = mapping(raw, where)
        unknown = set(body) - {"strategy", "add_ons", "add_on_max_price", "add_on_share"}
        if unknown:
            allowed = "strategy, add_ons, add_on_max_price, add_on_share"
            raise fail(f"{where}.{sorted(unknown)[0]}", f"unknown field (allowed: {allowed})")
        strategy = body.get("strategy", name)
        if strategy not in STRATEGIES:
            raise fail(f"{where}.strategy", f"must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        pages[str(name)] = PageRule(
            strategy,
            int(number(body.get("add_ons", 3), f"{where}.add_ons", 0, 100)),
            number(body.get("add_on_max_price", 5.0), f"{where}.add_on_max_price", 0, 1e9),
            number(body.get("add_on_share", DEFAULT_ADD_ON_SHARE), f"{where}.add_on_share", 0, 1),
        )
    boosts: dict[str, dict[str, Boost]] = {}
    for attribute, values in mapping(data.get("boosts"), "boosts").items():
        if attribute not in BOOST_ATTRIBUTES:
            raise fail(f"boosts.{attribute}", f"unknown attribute (allowed: {', '.join(BOOST_ATTRIBUTES)})")
        for value, raw in mapping(values, f"boosts.{attribute}").items():
            where = f"boosts.{attribute}.{value}"
            body = mapping(raw, where)
            boosts.setdefault(attribute, {})[str(value).lower()] = Boost(
                match(body, where, frozenset({"boost", "max_items"})),
                number(body.get("boost", DEFAULT_BOOST), f"{where}.boost", 0.01, 1.0),
                int(number(body.get("max_items", DEFAULT_BOOST_ITEMS), f"{where}.max_items", 1, 50)),
            )
    campaigns = mapping(data.get("campaigns"), "campaigns")
    products = {
        str(key): match(mapping(body, f"campaigns.products.{key}"), f"campaigns.products.{key}")
        for key, body in mapping(campaigns.get("products"), "campaigns.products").items()
    }
    return Placements(pages, boosts, products)
