"""Retention: one global cap per stream (`EDGE_EVENTS_MAXLEN`, `EDGE_EXPOSURES_MAXLEN`), fair across partitions.

The event and exposure streams are split over 64 partitions (one per hash slot group). Each
XADD only bounds its own partition by the global cap; a balancer in every worker (once a second)
reads the 64 lengths and, when their sum passes the cap, trims exactly the largest partitions down
to the one level that brings the sum to the cap (max-min fair: a small partition is never trimmed
while a larger one holds more than it). So a hot customer's events are kept while the total is
below the cap, and the total stays within the cap plus at most one second of inflow.
"""

from __future__ import annotations

from collections.abc import Sequence

BALANCE_S = 1.0


def water_level(lengths: Sequence[int], budget: int) -> int | None:
    """The largest per-partition length c with sum(min(l, c)) <= budget; None when nothing needs trimming."""
    if sum(lengths) <= budget:
        return None
    ordered = sorted(lengths)
    remaining, count = budget, len(ordered)
    for i, length in enumerate(ordered):
        share = remaining // (count - i)
        if length > share:
            return share
        remaining -= length
    return ordered[-1]  # pragma: no cover (the sum check above makes this unreachable)
