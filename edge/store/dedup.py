"""Dedup: events that carry a client-generated `id` are stored at most once.

A storefront that got a 503 (or no answer) retries the same events with the same ids; the store
keeps an `eid:<id>` guard per id in the unit's slot for a day (`IDEMPOTENCY_TTL_S`) and skips an
event whose guard exists, in the same atomic script that stores it. So that one duplicate never
drops a new event, the events of a unit are split into parts that are guarded on their own: the
events without an id (one part, first), then each event with an id, except that purchases at one
time (one order, one `orders` increment) form one part that is stored or skipped together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from edge.core.writes import IDEMPOTENCY_TTL_S, INDEX_TTL_S, Op

if TYPE_CHECKING:
    from edge.events import Event


def fingerprint(body: Any) -> str:
    """What an Idempotency-Key is bound to: the decoded body, key order aside."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def parts(events: Sequence[Event]) -> list[list[Event]]:
    """The unit's events split into separately guarded parts (an id repeated within the call is dropped)."""
    plain = [e for e in events if e.id is None]
    keyed: dict[tuple[str, str], list[Event]] = {}
    seen: set[str] = set()
    for event in events:
        if event.id is None or event.id in seen:
            continue
        seen.add(event.id)
        part = ("order", event.ts.isoformat()) if event.type == "purchase" else ("event", event.id)
        keyed.setdefault(part, []).append(event)
    return ([plain] if plain else []) + list(keyed.values())


def check_ids(events: Sequence[Event]) -> list[Op]:
    """`GI` ops: skip the part when any of its ids was stored before (checked before any write)."""
    return [Op("GI", f"eid:{e.id}") for e in events if e.id is not None]


def mark_ids(events: Sequence[Event]) -> list[Op]:
    """Remember the part's ids for a day, listed in the unit's index (erasure deletes them)."""
    ids = [e.id for e in events if e.id is not None]
    if not ids:
        return []
    guards = [Op("G", f"eid:{i}", (IDEMPOTENCY_TTL_S,)) for i in ids]
    return [*guards, *(Op("SA", "index", (f"eid:{i}",)) for i in ids), Op("E", "index", (INDEX_TTL_S,))]
