from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.core.files import convert_file
from edge.core.profiles import parse_profile
from edge.core.requests import parse_session
from edge.core.segments import SegmentRules, assign_segment
from edge.core.validation import parse_timestamp
from edge.errors import ConfigError

GOLDEN = json.loads((Path(__file__).parent / "data" / "segment_cases.json").read_text())


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_golden_segments(case: dict[str, Any]) -> None:
    profile = None if case["profile"] is None else parse_profile("u1", case["profile"])
    segment, rule = assign_segment(profile, parse_session(case["session"], "session"),
                                   parse_timestamp(GOLDEN["now"], "now"), SegmentRules())  # fmt: skip
    assert segment == case["segment"]
    assert rule


def test_thresholds_are_configurable() -> None:
    rules = convert_file({"lapsed_days": 30, "lost_days": 60}, SegmentRules, "content.yaml")
    profile = parse_profile("u1", {"last_purchase_at": "2011-09-20T00:00:00Z"})
    now = parse_timestamp(GOLDEN["now"], "now")
    assert assign_segment(profile, parse_session({}, "s"), now, rules)[0] == "lapsed"
    assert assign_segment(profile, parse_session({}, "s"), now, SegmentRules())[0] == "active"


@pytest.mark.parametrize(
    "config",
    [{"lapsed_days": 200, "lost_days": 100}, {"ambassador_tiers": ["silver", "gold"]}, {"lost_days": "soon"}],
)
def test_bad_rules_are_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        convert_file(config, SegmentRules, "content.yaml")
