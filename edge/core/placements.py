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
product name) or ids. Declared as the content file's Structs (edge.core.content.ContentFile decodes
them); `ConfigError` names the entry of a bad value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta
from msgspec.structs import force_setattr

from edge.core.files import FileChecks, FileShape, NonEmpty

Strategy = Literal["home", "product", "cart", "category", "search"]
STRATEGIES: Final[tuple[Strategy, ...]] = ("home", "product", "cart", "category", "search")
DEFAULT_BOOST = 0.3
DEFAULT_BOOST_ITEMS = 3
DEFAULT_ADD_ON_SHARE = 1 / 3  # cart: add-ons never take more than this share of the list
_WORD = re.compile(r"[a-z0-9]+")


Word = NonEmpty | int  # YAML reads an unquoted id such as 22086 as a number


class Match(FileShape, frozen=True):
    """Which products a rule selects: any of the categories, keywords (name words) or item ids (at least one)."""

    categories: frozenset[Word] = frozenset()
    keywords: frozenset[Word] = frozenset()
    items: frozenset[Word] = frozenset()

    def __post_init__(self) -> None:
        force_setattr(self, "categories", frozenset(str(c).strip() for c in self.categories))
        force_setattr(self, "keywords", frozenset(str(k).strip().lower() for k in self.keywords))
        force_setattr(self, "items", frozenset(str(i).strip() for i in self.items))
        if not (self.categories or self.keywords or self.items):
            raise ValueError("names no categories, keywords or items")

    def selects(self, item_id: str, name: str, category: str) -> bool:
        if item_id in self.items or category in self.categories:
            return True
        return bool(self.keywords) and not self.keywords.isdisjoint(_WORD.findall(name.lower()))


class Boost(Match, frozen=True):
    """A context boost: the rule's items brought in with a higher shown score."""

    boost: Annotated[float, Meta(ge=0.01, le=1.0)] = DEFAULT_BOOST  # added to the shown score of the rule's items
    max_items: Annotated[int, Meta(ge=1, le=50)] = DEFAULT_BOOST_ITEMS  # at most this many are brought in


class PageRule(FileShape, frozen=True):
    strategy: Strategy | None = None  # the page's own name when it names a strategy
    add_ons: Annotated[int, Meta(ge=0, le=100)] = 3  # cart: places kept for small add-ons
    add_on_max_price: Annotated[float, Meta(ge=0, le=1e9)] = 5.0  # cart: an add-on costs at most this
    add_on_share: Annotated[float, Meta(ge=0, le=1)] = DEFAULT_ADD_ON_SHARE  # cart: add-ons' share of the list at most


BoostName = Literal["weather", "device", "region"]
BoostAttribute = Annotated[BoostName, Meta(description="unknown attribute")]


@dataclass(frozen=True, slots=True)
class Placements:
    """The placement sections compiled for lookups: every strategy's page present (with its default rule),
    each page's strategy filled in, boost values lowercased; the rules themselves are the file's Structs."""

    pages: Mapping[str, PageRule] = field(default_factory=lambda: {s: PageRule(strategy=s) for s in STRATEGIES})
    boosts: Mapping[str, Mapping[str, Boost]] = field(default_factory=dict)  # attribute -> value -> boost
    campaigns: Mapping[str, Match] = field(default_factory=dict)

    def page(self, name: str) -> PageRule:
        """The rule of a page name; an unknown page is placed like the home page."""
        return self.pages.get(name) or PageRule(strategy="home")


def parse(
    pages: Mapping[str, PageRule],
    boosts: Mapping[BoostName, Mapping[str, Boost]],
    campaigns: Mapping[str, Match],
    check: FileChecks,
) -> Placements:
    """The placement sections of a decoded content file (absent sections: the defaults)."""
    rules: dict[str, PageRule] = {s: PageRule(strategy=s) for s in STRATEGIES}
    for name, rule in pages.items():
        if rule.strategy is None:
            if name not in STRATEGIES:
                check.fail(f"pages.{name}.strategy", f"must be one of {', '.join(STRATEGIES)}, got {name!r}")
            rule = msgspec.structs.replace(rule, strategy=name)
        rules[name] = rule
    lowered = {str(attribute): {v.lower(): b for v, b in values.items()} for attribute, values in boosts.items()}
    return Placements(rules, lowered, dict(campaigns))
