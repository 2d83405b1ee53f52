"""The embedded in-process store (`MemoryStore`): the `ProfileStore` (edge/store/base.py) in this process.

It runs the same write programs (edge/core/writes.py) as Redis's apply.lua, so both stores behave alike.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import orjson

from edge.core import attribution
from edge.core.loyalty import TierThresholds, upgraded_tier
from edge.core.profiles import EVENT_FIELDS, Profile, as_tier, with_events
from edge.core.sessions import session_rel
from edge.core.shapes import json_list, json_strings
from edge.core.snapshot import EMPTY, Snapshot, snapshot_from
from edge.core.writes import Applied, Group, Op, Program, erase_keys, session_unit, unit_id, user_unit
from edge.errors import Conflict, StoreUnavailable
from edge.store import repair
from edge.store.base import STREAMS

STAMP = re.compile(r"\d{4}-")  # a readable stored timestamp starts with a four-digit year
ATTRIBUTION_OPS = frozenset({"XK", "XE", "XM", "XC"})


def _put_list(target: dict[str, str], name: str, items: list[str], cap: int | None = None) -> None:
    if not items:
        target.pop(name, None)
        return
    target[name] = orjson.dumps(items[-cap:] if cap else items).decode()


class MemoryStore:
    """The embedded default: everything in this process, filled from the artifacts.

    Event-driven state lives in a small Redis-like keyspace (hashes, sets, bounded streams, TTLs)
    that runs the same write programs as Redis, so both stores behave alike.
    """

    def __init__(
        self,
        profiles: Iterable[Profile] = (),
        vectors: np.ndarray | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._profiles: dict[str, tuple[Profile, np.ndarray | None]] = {}
        # user -> (stored profile, the same without events): one object per stored profile, so that
        # what decisions derive from it is remembered (edge.core.derived)
        self._merged: dict[str, tuple[Profile, Profile | None]] = {}
        for row, profile in enumerate(profiles):
            self._profiles[profile.user_id] = (profile, None if vectors is None else vectors[row])
        self._data: dict[str, Any] = {}
        self._expires: dict[str, float] = {}
        self._clock = clock
        self._sequence = 0
        self._writes = 0

    # keyspace ---------------------------------------------------------------------------------
    @staticmethod
    def _key(unit: str, rel: str) -> str:
        return rel[1:] if rel.startswith("@") else f"{unit}:{rel}"

    def _get(self, key: str) -> Any:
        deadline = self._expires.get(key)
        if deadline is not None and deadline <= self._clock():
            self._delete(key)
            return None
        return self._data.get(key)

    def _delete(self, key: str) -> None:
        self._data.pop(key, None)
        self._expires.pop(key, None)

    def _hash(self, key: str) -> dict[str, str]:
        value = self._get(key)
        return value if isinstance(value, dict) else {}

    def _writable_hash(self, key: str) -> dict[str, str]:
        value = self._get(key)
        if not isinstance(value, dict):
            value = self._data[key] = {}
        return value

    def _sweep(self) -> None:
        self._writes += 1
        if self._writes % 1024 == 0:
            now = self._clock()
            for key in [k for k, deadline in self._expires.items() if deadline <= now]:
                self._delete(key)

    def entries(self, stream: str) -> list[dict[str, str]]:
        """The entries of the `events` or `exposures` ring buffer, oldest first."""
        return [fields for _, fields in self._data.get(stream, ())]

    # ProfileStore -------------------------------------------------------------------------------
    async def fetch(self, user_id: str | None, session_id: str, day: str) -> Snapshot:
        unit = user_unit(user_id) if user_id else session_unit(session_id)
        entry = self._profiles.get(user_id) if user_id else None
        profile_fields = self._hash(f"{unit}:profile") if user_id else {}
        session_fields = self._hash(f"{unit}:{session_rel(user_id, session_id)}")
        offer_fields = self._hash(f"{unit}:offers:{day}")
        if entry is None and not (profile_fields or session_fields or offer_fields):
            return EMPTY
        base, vector = entry if entry is not None else (None, None)
        parts = repair.readable(user_id, session_id, base, profile_fields, session_fields, offer_fields)
        merged = None
        if user_id and base is not None and not parts[0]:
            found = self._merged.get(user_id)
            if found is None or found[0] is not base:
                found = self._merged[user_id] = (base, with_events(base, user_id, {}))
            merged = (found[1],)
        try:
            return snapshot_from(user_id, base, vector, *parts, merged=merged)
        except ValueError as exc:  # a decision degrades rather than fail on bad data
            raise StoreUnavailable(f"unreadable stored data: {exc.__class__.__name__}") from exc

    async def apply(self, program: Program) -> Applied:
        self._sweep()
        for group in program:  # a reused Idempotency-Key with another body: nothing is written
            for op in group.ops:
                stored = self._get(self._key(group.unit, op.key)) if op.code == "G" and len(op.args) > 1 else None
                if stored is not None and stored not in (op.args[1], "1"):
                    raise Conflict("an Idempotency-Key was already used with a different body", "idempotency-key")
        created: list[str] = []
        duplicates = 0
        for group in program:
            skip = 0  # ops withheld by a consent gate (W)
            bound = ""  # the unit record of the group's attribution ops (XK)
            for op in group.ops:
                if skip > 0:
                    skip -= 1
                    continue
                if op.code == "W":
                    skip = int(op.args[0]) if self._withdrawn(group.unit, op.key) else 0
                    continue
                if op.code in ATTRIBUTION_OPS:
                    bound = self._attribute(group.unit, op, bound)
                    continue
                if op.code in ("G", "GI") and self._get(self._key(group.unit, op.key)) is not None:
                    duplicates += 1
                    break
                note = self._run(group.unit, op)
                if note is not None:
                    created.append(note)
        return Applied(duplicates, tuple(created))

    def _withdrawn(self, unit: str, rel: str) -> bool:
        """Consent withdrawn per the hash `rel` (as `withdrawn` in apply.lua)."""
        fields = self._hash(self._key(unit, rel))
        stored = fields.get("e:consent", fields.get("consent"))
        if stored is not None:
            return stored == "0"
        entry = self._profiles.get(unit_id(unit)) if rel == "profile" else None
        return entry is not None and entry[0].consent_personalization is False

    def _attribute(self, unit: str, op: Op, bound: str) -> str:
        """An attribution op (edge/core/attribution.py); returns the bound record key."""
        key = self._key(unit, op.key)
        if op.code == "XK":
            return key
        attribution.run_op(op.code, [str(a) for a in op.args], lambda: self._writable_hash(bound), self._writable_hash)
        for name in (bound, key):  # an emptied hash disappears, as in Redis
            if name in self._data and not self._data[name]:
                self._delete(name)
        if op.code == "XE":
            self._expires[bound] = self._clock() + float(op.args[6])
        return bound

    async def read_aggregate(self, name: str) -> list[dict[str, str]]:
        """The partition hashes `name` (`xa:<track>`, `da`) of every partition: one here."""
        return [dict(self._hash(name))]

    def _run(self, unit: str, op: Op) -> str | None:
        """One op, with Redis semantics (an emptied hash or set disappears, EXPIRE needs the key)."""
        key = self._key(unit, op.key)
        args = [str(a) for a in op.args]
        code = op.code
        if code == "N":
            return args[0] if self._get(key) is None else None
        if code == "GI":
            return None
        if code == "G":
            self._data[key] = args[1] if len(args) > 1 else "1"
            self._expires[key] = self._clock() + float(args[0])
        elif code == "X":
            stream = self._get(key)
            maxlen = int(args[0])
            if not isinstance(stream, deque) or stream.maxlen != maxlen:
                stream = self._data[key] = deque(stream or (), maxlen=maxlen)
            self._sequence += 1
            entry = dict(zip(args[1::2], args[2::2], strict=True))
            stream.append((f"{int(time.time() * 1000)}-{self._sequence}", entry))
        elif code in ("SA", "E", "D", "CD"):
            self._run_key_op(key, code, args)
        else:
            self._run_hash_op(unit, key, code, args)
        return None

    def _run_key_op(self, key: str, code: str, args: list[str]) -> None:
        if code == "SA":
            members = self._get(key)
            if not isinstance(members, set):
                members = self._data[key] = set()
            members.add(args[0])
        elif code == "E":
            if self._get(key) is not None:
                self._expires[key] = self._clock() + float(args[0])
        elif code == "D" or self._hash(key).get(args[0]) == args[1]:  # D, or CD that matches
            self._delete(key)

    def _run_hash_op(self, unit: str, key: str, code: str, args: list[str]) -> None:
        if code == "HD":
            found = self._hash(key)
            for name in args:
                found.pop(name, None)
            if not found:
                self._delete(key)
            return
        target = self._writable_hash(key)
        name = args[0]
        if code == "I":
            target[name] = str(int(target.get(name, 0)) + int(args[1]))
        elif code == "F":
            target[name] = repr(float(target.get(name, 0.0)) + float(args[1]))
        elif code == "S":
            target[name] = args[1]
        elif code == "SNX":
            target.setdefault(name, args[1])
        elif code == "MAX":
            if name not in target or target[name] < args[1] or not STAMP.match(target[name]):
                target[name] = args[1]
        elif code == "LA":
            current = json_strings(target.get(name), strict=False)
            _put_list(target, name, [*(v for v in current if v != args[1]), args[1]], int(args[2]))
        elif code == "LR":
            current = json_strings(target.get(name), strict=False)
            kept = [v for v in current if v != args[1]]
            if len(kept) != len(current):
                _put_list(target, name, kept)
        elif code == "LM":
            merged = [*json_strings(args[1], strict=False), *json_strings(target.get(name), strict=False)]
            _put_list(target, name, list(reversed(dict.fromkeys(reversed(merged)))), int(args[2]))
        elif code == "TIER":
            self._upgrade_tier(unit, target, *(float(a) for a in args))
        elif code in ("LP", "BONUS"):
            _loyalty_op(target, code, args)
        else:
            raise ValueError(f"unknown op {code}")
        if not target:
            self._delete(key)

    def _upgrade_tier(self, unit: str, target: dict[str, str], delta: float, *thresholds: float) -> None:
        entry = self._profiles.get(unit_id(unit))
        base = entry[0] if entry else None
        after = (base.spend if base else 0.0) + float(target.get("e:spend", 0.0))
        current = as_tier(target.get("e:tier") or (base.tier if base else None))
        tier = upgraded_tier(current, after - delta, after, TierThresholds(*thresholds))
        if tier is not None and tier != current:
            target["e:tier"] = tier

    async def read_hash(self, unit: str, rel: str) -> dict[str, str]:
        return dict(self._hash(self._key(unit, rel)))

    async def get_profile(self, user_id: str) -> tuple[Profile, np.ndarray | None] | None:
        entry = self._profiles.get(user_id)
        base, vector = entry if entry is not None else (None, None)
        profile = with_events(base, user_id, self._hash(f"{user_unit(user_id)}:profile"))
        return None if profile is None else (profile, vector)

    async def put_profile(self, profile: Profile, vector: np.ndarray | None = None) -> None:
        old = self._profiles.get(profile.user_id)
        keep = vector if vector is not None else (old[1] if old else None)
        self._profiles[profile.user_id] = (profile, keep)
        # the document replaces what events added (not offers shown, answers, celebrations)
        await self.apply((Group(user_unit(profile.user_id), (Op("HD", "profile", EVENT_FIELDS),)),))

    async def get_document(self, user_id: str) -> Profile | None:
        entry = self._profiles.get(user_id)
        return None if entry is None else entry[0]

    async def put_document(self, profile: Profile) -> None:
        old = self._profiles.get(profile.user_id)
        self._profiles[profile.user_id] = (profile, old[1] if old else None)

    async def delete_user(self, user_id: str) -> bool:
        unit = user_unit(user_id)
        indexed = self._get(f"{unit}:index") or set()
        sessions = sorted(self._get(f"{unit}:links") or ())
        self._merged.pop(user_id, None)
        found = self._profiles.pop(user_id, None) is not None or bool(indexed or sessions)
        found = bool(self._hash(f"{unit}:profile")) or found
        groups = [erase_keys(unit, sorted(indexed))]
        for session_id in sessions:
            anonymous = session_unit(session_id)
            groups.append(erase_keys(anonymous, sorted(self._get(f"{anonymous}:index") or ())))
        await self.apply(tuple(groups))
        linked = set(sessions)
        for name in STREAMS:
            stream = self._data.get(name)
            if stream:
                kept = [e for e in stream if not _belongs(e[1], user_id, linked)]
                found = found or len(kept) != len(stream)
                self._data[name] = deque(kept, maxlen=stream.maxlen)
        return found

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    def replace_profiles(self, profiles: Iterable[Profile], vectors: np.ndarray) -> None:
        """Swap in a new build's profiles and vectors (reload); event-driven state stays."""
        self._profiles = {profile.user_id: (profile, vectors[row]) for row, profile in enumerate(profiles)}

    def vector_dim(self) -> int | None:
        """The width of the stored profile vectors (None without any)."""
        for _, vector in self._profiles.values():
            if vector is not None:
                return int(vector.shape[0])
        return None

    def __len__(self) -> int:
        return len(self._profiles)


def _loyalty_op(target: dict[str, str], code: str, args: list[str]) -> None:
    """LP: append a JSON value to a list field; BONUS: credit points once, with a ledger row (edge/core/ledger.py)."""
    if code == "LP":
        target[args[0]] = orjson.dumps(
            [*json_list(target.get(args[0]), strict=False), orjson.loads(args[1])][-int(args[2]) :]
        ).decode()
    elif args[0] not in target:
        target[args[0]] = args[1]
        target["e:points"] = str(int(target.get("e:points", 0)) + int(args[2]))
        rows = [*json_list(target.get("e:ledger"), strict=False), orjson.loads(args[3])][-int(args[4]) :]
        target["e:ledger"] = orjson.dumps(rows).decode()


def _belongs(fields: Mapping[str, str], user_id: str, sessions: set[str]) -> bool:
    """A stream entry about the user, or about one of the sessions that became theirs."""
    return fields.get("user_id") == user_id or fields.get("session_id") in sessions
