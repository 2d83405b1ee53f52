"""Config files (content, experiments) as msgspec Structs: one declaration, decoded with `convert_file`.

A file's shape is declared once as `FileShape` Structs with its limits (edge.core.content,
edge.core.experiments); `convert_file` decodes the YAML- or JSON-loaded object with
`msgspec.convert` and turns msgspec's error into a `ConfigError` naming the entry as the file's
author writes it: `segments.lost.cta.text.nl`, `experiments[0] (hero-test).arms[1].weight` (entries of
a `named_by_key` list by their `key`). What a schema cannot state stays a named check after decoding, in
a shape's `__post_init__` (a ValueError `"field: message"` names the field) or, when it needs
the whole file, a check in the file's module (`FileChecks.fail`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import NoneType, UnionType
from typing import (
    Annotated,
    Any,
    ClassVar,
    Final,
    Literal,
    NoReturn,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

import msgspec
from msgspec import Meta, Struct, UnsetType

from edge.errors import ConfigError

T = TypeVar("T")

NonEmpty = Annotated[str, Meta(pattern=r"\S", description="a non-empty string")]
_TOKEN: Final = re.compile(r"\.([^.\[]+)|\[([^\]]+)\]")
_NAMED: Final = re.compile(r"([a-z_][a-z0-9_.]*): (.+)", re.DOTALL)


class FileShape(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of config-file shapes: unknown keys are refused (a typo, or a text an unquoted comma cut off)."""

    named_by_key: ClassVar[bool] = False  # a list entry is named by its `key` in messages: `experiments[0] (hero)`


def file_error(source: str, where: str, message: str) -> ConfigError:
    """`source: where: message`, the error of every config-file problem (`field` is `where`)."""
    prefix = f"{source}: " if source else ""
    return ConfigError(f"{prefix}{where}: {message}", field=where)


class FileChecks:
    """The checks after decoding, each failing with the entry it names."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> NoReturn:
        raise file_error(self.source, where, message)


def convert_file(raw: object, shape: type[T], source: str) -> T:
    """The loaded file as `shape`; a bad entry is a `ConfigError` naming it."""
    try:
        return msgspec.convert(raw, shape, dec_hook=_moment)
    except msgspec.ValidationError as exc:
        where, message = _explain(str(exc), raw, shape)
        raise file_error(source, where, message) from None


class Moment(datetime):
    """A time in a config file: a date (its midnight) or an RFC 3339 timestamp; UTC when without offset."""


def _moment(tp: type[Any], obj: Any) -> Any:
    """`Moment` from what YAML or JSON gives (a datetime, a date, a string); anything else is refused."""
    if tp is not Moment:
        raise NotImplementedError
    value = obj
    if isinstance(obj, str):
        try:
            value = datetime.fromisoformat(obj.replace("Z", "+00:00"))
        except ValueError:
            return obj
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        return obj
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return Moment(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)


def _explain(text: str, raw: Any, shape: Any) -> tuple[str, str]:
    """msgspec's `Expected ... - at `$.a[0].b`` as (the entry as the author names it, what is wrong)."""
    message, _, at = text.partition(" - at `")
    in_key = at.startswith("key` in `")
    tokens = _TOKEN.findall(at.removeprefix("key` in `").rstrip("`").removeprefix("$"))
    where, value, tp = "", raw, shape
    for name, index in tokens:
        tp = _bare(tp)
        if name:
            where, value, tp = _join(where, name), _get(value, name), get_type_hints(tp, include_extras=True)[name]
        elif index == "...":  # a mapping's value: find which
            value_tp = get_args(tp)[1]
            key = next((k for k, v in _items(value) if not _fits(v, value_tp)), "?")
            where, value, tp = f"{where}.{key}", _get(value, key), value_tp
        else:
            value, tp = value[int(index)], get_args(tp)[0]
            where += f"[{index}]" + _label(value, tp)
    fields = _fields(tp)
    for pattern, says in (("Object contains unknown field `", "unknown"), ("Object missing required field `", "req")):
        if message.startswith(pattern):
            name = message.removeprefix(pattern).rstrip("`")
            if says == "unknown":
                hint = " (quote texts that contain a comma)" if " " in name else ""
                return (
                    f"{where or '(top level)'}.{name}",
                    f"unknown field{hint}; expected one of: {', '.join(sorted(fields))}",
                )
            return _join(where, name), f"required: {_expected(fields.get(name), message)}"
    if in_key:
        key_tp = get_args(_bare(tp))[0]
        key = next((k for k, _ in _items(value) if not _fits(k, key_tp)), "?")
        values = _literal_values(key_tp)
        allowed = f" (allowed: {', '.join(sorted(values))})" if values else ""
        return f"{where}.{key}" if where else str(key), _description(key_tp) + allowed
    if not message.startswith(("Expected ", "Invalid ")):  # a rule of the shape's __post_init__, in its words
        named = _NAMED.fullmatch(message)
        if named is not None and named[1].split(".")[0] in fields:
            return _join(where, named[1]), named[2]
        return where or "(top level)", message
    return where or "(top level)", f"must be {_expected(tp, message)}, got {kind(value)}"


def kind(value: object) -> str:
    """How a wrong value reads in a message (YAML's surprise booleans named as such)."""
    if isinstance(value, bool):
        return "a boolean (YAML reads unquoted yes/no/on/off as booleans: quote it)"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _get(value: Any, key: Any) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _items(value: Any) -> list[tuple[Any, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


def _fits(value: Any, tp: Any) -> bool:
    try:
        msgspec.convert(value, tp, dec_hook=_moment)
    except msgspec.ValidationError:
        return False
    return True


def _label(value: Any, tp: Any) -> str:
    """` (hero-test)`: a list entry with a valid `key` is named by it."""
    bare, fields = _bare(tp), _fields(tp)
    named = isinstance(bare, type) and issubclass(bare, FileShape) and bare.named_by_key
    if named and isinstance(value, dict) and "key" in fields and _fits(value.get("key"), fields["key"]):
        return f" ({value['key']})"
    return ""


def _fields(tp: Any) -> dict[str, Any]:
    bare = _bare(tp)
    if isinstance(bare, type) and issubclass(bare, Struct):
        hints = get_type_hints(bare, include_extras=True)
        return {name: hints[name] for name in bare.__struct_fields__}
    return {}


def _unwrap(tp: Any) -> tuple[Any, list[Meta]]:
    """`tp` without its Annotated metadata (returned too), and without None or UNSET when one other type is left."""
    found: list[Meta] = []
    while True:
        if get_origin(tp) is Annotated:
            found += [m for m in get_args(tp)[1:] if isinstance(m, Meta)]
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, UnionType):
            left = [a for a in get_args(tp) if a not in (NoneType, UnsetType)]
            if len(left) != 1:
                return tp, found
            tp = left[0]
        else:
            return tp, found


def _bare(tp: Any) -> Any:
    return _unwrap(tp)[0]


def _metas(tp: Any) -> list[Meta]:
    return _unwrap(tp)[1]


def _description(tp: Any) -> str:
    return next((m.description for m in _metas(tp) if m.description), "invalid key")


def _literal_values(tp: Any) -> tuple[str, ...]:
    bare = _bare(tp)
    return tuple(str(v) for v in get_args(bare)) if get_origin(bare) is Literal else ()


def _expected(tp: Any, message: str) -> str:
    """What a value of `tp` must be, in words: its description, else from its type and limits."""
    metas = _metas(tp)
    described = next((m.description for m in metas if m.description), None)
    if described:
        return described
    bare = _bare(tp)
    low = next((m.ge for m in metas if m.ge is not None), None)
    high = next((m.le for m in metas if m.le is not None), None)
    if _literal_values(tp):
        return f"one of {', '.join(_literal_values(tp))}"
    if bare is bool:
        return "true or false"
    if bare is int:
        if low is not None and high is not None:
            return f"an integer {low}-{high}"
        return f"an integer >= {low}" if low is not None else "an integer"
    if bare is float:
        if low is not None and high is not None:
            return f"a number in [{low:g}, {high:g}]"
        return f"a number >= {low:g}" if low is not None else "a number"
    if bare is str:
        return "a string"
    if bare is Moment:
        return "a date or an RFC 3339 timestamp"
    if get_origin(bare) in (list, tuple):
        return "a list"
    if get_origin(bare) in (dict, Mapping) or _fields(bare):
        return "a mapping"
    return message[0].lower() + message[1:] if message else "valid"
