"""Store: the `ProfileStore` seam, and the embedded in-process implementation.

A decision reads everything it needs about a visitor in one call (`fetch`): the profile, its taste
vector and how often each offer was shown today. `RedisStore` (edge/redis_store.py) does the same
in one pipelined round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edge.profiles import Profile, parse_profile, profile_json

NO_COUNTS: Mapping[str, int] = {}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the store holds about one visitor at decision time."""

    profile: Profile | None = None
    vector: np.ndarray | None = None
    offers_shown: Mapping[str, int] = field(default_factory=dict)  # offer code -> times shown today


EMPTY = Snapshot()


class ProfileStore(Protocol):
    """Where profiles, vectors and frequency counters live."""

    async def fetch(self, user_id: str | None, unit: str, day: str) -> Snapshot:
        """Profile + vector of `user_id` (if any) and today's offer counts for `unit`; one round trip.

        `unit` names who a frequency cap counts: `u:<user_id>`, or `s:<session_id>` when anonymous.
        """
        ...

    async def count_offer(self, unit: str, day: str, code: str) -> None:
        """Record that `code` was shown to `unit` on `day` (UTC, YYYYMMDD)."""
        ...

    async def get_profile(self, user_id: str) -> tuple[Profile, np.ndarray | None] | None: ...

    async def put_profile(self, profile: Profile, vector: np.ndarray | None = None) -> None: ...

    async def delete_user(self, user_id: str) -> bool:
        """Erase everything held about `user_id`; True when there was something."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def profiles_from_records(records: Iterable[Mapping[str, Any]]) -> list[Profile]:
    """Profiles from artifact records (already clean; validated again to keep one code path)."""
    return [parse_profile(str(r["user_id"]), r) for r in records]


class MemoryStore:
    """The embedded default: everything in this process, filled from the artifacts."""

    def __init__(self, profiles: Iterable[Profile] = (), vectors: np.ndarray | None = None) -> None:
        self._profiles: dict[str, tuple[Profile, np.ndarray | None]] = {}
        for row, profile in enumerate(profiles):
            self._profiles[profile.user_id] = (profile, None if vectors is None else vectors[row])
        self._offers: dict[tuple[str, str], dict[str, int]] = {}

    async def fetch(self, user_id: str | None, unit: str, day: str) -> Snapshot:
        entry = self._profiles.get(user_id) if user_id else None
        counts = self._offers.get((unit, day), NO_COUNTS)
        if entry is None:
            return Snapshot(offers_shown=counts) if counts else EMPTY
        return Snapshot(entry[0], entry[1], counts)

    async def count_offer(self, unit: str, day: str, code: str) -> None:
        for key in [k for k in self._offers if k[1] != day]:  # keep only today's counters
            del self._offers[key]
        counts = self._offers.setdefault((unit, day), {})
        counts[code] = counts.get(code, 0) + 1

    async def get_profile(self, user_id: str) -> tuple[Profile, np.ndarray | None] | None:
        return self._profiles.get(user_id)

    async def put_profile(self, profile: Profile, vector: np.ndarray | None = None) -> None:
        old = self._profiles.get(profile.user_id)
        keep = vector if vector is not None else (old[1] if old else None)
        self._profiles[profile.user_id] = (profile, keep)

    async def delete_user(self, user_id: str) -> bool:
        found = self._profiles.pop(user_id, None) is not None
        for key in [k for k in self._offers if k[0] == f"u:{user_id}"]:
            found = True
            del self._offers[key]
        return found

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._profiles)


def stored_profile(profile: Profile) -> bytes:
    """The profile as stored bytes (orjson of the admin API shape)."""
    import orjson

    return orjson.dumps(profile_json(profile))
