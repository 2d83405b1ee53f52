"""Consent: what events received while personalization consent is withdrawn may still change.

Personalization stops the moment a visitor withdraws consent, so what they do meanwhile is not
kept for it: the event-stream entry, the session's lists (viewed, cart, searches) and the
profile's purchased and wishlist lists are withheld. What the shop owes the customer regardless,
the purchase record (stream entry, orders, spend, points, tier, last purchase), is kept
(docs/security.md). The store decides at write time, atomically with the write: a `W` op skips
the ops after it when the hash it names (the profile of a user, else the anonymous session)
says consent is withdrawn: `e:consent` / `consent` is "0", or, with no consent event, the
profile document's `consent.personalization` is false.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.core.sessions import session_rel
from edge.core.writes import Op

KEPT_FOR_PURCHASES = frozenset({"X", "MAX", "SNX"})  # stream entry, last purchase, first seen


def gated(user_id: str | None, session_id: str | None, kind: str, ops: Sequence[Op]) -> list[Op]:
    """`ops` of one event, the personal ones behind a `W` consent check (consent events pass as is)."""
    if kind == "consent" or not ops:
        return list(ops)
    if user_id is None and session_id is None:
        return list(ops)
    target = "profile" if user_id else session_rel(None, session_id or "")
    record = kind == "purchase"
    kept = [op for op in ops if record and op.code in KEPT_FOR_PURCHASES and op.key in ("@events", "profile")]
    personal = [op for op in ops if op not in kept]
    return [*kept, Op("W", target, (len(personal),)), *personal] if personal else kept
