"""Content: the marketer-edited file of variants, greetings, CTAs and offers, and choosing from it.

`parse_content` decodes the whole file at load as `ContentFile` (msgspec Structs: the file's shape,
declared once), then checks what needs the whole file (every text in every language, known
placeholders, honest deadlines); edge.model.config_files reads it. A problem is a `ConfigError`
naming the entry. `choose`
is pure: segment, visitor facts and local time in, variant + greeting + CTA out.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final, Literal, get_args

import msgspec
from msgspec import UNSET, Meta, UnsetType

from edge.core import placements as placements_mod
from edge.core.files import FileChecks, FileShape, Moment, NonEmpty, convert_file
from edge.core.segments import SegmentRules
from edge.core.shapes import SEGMENTS, TIERS, Segment, stamp

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
ANONYMOUS_SEGMENTS = frozenset({"new_visitor", "campaign"})  # nothing to remember a first-shown time on
# Copy that promises a deadline, per language: the offer's window must not be longer than the promise.
DEADLINE_WORDS: Mapping[str, tuple[tuple[str, int], ...]] = {
    "en": (("today", 1), ("24 hours", 1), ("this week", 7)),
    "nl": (("vandaag", 1), ("24 uur", 1), ("deze week", 7)),
}
Texts = Mapping[str, str]  # language -> template
# occasions are celebrated for these segments; at-risk and lost customers keep their own approach
CELEBRATING = frozenset({"new_member", "active", "ambassador", "lapsed"})


@dataclass(frozen=True, slots=True)
class Cta:
    """A CTA as served: the file's `CtaFile` with its offer's `id` (`OfferRule`) and the text without
    the offer resolved (the file's, else the text itself)."""

    id: str
    url: str
    text: Texts
    text_without_offer: Texts
    offer: OfferRule | None = None


@dataclass(frozen=True, slots=True)
class SegmentContent:
    """A segment's (or an occasion's) page as served: the file's greeting, its CTAs compiled (`Cta`)."""

    variant: str  # an occasion's is "" (the segment's variant is shown)
    greeting: GreetingFile
    cta: Cta
    exclusive: bool = False  # ambassador-only: never shown below the lowest ambassador tier
    cta_after_quiz: Cta | None = None  # new members who answered the preference quiz see this instead


Percent = Annotated[int, Meta(ge=0, le=90)]


class TierDiscounts(FileShape, frozen=True):
    """A tier's standing discount in percent; discounts grow with the tier."""

    bronze: Percent
    silver: Percent
    gold: Percent
    platinum: Percent

    def __post_init__(self) -> None:
        values = [getattr(self, tier) for tier in TIERS]
        if values != sorted(values):
            raise ValueError("discounts must grow with the tier")


class Rules(FileShape, frozen=True):
    """The content file's `rules:`."""

    segments: SegmentRules = SegmentRules()
    tier_discounts: TierDiscounts = TierDiscounts(bronze=0, silver=5, gold=10, platinum=15)
    offer_cap_per_day: Annotated[int, Meta(ge=0)] = 3  # promotions only; a tier's standing discount is never capped
    offer_valid_days: Annotated[int, Meta(ge=1)] = 7
    milestones: tuple[Annotated[int, Meta(ge=1, le=10**9)], ...] = (1000, 2500, 5000, 10000)  # celebrated once each
    cart_idle_minutes: Annotated[int, Meta(ge=1, le=10**6)] = 60  # a stored cart untouched this long is abandoned

    def __post_init__(self) -> None:
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError("milestones: must be ascending and distinct")


class Activity(FileShape, frozen=True):
    """Points a non-purchase activity earns: once ever (`quiz`) or once per product (`review`)."""

    points: Annotated[int, Meta(ge=0, le=100_000)]
    per: Literal["ever", "product"] = "ever"


@dataclass(frozen=True, slots=True)
class Content:
    """The content file compiled for `choose`: its version (the file's hash), the day parts and tier
    names as lookups by name, every offer with its id, and the placements with their defaults; the
    rules, activities and greetings are the file's own Structs."""

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


# --- the file's shape, declared once (what needs the whole file is checked in parse_content) ------

Language = Annotated[
    str, Meta(pattern=r"^[a-z]{2,3}(?!\n)$", description="not a language code (quote texts that contain a comma)")
]
TextsFile = dict[Language, NonEmpty]  # post-decode: exactly the file's languages, known placeholders
Occasion = Annotated[
    Literal["birthday", "anniversary", "tier_upgrade", "milestone", "cart_abandoned"],
    Meta(description="unknown occasion"),
]
OCCASIONS: Final = get_args(get_args(Occasion)[0])


class OfferFile(FileShape, frozen=True):
    """An offer: a fixed window (`valid_from`/`valid_until`), else `valid_days` from first shown."""

    code: NonEmpty  # may contain {TIER} and {discount_pct}
    discount_pct: Percent = 0
    tier_discount: bool = False
    valid_days: Annotated[int, Meta(ge=1, le=366)] | None = None
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    unique_codes: bool = False

    def __post_init__(self) -> None:
        if not self.tier_discount and self.discount_pct < 1:
            raise ValueError("discount_pct: must be an integer percentage 1-90")
        if self.valid_from is not None and self.valid_until is not None and self.valid_until <= self.valid_from:
            raise ValueError("valid_until: must be after valid_from")
        if self.unique_codes and self.tier_discount:
            raise ValueError("unique_codes: a tier's standing discount has the tier's code, not per-person codes")
        if self.tier_discount and (self.valid_days is not None or self.valid_until is not None):
            raise ValueError("valid_days: a tier's standing discount lasts as long as the tier: no window")


class OfferRule(OfferFile, frozen=True, kw_only=True):
    """An offer as served: the file's `OfferFile` and where the file defines it, `id` (`lost`,
    `occasion.birthday`, `holdout_member`), which keys this person's first-shown time and per-person codes."""

    id: str

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
        end: datetime
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


class CtaFile(FileShape, frozen=True):
    id: NonEmpty
    url: NonEmpty
    text: TextsFile
    text_without_offer: TextsFile | UnsetType = UNSET  # required with an offer, refused without
    offer: OfferFile | UnsetType = UNSET  # leave the key out for no offer

    def __post_init__(self) -> None:
        if isinstance(self.offer, OfferFile) and self.text_without_offer is UNSET:
            raise ValueError("text_without_offer: required with an offer (shown when the offer is not)")
        if self.offer is UNSET and self.text_without_offer is not UNSET:
            raise ValueError("text_without_offer: only a CTA with an offer has a text without it")
        for lang, template in (self.text_without_offer or {}).items():
            if "{discount_pct}" in template:
                raise ValueError(f"text_without_offer.{lang}: must not mention {{discount_pct}}")


class GreetingFile(FileShape, frozen=True):
    anonymous: TextsFile
    named: TextsFile | UnsetType = UNSET  # leave the key out for none
    progress: TextsFile | UnsetType = UNSET  # instead when the visitor has a next tier


class OccasionFile(FileShape, frozen=True):
    greeting: GreetingFile
    cta: CtaFile


class SegmentFile(OccasionFile, frozen=True):
    variant: NonEmpty
    exclusive: bool = False  # ambassador only
    cta_after_quiz: CtaFile | None = None  # new members only


class DayParts(FileShape, frozen=True):
    morning: NonEmpty
    afternoon: NonEmpty
    evening: NonEmpty
    night: NonEmpty


class TierNames(FileShape, frozen=True):
    bronze: NonEmpty
    silver: NonEmpty
    gold: NonEmpty
    platinum: NonEmpty


class CampaignsFile(FileShape, frozen=True):
    default_title: TextsFile
    titles: dict[str, TextsFile] = msgspec.field(default_factory=dict)
    products: dict[str, placements_mod.Match] = msgspec.field(default_factory=dict)  # campaign key -> its items


class ContentFile(FileShape, frozen=True):
    """The content file (edge/data/content.yaml is the shipped one)."""

    languages: Annotated[tuple[NonEmpty, ...], Meta(min_length=1, description="a list of at least one language")]
    default_language: NonEmpty
    time_of_day: dict[str, DayParts]
    tier_names: dict[str, TierNames]
    campaigns: CampaignsFile
    segments: dict[Annotated[Segment, Meta(description="unknown segment")], SegmentFile]
    version: Any = None  # free; the content's version is the hash of the file
    default_variant: NonEmpty = "home-default"
    country_languages: dict[str, NonEmpty] = msgspec.field(default_factory=dict)
    rules: Rules = Rules()
    occasions: dict[Occasion, OccasionFile] = msgspec.field(default_factory=dict)
    holdout_member: OccasionFile | None = None  # what a member in the global holdout sees
    activities: dict[str, Activity] = msgspec.field(default_factory=dict)
    # quiz answer -> categories it favours: {"shops_for": {"kids": ["toys"]}, "style": {...}}
    preferences: dict[
        Annotated[Literal["shops_for", "style"], Meta(description="unknown question")], dict[str, tuple[str, ...]]
    ] = msgspec.field(default_factory=dict)
    pages: dict[str, placements_mod.PageRule] = msgspec.field(default_factory=dict)  # edge.core.placements
    boosts: dict[placements_mod.BoostAttribute, dict[str, placements_mod.Boost]] = msgspec.field(default_factory=dict)


def parse_content(raw: Any, source: str, version: str) -> Content:
    """Decode content as `ContentFile`, then check what needs the whole file; errors name the entry
    (`segments.lost.cta.text.nl`). Unknown keys (a YAML flow mapping that split a text at a comma
    shows up as one) and null or empty texts are refused."""
    file = convert_file(raw, ContentFile, source)
    check = _Checks(source, file.languages)
    if file.default_language not in file.languages:
        check.fail("default_language", f"{file.default_language!r} is not in languages")
    for country, language in file.country_languages.items():
        if language not in file.languages:
            check.fail(f"country_languages.{country}", f"{language!r} is not in languages")
    for section in ("time_of_day", "tier_names"):
        check.languages_of(getattr(file, section), section)
    missing = [s for s in SEGMENTS if s not in file.segments]
    if missing:
        check.fail("segments", f"missing {', '.join(missing)}")
    segments: dict[str, SegmentContent] = {
        name: _segment(check, file.segments[name], f"segments.{name}", name) for name in SEGMENTS
    }
    for name, body in file.segments.items():
        if body.exclusive and name != "ambassador":
            check.fail(f"segments.{name}.exclusive", "only the ambassador segment may be exclusive")
        if body.cta_after_quiz is not None and name != "new_member":
            check.fail(f"segments.{name}.cta_after_quiz", "only new members are asked the preference quiz")
        offer = segments[name].cta.offer
        if name in ANONYMOUS_SEGMENTS and offer is not None and offer.valid_until is None:
            check.fail(f"segments.{name}.cta.offer", "an offer for anonymous visitors needs a fixed valid_until")
    lost_offer = segments["lost"].cta.offer
    for key, seg in segments.items():
        if key != "lost" and lost_offer and seg.cta.offer and seg.cta.offer.code == lost_offer.code:
            check.fail(f"segments.{key}.cta.offer.code", "the welcome-back offer is only for lost customers")
    occasions: dict[str, SegmentContent] = {
        name: _segment(check, body, f"occasions.{name}", f"occasion.{name}") for name, body in file.occasions.items()
    }
    holdout_member = None
    if file.holdout_member is not None:
        holdout_member = _segment(check, file.holdout_member, "holdout_member", "holdout_member")
        if holdout_member.cta.offer is not None and not holdout_member.cta.offer.tier_discount:
            check.fail("holdout_member.cta.offer", "the holdout keeps loyalty entitlements only: a tier_discount offer")
    campaigns = file.campaigns
    content = Content(
        version=version,
        source=source,
        languages=file.languages,
        default_language=file.default_language,
        default_variant=file.default_variant,
        country_languages=file.country_languages,
        rules=file.rules,
        time_of_day={lang: msgspec.structs.asdict(file.time_of_day[lang]) for lang in file.languages},
        tier_names={lang: msgspec.structs.asdict(file.tier_names[lang]) for lang in file.languages},
        campaign_default_title=check.texts(campaigns.default_title, "campaigns.default_title"),
        campaign_titles={k: check.texts(v, f"campaigns.titles.{k}") for k, v in campaigns.titles.items()},
        segments=segments,
        occasions=occasions,
        holdout_member=holdout_member,
        activities=file.activities,
        preference_categories={str(k): v for k, v in file.preferences.items()},
        placements=placements_mod.parse(file.pages, file.boosts, campaigns.products, check),
    )
    _check_deadlines(check, content)
    return content


class _Checks(FileChecks):
    """The checks that need the file's languages."""

    def __init__(self, source: str, languages: tuple[str, ...]) -> None:
        super().__init__(source)
        self.languages = languages

    def languages_of(self, value: Mapping[str, object], where: str) -> None:
        """`value` has an entry for every language of the file and for no other."""
        for key in value:
            if key not in self.languages:
                self.fail(f"{where}.{key}", f"unknown language; the file's languages: {', '.join(self.languages)}")
        for lang in self.languages:
            if lang not in value:
                self.fail(f"{where}.{lang}", "missing: every text is needed in every language of the file")

    def texts(self, value: Mapping[str, str], where: str, progress: bool = False) -> dict[str, str]:
        """Texts in every language, with known placeholders (`{next_tier}` ... only in `progress` texts)."""
        self.languages_of(value, where)
        for lang, text in value.items():
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            except ValueError as exc:
                self.fail(f"{where}.{lang}", f"bad template ({exc})")
            unknown = names - PLACEHOLDERS
            if unknown:
                self.fail(
                    f"{where}.{lang}", f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(PLACEHOLDERS)}"
                )
            if not progress and names & PROGRESS_PLACEHOLDERS:
                self.fail(f"{where}.{lang}", "{points_to_next_tier} and {next_tier} belong in greeting.progress texts")
        return dict(value)


def _offer(offer: OfferFile, offer_id: str) -> OfferRule:
    return OfferRule(id=offer_id, **msgspec.structs.asdict(offer))


def _cta(check: _Checks, cta: CtaFile, where: str, offer_id: str) -> Cta:
    text = check.texts(cta.text, f"{where}.text")
    without = text
    if not isinstance(cta.text_without_offer, UnsetType):
        without = check.texts(cta.text_without_offer, f"{where}.text_without_offer")
    offer = None if isinstance(cta.offer, UnsetType) else _offer(cta.offer, offer_id)
    return Cta(id=cta.id, url=cta.url, text=text, text_without_offer=without, offer=offer)


def _segment(check: _Checks, body: OccasionFile, where: str, offer_id: str) -> SegmentContent:
    greeting, segment = body.greeting, body if isinstance(body, SegmentFile) else None
    check.texts(greeting.anonymous, f"{where}.greeting.anonymous")
    if not isinstance(greeting.named, UnsetType):
        check.texts(greeting.named, f"{where}.greeting.named")
    if not isinstance(greeting.progress, UnsetType):
        check.texts(greeting.progress, f"{where}.greeting.progress", progress=True)
    return SegmentContent(
        variant="" if segment is None else segment.variant,
        greeting=greeting,
        cta=_cta(check, body.cta, f"{where}.cta", offer_id),
        exclusive=segment is not None and segment.exclusive,
        cta_after_quiz=None
        if segment is None or segment.cta_after_quiz is None
        else _cta(check, segment.cta_after_quiz, f"{where}.cta_after_quiz", offer_id + ".quiz"),
    )


def _check_deadlines(check: FileChecks, content: Content) -> None:
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
                        check.fail(f"{where}.cta.text.{lang}", f"promises {phrase!r} but has no offer")
                    longest = offer.longest_days(content.rules.offer_valid_days)
                    if longest > days:
                        check.fail(
                            f"{where}.cta.offer",
                            f"the text promises {phrase!r} but the offer is valid for {longest:g} days",
                        )
        for lang, text in entry.cta.text_without_offer.items():
            if offer is not None and any(phrase in text.lower() for phrase, _ in DEADLINE_WORDS.get(lang, ())):
                check.fail(f"{where}.cta.text_without_offer.{lang}", "promises a deadline without an offer")


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
    greeting: GreetingFile,
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
        discount = (
            getattr(rules.tier_discounts, visitor.tier or "bronze") if offer.tier_discount else offer.discount_pct
        )
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
    named, progress = greeting.named, greeting.progress
    over_greeting = over.greeting.get(lang) or over.greeting.get(content.default_language) if over.greeting else None
    if over_greeting and next_tier is None and _uses(over_greeting, PROGRESS_PLACEHOLDERS):
        over_greeting = None  # guard: an arm's progress text for a visitor without a next tier
    if over_greeting:
        greeting_template = over_greeting
    elif not isinstance(progress, UnsetType) and next_tier is not None:
        greeting_template = progress[lang]
    elif not isinstance(named, UnsetType) and visitor.first_name:
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
            "expires_at": None if expires is None else stamp(expires),
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
