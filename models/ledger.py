"""Ledger rows of a customer's history: purchases per order, minus returns and cancellations.

A cancellation invoice that credits (within 1 %) the value of one of the customer's earlier orders
cancels that order (a `cancellation` row: no order and no purchase date); one that credits part of
an order is a `return` row (goods credited back). Both net spend and points, and both count toward
the at-risk share of a window's purchases (edge.core.segments); neither is a complaint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from edge.core.loyalty import FULL_MATCH, TierThresholds, as_of, points_for, recent
from edge.core.profiles import Profile, parse_profile, with_events
from edge.core.requests import SessionSignals
from edge.core.segments import SEGMENTS, SegmentRules, assign_segment
from models.dataset import Interactions


@dataclass(slots=True)
class Book:
    rows: list[dict[str, Any]] = field(default_factory=list)
    orders: int = 0
    last_purchase_at: str | None = None
    first_seen_at: str | None = None

    @property
    def spend(self) -> float:
        return round(sum(float(r["amount"]) for r in self.rows), 2)

    @property
    def points(self) -> int:
        return sum(int(r["points"]) for r in self.rows)

    def facts(self) -> dict[str, Any]:
        """Profile fields from the ledger: net orders, the last purchase not cancelled, the rows."""
        found: dict[str, Any] = {"ledger": self.rows, "orders": self.orders, "last_purchase_at": self.last_purchase_at}
        if self.first_seen_at is not None:
            found["joined_at"] = self.first_seen_at
        return found


def customer_ledger(mine: Interactions | None, credits: Sequence[Sequence[Any]] | None) -> Book:
    """The ledger of one customer's purchase lines and dated credits (`[ts, kind, amount]`)."""
    orders: dict[str, list[Any]] = {}  # order -> [ts, value]
    if mine is not None:
        for order, ts, value in zip(
            mine.order.tolist(), mine.ts.tolist(), (mine.quantity * mine.price).astype(np.float64).tolist(), strict=True
        ):
            entry = orders.setdefault(str(order), [ts, 0.0])
            entry[0] = max(entry[0], ts)
            entry[1] += value
    return order_ledger([(ts, value) for ts, value in orders.values()], credits)


def order_ledger(orders: Sequence[tuple[Any, float]], credits: Sequence[Sequence[Any]] | None) -> Book:
    """The ledger of one customer's orders (`(time of the last line, value)`, in the order each was
    first seen: that order breaks a tie of times) and dated credits (`[ts, kind, amount]`)."""
    rows: list[dict[str, Any]] = [
        {"ts": _stamp(ts), "kind": "purchase", "amount": round(value, 2), "points": points_for(value)}
        for ts, value in sorted(orders, key=lambda e: e[0])
    ]
    purchases = list(rows)
    cancelled: list[dict[str, Any]] = []
    for ts, kind, amount in sorted(credits or (), key=lambda c: str(c[0])):
        value = float(amount)
        whole = None
        if kind == "cancellation":
            for row in reversed(purchases):  # the latest earlier order of that value
                if (
                    row["ts"] <= str(ts)
                    and not any(row is c for c in cancelled)
                    and abs(row["amount"] - value) <= FULL_MATCH * max(value, 1.0)
                ):
                    whole = row
                    cancelled.append(row)
                    break
        label = "cancellation" if whole is not None else "return"  # a partial cancellation credits goods back
        rows.append({"ts": str(ts), "kind": label, "amount": -round(value, 2), "points": -points_for(value)})
    rows.sort(key=lambda r: str(r["ts"]))
    kept = [r for r in purchases if not any(r is c for c in cancelled)]
    return Book(
        rows=rows,
        orders=len(kept),
        last_purchase_at=max((str(r["ts"]) for r in kept), default=None),
        first_seen_at=min((str(r["ts"]) for r in rows), default=None),
    )


def _stamp(ts: Any) -> str:
    return str(np.datetime64(ts, "s")) + "Z"


def segment_report(records: Sequence[dict[str, Any]], at: datetime, tiers: TierThresholds) -> dict[str, Any]:
    """Segment shares of the built profiles at `at` (the data's end), with the default rules, and
    how many platinum/gold customers are at risk and why (a complaint, or returns and cancellations
    above `at_risk_credit_share` of the window's purchases)."""
    rules = SegmentRules()
    counts: Counter[str] = Counter()
    at_risk: dict[str, Counter[str]] = {tier: Counter() for tier in ("platinum", "gold")}
    totals: Counter[str] = Counter()
    for record in records:
        profile = as_of(with_events(parse_profile(str(record["user_id"]), record), "", {}) or Profile(""), at, tiers)
        segment, _ = assign_segment(profile, SessionSignals(), at, rules)
        counts[segment] += 1
        if profile.tier in at_risk:
            totals[profile.tier] += 1
            if segment == "at_risk":
                complaints, credited, _ = recent(profile, at, rules.at_risk_days)
                why = "complaint" if complaints else "returns/cancellations" if credited else "stated count"
                at_risk[profile.tier][why] += 1
    n = max(1, len(records))
    return {
        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "customers": len(records),
        "shares": {s: round(counts[s] / n, 4) for s in SEGMENTS},
        "counts": {s: counts[s] for s in SEGMENTS},
        "at_risk_by_tier": {
            tier: {
                "customers": totals[tier],
                "at_risk": sum(why.values()),
                "share": round(sum(why.values()) / max(1, totals[tier]), 4),
                "why": dict(why),
            }
            for tier, why in at_risk.items()
        },
    }


def report_lines(report: dict[str, Any]) -> list[str]:
    """The segment report as the build log prints it."""
    shares = ", ".join(f"{s} {share:.1%}" for s, share in report["shares"].items() if share)
    lines = [f"  segments at {report['at']} ({report['customers']} customers): {shares}"]
    for tier, found in report["at_risk_by_tier"].items():
        why = ", ".join(f"{n} by {reason}" for reason, n in found["why"].items()) or "none"
        lines.append(f"  {tier} at risk: {found['at_risk']} of {found['customers']} ({found['share']:.1%}): {why}")
    return lines
