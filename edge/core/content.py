"""Content: the marketer-edited file of variants, greetings, CTAs and offers, and choosing from it.

`parse_content` validates the whole file at load (every text in every language, known placeholders,
sane offers; edge.model.config_files reads it) and raises `ConfigError` naming the entry. `choose`
is pure: segment, visitor facts and local time in, variant + greeting + CTA out.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn

from edge.core import placements as placements_mod
from edge.core.profiles import TIERS
from edge.core.segments import SEGMENTS, SegmentRules
from edge.errors import ConfigError

PLACEHOLDERS = frozenset(
    {
        "time_greeting",
        "first_name",
        "points",
        "tier",
        "discount_pct",
        "campaign_title",
        "points_to_next_tier",
        "next_tier",
    }
)
PROGRESS_PLACEHOLDERS = frozenset({"points_to_next_tier", "next_tier"})  # only in `greeting.progress` texts
DAY_PARTS = ("morning", "afternoon", "evening", "night")
OCCASIONS = ("birthday", "anniversary", "tier_upgrade", "milestone", "cart_abandoned")
ANONYMOUS_SEGMENTS = frozenset({"new_visitor", "campaign"})  # nothing to remember a first-shown time on
# Top-level sections of the content file; `pages` and `boosts` belong to the ranking (parsed there).
TOP_LEVEL_KEYS = frozenset(
    {"version", "languages", "default_language", "default_variant", "country_languages", "rules", "time_of_day",
     "tier_names", "campaigns", "segments", "occasions", "holdout_member", "activities", "preferences"}
)  # fmt: skip
PARSED_ELSEWHERE = frozenset({"pages", "boosts"})
# Copy that promises a deadline, per language: the offer's window must not be longer than the promise.
DEADLINE_WORDS: Mapping[str, tuple[tuple[str, int], ...]] = {
    "en": (("today", 1), ("24 hours", 1), ("this week", 7)),
    "nl": (("vandaag", 1), ("24 uur", 1), ("deze week", 7)),
}
# occasions are celebrated for these segments; at-risk and lost customers keep their own approach
CELEBRATING = frozenset({"new_member", "active", "ambassador", "lapsed"})

Texts = Mapping[str, str]  # language -> template


@dataclass(frozen=True, slots=True)
class OfferRule:
    """An offer and its validity: a fixed window (`valid_from`/`valid_until`), else `valid_days` from first shown."""

    code: str  # may contain {TIER} and {discount_pct}
    discount_pct: int = 0
    tier_discount: bool = False  # the discount comes from the visitor's tier: a standing benefit, not a promotion
    id: str = ""  # where it is defined: `lost`, `occasion.birthday`, `holdout_member`
    valid_days: int | None = None  # days from when this person first saw it (remembered per person)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    unique_codes: bool = False  # a per-person code (edge.core.offers), verifiable at checkout

    @property
    def promotional(self) -> bool:
        """Promotions are frequency-capped and expire; a tier's standing discount is neither."""
        return not self.tier_discount

    def window(
        self, first_shown: datetime | None, now: datetime, default_days: int
    ) -> tuple[datetime, datetime] | None:
        """The validity window that applies at `now`, or None when the offer is not (or no longer) valid."""
        if self.valid_from is not None and now < self.valid_from:
            return None
        if self.valid_days is None and self.valid_until is not None:
            start = self.valid_from or first_shown or now
            end = self.valid_until
        else:
            start = first_shown or now
            end = start + timedelta(days=self.valid_days or default_days)
            if self.valid_until is not None:
                end = min(end, self.valid_until)
        return (start, end) if start <= now < end else None

    def longest_days(self, default_days: int) -> float:
        """The longest a window of this offer can last, in days (for copy that promises a deadline)."""
        if self.valid_days is None and self.valid_until is not None and self.valid_from is not None:
            return (self.valid_until - self.valid_from).total_seconds() / 86400.0
        if self.valid_days is None and self.valid_until is not None:
            return float("inf")
        return float(self.valid_days or default_days)


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
    progress: Texts | None = None  # used instead when the visitor has a next tier ({points_to_next_tier}, {next_tier})


@dataclass(frozen=True, slots=True)
class SegmentContent:
    variant: str
    greeting: Greeting
    cta: Cta
    exclusive: bool = False  # ambassador-only: never shown below the lowest ambassador tier
    cta_after_quiz: Cta | None = None  # new members who answered the preference quiz see this instead


@dataclass(frozen=True, slots=True)
class Rules:
    segments: SegmentRules = field(default_factory=SegmentRules)
    tier_discounts: Mapping[str, int] = field(
        default_factory=lambda: {"bronze": 0, "silver": 5, "gold": 10, "platinum": 15}
    )
    offer_cap_per_day: int = 3  # promotions only; a tier's standing discount is never capped
    offer_valid_days: int = 7
    milestones: tuple[int, ...] = (1000, 2500, 5000, 10000)  # points balances celebrated once each
    cart_idle_minutes: int = 60  # a stored cart untouched this long is an abandoned cart


@dataclass(frozen=True, slots=True)
class Activity:
    """Points a non-purchase activity earns: once ever (`quiz`) or once per product (`review`)."""

    points: int
    per: str = "ever"  # "ever" or "product"


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
    holdout_member: SegmentContent | None = None  # what a member in the global holdout sees
    placements: placements_mod.Placements = field(default_factory=placements_mod.Placements)  # pages, boosts
    activities: Mapping[str, Activity] = field(default_factory=dict)
    # quiz answer -> categories it favours: {"shops_for": {"kids": ["toys"]}, "style": {...}}
    preference_categories: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def offers(self) -> dict[str, OfferRule]:
        """Every offer of the file by id."""
        found = {}
        for entry in (*self.segments.values(), *self.occasions.values(), self.holdout_member):
            for cta in (entry.cta, entry.cta_after_quiz) if entry is not None else ():
                if cta is not None and cta.offer is not None:
                    found[cta.offer.id] = cta.offer
        return found


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
    next_tier: str | None = None  # the tier the visitor's spend reaches next (None at the top)
    points_to_next_tier: int | None = None
    quiz_answered: bool = False
    occasion: str | None = None  # `tier_upgrade`, `milestone` or `cart_abandoned`, decided from the profile


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
    offer: OfferRule | None = None  # the offer shown (its first-shown time is remembered)
    counter_code: str | None = None  # what the frequency cap counts (the code before any per-person part)


def parse_content(raw: Any, source: str, version: str) -> Content:
    """Validate decoded content; every problem names its entry (`segments.lost.cta.text.nl`).

    Unknown keys are refused (a YAML flow mapping that split a text at a comma shows up as one),
    and so are null or empty texts.
    """
    p = _Parser(source)
    data = p.mapping(raw, "")
    p.keys(data, "", TOP_LEVEL_KEYS | PARSED_ELSEWHERE)
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
    p.keys(segments_raw, "segments", frozenset(SEGMENTS))
    segments: dict[str, SegmentContent] = {
        name: _segment(p, segments_raw[name], f"segments.{name}", offer_id=name) for name in SEGMENTS
    }
    for name, seg in segments.items():
        if seg.exclusive and name != "ambassador":
            p.fail(f"segments.{name}.exclusive", "only the ambassador segment may be exclusive")
        if seg.cta_after_quiz is not None and name != "new_member":
            p.fail(f"segments.{name}.cta_after_quiz", "only new members are asked the preference quiz")
        offer = seg.cta.offer
        if name in ANONYMOUS_SEGMENTS and offer is not None and offer.valid_until is None:
            p.fail(f"segments.{name}.cta.offer", "an offer for anonymous visitors needs a fixed valid_until")
    lost_offer = segments["lost"].cta.offer
    for name, seg in segments.items():
        if name != "lost" and lost_offer and seg.cta.offer and seg.cta.offer.code == lost_offer.code:
            p.fail(f"segments.{name}.cta.offer.code", "the welcome-back offer is only for lost customers")
    occasions_raw = p.mapping(data.get("occasions", {}), "occasions")
    unknown = set(occasions_raw) - set(OCCASIONS)
    if unknown:
        p.fail("occasions", f"unknown occasions {sorted(unknown)}; known: {', '.join(OCCASIONS)}")
    occasions = {
        name: _segment(p, body, f"occasions.{name}", occasion=True, offer_id=f"occasion.{name}")
        for name, body in occasions_raw.items()
    }
    holdout_raw = data.get("holdout_member")
    holdout_member = None
    if holdout_raw is not None:
        holdout_member = _segment(p, holdout_raw, "holdout_member", occasion=True, offer_id="holdout_member")
        if holdout_member.cta.offer is not None and not holdout_member.cta.offer.tier_discount:
            p.fail("holdout_member.cta.offer", "the holdout keeps loyalty entitlements only: a tier_discount offer")
    campaigns = p.mapping(data.get("campaigns", {}), "campaigns")  # ranking extends campaigns: not strict here
    titles = p.mapping(campaigns.get("titles", {}), "campaigns.titles")
    country_languages = p.mapping(data.get("country_languages", {}), "country_languages")
    for country, language in country_languages.items():
        if language not in languages:
            p.fail(f"country_languages.{country}", f"{language!r} is not in languages")
    time_of_day = p.mapping(data.get("time_of_day"), "time_of_day")
    tier_names = p.mapping(data.get("tier_names"), "tier_names")
    p.keys(time_of_day, "time_of_day", frozenset(languages))
    p.keys(tier_names, "tier_names", frozenset(languages))
    for lang in languages:
        p.keys(p.mapping(time_of_day.get(lang), f"time_of_day.{lang}"), f"time_of_day.{lang}", frozenset(DAY_PARTS))
        p.keys(p.mapping(tier_names.get(lang), f"tier_names.{lang}"), f"tier_names.{lang}", frozenset(TIERS))
    content = Content(
        version=version,
        source=source,
        languages=languages,
        default_language=default_language,
        default_variant=p.string(data.get("default_variant", "home-default"), "default_variant"),
        country_languages={str(k): str(v) for k, v in country_languages.items()},
        rules=rules,
        time_of_day={
            lang: {part: p.string(time_of_day[lang].get(part), f"time_of_day.{lang}.{part}") for part in DAY_PARTS}
            for lang in languages
        },
        tier_names={
            lang: {tier: p.string(tier_names[lang].get(tier), f"tier_names.{lang}.{tier}") for tier in TIERS}
            for lang in languages
        },
        campaign_default_title=p.texts(campaigns.get("default_title"), "campaigns.default_title"),
        campaign_titles={str(k): p.texts(v, f"campaigns.titles.{k}") for k, v in titles.items()},
        segments=segments,
        occasions=occasions,
        holdout_member=holdout_member,
        activities=_activities(p, p.mapping(data.get("activities", {}), "activities")),
        preference_categories=_preferences(p, p.mapping(data.get("preferences", {}), "preferences")),
        placements=placements_mod.parse(data, source),
    )
    _check_deadlines(p, content)
    return content


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

    def keys(self, value: Mapping[str, Any], where: str, allowed: frozenset[str]) -> None:
        """Refuse unknown keys (a typo, or the tail of a text an unquoted comma cut off)."""
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            hint = " (quote texts that contain a comma)" if any(" " in k for k in unknown) else ""
            self.fail(
                f"{where}.{unknown[0]}" if where else unknown[0],
                f"unknown key{hint}; allowed: {', '.join(sorted(allowed))}",
            )

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "must be a non-empty string")
        return str(value)

    def strings(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(where, "must be a list of strings")
        return list(value)

    def integer(self, value: Any, where: str, low: int, high: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(where, f"must be an integer {low}-{high}")
        return value

    def moment(self, value: Any, where: str) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.fail(where, "must be a date or an RFC 3339 timestamp")
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def template(self, value: Any, where: str, progress: bool = False) -> str:
        text = self.string(value, where)
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError as exc:
            self.fail(where, f"bad template ({exc})")
        unknown = names - PLACEHOLDERS
        if unknown:
            self.fail(where, f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(PLACEHOLDERS)}")
        if not progress and names & PROGRESS_PLACEHOLDERS:
            self.fail(where, "{points_to_next_tier} and {next_tier} belong in greeting.progress texts")
        return text

    def texts(self, value: Any, where: str, progress: bool = False) -> dict[str, str]:
        body = self.mapping(value, where)
        self.keys(body, where, frozenset(self.languages))
        return {lang: self.template(body.get(lang), f"{where}.{lang}", progress) for lang in self.languages}


_RULE_KEYS = frozenset(
    {"segments", "tier_discounts", "offer_cap_per_day", "offer_valid_days", "milestones", "cart_idle_minutes"}
)
_SEGMENT_KEYS = frozenset({"variant", "greeting", "cta", "exclusive", "cta_after_quiz"})
_OCCASION_KEYS = frozenset({"greeting", "cta"})
_GREETING_KEYS = frozenset({"named", "anonymous", "progress"})
_CTA_KEYS = frozenset({"id", "url", "text", "text_without_offer", "offer"})
_OFFER_KEYS = frozenset(
    {"code", "discount_pct", "tier_discount", "valid_days", "valid_from", "valid_until", "unique_codes"}
)
_ACTIVITY_KEYS = frozenset({"points", "per"})


def _rules(p: _Parser, data: dict[str, Any]) -> Rules:
    defaults = Rules()
    p.keys(data, "rules", _RULE_KEYS)
    segment_rules = SegmentRules.from_config(p.mapping(data.get("segments", {}), "rules.segments"))
    discounts = p.mapping(data.get("tier_discounts", dict(defaults.tier_discounts)), "rules.tier_discounts")
    p.keys(discounts, "rules.tier_discounts", frozenset(TIERS))
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
    milestones = [
        p.integer(m, f"rules.milestones[{i}]", 1, 10**9)
        for i, m in enumerate(data.get("milestones", list(defaults.milestones)) or [])
    ]
    if milestones != sorted(set(milestones)):
        p.fail("rules.milestones", "must be ascending and distinct")
    idle = p.integer(data.get("cart_idle_minutes", defaults.cart_idle_minutes), "rules.cart_idle_minutes", 1, 10**6)
    return Rules(segment_rules, dict(zip(TIERS, values, strict=True)), cap, valid, tuple(milestones), idle)


def _offer(p: _Parser, value: Any, where: str, offer_id: str) -> OfferRule:
    body = p.mapping(value, where)
    p.keys(body, where, _OFFER_KEYS)
    tier_discount = bool(body.get("tier_discount", False))
    pct = body.get("discount_pct", 0)
    if not tier_discount and (not isinstance(pct, int) or not 1 <= pct <= 90):
        p.fail(f"{where}.discount_pct", "must be an integer percentage 1-90")
    days = body.get("valid_days")
    valid_days = None if days is None else p.integer(days, f"{where}.valid_days", 1, 366)
    valid_from = p.moment(body.get("valid_from"), f"{where}.valid_from")
    valid_until = p.moment(body.get("valid_until"), f"{where}.valid_until")
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        p.fail(f"{where}.valid_until", "must be after valid_from")
    unique = bool(body.get("unique_codes", False))
    if unique and tier_discount:
        p.fail(f"{where}.unique_codes", "a tier's standing discount has the tier's code, not per-person codes")
    if tier_discount and (valid_days is not None or valid_until is not None):
        p.fail(f"{where}.valid_days", "a tier's standing discount lasts as long as the tier: no window")
    code = p.string(body.get("code"), f"{where}.code")
    return OfferRule(code, int(pct), tier_discount, offer_id, valid_days, valid_from, valid_until, unique)


def _cta(p: _Parser, value: Any, where: str, offer_id: str) -> Cta:
    cta = p.mapping(value, where)
    p.keys(cta, where, _CTA_KEYS)
    offer_raw = cta.get("offer")
    if "offer" in cta and offer_raw is None:
        p.fail(f"{where}.offer", "must be a mapping (leave the key out for no offer)")
    offer = None if offer_raw is None else _offer(p, offer_raw, f"{where}.offer", offer_id)
    text = p.texts(cta.get("text"), f"{where}.text")
    if offer is not None:
        without = p.texts(cta.get("text_without_offer"), f"{where}.text_without_offer")
    else:
        if "text_without_offer" in cta:
            p.fail(f"{where}.text_without_offer", "only a CTA with an offer has a text without it")
        without = text
    for lang, template in without.items():
        if "{discount_pct}" in template:
            p.fail(f"{where}.text_without_offer.{lang}", "must not mention {discount_pct}")
    return Cta(
        id=p.string(cta.get("id"), f"{where}.id"),
        url=p.string(cta.get("url"), f"{where}.url"),
        text=text,
        text_without_offer=without,
        offer=offer,
    )


def _segment(p: _Parser, value: Any, where: str, occasion: bool = False, offer_id: str = "") -> SegmentContent:
    body = p.mapping(value, where)
    p.keys(body, where, _OCCASION_KEYS if occasion else _SEGMENT_KEYS)
    greeting = p.mapping(body.get("greeting"), f"{where}.greeting")
    p.keys(greeting, f"{where}.greeting", _GREETING_KEYS)
    for key in ("named", "progress"):
        if key in greeting and greeting[key] is None:
            p.fail(f"{where}.greeting.{key}", "must be a mapping of texts (leave the key out for none)")
    named = greeting.get("named")
    progress = greeting.get("progress")
    after_quiz = body.get("cta_after_quiz")
    return SegmentContent(
        variant="" if occasion else p.string(body.get("variant"), f"{where}.variant"),
        greeting=Greeting(
            anonymous=p.texts(greeting.get("anonymous"), f"{where}.greeting.anonymous"),
            named=None if named is None else p.texts(named, f"{where}.greeting.named"),
            progress=None if progress is None else p.texts(progress, f"{where}.greeting.progress", progress=True),
        ),
        cta=_cta(p, body.get("cta"), f"{where}.cta", offer_id),
        exclusive=bool(body.get("exclusive", False)),
        cta_after_quiz=None
        if after_quiz is None
        else _cta(p, after_quiz, f"{where}.cta_after_quiz", offer_id + ".quiz"),
    )


def _activities(p: _Parser, data: dict[str, Any]) -> dict[str, Activity]:
    found = {}
    for name, value in data.items():
        where = f"activities.{name}"
        body = p.mapping(value, where)
        p.keys(body, where, _ACTIVITY_KEYS)
        per = body.get("per", "ever")
        if per not in ("ever", "product"):
            p.fail(f"{where}.per", "must be ever or product")
        found[str(name)] = Activity(p.integer(body.get("points"), f"{where}.points", 0, 100_000), str(per))
    return found


def _preferences(p: _Parser, data: dict[str, Any]) -> dict[str, dict[str, tuple[str, ...]]]:
    p.keys(data, "preferences", frozenset({"shops_for", "style"}))
    return {
        str(question): {
            str(answer): tuple(p.strings(categories, f"preferences.{question}.{answer}"))
            for answer, categories in p.mapping(answers, f"preferences.{question}").items()
        }
        for question, answers in data.items()
    }


def _check_deadlines(p: _Parser, content: Content) -> None:
    """Copy that promises "today" or "this week" must sit on an offer whose window is no longer."""
    entries = [(f"segments.{k}", v) for k, v in content.segments.items()]
    entries += [(f"occasions.{k}", v) for k, v in content.occasions.items()]
    for where, entry in entries:
        offer = entry.cta.offer
        for lang, text in entry.cta.text.items():
            lowered = text.lower()
            for phrase, days in DEADLINE_WORDS.get(lang, ()):
                if phrase in lowered:
                    if offer is None:
                        p.fail(f"{where}.cta.text.{lang}", f"promises {phrase!r} but has no offer")
                    longest = offer.longest_days(content.rules.offer_valid_days)
                    if longest > days:
                        p.fail(
                            f"{where}.cta.offer",
                            f"the text promises {phrase!r} but the offer is valid for {longest:g} days",
                        )
        for lang, text in entry.cta.text_without_offer.items():
            if offer is not None and any(phrase in text.lower() for phrase, _ in DEADLINE_WORDS.get(lang, ())):
                p.fail(f"{where}.cta.text_without_offer.{lang}", "promises a deadline without an offer")


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
    """`birthday` or `anniversary` when today (local) is one, else the visitor's own occasion (celebrating only)."""
    if visitor.segment not in CELEBRATING:
        return None
    if visitor.birthday and (visitor.birthday.month, visitor.birthday.day) == (local_day.month, local_day.day):
        return "birthday"
    joined = visitor.joined_at
    if joined and (joined.month, joined.day) == (local_day.month, local_day.day) and joined.year < local_day.year:
        return "anniversary"
    return visitor.occasion


NO_TIMES: Mapping[str, datetime] = {}
UniqueCode = Callable[[OfferRule, str, datetime], str]  # (offer, code, window start) -> the person's code


def choose(
    content: Content,
    visitor: Visitor,
    lang: str,
    local_now: datetime,
    now: datetime,
    offers_shown: Mapping[str, int],
    overrides: Overrides | None = None,
    *,
    first_shown: Mapping[str, datetime] = NO_TIMES,
    unique_code: UniqueCode | None = None,
) -> Page:
    """Variant, greeting and CTA for this visitor; pure.

    `first_shown` (offer id -> when this person first saw it) fixes a promotion's window; the
    content guards apply after the experiment `overrides` (edge.core.guards).
    """
    rules = content.rules
    segment = content.segments[visitor.segment]
    if segment.exclusive and visitor.tier not in rules.segments.ambassador_tiers:
        segment = content.segments["active"]  # exclusive content is never shown below the ambassador tiers
    occasion = occasion_for(visitor, local_now.date())
    source = content.occasions.get(occasion) if occasion else None
    if source is None:
        occasion = None
    cta = source.cta if source is not None else segment.cta
    if source is None and visitor.quiz_answered and segment.cta_after_quiz is not None:
        cta = segment.cta_after_quiz
    if source is None and visitor.segment != "campaign" and visitor.campaign in content.campaign_titles:
        cta = content.segments["campaign"].cta  # a member from a campaign: their greeting, the campaign's CTA
    greeting = (source or segment).greeting
    return _render(
        content, visitor, lang, local_now, now, offers_shown, overrides or Overrides(),
        variant=segment.variant, greeting=greeting, cta=cta, occasion=occasion,
        first_shown=first_shown, unique_code=unique_code,
    )  # fmt: skip


def _render(
    content: Content,
    visitor: Visitor,
    lang: str,
    local_now: datetime,
    now: datetime,
    offers_shown: Mapping[str, int],
    over: Overrides,
    *,
    variant: str,
    greeting: Greeting,
    cta: Cta,
    occasion: str | None,
    first_shown: Mapping[str, datetime],
    unique_code: UniqueCode | None,
) -> Page:
    rules = content.rules
    discount = 0
    offer_code = counter = None
    expires: datetime | None = None
    offer = cta.offer
    if offer is not None:
        discount = rules.tier_discounts.get(visitor.tier or "bronze", 0) if offer.tier_discount else offer.discount_pct
        tier_code = (visitor.tier or "").upper()
        code = offer.code.replace("{TIER}", tier_code).replace("{discount_pct}", str(discount))
        if discount > 0 and not offer.promotional:
            offer_code = code  # a standing tier benefit: neither capped nor expiring
        elif discount > 0 and offers_shown.get(code, 0) < rules.offer_cap_per_day:
            window = offer.window(first_shown.get(offer.id), now, rules.offer_valid_days)
            if window is not None:
                counter, expires = code, window[1]
                offer_code = unique_code(offer, code, window[0]) if offer.unique_codes and unique_code else code
    campaign_title = content.campaign_titles.get(visitor.campaign or "", content.campaign_default_title)
    next_tier = visitor.next_tier if visitor.points is not None and visitor.points_to_next_tier is not None else None
    values = {
        "time_greeting": content.time_of_day[lang][day_part(local_now)],
        "first_name": visitor.first_name or "",
        "points": format_number(visitor.points or 0, lang),
        "tier": content.tier_names[lang].get(visitor.tier or "bronze", ""),
        "discount_pct": str(discount),
        "campaign_title": campaign_title[lang],
        "next_tier": content.tier_names[lang].get(next_tier or "", ""),
        "points_to_next_tier": format_number(visitor.points_to_next_tier or 0, lang),
    }
    named = greeting.named
    over_greeting = over.greeting.get(lang) or over.greeting.get(content.default_language) if over.greeting else None
    if over_greeting and next_tier is None and _uses(over_greeting, PROGRESS_PLACEHOLDERS):
        over_greeting = None  # guard: an arm's progress text for a visitor without a next tier
    if over_greeting:
        greeting_template = over_greeting
    elif greeting.progress is not None and next_tier is not None:
        greeting_template = greeting.progress[lang]
    elif named is not None and visitor.first_name:
        greeting_template = named[lang]
    else:
        greeting_template = greeting.anonymous[lang]
    if "{first_name}" in greeting_template and not visitor.first_name:
        greeting_template = greeting.anonymous[lang]
    if "{points}" in greeting_template and visitor.points is None:
        greeting_template = content.segments["new_visitor"].greeting.anonymous[lang]
    over_cta = over.cta_text.get(lang) or over.cta_text.get(content.default_language) if over.cta_text else None
    if over_cta and offer_code is None and _uses(over_cta, frozenset({"discount_pct"})):
        over_cta = None  # guard: an arm may not promise a discount the visitor does not get
    if over_cta and next_tier is None and _uses(over_cta, PROGRESS_PLACEHOLDERS):
        over_cta = None
    if over_cta:
        cta_template = over_cta
    else:
        cta_template = cta.text[lang] if offer_code else cta.text_without_offer[lang]
    url = cta.url
    if cta is content.segments["campaign"].cta and visitor.campaign in content.campaign_titles:
        url = f"{url.rstrip('/')}/{visitor.campaign}"
    offer_json = None
    if offer_code is not None and offer is not None:
        offer_json = {
            "discount_pct": discount,
            "code": offer_code,
            "expires_at": None if expires is None else expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "kind": "promotion" if offer.promotional else "tier_benefit",
        }
    if over.variant and over.variant in _exclusive_variants(content):
        if visitor.tier not in rules.segments.ambassador_tiers:
            over = Overrides(None, over.greeting, over.cta_text)  # guard: exclusive pages stay exclusive
    return Page(
        variant=over.variant or variant,
        greeting={"text": greeting_template.format_map(values), "locale": lang},
        cta={"id": cta.id, "text": cta_template.format_map(values), "url": url, "offer": offer_json},
        offer_code=offer_code,
        occasion=occasion,
        offer=offer if offer_code is not None else None,
        counter_code=counter,
    )


def _uses(template: str, names: frozenset[str]) -> bool:
    try:
        return any(name in names for _, name, _, _ in string.Formatter().parse(template) if name)
    except ValueError:
        return False


def _exclusive_variants(content: Content) -> frozenset[str]:
    return frozenset(seg.variant for seg in content.segments.values() if seg.exclusive)


def default_page(content: Content, lang: str, local_now: datetime) -> Page:
    """The non-personalized page (global holdout): default variant, a new visitor's copy, no offer."""
    page = choose(content, Visitor(segment="new_visitor"), lang, local_now, local_now, {}, None)
    return Page(content.default_variant, page.greeting, {**page.cta, "offer": None}, None, None)


def holdout_page(content: Content, visitor: Visitor, lang: str, local_now: datetime, now: datetime) -> Page:
    """The global holdout withholds personalization, not loyalty: a member keeps the member greeting
    and the tier's standing discount (`holdout_member`), on the default variant; others get `default_page`."""
    member = content.holdout_member
    if member is None or visitor.points is None:
        return default_page(content, lang, local_now)
    return _render(
        content, replace(visitor, segment="active", next_tier=None), lang, local_now, now, {}, Overrides(),
        variant=content.default_variant, greeting=member.greeting, cta=member.cta, occasion=None,
        first_shown=NO_TIMES, unique_code=None,
    )  # fmt: skip
