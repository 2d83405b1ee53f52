"""Sessions, loyalty and event-driven profile fields: the pure parts, values in, values out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from edge.core.loyalty import TierThresholds, points_for, upgraded_tier
from edge.core.profiles import Profile, with_events
from edge.core.requests import SessionSignals, Utm
from edge.core.sessions import SessionPolicy, StoredSession, decode_session, merged_signals, promotion
from edge.core.writes import Op
from edge.errors import ConfigError
from edge.events import EventPolicy, parse_events, plan_events
from edge.model.artifacts import thresholds_for
from edge.settings import Settings

NOW = datetime(2026, 11, 1, 10, 30, tzinfo=UTC)


def test_stored_session_decodes_and_merges_with_the_request() -> None:
    stored = decode_session(
        {"viewed": '["A","B","C"]', "cart": '["X"]', "utm": '{"source":"mail","campaign":"xmas"}', "consent": "0",
         "n": "4", "purchased": '["P"]'}
    )  # fmt: skip
    assert stored == StoredSession(
        viewed=("A", "B", "C"), cart=("X",), purchased=("P",), utm=Utm("mail", None, "xmas"), consent=False, version="4"
    )
    request = SessionSignals(viewed=("B", "D"), cart=("Y",), utm=Utm(), referrer="https://t.co/x")
    merged = merged_signals(request, stored)
    assert merged.viewed == ("A", "C", "B", "D")  # most-recent-last; the request is the most recent
    assert merged.cart == ("X", "Y") and merged.purchased == ("P",)
    assert merged.utm.campaign == "xmas" and merged.referrer == "https://t.co/x"
    assert merged_signals(request, None) is request
    assert decode_session({}) is None
    assert decode_session({"viewed": "not json"}) is None


def test_promotion_copies_the_anonymous_session_then_removes_it_if_unchanged() -> None:
    anonymous = {"viewed": '["A"]', "utm": '{"source":"mail"}', "consent": "1", "n": "3"}
    groups = promotion("u1", "s1", anonymous, SessionPolicy())
    assert groups is not None
    copy, cleanup = groups
    assert copy.unit == "u=u1" and cleanup.unit == "s=s1"
    assert Op("LM", "s=s1:session", ("viewed", '["A"]', 50)) in copy.ops
    assert Op("S", "s=s1:session", ("utm", '{"source":"mail"}')) in copy.ops
    assert Op("SNX", "s=s1:session", ("consent", "1")) in copy.ops  # the logged-in session's own consent wins
    assert Op("SA", "links", ("s1",)) in copy.ops  # erasure finds the anonymous keys through this
    assert cleanup.ops == (Op("CD", "session", ("n", "3")),)
    assert promotion("u1", "s1", {}, SessionPolicy()) is None


def test_events_plan_one_group_per_unit_in_order() -> None:
    events = parse_events(
        {"events": [
            {"type": "view", "session_id": "s1", "product_id": "A"},
            {"type": "purchase", "session_id": "s1", "user_id": "u1", "product_id": "B", "quantity": 2, "price": 1.5},
            {"type": "purchase", "user_id": "u1", "product_id": "C", "quantity": 1, "price": 0.75},
        ]},
        NOW,
    )  # fmt: skip
    anonymous, user = plan_events(events, EventPolicy(), "key-1")
    assert anonymous.unit == "s=s1" and user.unit == "u=u1"
    assert anonymous.ops[0] == Op("G", "idem:key-1", (86400,))
    assert Op("LA", "session", ("viewed", "A", 50)) in anonymous.ops
    assert Op("N", "s=s1:session", ("u1 s1",)) in user.ops  # a login: the anonymous part may need promoting
    assert Op("I", "profile", ("e:orders", 1)) in user.ops  # both lines share the call's clock: one order
    assert Op("I", "profile", ("e:points", 3)) in user.ops  # floor(2 * 1.5 + 0.75)
    assert sum(op.code == "X" for op in user.ops) == 2


def test_tiers_go_up_only_and_only_past_a_threshold() -> None:
    rules = TierThresholds(silver=100, gold=500, platinum=1000)
    assert upgraded_tier("bronze", 90, 120, rules) == "silver"
    assert upgraded_tier(None, 90, 1200, rules) == "platinum"
    assert upgraded_tier("gold", 90, 120, rules) == "gold"  # a higher tier from elsewhere is kept
    assert upgraded_tier("bronze", 600, 700, rules) == "bronze"  # no threshold crossed by this spend
    assert points_for(12.999) == 12 and points_for(3 * 2.55) == 7


def test_thresholds_come_from_the_build_manifest(tmp_path: Path) -> None:
    default = TierThresholds(1, 2, 3)
    (tmp_path / "index_infos.json").write_bytes(
        orjson.dumps({"tier_thresholds": {"silver": 10, "gold": 20, "platinum": 30}})
    )
    assert thresholds_for(tmp_path, default) == TierThresholds(10, 20, 30)
    assert thresholds_for(tmp_path / "missing", default) == default


def test_profile_fields_from_events_add_to_the_document() -> None:
    base = Profile("u1", tier="silver", points=100, orders=2, spend=100.0, purchased=("A", "B"),
                   last_purchase_at=datetime(2026, 10, 1, tzinfo=UTC))  # fmt: skip
    fields = {"e:orders": "1", "e:spend": "20.5", "e:points": "20", "e:purchased": '["A","C"]', "e:tier": "gold",
              "e:last_purchase_at": "2026-10-20T09:00:00Z", "e:subscription": "cancelled",
              "e:consent": "0"}  # fmt: skip
    merged = with_events(base, "u1", fields)
    assert merged is not None
    assert (merged.orders, merged.spend, merged.points, merged.tier) == (3, 120.5, 120, "gold")
    assert merged.purchased == ("B", "A", "C")  # bought again: most recent last
    assert merged.last_purchase_at == datetime(2026, 10, 20, 9, tzinfo=UTC)
    assert (merged.subscription, merged.consent_personalization) == ("cancelled", False)
    assert with_events(None, "u2", {"e:consent": "0"}) is None  # a consent alone is no profile
    created = with_events(None, "u3", {"e:orders": "1", "e:first_seen": "2026-10-30T12:00:00Z"})
    assert created is not None and created.joined_at == datetime(2026, 10, 30, 12, tzinfo=UTC)


def test_realtime_settings_are_parsed_and_checked() -> None:
    settings = Settings.from_env(
        {"EDGE_SESSION_TTL_S": "600", "EDGE_TIER_THRESHOLDS": "100,200,300", "EDGE_EVENTS_MAXLEN": "5000",
         "EDGE_REDIS_URL": "redis+cluster://10.0.0.1:7000"}
    )  # fmt: skip
    assert settings.session_policy().ttl_s == 600
    assert settings.default_tiers() == TierThresholds(100, 200, 300)
    assert settings.events_maxlen == 5000 and settings.redis_url == "redis+cluster://10.0.0.1:7000"
    for name, value in [("EDGE_TIER_THRESHOLDS", "300,200,100"), ("EDGE_TIER_THRESHOLDS", "1,2"),
                        ("EDGE_SESSION_TTL_S", "0"), ("EDGE_EVENTS_TIMEOUT_MS", "-5")]:  # fmt: skip
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({name: value})
        assert name in caught.value.message
