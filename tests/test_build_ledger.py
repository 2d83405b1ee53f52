"""The build's ledger: cancellations and returns netted from spend, cancelled orders not counted,
dated signals instead of frozen 90-day counts, and the segment report."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from edge.core.loyalty import TierThresholds, as_of
from edge.core.profiles import parse_profile, with_events
from edge.core.requests import SessionSignals
from edge.core.segments import SegmentRules, assign_segment
from models.dataset import Interactions
from models.ledger import customer_ledger, report_lines, segment_report

TIERS = TierThresholds(100.0, 1000.0, 5000.0)
END = datetime(2011, 10, 31, 12, tzinfo=UTC)


def lines(*orders: tuple[str, str, float]) -> Interactions:
    n = len(orders)
    return Interactions(
        user=np.array(["u"] * n, dtype=object),
        item=np.zeros(n, dtype=np.int32),
        ts=np.array([ts for _, ts, _ in orders], dtype="datetime64[s]"),
        quantity=np.ones(n, dtype=np.float32),
        price=np.array([value for _, _, value in orders], dtype=np.float32),
        country=np.array(["GB"] * n, dtype=object),
        order=np.array([order for order, _, _ in orders], dtype=object),
    )


def test_a_fully_cancelled_order_is_no_spend_no_order_and_no_purchase_date() -> None:
    book = customer_ledger(
        lines(("541431", "2011-01-18T10:01:00", 7718.5)), [["2011-01-18T10:17:00Z", "cancellation", 7718.5]]
    )
    assert (book.spend, book.points, book.orders, book.last_purchase_at) == (0.0, 0, 0, None)
    assert [r["kind"] for r in book.rows] == ["purchase", "cancellation"]


def test_a_partial_cancellation_nets_spend_but_keeps_the_order() -> None:
    book = customer_ledger(
        lines(("1", "2011-05-01T10:00:00", 300.0), ("2", "2011-06-01T10:00:00", 200.0)),
        [["2011-06-02T10:00:00Z", "cancellation", 50.0], ["2011-06-10T10:00:00Z", "return", 20.0]],
    )
    assert (book.spend, book.orders, book.last_purchase_at) == (430.0, 2, "2011-06-01T10:00:00Z")


def test_only_cancellations_is_never_active_and_returns_expire() -> None:
    cancelled_only = customer_ledger(None, [["2011-03-01T10:00:00Z", "cancellation", 40.0]])
    record = {"user_id": "c", "spend": 0.0, "points": 0, "tier": "bronze", **cancelled_only.facts()}
    profile = as_of(with_events(parse_profile("c", record), "c", {}) or parse_profile("c", {}), END, TIERS)
    assert assign_segment(profile, SessionSignals(), END, SegmentRules())[0] in {"lapsed", "lost"}
    small = customer_ledger(lines(("1", "2011-10-01T10:00:00", 2000.0)), [["2011-10-02T10:00:00Z", "return", 60.0]])
    record = {"user_id": "s", "spend": small.spend, "points": small.points, "tier": "gold", **small.facts()}
    routine = with_events(parse_profile("s", record), "s", {})
    assert routine is not None  # a 3 % return is routine: not at risk
    assert assign_segment(as_of(routine, END, TIERS), SessionSignals(), END, SegmentRules())[0] == "ambassador"
    returned = customer_ledger(lines(("1", "2011-10-01T10:00:00", 2000.0)), [["2011-10-02T10:00:00Z", "return", 600.0]])
    record = {"user_id": "r", "spend": returned.spend, "points": returned.points, "tier": "gold", **returned.facts()}
    stored = with_events(parse_profile("r", record), "r", {})
    assert stored is not None
    assert assign_segment(as_of(stored, END, TIERS), SessionSignals(), END, SegmentRules())[0] == "at_risk"
    later = datetime(2012, 1, 5, tzinfo=UTC)  # the return is 95 days old (90-day window), the purchase 96
    segment = assign_segment(as_of(stored, later, TIERS), SessionSignals(), later, SegmentRules())[0]
    assert segment == "lapsed"  # no longer at risk: idle since the purchase instead


def test_the_segment_report_counts_shares_and_why_gold_is_at_risk() -> None:
    gold = customer_ledger(lines(("1", "2011-10-20T10:00:00", 2000.0)), [["2011-10-21T10:00:00Z", "return", 600.0]])
    calm = customer_ledger(lines(("2", "2011-10-20T10:00:00", 2000.0)), [])
    records = [
        {"user_id": "g1", "spend": gold.spend, "points": gold.points, "tier": "gold", **gold.facts()},
        {"user_id": "g2", "spend": calm.spend, "points": calm.points, "tier": "gold", **calm.facts()},
    ]
    report = segment_report(records, END, TIERS)
    assert report["counts"]["at_risk"] == 1 and report["counts"]["ambassador"] == 1
    assert report["at_risk_by_tier"]["gold"] == {
        "customers": 2, "at_risk": 1, "share": 0.5, "why": {"returns/cancellations": 1},
    }  # fmt: skip
    assert any("gold at risk: 1 of 2 (50.0%): 1 by returns/cancellations" in line for line in report_lines(report))


def test_a_cancelled_last_order_is_not_the_last_purchase() -> None:
    book = customer_ledger(
        lines(("1", "2011-04-01T10:00:00", 80.0), ("2", "2011-10-20T10:00:00", 500.0)),
        [["2011-10-20T11:00:00Z", "cancellation", 500.0], ["2011-10-25T10:00:00Z", "cancellation", 20.0]],
    )
    assert [r["kind"] for r in book.rows] == ["purchase", "purchase", "cancellation", "return"]
    assert (book.orders, book.last_purchase_at, book.spend) == (1, "2011-04-01T10:00:00Z", 60.0)
    record = {"user_id": "x", "spend": book.spend, "points": book.points, "tier": "bronze", **book.facts()}
    stored = with_events(parse_profile("x", record), "x", {})
    assert stored is not None
    now = as_of(stored, END, TIERS)
    assert (now.last_purchase_at, now.orders) == (datetime(2011, 4, 1, 10, tzinfo=UTC), 1)
    assert assign_segment(now, SessionSignals(), END, SegmentRules())[0] == "lost"  # 213 days without a purchase
    before = as_of(stored, datetime(2011, 10, 20, 10, 30, tzinfo=UTC), TIERS)  # between the order and its cancel
    assert (before.last_purchase_at, before.orders, before.spend) == (datetime(2011, 10, 20, 10, tzinfo=UTC), 2, 580.0)
