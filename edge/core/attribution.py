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
  The decision id describes the decision (variant, offer, reason and product hash per slot), so
  nothing is stored per decision; what decisions showed is summed per worker and written in
  batches to the partition hash `@da` (`ShownCounts`).
- A metric event (purchase, add_to_cart, click) of the unit updates, for every track whose window
  holds the event time, the unit's values and the arm's sufficient statistics (sum and sum of
  squares of the per-unit value, so variance is exact); an event with a `decision_id` is also
  credited to that decision's variant, offer, slot and reason in `@da` (ids Edge did not make,
  or older than 72 h, count as unattributed).

Reports merge the 64 partitions' aggregates (edge/core/reports.py): no scan of units, ever.

Ops (run by edge/store/apply.lua and `MemoryStore`, see edge/core/writes.py), besides plain I / F / S
on `@da`:

    XK  key                                     bind the unit's record (`xp`) for the ops after it
    XE  @xa track arm ts window segment day ttl exposure: the first one enrols the unit in the arm
    XM  @xa ts day conversion revenue add_to_cart click redemption
                                                a metric event, counted for every track in its window
    XC  @da metric revenue field ...            credit a decision: `<field>|<metric>` +1 (and revenue); the
                                                field `+d1^d2^...` stands for each dimension (`merged`)
"""

from __future__ import annotations

import secrets
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from random import getrandbits
from typing import Any, get_args

from edge.core.answers import Metric
from edge.core.experiments import REASONS, ArmAssignment, ExperimentsConfig
from edge.core.shapes import ID_PATTERN
from edge.core.writes import Group, Op, Program

METRICS: tuple[Metric, ...] = get_args(Metric)
PROPORTIONS = frozenset({"conversion", "add_to_cart", "click", "redemption"})
HOLDOUT_TRACK = "~holdout"
HOLDOUT_ARMS = ("holdout", "personalized")
OFFER_TRACK = "~offer:"
OFFER_ARM = "shown"
ALL = "*"  # the segment field of overall aggregates
DEFAULT_WINDOW_H = 72.0
RECORD_TTL_S = 90 * 86400  # a unit record outlives the longest test it takes part in (refreshed on exposure)
DECISION_WINDOW_S = int(DEFAULT_WINDOW_H * 3600)  # an event is credited to a decision this long after it
DECISION_METRICS = ("click", "add_to_cart", "purchase")
CREDIT = "+"  # a `da` field crediting several dimensions at once: `+variant|v^offer|o^slot|2^reason|r|click`
ENROLLED_MEMORY = 200_000  # units whose enrolled tracks a worker remembers
BIND = Op("XK", "xp")  # binds the unit's record for the attribution ops after it (ops are immutable)


@dataclass(frozen=True, slots=True)
class Enrolment:
    """One track a decision enrolled its unit in."""

    track: str
    arm: str
    window_s: int


def epoch(ts: datetime) -> int:
    return int(ts.timestamp())


def day_of(ts: datetime) -> str:
    """The UTC day of `ts` as YYYYMMDD."""
    return _day(int(ts.timestamp()) // 86400)


@lru_cache(maxsize=1024)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86400, UTC).strftime("%Y%m%d")


class Enrolled:
    """The (unit, track) pairs this worker already enrolled: a repeat decision skips the enrolment write.

    Only the first exposure counts (the store keeps it with HSETNX), so skipping repeats changes no
    result; it keeps the write-behind of a returning visitor's decisions small. Bounded: the tracks
    of the last `size` units (the oldest unit is forgotten first).
    """

    def __init__(self, size: int = ENROLLED_MEMORY) -> None:
        self.size = size
        self._seen: dict[str, set[str]] = {}

    def first(self, unit: str, track: str) -> bool:
        """True the first time this worker sees (unit, track) (within its memory)."""
        tracks = self._seen.get(unit)
        if tracks is None:
            if len(self._seen) >= self.size:
                del self._seen[next(iter(self._seen))]
            self._seen[unit] = {track}
            return True
        if track in tracks:
            return False
        tracks.add(track)
        return True


# --- planning (pure) ------------------------------------------------------------------------------


def decision_program(unit: str, now: datetime, segment: str, enrolments: Sequence[Enrolment]) -> Program:
    """The enrolment writes of one decision (none when it enrols the unit nowhere new)."""
    if not enrolments:
        return ()
    ts, day = epoch(now), day_of(now)
    ops = [BIND]
    ops += [Op("XE", "@xa", (e.track, e.arm, ts, e.window_s, segment, day, RECORD_TTL_S)) for e in enrolments]
    return (Group(unit, tuple(ops)),)


@dataclass(frozen=True, slots=True)
class _Windows:
    """The per-configuration constants of enrolment: each experiment's window, the holdout's."""

    config: ExperimentsConfig
    by_experiment: Mapping[str, int]
    default_s: int
    holdout: bool


_WINDOWS: list[_Windows] = []  # the last configuration's (one entry)


def _windows(config: ExperimentsConfig) -> _Windows:
    if _WINDOWS and _WINDOWS[0].config is config:
        return _WINDOWS[0]
    default_s = round(config.holdout.conversion_window_hours * 3600)
    by_experiment = {exp.key: round(exp.window_hours * 3600) for exp in config.experiments}
    _WINDOWS[:] = [_Windows(config, by_experiment, default_s, config.holdout.percent > 0)]
    return _WINDOWS[0]


def decision_attribution(
    config: ExperimentsConfig,
    unit: str,
    body: Mapping[str, Any],
    arms: Sequence[ArmAssignment],
    holdout: bool,
    forced: bool,
    now: datetime,
    enrolled: Enrolled | None = None,
) -> Program:
    """The attribution writes of a decision response `body` (a QA-forced decision enrols nowhere)."""
    if forced:
        return ()
    w = _windows(config)
    new = enrolled.first if enrolled is not None else (lambda _unit, _track: True)
    enrolments = [
        Enrolment(a.experiment, a.arm, w.by_experiment.get(a.experiment, w.default_s))
        for a in arms
        if new(unit, a.experiment)
    ]
    if w.holdout and new(unit, HOLDOUT_TRACK):
        enrolments.append(Enrolment(HOLDOUT_TRACK, HOLDOUT_ARMS[0 if holdout else 1], w.default_s))
    offer_json = body["cta"].get("offer")
    if offer_json and new(unit, OFFER_TRACK + str(offer_json["code"])):
        enrolments.append(Enrolment(OFFER_TRACK + str(offer_json["code"]), OFFER_ARM, w.default_s))
    return decision_program(unit, now, body["segment"], enrolments)


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
    seconds = int(ts.timestamp())
    ops = [BIND, Op("XM", "@xa", (seconds, _day(seconds // 86400), *values, redeemed))]
    if redeemed:  # per code, with or without a decision id: redemptions and what they paid
        ops += [
            Op("I", "@da", (f"redeemed|{offer_code}|count", 1)),
            Op("F", "@da", (f"redeemed|{offer_code}|revenue", revenue)),
        ]
    if decision_id is not None:
        ops += credit_ops(decision_id, seconds, kind, product_id, position, offer_code, revenue)
    return ops


def credit_ops(
    decision_id: str,
    ts: int,
    metric: str,
    product_id: str | None,
    position: int | None,
    offer_code: str | None,
    revenue: float,
) -> list[Op]:
    """Credit an event to the decision its id describes: variant, offer, and the slot and reason it hit."""
    decision = decode_decision(decision_id)
    if decision is None or not decision.ts <= ts <= decision.ts + DECISION_WINDOW_S:
        return _credit(["unattributed"], metric, revenue)
    credit = Op("XC", "@da", (metric, repr(revenue), _credited(decision_id, product_id, position)))
    if metric == "purchase" and offer_code and offer_code == decision.offer:
        return [credit, Op("I", "@da", (f"offer|{decision.offer}|redemption", 1))]
    return [credit]


@lru_cache(maxsize=4096)  # a visitor's events hit the same decision's slots again and again
def _credited(decision_id: str, product_id: str | None, position: int | None) -> str:
    """The `da` field (without its metric) crediting the variant, offer, slot and reason an event hit."""
    decision = decode_decision(decision_id)
    assert decision is not None
    dims = [f"variant|{decision.variant}"]
    if decision.offer:
        dims.append(f"offer|{decision.offer}")
    slot = decision.slot_of(product_id, position)
    if slot:
        dims += [f"slot|{slot}", f"reason|{decision.slots[slot - 1][0]}"]
    return CREDIT + "^".join(dims)


def _credit(dims: list[str], metric: str, revenue: float) -> list[Op]:
    """One field for all the dimensions (`+d1^d2...|metric`): one `HINCRBY` per event, spread by `merged`."""
    return [Op("XC", "@da", (metric, repr(revenue), dims[0] if len(dims) == 1 else CREDIT + "^".join(dims)))]


# --- decision ids that describe their decision -----------------------------------------------------
#
# A decision id carries what decision-level attribution needs, so a decision writes nothing for it:
# `d-<time ms, hex><8 hex random>.<variant>.<offer code>.<slots>`, each slot being its reason's
# letter and a 2-character hash of its product id. Events echo the id; `credit_ops` reads it.

REASON_LETTERS: dict[str, str] = {reason: "abcdefghijklmnopqrstuvwxy"[i] for i, reason in enumerate(sorted(REASONS))}
LETTER_REASONS: dict[str, str] = {letter: reason for reason, letter in REASON_LETTERS.items()}
OTHER_REASON = "z"  # a reason outside the contract's list (reported as "other")
MAX_ID_LENGTH = 128
PART_LIMIT = 32  # a longer variant id or offer code is left out of the id (reported as "other" / no offer)
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Decoded:
    ts: int  # epoch seconds
    variant: str
    offer: str
    slots: tuple[tuple[str, str], ...]  # (reason, product hash) per slot, from 1

    def slot_of(self, product_id: str | None, position: int | None) -> int:
        """The 1-based slot an event hit: its position, else the first slot showing its product; 0 = none."""
        if position is not None and 1 <= position <= len(self.slots):
            return position
        if product_id is not None:
            wanted = product_hash(product_id)
            for i, (_, hashed) in enumerate(self.slots, start=1):
                if hashed == wanted:
                    return i
        return 0


def product_hash(product_id: str) -> str:
    """Two base-36 characters of the product id's CRC-32: enough to find the slot of an event's product."""
    found = _HASHES.get(product_id)
    if found is None:
        value = zlib.crc32(product_id.encode()) % 1296
        found = _BASE36[value // 36] + _BASE36[value % 36]
        if len(_HASHES) < 1_000_000:
            _HASHES[product_id] = found
    return found


_HASHES: dict[str, str] = {}


@lru_cache(maxsize=1024)
def _safe(part: str) -> str:
    return part if len(part) <= PART_LIMIT and "." not in part and ID_PATTERN.fullmatch(part) else ""


@lru_cache(maxsize=1024)
def _middle(variant: str, offer: str) -> str:
    return f".{_safe(variant)}.{_safe(offer)}."


def encode_decision(now: datetime, variant: str, offer: str | None, products: Sequence[tuple[str, str]]) -> str:
    """A new decision id describing the decision (at most 128 characters of `[A-Za-z0-9._:-]`)."""
    head = f"d-{int(now.timestamp() * 1000):x}{getrandbits(32):08x}{_middle(variant, offer or '')}"
    room = (MAX_ID_LENGTH - len(head)) // 3
    letters, known, hashed = REASON_LETTERS, _HASHES, product_hash
    codes = [
        letters.get(reason, OTHER_REASON) + (known.get(product) or hashed(product))
        for product, reason in products[:room]
    ]
    return head + "".join(codes)


class _RowHashes:
    """`product_hash` of each row of one catalog's `item_json`, computed the first time a row is shown."""

    def __init__(self) -> None:
        self.item_json: Sequence[Mapping[str, Any]] = ()
        self.hashes: list[str] = []


_ROWS = _RowHashes()


def encode_ranked(
    now: datetime, variant: str, offer: str | None, item_json: Sequence[Mapping[str, Any]], ranked: Sequence[Any]
) -> str:
    """`encode_decision` of ranked rows (`.row`, `.reason`) of a catalog's `item_json`: the same id, cheaper."""
    if _ROWS.item_json is not item_json:
        _ROWS.item_json, _ROWS.hashes = item_json, [""] * len(item_json)
    hashes = _ROWS.hashes
    head = f"d-{int(now.timestamp() * 1000):x}{getrandbits(32):08x}{_middle(variant, offer or '')}"
    codes = []
    letters = REASON_LETTERS
    for r in ranked[: (MAX_ID_LENGTH - len(head)) // 3]:
        hashed = hashes[r.row]
        if not hashed:
            hashed = hashes[r.row] = product_hash(str(item_json[r.row]["id"]))
        codes.append(letters.get(r.reason, OTHER_REASON) + hashed)
    return head + "".join(codes)


@lru_cache(maxsize=4096)  # a visitor's events name the same decision again and again
def decode_decision(decision_id: str) -> Decoded | None:
    """What an id made by `encode_decision` says; None for any other id."""
    parts = decision_id.split(".")
    if len(parts) != 4 or not parts[0].startswith("d-") or len(parts[0]) < 11 or len(parts[3]) % 3:
        return None
    try:
        ms = int(parts[0][2:-8], 16)
    except ValueError:
        return None
    codes = parts[3]
    slots = tuple((LETTER_REASONS.get(codes[i], "other"), codes[i + 1 : i + 3]) for i in range(0, len(codes), 3))
    return Decoded(ms // 1000, parts[1] or "other", parts[2], slots)


class ShownCounts:
    """What this worker's decisions showed (variant, offer, reasons, list length), written in batches.

    The impressions behind click rates are anonymous sums: a worker adds them up in memory and
    writes them every `every` decisions or after `interval_s` seconds (checked at each decision,
    and flushed before a report reads the store) instead of one write per decision.
    """

    def __init__(self, every: int = 256, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.interval_s = interval_s
        self.clock = clock
        self.pending = 0
        self._reasons: Counter[str] = Counter()
        self._variants: Counter[str] = Counter()
        self._lengths: Counter[int] = Counter()
        self._offers: Counter[str] = Counter()
        self._pcts: dict[str, int] = {}
        self._ids: list[str] = []
        self._last = clock()
        self._unit = f"s=~shown-{secrets.token_hex(5)}"  # only picks the partition (random per worker, fork-safe)

    def add(self, body: Mapping[str, Any]) -> None:
        """Note a decision: its id says what it showed (counted in bulk when the batch is taken)."""
        self._ids.append(body["decision_id"])
        offer = body["cta"]["offer"]
        if offer:
            self._pcts[offer["code"]] = offer["discount_pct"]
        self.pending += 1

    def _count(self) -> None:
        ids, self._ids = self._ids, []
        heads: Counter[tuple[str, str, int]] = Counter()
        codes = []
        for decision_id in ids:
            parts = decision_id.split(".")
            if len(parts) == 4:
                heads[parts[1], parts[2], len(parts[3])] += 1
                codes.append(parts[3])
        for (variant, offer, length), n in heads.items():
            self._variants[variant or "other"] += n
            if offer:
                self._offers[offer] += n
            self._lengths[length // 3] += n
        for letter, n in Counter("".join(codes)[0::3]).items():
            self._reasons[LETTER_REASONS.get(letter, "other")] += n

    def due(self) -> bool:
        return self.pending >= self.every or (self.pending > 0 and self.clock() - self._last >= self.interval_s)

    def take(self) -> Program:
        """The pending counts as one write (and start counting afresh)."""
        self._count()
        ops = [Op("I", "@da", (f"reason|{r}|shown", n)) for r, n in self._reasons.items()]
        ops += [Op("I", "@da", (f"variant|{v}|shown", n)) for v, n in self._variants.items()]
        ops += [Op("I", "@da", (f"slots|{k}|decisions", n)) for k, n in self._lengths.items()]
        ops += [Op("I", "@da", (f"offer|{o}|shown", n)) for o, n in self._offers.items()]
        ops += [Op("S", "@da", (f"offer|{o}|pct", pct)) for o, pct in self._pcts.items()]
        self._reasons, self._variants, self._lengths, self._offers = Counter(), Counter(), Counter(), Counter()
        self._pcts, self.pending, self._last = {}, 0, self.clock()
        return (Group(self._unit, tuple(ops)),) if ops else ()


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
    elif code == "XC":
        da, metric, amount = shared("da"), args[0], float(args[1])
        for dim in args[2:]:
            _incr(da, f"{dim}|{metric}", 1)
            if amount > 0:
                _incr(da, f"{dim}|revenue", amount)


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
                if METRICS[m] not in PROPORTIONS:  # of 0/1 values the sum of squares is the sum
                    _incr(agg, f"{arm}|{seg}|{METRICS[m]}|q", new * new - old * old)
            if m == 0:
                _incr(agg, f"{arm}|#|{day}|c", 1)
        unit[track] = "|".join(parts)


# --- reading aggregates (pure) ---------------------------------------------------------------------


def merged(partitions: Sequence[Mapping[str, str]]) -> dict[str, float]:
    """The sum of the partitions' aggregate hashes (every field is a count or a sum)."""
    total: dict[str, float] = {}
    for fields in partitions:
        for name, value in fields.items():
            if name.endswith("|pct"):
                total[name] = float(value)
            elif name.startswith(CREDIT):  # one decision credit for each of its dimensions
                dims, _, metric = name[1:].rpartition("|")
                for dim in dims.split("^"):
                    total[f"{dim}|{metric}"] = total.get(f"{dim}|{metric}", 0.0) + float(value)
            else:
                total[name] = total.get(name, 0.0) + float(value)
    return total
