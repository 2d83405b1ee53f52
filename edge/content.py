"""Content: the marketer-edited file of variants, greetings, CTAs and offers, and choosing from it.

`load_content` validates the whole file at load (every text in every language, known placeholders,
sane offers) and raises `ConfigError` naming the entry. `choose` is pure: segment, visitor facts
and local time in, variant + greeting + CTA out.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import yaml

from edge import placements as placements_mod
from edge.errors import ConfigError
from edge.profiles import TIERS
from edge.segments import SEGMENTS, SegmentRules

PLACEHOLDERS = frozenset({"time_greeting", "first_name", "points", "tier", "discount_pct", "campaign_title"})
DAY_PARTS = ("morning", "afternoon", "evening", "night")
OCCASIONS = ("birthday", "anniversary")
# occasions are celebrated for these segments; at-risk and lost customers keep their own approach
CELEBRATING = frozenset({"new_member", "active", "ambassador", "lapsed"})

Texts = Mapping[str, str]  # language -> template


@dataclass(frozen=True, slots=True)
class OfferRule:
    code: str  # may contain {TIER} and {discount_pct}
    discount_pct: int = 0
    tier_discount: bool = False  # the discount comes from the visitor's tier


@dataclass(frozen=True, slots=True)
class Cta:
    id: str
    url: str
    text: Texts
    text_without_offer: Texts
    offer: OfferRule | None = None


@dataclass(frozen=True, slots=True)
class Greeting:
    anonymous: Texts
    named: Texts | None = None


@dataclass(frozen=True, slots=True)
class SegmentContent:
    variant: str
    greeting: Greeting
    cta: Cta
    exclusive: bool = False  # ambassador-only: never shown below the lowest ambassador tier


@dataclass(frozen=True, slots=True)
class Rules:
    segments: SegmentRules = field(default_factory=SegmentRules)
    tier_discounts: Mapping[str, int] = field(
        default_factory=lambda: {"bronze": 0, "silver": 5, "gold": 10, "platinum": 15}
    )
    offer_cap_per_day: int = 3
    offer_valid_days: int = 7


@dataclass(frozen=True, slots=True)
class Content:
    version: str
    source: str
    languages: tuple[str, ...]
    default_language: str
    default_variant: str
    country_languages: Mapping[str, str]
    rules: Rules
    time_of_day: Mapping[str, Mapping[str, str]]
    tier_names: Mapping[str, Mapping[str, str]]
    campaign_default_title: Texts
    campaign_titles: Mapping[str, Texts]
    segments: Mapping[str, SegmentContent]
    occasions: Mapping[str, SegmentContent]
    placements: placements_mod.Placements = field(default_factory=placements_mod.Placements)  # pages, boosts


@dataclass(frozen=True, slots=True)
class Visitor:
    """What content may use about the visitor (nothing personal when not consented)."""

    segment: str
    tier: str | None = None
    first_name: str | None = None
    points: int | None = None
    birthday: date | None = None
    joined_at: datetime | None = None
    campaign: str | None = None


@dataclass(frozen=True, slots=True)
class Overrides:
    """What an experiment arm may change for one request."""

    variant: str | None = None
    greeting: Texts | None = None
    cta_text: Texts | None = None


@dataclass(frozen=True, slots=True)
class Page:
    variant: str
    greeting: dict[str, str]
    cta: dict[str, Any]
    offer_code: str | None
    occasion: str | None


def load_content(path: Path) -> Content:
    """Read and validate a content file (YAML or JSON)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"content file {path} not found", field="EDGE_CONTENT") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"content file {path}: not valid YAML ({exc})", field="EDGE_CONTENT") from exc
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return parse_content(raw, source=str(path), version=digest)


def parse_content(raw: Any, source: str, version: str) -> Content:
    """Validate decoded content; every problem names its entry (`segments.lost.cta.text.nl`)."""
    p = _Parser(source)
    data = p.mapping(raw, "")
    languages = tuple(p.strings(data.get("languages"), "languages"))
    if not languages:
        p.fail("languages", "list at least one language")
    p.languages = languages
    default_language = p.string(data.get("default_language"), "default_language")
    if default_language not in languages:
        p.fail("default_language", f"{default_language!r} is not in languages")
    rules = _rules(p, p.mapping(data.get("rules", {}), "rules"))
    segments_raw = p.mapping(data.get("segments"), "segments")
    missing = [s for s in SEGMENTS if s not in segments_raw]
    if missing:
        p.fail("segments", f"missing {', '.join(missing)}")
    segments: dict[str, SegmentContent] = {
        name: _segment(p, segments_raw[name], f"segments.{name}") for name in SEGMENTS
    }
    for name, seg in segments.items():
        if seg.exclusive and name != "ambassador":
            p.fail(f"segments.{name}.exclusive", "only the ambassador segment may be exclusive")
    lost_offer = segments["lost"].cta.offer
    for name, seg in segments.items():
        if name != "lost" and lost_offer and seg.cta.offer and seg.cta.offer.code == lost_offer.code:
            p.fail(f"segments.{name}.cta.offer.code", "the welcome-back offer is only for lost customers")
    occasions_raw = p.mapping(data.get("occasions", {}), "occasions")
    occasions = {name: _segment(p, body, f"occasions.{name}", occasion=True) for name, body in occasions_raw.items()}
    unknown = set(occasions) - set(OCCASIONS)
    if unknown:
        p.fail("occasions", f"unknown occasions {sorted(unknown)}; known: {', '.join(OCCASIONS)}")
    campaigns = p.mapping(data.get("campaigns", {}), "campaigns")
    titles = p.mapping(campaigns.get("titles", {}), "campaigns.titles")
    country_languages = p.mapping(data.get("country_languages", {}), "country_languages")
    for country, language in country_languages.items():
        if language not in languages:
            p.fail(f"country_languages.{country}", f"{language!r} is not in languages")
    return Content(
        version=version,
        source=source,
        languages=languages,
        default_language=default_language,
        default_variant=p.string(data.get("default_variant", "home-default"), "default_variant"),
        country_languages={str(k): str(v) for k, v in country_languages.items()},
        rules=rules,
        time_of_day={
            lang: {
                part: p.string(
                    p.mapping(data.get("time_of_day"), "time_of_day").get(lang, {}).get(part),
                    f"time_of_day.{lang}.{part}",
                )
                for part in DAY_PARTS
            }
            for lang in languages
        },
        tier_names={
            lang: {
                tier: p.string(
                    p.mapping(data.get("tier_names"), "tier_names").get(lang, {}).get(tier), f"tier_names.{lang}.{tier}"
                )
                for tier in TIERS
            }
            for lang in languages
        },
        campaign_default_title=p.texts(campaigns.get("default_title"), "campaigns.default_title"),
        campaign_titles={str(k): p.texts(v, f"campaigns.titles.{k}") for k, v in titles.items()},
        segments=segments,
        occasions=occasions,
        placements=placements_mod.parse(data, source),
    )


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.languages: tuple[str, ...] = ()

    def fail(self, where: str, message: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {where}: {message}", field=where or None)

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where or "(top level)", "must be a mapping")
        return dict(value)

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "must be a non-empty string")
        return str(value)

    def strings(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(where, "must be a list of strings")
        return list(value)

    def template(self, value: Any, where: str) -> str:
        text = self.string(value, where)
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError as exc:
            self.fail(where, f"bad template ({exc})")
        unknown = names - PLACEHOLDERS
        if unknown:
            self.fail(where, f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(PLACEHOLDERS)}")
        return text

    def texts(self, value: Any, where: str) -> dict[str, str]:
        body = self.mapping(value, where)
        return {lang: self.template(body.get(lang), f"{where}.{lang}") for lang in self.languages}


def _rules(p: _Parser, data: dict[str, Any]) -> Rules:
    defaults = Rules()
    segment_rules = SegmentRules.from_config(p.mapping(data.get("segments", {}), "rules.segments"))
    discounts = p.mapping(data.get("tier_discounts", dict(defaults.tier_discounts)), "rules.tier_discounts")
    values: list[int] = []
    for tier in TIERS:
        pct = discounts.get(tier)
        if not isinstance(pct, int) or not 0 <= pct <= 90:
            p.fail(f"rules.tier_discounts.{tier}", "must be an integer percentage 0-90")
        values.append(pct)
    if values != sorted(values):
        p.fail("rules.tier_discounts", "discounts must grow with the tier")
    cap = data.get("offer_cap_per_day", defaults.offer_cap_per_day)
    valid = data.get("offer_valid_days", defaults.offer_valid_days)
    if not isinstance(cap, int) or cap < 0:
        p.fail("rules.offer_cap_per_day", "must be an integer >= 0")
    if not isinstance(valid, int) or valid < 1:
        p.fail("rules.offer_valid_days", "must be an integer >= 1")
    return Rules(segment_rules, dict(zip(TIERS, values, strict=True)), cap, valid)


def _segment(p: _Parser, value: Any, where: str, occasion: bool = False) -> SegmentContent:
    body = p.mapping(value, where)
    greeting = p.mapping(body.get("greeting"), f"{where}.greeting")
    cta = p.mapping(body.get("cta"), f"{where}.cta")
    offer_raw = cta.get("offer")
    offer = None
    if offer_raw is not None:
        offer_body = p.mapping(offer_raw, f"{where}.cta.offer")
        tier_discount = bool(offer_body.get("tier_discount", False))
        pct = offer_body.get("discount_pct", 0)
        if not tier_discount and (not isinstance(pct, int) or not 1 <= pct <= 90):
            p.fail(f"{where}.cta.offer.discount_pct", "must be an integer percentage 1-90")
        offer = OfferRule(p.string(offer_body.get("code"), f"{where}.cta.offer.code"), int(pct), tier_discount)
    text = p.texts(cta.get("text"), f"{where}.cta.text")
    if offer is not None:
        without = p.texts(cta.get("text_without_offer"), f"{where}.cta.text_without_offer")
    else:
        without = text
    for lang, template in without.items():
        if "{discount_pct}" in template:
            p.fail(f"{where}.cta.text_without_offer.{lang}", "must not mention {discount_pct}")
    named = greeting.get("named")
    return SegmentContent(
        variant="" if occasion else p.string(body.get("variant"), f"{where}.variant"),
        greeting=Greeting(
            anonymous=p.texts(greeting.get("anonymous"), f"{where}.greeting.anonymous"),
            named=None if named is None else p.texts(named, f"{where}.greeting.named"),
        ),
        cta=Cta(
            id=p.string(cta.get("id"), f"{where}.cta.id"),
            url=p.string(cta.get("url"), f"{where}.cta.url"),
            text=text,
            text_without_offer=without,
            offer=offer,
        ),
        exclusive=bool(body.get("exclusive", False)),
    )


def language_for(content: Content, *tags: str | None, country: str | None = None) -> str:
    """The first language among the tags (`nl-NL` -> `nl`) that content has, else the country's, else default."""
    for tag in tags:
        if tag:
            lang = tag[:2].lower()
            if lang in content.languages:
                return lang
    if country and country in content.country_languages:
        return content.country_languages[country]
    return content.default_language


def day_part(local: datetime) -> str:
    """morning 5-12, afternoon 12-18, evening 18-23, night otherwise."""
    hour = local.hour
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "afternoon"
    if 18 <= hour < 23:
        return "evening"
    return "night"


def format_number(value: int, lang: str) -> str:
    """Thousands grouped the way the language writes them (1,250 / 1.250)."""
    grouped = f"{value:,}"
    return grouped.replace(",", ".") if lang == "nl" else grouped


def occasion_for(visitor: Visitor, local_day: date) -> str | None:
    """`birthday` or `anniversary` when today (local) is one, for a segment that celebrates."""
    if visitor.segment not in CELEBRATING:
        return None
    if visitor.birthday and (visitor.birthday.month, visitor.birthday.day) == (local_day.month, local_day.day):
        return "birthday"
    joined = visitor.joined_at
    if joined and (joined.month, joined.day) == (local_day.month, local_day.day) and joined.year < local_day.year:
        return "anniversary"
    return None


def choose(
    content: Content,
    visitor: Visitor,
    lang: str,
    local_now: datetime,
    now: datetime,
    offers_shown: Mapping[str, int],
    overrides: Overrides | None = None,
) -> Page:
    """Variant, greeting and CTA for this visitor; pure."""
    rules = content.rules
    segment = content.segments[visitor.segment]
    if segment.exclusive and visitor.tier not in rules.segments.ambassador_tiers:
        segment = content.segments["active"]  # exclusive content is never shown below the ambassador tiers
    occasion = occasion_for(visitor, local_now.date())
    source = content.occasions.get(occasion) if occasion else None
    greeting_source = source or segment
    cta_source = source or segment
    if source is None and visitor.segment != "campaign" and visitor.campaign in content.campaign_titles:
        cta_source = content.segments["campaign"]  # a member from a campaign: their greeting, the campaign's CTA
    discount = 0
    offer_code = None
    offer = cta_source.cta.offer
    if offer is not None:
        discount = rules.tier_discounts.get(visitor.tier or "bronze", 0) if offer.tier_discount else offer.discount_pct
        tier_code = (visitor.tier or "").upper()
        code = offer.code.replace("{TIER}", tier_code).replace("{discount_pct}", str(discount))
        if discount > 0 and offers_shown.get(code, 0) < rules.offer_cap_per_day:
            offer_code = code
    campaign_title = content.campaign_titles.get(visitor.campaign or "", content.campaign_default_title)
    values = {
        "time_greeting": content.time_of_day[lang][day_part(local_now)],
        "first_name": visitor.first_name or "",
        "points": format_number(visitor.points or 0, lang),
        "tier": content.tier_names[lang].get(visitor.tier or "bronze", ""),
        "discount_pct": str(discount),
        "campaign_title": campaign_title[lang],
    }
    over = overrides or Overrides()
    named = greeting_source.greeting.named
    if over.greeting is not None:
        greeting_template = over.greeting.get(lang) or over.greeting.get(content.default_language, "")
    elif named is not None and visitor.first_name:
        greeting_template = named[lang]
    else:
        greeting_template = greeting_source.greeting.anonymous[lang]
    if "{first_name}" in greeting_template and not visitor.first_name:
        greeting_template = greeting_source.greeting.anonymous[lang]
    if "{points}" in greeting_template and visitor.points is None:
        greeting_template = content.segments["new_visitor"].greeting.anonymous[lang]
    cta = cta_source.cta
    if over.cta_text is not None:
        cta_template = over.cta_text.get(lang) or over.cta_text.get(content.default_language, "")
    else:
        cta_template = cta.text[lang] if offer_code else cta.text_without_offer[lang]
    url = cta.url
    if cta_source is content.segments["campaign"] and visitor.campaign in content.campaign_titles:
        url = f"{url.rstrip('/')}/{visitor.campaign}"
    offer_json = None
    if offer_code is not None:
        expires = now + timedelta(days=rules.offer_valid_days)
        offer_json = {
            "discount_pct": discount,
            "code": offer_code,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    return Page(
        variant=over.variant or segment.variant,
        greeting={"text": greeting_template.format_map(values), "locale": lang},
        cta={"id": cta.id, "text": cta_template.format_map(values), "url": url, "offer": offer_json},
        offer_code=offer_code,
        occasion=occasion,
    )


def default_page(content: Content, lang: str, local_now: datetime) -> Page:
    """The non-personalized page (global holdout): default variant, a new visitor's copy, no offer."""
    page = choose(content, Visitor(segment="new_visitor"), lang, local_now, local_now, {}, None)
    return Page(content.default_variant, page.greeting, {**page.cta, "offer": None}, None, None)
