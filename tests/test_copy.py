"""The shipped copy, rendered every way a visitor can see it: no empty, cut-short or unfilled text."""

from __future__ import annotations

import copy
import itertools
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.core.content import OCCASIONS, Visitor, choose, holdout_page, parse_content
from edge.core.segments import SEGMENTS
from edge.errors import ConfigError
from edge.model.config_files import load_content
from edge.settings import PACKAGE_DATA
from tests.conftest import content_error

CONTENT = load_content(PACKAGE_DATA / "content.yaml")
RAW = yaml.safe_load((PACKAGE_DATA / "content.yaml").read_text())
NOW = datetime(2026, 11, 1, 10, 30, tzinfo=UTC)
EVERY_CODE_CAPPED = {code: 10**6 for code in ("WELCOME10", "COMEBACK15", "WELCOMEBACK20", "BIRTHDAY15",
                                              "ANNIVERSARY10", "BASKET5")}  # fmt: skip
OWN_OCCASIONS = ("tier_upgrade", "milestone", "cart_abandoned")  # decided from the profile, not the calendar


def check(text: str, where: str) -> None:
    assert text.strip() == text and text, f"{where}: empty or padded {text!r}"
    assert "{" not in text and "}" not in text, f"{where}: placeholder left in {text!r}"
    assert "  " not in text and " ," not in text and " !" not in text, f"{where}: a gap where a value was {text!r}"
    assert not text.endswith((",", ":", ";", " and", " en", " met")), f"{where}: cut short {text!r}"
    assert len(text.split()) >= 3, f"{where}: too short to be whole {text!r}"
    assert text[0].isupper(), f"{where}: {text!r}"


COMBINATIONS = list(itertools.product(SEGMENTS, (None, *OCCASIONS), CONTENT.languages, (True, False), (True, False)))


@pytest.mark.parametrize(("segment", "occasion", "lang", "offer", "named"), COMBINATIONS)
def test_every_segment_occasion_language_and_offer_renders_whole(
    segment: str, occasion: str | None, lang: str, offer: bool, named: bool
) -> None:
    visitor = Visitor(
        segment=segment,
        tier="gold" if offer else "bronze",
        first_name="Anna" if named else None,
        points=1234,
        birthday=date(1990, 11, 1) if occasion == "birthday" else None,
        joined_at=datetime(2020, 11, 1, tzinfo=UTC) if occasion == "anniversary" else None,
        campaign="xmas" if segment == "campaign" else None,
        next_tier="platinum",
        points_to_next_tier=250,
        occasion=occasion if occasion in OWN_OCCASIONS else None,
    )
    shown = {} if offer else EVERY_CODE_CAPPED
    page = choose(CONTENT, visitor, lang, NOW, NOW, shown, None)
    where = f"{segment}/{occasion}/{lang}/{'offer' if offer else 'no offer'}"
    check(page.greeting["text"], where + " greeting")
    check(page.cta["text"], where + " cta")
    if page.cta["offer"] is not None:
        assert f"{page.cta['offer']['discount_pct']}%" in page.cta["text"], where
    else:
        assert "%" not in page.cta["text"], where
    if named and "{first_name}" in str(RAW):
        assert page.greeting["text"].count("Anna") <= 1
    holdout = holdout_page(CONTENT, visitor, lang, NOW, NOW)
    check(holdout.greeting["text"], where + " holdout greeting")
    check(holdout.cta["text"], where + " holdout cta")


def test_the_dutch_and_english_read_right() -> None:
    texts = " | ".join(_strings(RAW))
    for wrong in ("Hier is {campaign_title}", "Here is {campaign_title}", "Gefeliciteerd met je lidmaatschap,"):
        assert wrong not in texts
    campaign = choose(CONTENT, Visitor("campaign"), "nl", NOW, NOW, {})
    assert campaign.greeting["text"] == "Goedemorgen! Neem een kijkje in onze nieuwste aanbiedingen, zoals beloofd."


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_an_unquoted_comma_that_truncates_a_text_is_refused(tmp_path: Path) -> None:
    source = (PACKAGE_DATA / "content.yaml").read_text()
    broken = source.replace(
        'text_without_offer: {en: "Picked for you, based on what you like"',
        "text_without_offer: {en: Picked for you, based on what you like",
    )
    assert broken != source
    path = tmp_path / "content.yaml"
    path.write_text(broken)
    with pytest.raises(ConfigError, match="quote texts that contain a comma"):
        load_content(path)


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda r: r["segments"]["lost"]["cta"].update(colour="red"), "segments.lost.cta.colour"),
        (lambda r: r.update(banner={}), "banner"),
        (lambda r: r["segments"]["active"]["greeting"].update(named=None), "segments.active.greeting.named"),
        (lambda r: r["segments"]["lost"]["cta"]["text"].update(nl=None), "segments.lost.cta.text.nl"),
        (lambda r: r["segments"]["lost"]["cta"]["offer"].update(valid_days=30), "segments.lost.cta.offer"),
        (lambda r: r["occasions"]["birthday"]["cta"]["offer"].update(valid_days=3), "occasions.birthday.cta.offer"),
        (lambda r: r["rules"]["segments"].update(lapsed_dayz=3), "rules.segments.lapsed_dayz"),
        (
            lambda r: r["segments"]["active"]["greeting"]["named"].update(en="Hi {next_tier}"),
            "segments.active.greeting.named.en",
        ),
        (
            lambda r: r["segments"]["new_visitor"]["cta"].update(
                offer={"discount_pct": 5, "code": "HELLO5"}, text_without_offer={"en": "Join us", "nl": "Word lid"}
            ),
            "segments.new_visitor.cta.offer",
        ),
        (
            lambda r: r["segments"]["active"]["cta"]["offer"].update(valid_days=3),
            "segments.active.cta.offer.valid_days",
        ),
    ],
)
def test_the_loader_refuses_unknown_keys_null_texts_and_dishonest_windows(mutate: Any, named: str) -> None:
    assert named in content_error(mutate)


def test_a_fixed_window_offer_is_valid_only_inside_it() -> None:
    raw = copy.deepcopy(RAW)
    raw["segments"]["lapsed"]["cta"]["offer"] = {
        "discount_pct": 15, "code": "COMEBACK15",
        "valid_from": "2026-11-01T00:00:00Z", "valid_until": "2026-11-08T00:00:00Z",
    }  # fmt: skip
    content = parse_content(raw, "content.yaml", "x")
    visitor = Visitor("lapsed", tier="silver", points=5)
    inside = choose(content, visitor, "en", NOW, NOW, {})
    assert inside.cta["offer"]["expires_at"] == "2026-11-08T00:00:00Z"
    after = datetime(2026, 11, 8, 0, 0, 1, tzinfo=UTC)
    assert choose(content, visitor, "en", after, after, {}).cta["offer"] is None
    assert re.fullmatch(r"COMEBACK15", inside.cta["offer"]["code"])
