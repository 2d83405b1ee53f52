"""Writes: the small vocabulary of state changes that both stores execute atomically.

The pure planners (events, decisions, session promotion, erasure) describe a change as a
`Program`: one `Group` of `Op`s per unit (`u=<user_id>` or `s=<session_id>`), each op naming a
key relative to its unit ("profile", "session", "offers:20261101") or a partition key shared by
the unit's hash slot ("@events", "@exposures"). `RedisStore` runs a program as one Lua script
(edge/store/apply.lua; one script per hash slot in a cluster), `MemoryStore` runs the same ops on
dicts, so both stores end in the same state. Values are strings; list fields are JSON arrays.

    op    key args                 effect
    G     key ttl [fp]             idempotency guard: skip the rest of the group if key exists, else set it
                                   (to fp); a stored guard with another fp refuses the program (conflict)
    GI    key                      event-id guard: skip the rest of the group if key exists (edge.store.dedup)
    W     key n                    consent gate: skip the next n ops if the hash says consent is withdrawn
    N     key tag                  report `tag` when key does not exist yet (before the group writes it)
    X     key maxlen f v ...       XADD key MAXLEN ~ maxlen * f v ...
    I     key field n              HINCRBY
    F     key field x              HINCRBYFLOAT
    S     key field value          HSET
    SNX   key field value          HSETNX
    MAX   key field value          HSET when the field is absent or smaller (fixed-width timestamps)
    LA    key field value cap      list field: move/append value to the end, keep the last `cap`
    LR    key field value          list field: remove value
    LM    key field json cap       list field: the JSON list, then the current one (later wins), last `cap`
    TIER  key delta s g p          spend (base `p.spend` + `e:spend`) grew by delta: raise `e:tier` past a threshold
    HD    key field ...            HDEL
    SA    key member               SADD
    E     key ttl                  EXPIRE
    D     key                      DEL
    CD    key field value          DEL key when HGET field == value
    LP    key field json cap       list field: append the decoded JSON value, keep the last `cap` (ledger rows)
    BONUS key marker ts n row cap  once: HSETNX marker ts; if new, HINCRBY e:points n and append row to e:ledger
    XK XE XM XC                    attribution: experiment records and aggregates (edge/core/attribution.py)
"""

from __future__ import annotations

from dataclasses import dataclass

Arg = str | int | float

IDEMPOTENCY_TTL_S = 86400  # a retried call with the same Idempotency-Key is ignored for a day
INDEX_TTL_S = 3 * 86400  # outlives every key it lists (sessions 30 min, offers 2 days, guards 1 day)
LINKS_TTL_S = 30 * 86400  # anonymous sessions that became this user's, for erasure
OFFERS_TTL_S = 2 * 86400


@dataclass(frozen=True, slots=True)
class Op:
    code: str
    key: str
    args: tuple[Arg, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """The ops of one unit; every key of a group lives in the unit's hash slot."""

    unit: str
    ops: tuple[Op, ...]


Program = tuple[Group, ...]


@dataclass(frozen=True, slots=True)
class Applied:
    """What running a program reported: groups skipped as duplicates, tags of `N` ops that fired."""

    duplicates: int = 0
    created: tuple[str, ...] = ()


def user_unit(user_id: str) -> str:
    return f"u={user_id}"


def session_unit(session_id: str) -> str:
    return f"s={session_id}"


def unit_id(unit: str) -> str:
    return unit[2:]


def register(rel: str) -> tuple[Op, Op]:
    """Ops that list a unit's variably named key in its `index` (what erasure deletes)."""
    return Op("SA", "index", (rel,)), Op("E", "index", (INDEX_TTL_S,))


def erase_keys(unit: str, indexed: list[str]) -> Group:
    """Delete every key of `unit`: the fixed ones and everything its index lists."""
    fixed = ["profile", "session", "index", "links", "xp"]  # xp: edge/core/attribution.py
    return Group(unit, tuple(Op("D", rel) for rel in dict.fromkeys([*fixed, *indexed])))
