"""Loyalty: points and tiers earned by spend (one point per currency unit, tiers past spend thresholds).

The thresholds come from the build's manifest (`tier_thresholds`, computed from the customers'
spend distribution) when it has them, else from `EDGE_TIER_THRESHOLDS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import orjson

from edge.profiles import TIERS, Tier

MANIFEST = "index_infos.json"
RANK: dict[str | None, int] = {None: 0, **{tier: i + 1 for i, tier in enumerate(TIERS)}}


@dataclass(frozen=True, slots=True)
class TierThresholds:
    """Total spend from which a customer reaches silver, gold and platinum."""

    silver: float = 500.0
    gold: float = 2000.0
    platinum: float = 5000.0

    def tier(self, spend: float) -> Tier:
        if spend >= self.platinum:
            return "platinum"
        if spend >= self.gold:
            return "gold"
        if spend >= self.silver:
            return "silver"
        return "bronze"

    def as_args(self) -> tuple[float, float, float]:
        return (self.silver, self.gold, self.platinum)


def points_for(amount: float) -> int:
    """Points earned by spending `amount`: one per whole currency unit."""
    return math.floor(amount + 1e-9)


def upgraded_tier(current: Tier | None, spend_before: float, spend_after: float, rules: TierThresholds) -> Tier | None:
    """The tier after spend grew from `spend_before` to `spend_after`: up only, and only past a threshold."""
    reached = rules.tier(spend_after)
    if RANK[reached] > RANK[rules.tier(spend_before)] and RANK[reached] > RANK[current]:
        return reached
    return current


@lru_cache(maxsize=8)
def thresholds_for(build: Path, default: TierThresholds) -> TierThresholds:
    """The build's own thresholds (manifest `tier_thresholds`), else `default`; read once per build."""
    try:
        manifest = orjson.loads((build / MANIFEST).read_bytes())
        found = manifest["tier_thresholds"]
        rules = TierThresholds(float(found["silver"]), float(found["gold"]), float(found["platinum"]))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return default
    return rules if 0 <= rules.silver <= rules.gold <= rules.platinum else default
