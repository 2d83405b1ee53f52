"""Attribution: per-unit experiment records and mergeable aggregates, kept as events arrive.

Results must not depend on the bounded event and exposure streams, so both writes keep what the
analysis needs, in the unit's own hash slot (one atomic script with the rest of the write, so an
Idempotency-Key retry or any upstream dedup also covers the aggregates):

- A decision (write-behind, off the response path) enrols its unit in *tracks*: each experiment
  arm it was exposed to, the holdout track `~holdout` (arms `holdout` / `personalized`, when a
  holdout is configured) and `~offer:<code>` for an offer it was shown. The unit record
  `<unit>:xp` keeps, per track, the arm, the first exposure time, the conversion window, the
  segment at first exposure and the unit's metric values; the first exposure adds the unit to
  the partition's aggregate `@xa:<track>` (units per arm, per arm and segment, per arm and day).
  It also stores the decision (`<unit>:dec`: variant, offer, products and their reasons) for the
  attribution window and counts what was shown in the partition's `@da`.
- A metric event (purchase, add_to_cart, click) of the unit updates, for every track whose window
  holds the event time, the unit's values and the arm's sufficient statistics (sum and sum of
  squares of the per-unit value, so variance is exact); an event with a `decision_id` is also
  credited to that decision's variant, offer, slot and reason in `@da` (unknown or expired ids
  count as unattributed).

Reports merge the 64 partitions' aggregates (edge/reports.py): no scan of units, ever.

Ops (run by edge/data/apply.lua and `MemoryStore`, see edge/writes.py):

    I / F on @da: redeemed|<code>|count, redeemed|<code>|revenue (every purchase with an offer_code)
    XK  key                                     bind the unit's record (`xp` or `dec`) for the ops after it
    XE  @xa track arm ts window segment day ttl exposure: first one enrols the unit in the arm
    XM  @xa ts day conversion revenue add_to_cart click redemption
                                                a metric event, counted for every track in its window
    DD  @da decision_id json ttl cap            a decision: record it, count what it showed
    DA  @da decision_id ts metric product position offer revenue
                                                an event that names a decision: credit it
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from edge.experiments import ArmAssignment, ExperimentsConfig
from edge.writes import Group, Op, Program

METRICS = ("conversion", "revenue", "add_to_cart", "click", "redemption")
PROPORTIONS = frozenset({"conversion", "add_to_cart", "click", "redemption"})
HOLDOUT_TRACK = "~holdout"
HOLDOUT_ARMS = ("holdout", "personalized")
OFFER_TRACK = "~offer:"
OFFER_ARM = "shown"
ALL = "*"  # the segment field of overall aggregates
DEFAULT_WINDOW_H = 72.0
RECORD_TTL_S = 90 * 86400  # a unit record outlives the longest test it takes part in (refreshed on exposure)
DECISIONS_KEPT = 64  # decisions a unit keeps for attribution (the newest)
DECISION_METRICS = ("click", "add_to_cart", "purchase")


@dataclass(frozen=True, slots=True)
class Enrolment:
    """One track a decision enrolled its unit in."""

    track: str
    arm: str
    window_s: int


def epoch(ts: datetime) -> int:
    return int(ts.timestamp())


@lru_cache(maxsize=4096)
def day_of(ts: datetime) -> str:
    return ts.strftime("%Y%m%d")


# --- planning (pure) ------------------------------------------------------------------------------


def decision_program(
    unit: str,
    now: datetime,
    segment: str,
    enrolments: Sequence[Enrolment],
    decision_id: str,
    variant: str,
    offer: tuple[str, int] | None,
    products: Sequence[tuple[str, str]],
    window_s: int,
) -> Program:
    """The attribution writes of one decision: its track enrolments and its decision record."""
    ts, day = epoch(now), day_of(now)
    ops: list[Op] = [Op("XK", "xp")]
    ops += [Op("XE", "@xa", (e.track, e.arm, ts, e.window_s, segment, day, RECORD_TTL_S)) for e in enrolments]
    record = {"t": ts, "w": window_s, "v": variant, "p": [p for p, _ in products], "r": [r for _, r in products]}
    if offer is not None:
        record["o"], record["pct"] = offer
    ops += [Op("XK", "dec"), Op("DD", "@da", (decision_id, orjson.dumps(record).decode(), window_s, DECISIONS_KEPT))]
    return (Group(unit, tuple(ops)),)


def decision_attribution(
    config: ExperimentsConfig,
    unit: str,
    body: Mapping[str, Any],
    arms: Sequence[ArmAssignment],
    holdout: bool,
    forced: bool,
    now: datetime,
) -> Program:
    """The attribution writes of a decision response `body` (a QA-forced decision enrols nowhere)."""
    window_s = round(config.holdout_window_hours * 3600)
    enrolments: list[Enrolment] = []
    if not forced:
        windows = {exp.key: round(exp.window_hours * 3600) for exp in config.experiments}
        enrolments = [Enrolment(a.experiment, a.arm, windows.get(a.experiment, window_s)) for a in arms]
        if config.holdout_percent > 0:
            enrolments.append(Enrolment(HOLDOUT_TRACK, HOLDOUT_ARMS[0 if holdout else 1], window_s))
    offer_json = body["cta"].get("offer")
    offer = (str(offer_json["code"]), int(offer_json["discount_pct"])) if offer_json else None
    if offer is not None and not forced:
        enrolments.append(Enrolment(OFFER_TRACK + offer[0], OFFER_ARM, window_s))
    products = [(str(p["id"]), str(p["reason"])) for p in body["products"]]
    return decision_program(
        unit, now, body["segment"], enrolments, body["decision_id"], body["variant"]["id"], offer, products, window_s
    )


def event_ops(
    kind: str,
    ts: datetime,
    revenue: float,
    decision_id: str | None,
    product_id: str | None,
    position: int | None,
    offer_code: str | None,
) -> list[Op]:
    """The attribution ops of one event of the group's unit (none for events that are no metric)."""
    if kind not in DECISION_METRICS:
        return []
    purchase = kind == "purchase"
    values = (int(purchase), revenue if purchase else 0.0, int(kind == "add_to_cart"), int(kind == "click"))
    redeemed = int(purchase and offer_code is not None)
    ops = [Op("XK", "xp"), Op("XM", "@xa", (epoch(ts), day_of(ts), *values, redeemed))]
    if redeemed:  # per code, with or without a decision id: redemptions and what they paid
        ops += [
            Op("I", "@da", (f"redeemed|{offer_code}|count", 1)),
            Op("F", "@da", (f"redeemed|{offer_code}|revenue", revenue)),
        ]
    if decision_id is not None:
        credit = (decision_id, epoch(ts), kind, product_id or "", position or 0, offer_code or "", revenue)
        ops += [Op("XK", "dec"), Op("DA", "@da", credit)]
    return ops


# --- the same ops on dicts (MemoryStore; apply.lua is the Redis twin) ------------------------------

Hash = MutableMapping[str, str]


def _incr(target: Hash, name: str, by: float) -> None:
    old = float(target.get(name, 0))
    new = old + by
    target[name] = str(int(new)) if new == int(new) and abs(new) < 2**53 else repr(new)


def run_op(code: str, args: Sequence[str], record: Callable[[], Hash], shared: Callable[[str], Hash]) -> None:
    """Run one attribution op: `record()` is the bound unit hash, `shared(name)` a partition hash."""
    if code == "XE":
        track, arm, ts, window, segment, day = args[:6]
        unit = record()
        if track not in unit:
            unit[track] = "|".join((arm, ts, window, segment, "0", "0", "0", "0", "0"))
            agg = shared(f"xa:{track}")
            _incr(agg, f"{arm}|{ALL}|n", 1)
            if segment:
                _incr(agg, f"{arm}|{segment}|n", 1)
            _incr(agg, f"{arm}|#|{day}|n", 1)
    elif code == "XM":
        _metric_event(record(), shared, int(args[0]), args[1], [float(a) for a in args[2:7]])
    elif code == "DD":
        _decision(record(), shared("da"), args)
    elif code == "DA":
        _credit(record(), shared("da"), args)


def _metric_event(unit: Hash, shared: Callable[[str], Hash], ts: int, day: str, deltas: list[float]) -> None:
    for track, raw in list(unit.items()):
        parts = raw.split("|")
        start, window = int(parts[1]), int(parts[2])
        if not start <= ts <= start + window:
            continue
        arm, segment = parts[0], parts[3]
        agg = shared(f"xa:{track}")
        for m, delta in enumerate(deltas):
            if delta <= 0:
                continue
            old = float(parts[4 + m])
            new = old + delta if METRICS[m] == "revenue" else 1.0
            if new == old:
                continue
            parts[4 + m] = "1" if METRICS[m] != "revenue" else repr(new)
            for seg in (ALL, segment) if segment else (ALL,):
                _incr(agg, f"{arm}|{seg}|{METRICS[m]}|s", new - old)
                _incr(agg, f"{arm}|{seg}|{METRICS[m]}|q", new * new - old * old)
            if m == 0:
                _incr(agg, f"{arm}|#|{day}|c", 1)
        unit[track] = "|".join(parts)


def _decision(unit: Hash, da: Hash, args: Sequence[str]) -> None:
    decision_id, raw, cap = args[0], args[1], int(args[3])
    unit[decision_id] = raw
    if len(unit) > cap:
        for name in sorted(unit)[: len(unit) - cap]:
            del unit[name]
    record: dict[str, Any] = orjson.loads(raw)
    _incr(da, f"variant|{record['v']}|shown", 1)
    if record.get("o"):
        _incr(da, f"offer|{record['o']}|shown", 1)
        da[f"offer|{record['o']}|pct"] = str(record["pct"])
    for slot, reason in enumerate(record["r"], start=1):
        _incr(da, f"reason|{reason}|shown", 1)
        _incr(da, f"slot|{slot}|shown", 1)


def _credit(unit: Hash, da: Hash, args: Sequence[str]) -> None:
    decision_id, ts, metric, product, position, offer, revenue = args
    raw = unit.get(decision_id)
    record: dict[str, Any] | None = orjson.loads(raw) if raw else None
    amount = float(revenue)
    if record is None or not record["t"] <= int(ts) <= record["t"] + record["w"]:
        _incr(da, f"unattributed|{metric}", 1)
        if amount > 0:
            _incr(da, "unattributed|revenue", amount)
        return
    dims = [f"variant|{record['v']}"]
    if record.get("o"):
        dims.append(f"offer|{record['o']}")
    slot = int(position)
    if not 1 <= slot <= len(record["p"]):
        slot = record["p"].index(product) + 1 if product in record["p"] else 0
    if slot:
        dims += [f"slot|{slot}", f"reason|{record['r'][slot - 1]}"]
    for dim in dims:
        _incr(da, f"{dim}|{metric}", 1)
        if amount > 0:
            _incr(da, f"{dim}|revenue", amount)
    if offer and offer == record.get("o") and metric == "purchase":
        _incr(da, f"offer|{offer}|redemption", 1)


# --- reading aggregates (pure) ---------------------------------------------------------------------


def merged(partitions: Sequence[Mapping[str, str]]) -> dict[str, float]:
    """The sum of the partitions' aggregate hashes (every field is a count or a sum)."""
    total: dict[str, float] = {}
    for fields in partitions:
        for name, value in fields.items():
            if name.endswith("|pct"):
                total[name] = float(value)
            else:
                total[name] = total.get(name, 0.0) + float(value)
    return total
