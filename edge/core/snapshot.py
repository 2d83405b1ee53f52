"""Snapshot: what the store holds about one visitor at decision time, read from the stored hashes.

Both stores (edge/store/) build it with `snapshot_from` from what one round trip read; a decision
(edge/core/decide.py) reads nothing else about the visitor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from edge.core.ledger import FIRST_SHOWN
from edge.core.profiles import Profile, event_consent, with_events
from edge.core.sessions import StoredSession, decode_session

NO_COUNTS: Mapping[str, int] = {}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the store holds about one visitor at decision time."""

    profile: Profile | None = None
    vector: np.ndarray | None = None
    offers_shown: Mapping[str, int] = field(default_factory=dict)  # offer code -> times shown today
    session: StoredSession | None = None
    consent: bool | None = None  # stored consent: the session's consent event, else the profile's
    offers_first_shown: Mapping[str, datetime] = field(default_factory=dict)  # offer id -> first shown (edge.ledger)


EMPTY = Snapshot()


def snapshot_from(
    user_id: str | None,
    base: Profile | None,
    vector: np.ndarray | None,
    profile_fields: Mapping[str, str],
    session_fields: Mapping[str, str],
    offer_fields: Mapping[str, str],
) -> Snapshot:
    """The snapshot from what one round trip read (shared by both stores)."""
    profile = with_events(base, user_id, profile_fields) if user_id else None
    session = decode_session(session_fields)
    if session is not None and session.consent is not None:
        consent: bool | None = session.consent
    elif profile is not None:
        consent = profile.consent_personalization
    else:
        consent = event_consent(profile_fields)
    counts = {code: int(n) for code, n in offer_fields.items()} if offer_fields else NO_COUNTS
    first_shown = {
        name[len(FIRST_SHOWN) :]: datetime.fromisoformat(value.replace("Z", "+00:00"))
        for name, value in profile_fields.items()
        if name.startswith(FIRST_SHOWN)
    }
    return Snapshot(profile, vector if profile is not None else None, counts, session, consent, first_shown)
