"""A/B experiments: config parsing, validation and per-request assignment.

Pure: edge.model.config_files reads the file (`load_experiments`). The config is validated once at load
(every problem raises `ConfigError` naming the file, the experiment and the field path) and
compiled into frozen values with precomputed bucket ranges and seed hashes, so `assign` does no
parsing and little allocation per request. Bucketing is GrowthBook-compatible (`edge.core.bucketing`);
docs/experiments.md describes the file format and the guarantees.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from edge.core.bucketing import bucket_ranges, choose_arm, fnv1a32, hash_v2_seeded, in_namespace
from edge.errors import ConfigError

Unit = Literal["user_id", "session_id"]

UNITS: Final[tuple[Unit, ...]] = ("user_id", "session_id")
TARGETING_KEYS: Final = frozenset(
    {"segment", "tier", "country", "device", "page", "locale", "utm_source", "utm_campaign", "weather", "region"}
)
# The contract's product reasons (docs: POST /v1/decide, products[].reason).
REASONS: Final = frozenset(
    "similar_to_viewed in_cart_complement bought_together for_you preference trending_local best_seller on_sale".split()
)
PLACEHOLDERS: Final = frozenset({"first_name", "points", "tier", "discount_pct"})
STRATEGIES: Final = frozenset({"learned", "blend", "popular"})
MAX_CATEGORY_SHARE: Final = 1 / 3
WEIGHT_SUM_EPSILON: Final = 1e-6
DEFAULT_HOLDOUT_SEED: Final = "holdout"
DEFAULT_WINDOW_HOURS: Final = 72.0  # a unit's metric events count for its arm this long after its first exposure
MAX_WINDOW_HOURS: Final = 24.0 * 366

_KEY_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_LOCALE_RE: Final = re.compile(r"[a-z]{2}")
_CONTENT_FIELD_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")

_TOP_FIELDS: Final = frozenset({"holdout", "experiments"})
_HOLDOUT_FIELDS: Final = frozenset({"percent", "seed", "conversion_window_hours"})
_EXPERIMENT_FIELDS: Final = frozenset(
    {"key", "description", "seed", "version", "unit", "coverage", "namespace", "arms", "when"}
    | {"conversion_window_hours"}
)
_NAMESPACE_FIELDS: Final = frozenset({"id", "start", "end"})
_ARM_FIELDS: Final = frozenset({"key", "description", "weight", "variant", "content", "ranking"})
_RANKING_FIELDS: Final = frozenset({"weights", "max_category_share", "strategy", "ranker"})


def _frozen_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm: its traffic weight and what it changes (homepage variant, content, ranking)."""

    key: str
    weight: float
    variant: str | None = None
    content: Mapping[str, Mapping[str, str]] = field(default_factory=_frozen_mapping)
    ranking: Mapping[str, object] = field(default_factory=_frozen_mapping)


@dataclass(frozen=True, slots=True)
class Experiment:
    """A validated experiment. `seed` is the hashing seed actually used (`:v{version}` included)."""

    key: str
    seed: str
    unit: Unit
    coverage: float
    arms: tuple[Arm, ...]
    when: Mapping[str, frozenset[str]]
    namespace: tuple[str, float, float] | None
    ranges: tuple[tuple[float, float], ...]
    version: int = 1
    window_hours: float = DEFAULT_WINDOW_HOURS  # conversion window (edge/core/attribution.py)
    # Derived once for the per-request path.
    seed_state: int = field(init=False, repr=False, compare=False)
    when_items: tuple[tuple[str, frozenset[str]], ...] = field(init=False, repr=False, compare=False)
    arm_index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed_state", fnv1a32(self.seed))
        object.__setattr__(self, "when_items", tuple(self.when.items()))
        object.__setattr__(self, "arm_index", MappingProxyType({arm.key: i for i, arm in enumerate(self.arms)}))


@dataclass(frozen=True, slots=True)
class ExperimentsConfig:
    """All experiments plus the global holdout; `version` is a content hash of the normalized config."""

    version: str
    holdout_percent: float
    holdout_seed: str
    experiments: tuple[Experiment, ...]
    source: str
    holdout_window_hours: float = DEFAULT_WINDOW_HOURS
    holdout_state: int = field(init=False, repr=False, compare=False)
    holdout_threshold: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holdout_state", fnv1a32(self.holdout_seed))
        object.__setattr__(self, "holdout_threshold", self.holdout_percent / 100)

    @classmethod
    def empty(cls) -> ExperimentsConfig:
        """No holdout, no experiments (no experiments file configured)."""
        return parse_experiments({}, source="")

    def to_json(self) -> dict[str, Any]:
        """JSON-able description for `GET /v1/experiments`."""
        return {
            "version": self.version,
            "source": self.source,
            **_describe(self.holdout_percent, self.holdout_seed, self.experiments),
        }


@dataclass(frozen=True, slots=True)
class ArmAssignment:
    """The arm one request falls in for one experiment; `bucket` is rounded to 4 decimals."""

    experiment: str
    arm: str
    bucket: float
    variant: str | None
    content: Mapping[str, Mapping[str, str]]
    ranking: Mapping[str, object]
    forced: bool = False

    def to_json(self) -> dict[str, object]:
        """The contract's `experiments[]` item."""
        return {"key": self.experiment, "arm": self.arm, "bucket": self.bucket}


@dataclass(frozen=True, slots=True)
class Assignment:
    """Every arm a request falls in; `holdout` units get no experiments (except forced ones)."""

    holdout: bool
    arms: tuple[ArmAssignment, ...]

    def to_json(self) -> list[dict[str, object]]:
        """The contract's `experiments` list."""
        return [arm.to_json() for arm in self.arms]


# --- assignment (per request) -------------------------------------------------------------------


def assign(
    config: ExperimentsConfig,
    user_id: str | None,
    session_id: str,
    attributes: Mapping[str, str | None],
    forced: Mapping[str, str] | None = None,
) -> Assignment:
    """Assign a request to experiment arms, deterministically for its units.

    The holdout unit is user_id, else session_id; a held-out request gets no experiments. Each
    experiment hashes its own unit (user_id when its unit is user_id and one is given, else
    session_id). `forced` maps experiment key -> arm key (QA override of targeting, namespace,
    coverage and holdout; an unknown arm key is ignored).
    """
    holdout = config.holdout_threshold > 0 and (
        hash_v2_seeded(config.holdout_state, user_id or session_id) < config.holdout_threshold
    )
    if holdout and not forced:
        return Assignment(holdout=True, arms=())
    arms: list[ArmAssignment] = []
    for exp in config.experiments:
        unit = user_id if user_id and exp.unit == "user_id" else session_id
        if forced:
            index = exp.arm_index.get(forced.get(exp.key, ""), -1)
            if index >= 0:
                arms.append(_arm_assignment(exp, index, hash_v2_seeded(exp.seed_state, unit), forced=True))
                continue
        if holdout or not _targeted(exp.when_items, attributes):
            continue
        if exp.namespace is not None and not in_namespace(unit, exp.namespace):
            continue
        bucket = hash_v2_seeded(exp.seed_state, unit)
        index = choose_arm(bucket, exp.ranges)
        if index >= 0:
            arms.append(_arm_assignment(exp, index, bucket, forced=False))
    return Assignment(holdout=holdout, arms=tuple(arms))


def _targeted(when_items: tuple[tuple[str, frozenset[str]], ...], attributes: Mapping[str, str | None]) -> bool:
    for key, allowed in when_items:
        value = attributes.get(key)
        if value is None or value not in allowed:
            return False
    return True


def _arm_assignment(exp: Experiment, index: int, bucket: float, *, forced: bool) -> ArmAssignment:
    arm = exp.arms[index]
    return ArmAssignment(exp.key, arm.key, round(bucket, 4), arm.variant, arm.content, arm.ranking, forced)


# --- loading and validation (once per config) ---------------------------------------------------


class _Invalid(Exception):
    """A validation failure at `path`; turned into ConfigError (with the source) by parse_experiments."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def parse_experiments(data: object, source: str) -> ExperimentsConfig:
    """Validate decoded config data and compile it; raises ConfigError naming source, experiment and field."""
    try:
        top = _mapping(data, "(top level)", _TOP_FIELDS)
        holdout = _mapping(top.get("holdout", {}), "holdout", _HOLDOUT_FIELDS)
        percent = _number(holdout.get("percent", 0), "holdout.percent", 0, 100)
        holdout_seed = _text(holdout.get("seed", DEFAULT_HOLDOUT_SEED), "holdout.seed")
        holdout_window = _window(holdout, "holdout")
        items = _list(top.get("experiments", []), "experiments")
        experiments = tuple(_experiment(item, f"experiments[{i}]") for i, item in enumerate(items))
        _check_unique_keys(experiments)
        _check_namespaces(experiments)
    except _Invalid as exc:
        prefix = f"{source}: " if source else ""
        raise ConfigError(prefix + str(exc), field=exc.path) from None
    canonical = _describe(percent, holdout_seed, experiments)
    if holdout_window != DEFAULT_WINDOW_HOURS:
        canonical["holdout"]["conversion_window_hours"] = holdout_window
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    version = hashlib.sha256(blob).hexdigest()[:12]
    return ExperimentsConfig(version, percent, holdout_seed, experiments, source, holdout_window)


def _window(raw: Mapping[str, object], path: str) -> float:
    """`conversion_window_hours`: how long after a unit's first exposure its events count (default 72)."""
    value = raw.get("conversion_window_hours", DEFAULT_WINDOW_HOURS)
    return _number(value, f"{path}.conversion_window_hours", 1 / 60, MAX_WINDOW_HOURS)


def _experiment(value: object, path: str) -> Experiment:
    raw = _mapping(value, path)
    key = _key(raw.get("key"), f"{path}.key")
    path = f"{path} ({key})"
    _check_fields(raw, _EXPERIMENT_FIELDS, path)
    if "description" in raw:
        _text(raw["description"], f"{path}.description")
    version = _integer(raw.get("version", 1), f"{path}.version", minimum=1)
    seed = _text(raw.get("seed", key), f"{path}.seed")
    if version > 1:
        seed = f"{seed}:v{version}"
    unit = _unit(raw.get("unit", "user_id"), f"{path}.unit")
    coverage = _number(raw.get("coverage", 1.0), f"{path}.coverage", 0, 1)
    namespace = None if raw.get("namespace") is None else _namespace(raw["namespace"], f"{path}.namespace")
    arms = _arms(raw.get("arms"), f"{path}.arms")
    when = _when(raw.get("when", {}), f"{path}.when")
    ranges = tuple(bucket_ranges(len(arms), coverage, [arm.weight for arm in arms]))
    window = _window(raw, path)
    return Experiment(key, seed, unit, coverage, arms, when, namespace, ranges, version, window)


def _arms(value: object, path: str) -> tuple[Arm, ...]:
    if value is None:
        raise _Invalid(path, "required: a list of at least 2 arms")
    items = _list(value, path)
    if len(items) < 2:
        raise _Invalid(path, f"needs at least 2 arms, got {len(items)}")
    arms = tuple(_arm(item, f"{path}[{i}]") for i, item in enumerate(items))
    seen: dict[str, int] = {}
    for i, arm in enumerate(arms):
        if arm.key in seen:
            raise _Invalid(f"{path}[{i}].key", f"duplicate arm key {arm.key!r} (also {path}[{seen[arm.key]}])")
        seen[arm.key] = i
    total = math.fsum(arm.weight for arm in arms)
    if abs(total - 1.0) > WEIGHT_SUM_EPSILON:
        raise _Invalid(path, f"weights must sum to 1, got {total:g}")
    return arms


def _arm(value: object, path: str) -> Arm:
    raw = _mapping(value, path, _ARM_FIELDS)
    key = _key(raw.get("key"), f"{path}.key")
    if "description" in raw:
        _text(raw["description"], f"{path}.description")
    if "weight" not in raw:
        raise _Invalid(f"{path}.weight", "required: a number in [0, 1]")
    weight = _number(raw["weight"], f"{path}.weight", 0, 1)
    variant = None if raw.get("variant") is None else _text(raw["variant"], f"{path}.variant")
    content = _content(raw.get("content", {}), f"{path}.content")
    ranking = _ranking(raw.get("ranking", {}), f"{path}.ranking")
    return Arm(key, weight, variant, content, ranking)


def _content(value: object, path: str) -> Mapping[str, Mapping[str, str]]:
    locales: dict[str, Mapping[str, str]] = {}
    for locale, fields in _mapping(value, path).items():
        if not _LOCALE_RE.fullmatch(locale):
            raise _Invalid(f"{path}.{locale}", "locale must be a 2-letter lowercase language code (e.g. en, nl)")
        texts: dict[str, str] = {}
        for name, template in _mapping(fields, f"{path}.{locale}").items():
            where = f"{path}.{locale}.{name}"
            if not _CONTENT_FIELD_RE.fullmatch(name):
                raise _Invalid(where, "content field names are lowercase snake_case")
            texts[name] = _template(template, where)
        locales[locale] = MappingProxyType(texts)
    return MappingProxyType(locales)


def _template(value: object, path: str) -> str:
    text = _text(value, path)
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise _Invalid(path, f"malformed template ({exc}); write literal braces as {{{{ and }}}}") from None
    allowed = ", ".join(sorted(PLACEHOLDERS))
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise _Invalid(path, f"unknown placeholder {{{name}}} (allowed: {allowed})")
        if spec or conversion:
            raise _Invalid(path, f"placeholder {{{name}}} takes no format spec or conversion")
    return text


def _ranking(value: object, path: str) -> Mapping[str, object]:
    raw = _mapping(value, path, _RANKING_FIELDS)
    ranking: dict[str, object] = {}
    if "weights" in raw:
        weights: dict[str, float] = {}
        for reason, weight in _mapping(raw["weights"], f"{path}.weights").items():
            if reason not in REASONS:
                allowed = ", ".join(sorted(REASONS))
                raise _Invalid(f"{path}.weights.{reason}", f"unknown reason (allowed: {allowed})")
            weights[reason] = _number(weight, f"{path}.weights.{reason}", 0, math.inf, expected="a non-negative number")
        ranking["weights"] = MappingProxyType(weights)
    if "max_category_share" in raw:
        where = f"{path}.max_category_share"
        share = _number(raw["max_category_share"], where, 0, MAX_CATEGORY_SHARE, expected="a number in (0, 1/3]")
        if share == 0:
            raise _Invalid(where, "must be a number in (0, 1/3], got 0")
        ranking["max_category_share"] = share
    if "strategy" in raw:
        strategy = raw["strategy"]
        if strategy not in STRATEGIES:
            raise _Invalid(f"{path}.strategy", f"must be one of {', '.join(sorted(STRATEGIES))}, got {strategy!r}")
        ranking["strategy"] = strategy
    if "ranker" in raw:
        ranking["ranker"] = _text(raw["ranker"], f"{path}.ranker")
    return MappingProxyType(ranking)


def _when(value: object, path: str) -> Mapping[str, frozenset[str]]:
    when: dict[str, frozenset[str]] = {}
    for key, allowed in _mapping(value, path).items():
        if key not in TARGETING_KEYS:
            raise _Invalid(
                f"{path}.{key}", f"unknown targeting attribute (allowed: {', '.join(sorted(TARGETING_KEYS))})"
            )
        items = _list(allowed, f"{path}.{key}")
        if not items:
            raise _Invalid(f"{path}.{key}", "must list at least one allowed value")
        when[key] = frozenset(_text(item, f"{path}.{key}[{i}]") for i, item in enumerate(items))
    return MappingProxyType(when)


def _namespace(value: object, path: str) -> tuple[str, float, float]:
    raw = _mapping(value, path, _NAMESPACE_FIELDS)
    namespace_id = _text(raw.get("id"), f"{path}.id")
    start = _number(raw.get("start", 0.0), f"{path}.start", 0, 1)
    end = _number(raw.get("end", 1.0), f"{path}.end", 0, 1)
    if start >= end:
        raise _Invalid(path, f"start must be below end, got [{start:g}, {end:g})")
    return (namespace_id, start, end)


def _check_unique_keys(experiments: Sequence[Experiment]) -> None:
    seen: dict[str, int] = {}
    for i, exp in enumerate(experiments):
        if exp.key in seen:
            raise _Invalid(
                f"experiments[{i}] ({exp.key}).key", f"duplicate experiment key (also experiments[{seen[exp.key]}])"
            )
        seen[exp.key] = i


def _check_namespaces(experiments: Sequence[Experiment]) -> None:
    """Experiments sharing a namespace must hash the same unit and take disjoint slices of it."""
    for i, exp in enumerate(experiments):
        if exp.namespace is None:
            continue
        namespace_id, start, end = exp.namespace
        for j, other in enumerate(experiments[:i]):
            if other.namespace is None or other.namespace[0] != namespace_id:
                continue
            where = f"experiments[{i}] ({exp.key}).namespace"
            if other.unit != exp.unit:
                raise _Invalid(
                    where, f"unit {exp.unit} differs from experiments[{j}] ({other.key}) in namespace {namespace_id!r}"
                )
            if start < other.namespace[2] and other.namespace[1] < end:
                raise _Invalid(
                    where, f"[{start:g}, {end:g}) overlaps experiments[{j}] ({other.key}) in namespace {namespace_id!r}"
                )


# --- primitive checks ---------------------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean (YAML reads unquoted yes/no/on/off as booleans: quote it)"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _mapping(value: object, path: str, allowed: frozenset[str] | None = None) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _Invalid(path, f"must be a mapping with string keys, got {_kind(value)}")
    if allowed is not None:
        _check_fields(value, allowed, path)
    return value


def _check_fields(raw: Mapping[str, object], allowed: frozenset[str], path: str) -> None:
    for name in raw:
        if name not in allowed:
            raise _Invalid(f"{path}.{name}", f"unknown field (expected one of: {', '.join(sorted(allowed))})")


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise _Invalid(path, f"must be a list, got {_kind(value)}")
    return value


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(path, f"must be a non-empty string, got {_kind(value)}")
    return value


def _key(value: object, path: str) -> str:
    if not isinstance(value, str) or not _KEY_RE.fullmatch(value):
        raise _Invalid(path, f"must be 1-64 characters of [A-Za-z0-9._:-], got {_kind(value)}")
    return value


def _unit(value: object, path: str) -> Unit:
    for unit in UNITS:
        if value == unit:
            return unit
    raise _Invalid(path, f"must be one of {', '.join(UNITS)}, got {_kind(value)}")


def _number(value: object, path: str, lo: float, hi: float, *, expected: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _Invalid(path, f"must be {expected or f'a number in [{lo:g}, {hi:g}]'}, got {_kind(value)}")
    return float(value)


def _integer(value: object, path: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _Invalid(path, f"must be an integer >= {minimum}, got {_kind(value)}")
    return value


# --- description (to_json and the version hash) -------------------------------------------------


def _describe(percent: float, seed: str, experiments: Sequence[Experiment]) -> dict[str, Any]:
    return {
        "holdout": {"percent": percent, "seed": seed},
        "experiments": [_describe_experiment(exp) for exp in experiments],
    }


def _describe_experiment(exp: Experiment) -> dict[str, Any]:
    namespace = None
    if exp.namespace is not None:
        namespace = {"id": exp.namespace[0], "start": exp.namespace[1], "end": exp.namespace[2]}
    return {
        "key": exp.key,
        "seed": exp.seed,
        "version": exp.version,
        "unit": exp.unit,
        "coverage": exp.coverage,
        "namespace": namespace,
        "when": {key: sorted(allowed) for key, allowed in exp.when.items()},
        "arms": [
            {
                "key": arm.key,
                "weight": arm.weight,
                "variant": arm.variant,
                "content": {locale: dict(texts) for locale, texts in arm.content.items()},
                "ranking": {k: dict(v) if isinstance(v, Mapping) else v for k, v in arm.ranking.items()},
            }
            for arm in exp.arms
        ],
        "ranges": [list(r) for r in exp.ranges],
    } | ({"conversion_window_hours": exp.window_hours} if exp.window_hours != DEFAULT_WINDOW_HOURS else {})
