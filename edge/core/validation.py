"""Validation of the few values that do not arrive in a body shape: path and query parameters, headers,
a PATCH's object, and timestamps stored as text. The bodies themselves decode into edge.core.shapes,
which holds the patterns and ranges used here.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.core.shapes import ID_PATTERN, timestamp
from edge.errors import ValidationFailed


def obj(value: Any, field: str) -> dict[str, Any]:
    """A JSON object."""
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field} must be an object", field)
    return value


def identifier(value: Any, field: str) -> str:
    """1-128 chars of `[A-Za-z0-9._:-]` (shapes.ID_REGEX)."""
    if not isinstance(value, str) or ID_PATTERN.search(value) is None:
        raise ValidationFailed(f"{field} must be 1-128 characters of [A-Za-z0-9._:-]", field)
    return value


def parse_timestamp(value: str, field: str) -> datetime:
    """An RFC 3339 timestamp held as text, as an aware UTC datetime in the supported years."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"{field} must be an RFC 3339 timestamp", field) from exc
    if parsed.tzinfo is None:
        raise ValidationFailed(f"{field} must carry a time zone (e.g. a trailing Z)", field)
    return timestamp(parsed, field)


@lru_cache(maxsize=512)
def zone_named(name: str) -> ZoneInfo | None:
    """The zone called `name`, cached; None when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
