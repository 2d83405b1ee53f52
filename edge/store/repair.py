"""Repair: a stored record that cannot be read is reported once and ignored, never fatal.

A profile document written by an older version, a hand-edited key or a field with a value out
of range would otherwise fail every decision about that visitor (degraded) and every admin read
(503). Instead the unreadable part is dropped from the snapshot, one warning names it (once per
record and process), and the next write of the record (PUT, an event) replaces it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from edge.core.profiles import Profile, parse_profile, with_events
from edge.core.sessions import decode_session
from edge.errors import ValidationFailed

log = logging.getLogger("edge.store")
UNREADABLE = (ValueError, TypeError, ValidationFailed)
MAX_REPORTED = 10_000  # records remembered as reported (the log stays quiet about them)
_reported: set[str] = set()
_counted = [0]  # unreadable records met, reported or not (edge_unreadable_records_total)


def unreadable_count() -> int:
    return _counted[0]


def report(what: str, exc: BaseException) -> None:
    """Log `what` as unreadable once per process (`exc` says why)."""
    _counted[0] += 1
    if what in _reported:
        return
    if len(_reported) < MAX_REPORTED:
        _reported.add(what)
    log.warning("unreadable stored %s ignored (%s: %s); its next write replaces it", what, type(exc).__name__, exc)


def document(user_id: str, raw: bytes | str | None) -> Profile | None:
    """The stored profile document, or None (reported) when it cannot be read."""
    if raw is None:
        return None
    try:
        return parse_profile(user_id, orjson.loads(raw))
    except UNREADABLE as exc:
        report(f"profile document of user {user_id}", exc)
        return None


def vector(user_id: str, raw: bytes | None) -> np.ndarray | None:
    """The stored taste vector, or None (reported) when its bytes are not float32s."""
    if raw is None:
        return None
    try:
        return np.frombuffer(raw, dtype=np.float32)
    except ValueError as exc:
        report(f"vector of user {user_id}", exc)
        return None


def readable(
    user_id: str | None,
    session_id: str,
    base: Profile | None,
    profile_fields: Mapping[str, str],
    session_fields: Mapping[str, str],
    offer_fields: Mapping[str, str],
) -> tuple[Mapping[str, str], Mapping[str, str], Mapping[str, str]]:
    """The three hashes of a snapshot with every unreadable one replaced by an empty one (reported)."""
    checks: list[tuple[str, Mapping[str, str], Any]] = [
        (f"event fields of user {user_id}", profile_fields, lambda: with_events(base, user_id or "", profile_fields)),
        (f"session {session_id}", session_fields, lambda: decode_session(session_fields)),
        (f"offer counts of {user_id or session_id}", offer_fields, lambda: [int(n) for n in offer_fields.values()]),
    ]
    kept: list[Mapping[str, str]] = []
    for what, fields, check in checks:
        try:
            check()
            kept.append(fields)
        except UNREADABLE as exc:
            report(what, exc)
            kept.append({})
    return kept[0], kept[1], kept[2]
