"""The `ProfileStore` seam, shared by the in-memory and the Redis store.

A decision reads everything it needs about a visitor in one call (`fetch`): the profile with what
events changed on it, its taste vector, the session and how often each offer was shown today.
Every change is a write `Program` (edge/core/writes.py) that `apply` runs atomically: `MemoryStore`
(edge/store/memory.py) in this process, `RedisStore` (edge/store/redis_store.py) over Redis, in one
pipelined round trip per decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np

from edge.core.profiles import Profile, parse_profile
from edge.core.sessions import SessionPolicy, promotion
from edge.core.snapshot import Snapshot
from edge.core.writes import Applied, Program, session_unit

STREAMS = ("events", "exposures")


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
