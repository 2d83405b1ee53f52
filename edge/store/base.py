"""The `ProfileStore` seam and the decision `Snapshot`, shared by the in-memory and the Redis store.

A decision reads everything it needs about a visitor in one call (`fetch`): the profile with what
events changed on it, its taste vector, the session and how often each offer was shown today.
Every change is a write `Program` (edge/core/writes.py) that `apply` runs atomically: `MemoryStore`
(edge/store/memory.py) in this process, `RedisStore` (edge/store/redis_store.py) over Redis, in one
pipelined round trip per decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from edge.core.ledger import FIRST_SHOWN
from edge.core.profiles import Profile, event_consent, parse_profile, with_events
from edge.core.sessions import SessionPolicy, StoredSession, decode_session, promotion
from edge.core.writes import Applied, Program, session_unit

NO_COUNTS: Mapping[str, int] = {}
STREAMS = ("events", "exposures")


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


class ProfileStore(Protocol):
    """Where profiles, vectors, sessions, counters and the event and exposure streams live."""

    async def fetch(self, user_id: str | None, session_id: str, day: str) -> Snapshot:
        """Profile + vector of `user_id` (if any), the session and today's offer counts; one round trip."""
        ...

    async def apply(self, program: Program) -> Applied:
        """Run a write program atomically (per hash slot in a Redis Cluster)."""
        ...

    async def read_hash(self, unit: str, rel: str) -> dict[str, str]: ...

    async def read_aggregate(self, name: str) -> list[dict[str, str]]:
        """A partition hash of every partition (attribution aggregates, edge/attribution.py)."""
        ...

    async def get_profile(self, user_id: str) -> tuple[Profile, np.ndarray | None] | None: ...

    async def put_profile(self, profile: Profile, vector: np.ndarray | None = None) -> None:
        """Upsert the profile document; it replaces what events had added to the old one."""
        ...

    async def delete_user(self, user_id: str) -> bool:
        """Erase everything held about `user_id`; True when there was something."""
        ...

    async def get_document(self, user_id: str) -> Profile | None:
        """The stored profile document alone (without what events added), for a partial update."""
        ...

    async def put_document(self, profile: Profile) -> None:
        """Replace the document only: what events added (points, orders, ledger) stays."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


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


async def promote_session(store: ProfileStore, user_id: str, session_id: str, policy: SessionPolicy) -> None:
    """Move what an anonymous session holds into the session of the user it logged in as."""
    anonymous = await store.read_hash(session_unit(session_id), "session")
    groups = promotion(user_id, session_id, anonymous, policy)
    if groups is not None:
        await store.apply((groups[0],))  # first the copy, in the user's slot ...
        await store.apply((groups[1],))  # ... then the anonymous original goes


def profiles_from_records(records: Iterable[Mapping[str, Any]]) -> list[Profile]:
    """Profiles from artifact records (already clean; validated again to keep one code path)."""
    return [parse_profile(str(r["user_id"]), r) for r in records]
