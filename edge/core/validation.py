"""Validation: small checkers that turn decoded JSON into typed values or raise `ValidationFailed`.

Each checker takes the value and the field path used in the error (`session.viewed[3]`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.errors import ValidationFailed

ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
COUNTRY_PATTERN = re.compile(r"[A-Z]{2}")
LOCALE_PATTERN = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")
MAX_TEXT = 512
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # the supported range of every timestamp (docs/api.md)
MAX_TIME = datetime(2200, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
MIN_DAY, MAX_DAY = date(1900, 1, 1), date(2200, 12, 31)  # calendar dates (birthdays)


def obj(value: Any, field: str) -> dict[str, Any]:
    """A JSON object."""
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field} must be an object", field)
    return value


def optional_obj(value: Any, field: str) -> dict[str, Any]:
    """A JSON object or null/absent (as an empty dict)."""
    return {} if value is None else obj(value, field)


def identifier(value: Any, field: str) -> str:
    """1-128 chars of `[A-Za-z0-9._:-]`."""
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise ValidationFailed(f"{field} must be 1-128 characters of [A-Za-z0-9._:-]", field)
    return value


def text(value: Any, field: str, max_len: int = MAX_TEXT) -> str:
    """A string of at most `max_len` characters."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string", field)
    if len(value) > max_len:
        raise ValidationFailed(f"{field} must be at most {max_len} characters", field)
    return value


def optional_text(value: Any, field: str, max_len: int = MAX_TEXT) -> str | None:
    return None if value is None else text(value, field, max_len)


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be true or false", field)
    return value


def optional_boolean(value: Any, field: str) -> bool | None:
    return None if value is None else boolean(value, field)


def integer(value: Any, field: str, low: int, high: int) -> int:
    """An integer in [low, high]; 12.0 counts as 12, as in JSON Schema (booleans are not integers here)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed(f"{field} must be an integer", field)
    if not low <= value <= high:
        raise ValidationFailed(f"{field} must be between {low} and {high}", field)
    return value


def number(value: Any, field: str, low: float, high: float) -> float:
    """A finite number in [low, high]."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValidationFailed(f"{field} must be a number", field)
    if not low <= value <= high:
        raise ValidationFailed(f"{field} must be between {low} and {high}", field)
    return float(value)


def strings(value: Any, field: str, max_items: int, max_len: int = 128) -> tuple[str, ...]:
    """A list of strings (null or absent = empty)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValidationFailed(f"{field} must be a list of strings", field)
    if len(value) > max_items:
        raise ValidationFailed(f"{field} must have at most {max_items} entries", field)
    for i, entry in enumerate(value):
        if not isinstance(entry, str):
            raise ValidationFailed(f"{field}[{i}] must be a string", f"{field}[{i}]")
        if len(entry) > max_len:
            raise ValidationFailed(f"{field}[{i}] must be at most {max_len} characters", f"{field}[{i}]")
    return tuple(value)


def country(value: Any, field: str) -> str:
    """ISO 3166-1 alpha-2, upper case."""
    if not isinstance(value, str) or COUNTRY_PATTERN.fullmatch(value) is None:
        raise ValidationFailed(f"{field} must be an ISO 3166-1 alpha-2 code such as NL", field)
    return value


def locale(value: Any, field: str) -> str:
    """A BCP 47-ish language tag (`nl-NL`, `en`)."""
    if not isinstance(value, str) or LOCALE_PATTERN.fullmatch(value) is None:
        raise ValidationFailed(f"{field} must be a language tag such as nl-NL", field)
    return value


def timestamp(value: Any, field: str) -> datetime:
    """An RFC 3339 timestamp, returned as an aware UTC datetime."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be an RFC 3339 timestamp", field)
    return parse_timestamp(value, field)


def parse_timestamp(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"{field} must be an RFC 3339 timestamp", field) from exc
    if parsed.tzinfo is None:
        raise ValidationFailed(f"{field} must carry a time zone (e.g. a trailing Z)", field)
    if not MIN_TIME.year <= parsed.year <= MAX_TIME.year:  # as written: year 1 at +14:00 would overflow
        raise ValidationFailed(f"{field} must be in the years 1970-2200", field)
    return min(max(parsed.astimezone(UTC), MIN_TIME), MAX_TIME)  # an offset's spill over the edges is clamped


def optional_timestamp(value: Any, field: str) -> datetime | None:
    return None if value is None else timestamp(value, field)


def day(value: Any, field: str) -> date:
    """A calendar date `YYYY-MM-DD`."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a date YYYY-MM-DD", field)
    try:
        parsed = date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(f"{field} must be a date YYYY-MM-DD", field) from exc
    if not MIN_DAY <= parsed <= MAX_DAY:
        raise ValidationFailed(f"{field} must be between {MIN_DAY} and {MAX_DAY}", field)
    return parsed


def one_of(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValidationFailed(f"{field} must be one of {', '.join(allowed)}", field)
    return str(value)


def timezone(value: Any, field: str) -> ZoneInfo:
    """An IANA time zone name."""
    if not isinstance(value, str) or len(value) > 64:
        raise ValidationFailed(f"{field} must be an IANA time zone such as Europe/Amsterdam", field)
    zone = zone_named(value)
    if zone is None:
        raise ValidationFailed(f"{field}: unknown time zone {value!r}", field)
    return zone


@lru_cache(maxsize=512)
def zone_named(name: str) -> ZoneInfo | None:
    """The zone called `name`, cached; None when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
