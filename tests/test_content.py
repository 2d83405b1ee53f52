from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.core.content import (
    Overrides,
    Visitor,
    choose,
    day_part,
    format_number,
    language_for,
    parse_content,
)
from edge.errors import ConfigError
from edge.model.config_files import load_content
from edge.settings import PACKAGE_DATA
from tests.conftest import content_error

RAW = yaml.safe_load((PACKAGE_DATA / "content.yaml").read_text())
CONTENT = parse_content(RAW, "content.yaml", "test")
NOW = datetime(2026, 11, 1, 10, 30, tzinfo=UTC)


def page(visitor: Visitor, lang: str = "en", shown: dict[str, int] | None = None, **kw: Any) -> Any:
    return choose(CONTENT, visitor, lang, NOW, NOW, shown or {}, kw.get("overrides"))


def test_the_shipped_file_loads(tmp_path: Path) -> None:
    content = load_content(PACKAGE_DATA / "content.yaml")
    assert content.languages == ("en", "nl")
    assert set(content.segments) == {
        "new_visitor", "campaign", "new_member", "active", "ambassador", "at_risk", "lapsed", "lost",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda r: r["segments"]["lost"]["cta"]["text"].pop("nl"), "segments.lost.cta.text.nl"),
        (lambda r: r["segments"].pop("at_risk"), "missing at_risk"),
        (
            lambda r: r["segments"]["active"]["greeting"]["named"].update(en="Hi {email}"),
            "segments.active.greeting.named.en",
        ),
        (lambda r: r["segments"]["active"].update(exclusive=True), "segments.active.exclusive"),
        (
            lambda r: r["segments"]["lapsed"]["cta"]["offer"].update(code="WELCOMEBACK20"),
            "segments.lapsed.cta.offer.code",
        ),
        (lambda r: r["rules"]["tier_discounts"].update(gold=3), "rules.tier_discounts"),
        (
            lambda r: r["segments"]["lost"]["cta"]["offer"].update(discount_pct=0),
            "segments.lost.cta.offer.discount_pct",
        ),
        (lambda r: r["segments"]["lost"]["cta"].pop("text_without_offer"), "segments.lost.cta.text_without_offer"),
        (lambda r: r["time_of_day"]["nl"].pop("evening"), "time_of_day.nl.evening"),
        (lambda r: r.update(default_language="de"), "default_language"),
    ],
)
def test_a_broken_file_names_the_entry(mutate: Any, named: str) -> None:
    assert named in content_error(mutate)


def test_missing_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_content(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("segments: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_content(bad)


def test_named_greeting_only_with_a_name() -> None:
    named = page(Visitor("active", tier="silver", first_name="Anna", points=1250))
    assert named.greeting["text"] == "Good morning, Anna! You have 1,250 points."
    anonymous = page(Visitor("active", tier="silver", points=1250))
    assert anonymous.greeting["text"] == "Good morning! You have 1,250 points."


def test_offer_cap_removes_the_offer_and_its_promise() -> None:
    visitor = Visitor("lapsed", tier="silver", first_name="Anna", points=10)
    fresh = page(visitor)
    assert fresh.cta["offer"]["code"] == "COMEBACK15" and "15%" in fresh.cta["text"]
    capped = page(visitor, shown={"COMEBACK15": 3})
    assert capped.cta["offer"] is None and capped.offer_code is None and "%" not in capped.cta["text"]


def test_the_cap_never_hides_a_standing_tier_discount() -> None:
    visitor = Visitor("ambassador", tier="platinum", first_name="Anna", points=10)
    capped = page(visitor, shown={"PLATINUM15": 30})
    assert capped.cta["offer"]["code"] == "PLATINUM15" and "15%" in capped.cta["text"]
    assert capped.cta["offer"]["kind"] == "tier_benefit" and capped.counter_code is None


def test_exclusive_content_never_below_gold() -> None:
    for tier in (None, "bronze", "silver"):
        result = page(Visitor("ambassador", tier=tier))
        assert result.cta["id"] != "ambassador-exclusive" and result.variant != "home-ambassador"


def test_occasions_only_for_celebrating_segments() -> None:
    birthday = date(1990, 11, 1)
    assert page(Visitor("active", tier="silver", first_name="Jo", points=1, birthday=birthday)).occasion == "birthday"
    assert page(Visitor("lost", first_name="Jo", birthday=birthday)).occasion is None
    assert page(Visitor("at_risk", first_name="Jo", birthday=birthday)).occasion is None


def test_experiment_overrides() -> None:
    over = Overrides(variant="home-lifestyle", greeting={"nl": "Hoi {first_name}!"}, cta_text={"nl": "Shop de look"})
    result = page(Visitor("active", tier="gold", first_name="Anna", points=5), "nl", overrides=over)
    assert result.variant == "home-lifestyle"
    assert result.greeting["text"] == "Hoi Anna!"
    assert result.cta["text"] == "Shop de look"


def test_language_day_part_and_numbers() -> None:
    assert language_for(CONTENT, "nl-BE") == "nl"
    assert language_for(CONTENT, "de-DE", "nl-NL") == "nl"
    assert language_for(CONTENT, "fr-FR") == "en"
    assert language_for(CONTENT, None, country="BE") == "nl"
    assert [day_part(datetime(2026, 1, 1, h)) for h in (4, 5, 12, 18, 23)] == [
        "night", "morning", "afternoon", "evening", "night",
    ]  # fmt: skip
    assert format_number(1250, "nl") == "1.250" and format_number(1250, "en") == "1,250"


@pytest.mark.parametrize("start", ["2026-11-01", date(2026, 11, 1), "2026-11-01T01:00:00+01:00", "2026-11-01T00:00"])
def test_an_offer_window_takes_a_date_or_a_timestamp_as_yaml_or_json_write_it(start: object) -> None:
    raw = copy.deepcopy(RAW)
    raw["segments"]["lost"]["cta"]["offer"].update(valid_from=start, valid_until="2026-12-01T00:00:00Z")
    offer = parse_content(raw, "content.yaml", "x").segments["lost"].cta.offer
    assert offer is not None and offer.valid_from == datetime(2026, 11, 1, tzinfo=UTC)
    raw["segments"]["lost"]["cta"]["offer"]["valid_from"] = "soon"
    with pytest.raises(ConfigError, match=r"segments\.lost\.cta\.offer\.valid_from: must be a date or an RFC 3339"):
        parse_content(raw, "content.yaml", "x")


def _offer(r: dict[str, Any], segment: str) -> dict[str, Any]:
    offer: dict[str, Any] = r["segments"][segment]["cta"]["offer"]
    return offer


@pytest.mark.parametrize(
    ("mutate", "named", "says"),
    [
        (lambda r: r["rules"].update(milestones=[5000, 1000]), "rules.milestones", "ascending"),
        (lambda r: r["rules"].update(offer_cap_per_day=True), "rules.offer_cap_per_day", "got a boolean"),
        (
            lambda r: r["rules"]["segments"].update(ambassador_tiers=["silver"]),
            "rules.segments.ambassador_tiers[0]",
            "one of gold, platinum",
        ),
        (
            lambda r: _offer(r, "lost").update(valid_from="2026-12-01", valid_until="2026-11-01"),
            "segments.lost.cta.offer.valid_until",
            "after valid_from",
        ),
        (
            lambda r: _offer(r, "active").update(unique_codes=True),
            "segments.active.cta.offer.unique_codes",
            "per-person",
        ),
        (
            lambda r: r["segments"]["at_risk"]["cta"].update(text_without_offer={"en": "a", "nl": "b"}),
            "segments.at_risk.cta.text_without_offer",
            "only a CTA with an offer",
        ),
        (
            lambda r: r["segments"]["lost"]["cta"]["text_without_offer"].update(en="{discount_pct}% off"),
            "segments.lost.cta.text_without_offer.en",
            "must not mention",
        ),
        (
            lambda r: r["segments"]["lost"]["cta"]["text"].update(de="Willkommen"),
            "segments.lost.cta.text.de",
            "unknown language",
        ),
        (lambda r: r["segments"]["lost"]["cta"]["text"].update(en="Hi {"), "segments.lost.cta.text.en", "bad template"),
        (
            lambda r: r["segments"]["ambassador"].update(exclusive="yes"),
            "segments.ambassador.exclusive",
            "true or false",
        ),
        (
            lambda r: r["segments"]["active"].update(cta_after_quiz=r["segments"]["new_member"]["cta_after_quiz"]),
            "segments.active.cta_after_quiz",
            "only new members",
        ),
        (
            lambda r: r["holdout_member"]["cta"].update(offer={"discount_pct": 5, "code": "HOLD5"}),
            "holdout_member.cta.offer",
            "tier_discount",
        ),
        (lambda r: r["country_languages"].update(BE="fr"), "country_languages.BE", "not in languages"),
        (lambda r: r["activities"]["quiz"].update(per="month"), "activities.quiz.per", "one of ever, product"),
        (lambda r: r["preferences"]["style"].update(cosy=[1]), "preferences.style.cosy[0]", "a string"),
        (lambda r: r["pages"]["cart"].update(add_ons=1.5), "pages.cart.add_ons", "an integer 0-100"),
        (lambda r: r["pages"].update(landing={}), "pages.landing.strategy", "must be one of home, product"),
        (lambda r: r["boosts"]["weather"].update(fog={"boost": 0.2}), "boosts.weather.fog", "names no categories"),
    ],
)
def test_each_rule_of_the_file_names_its_entry(mutate: Any, named: str, says: str) -> None:
    message = content_error(mutate)
    assert f"{named}: " in message and says in message, message
