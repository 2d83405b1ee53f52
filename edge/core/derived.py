"""Derived: what decisions compute from a stored profile that does not change between its reads.

The Redis store's near cache (`edge.store.redis_store.ProfileCache`) hands out the same `Profile` object
for the same stored bytes (the embedded store keeps its profiles as objects), so what is derived
from one can be remembered by the object's identity, the entry holding the object itself (an id
is never reused while its entry lives):

- the loyalty view `as_of` a decision's time: while `now` is at or after every dated fact of the
  profile (ledger, complaints, last purchase), the view does not depend on `now`;
- the purchased and wishlist ids as catalog rows (the history that grows, turned into rows once
  per profile instead of once per decision).

A `Derived` belongs to one loaded build (`Model.derived`): rows of another build are never used.
`Derived(plain=True)` remembers nothing: the reference path of tests/test_differential.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from edge.core.catalog import Catalog
from edge.core.loyalty import TierThresholds, as_of
from edge.core.profiles import Profile

PROFILES = 8192  # profiles (and id lists) remembered per build; the oldest half goes when full
SHORT = 8  # id lists shorter than this are cheaper to turn into rows than to look up


def latest_fact(profile: Profile) -> datetime | None:
    """The latest dated fact of a profile: ledger entry, complaint or last purchase (None: none)."""
    times = [e.ts for e in profile.ledger]
    times.extend(profile.complaints_at)
    if profile.last_purchase_at is not None:
        times.append(profile.last_purchase_at)
    return max(times) if times else None


class Derived:
    """Per-profile values of one build, remembered by the profile's identity (see module doc)."""

    def __init__(self, size: int = PROFILES, plain: bool = False) -> None:
        self.size = size
        self.plain = plain
        self._views: dict[int, tuple[Profile, TierThresholds, datetime | None, Profile]] = {}
        self._rows: dict[int, tuple[tuple[str, ...], tuple[int, ...]]] = {}

    def _room(self, memo: dict[int, object]) -> None:
        if len(memo) >= self.size:
            for key in list(memo)[: len(memo) // 2]:  # dicts keep insertion order: the oldest half
                del memo[key]

    def as_of(self, profile: Profile, now: datetime, rules: TierThresholds) -> Profile:
        """`edge.core.loyalty.as_of(profile, now, rules)`, remembered while `now` is past every dated fact."""
        if self.plain or not (profile.ledger or profile.complaints_at):
            return as_of(profile, now, rules)
        found = self._views.get(id(profile))
        if found is not None and found[0] is profile and found[1] == rules:
            latest = found[2]
            if latest is None or now >= latest:
                return found[3]
            return as_of(profile, now, rules)
        latest = latest_fact(profile)
        view = as_of(profile, now, rules)
        if latest is None or now >= latest:
            self._room(self._views)  # type: ignore[arg-type]
            self._views[id(profile)] = (profile, rules, latest, view)
        return view

    def forget(self, user_id: str) -> None:
        """Drop the user's remembered values (an erasure); the id lists are not keyed by user, so
        all of them go (they are cheap to rebuild)."""
        for key in [k for k, entry in self._views.items() if entry[0].user_id == user_id]:
            del self._views[key]
        self._rows.clear()

    def rows(self, catalog: Catalog, ids: tuple[str, ...], extra: Sequence[str] = ()) -> Sequence[int]:
        """`catalog.rows((*ids, *extra))`; the rows of `ids` (a profile's list) remembered by identity.

        The answer may be shared between decisions: callers only read it. Remembered as a tuple of
        ints, which the garbage collector stops tracking (edge/heap.py).
        """
        if self.plain or len(ids) < SHORT:
            return catalog.rows((*ids, *extra)) if extra else catalog.rows(ids)
        found = self._rows.get(id(ids))
        if found is not None and found[0] is ids:
            rows = found[1]
        else:
            rows = tuple(catalog.rows(ids))
            self._room(self._rows)  # type: ignore[arg-type]
            self._rows[id(ids)] = (ids, rows)
        return [*rows, *catalog.rows(extra)] if extra else rows
