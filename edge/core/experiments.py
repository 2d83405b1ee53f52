"""A/B experiments: config parsing, validation and per-request assignment.

Pure: edge.model.config_files reads the file (`load_experiments`). The config is validated once at load
(every problem raises `ConfigError` naming the file, the experiment and the field path) and
compiled into frozen values with precomputed bucket ranges and seed hashes, so `assign` does no
parsing and little allocation per request. An arm is served as the file declares it (`ArmFile`,
its texts read-only); an experiment is compiled (`Experiment`: the hashing state and bucket ranges
derived from its file entry). Bucketing is GrowthBook-compatible (`edge.core.bucketing`);
docs/experiments.md describes the file format and the guarantees.
"""

from __future__ import annotations

import hashlib
import json
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from msgspec.structs import force_setattr

from edge.core.bucketing import bucket_ranges, choose_arm, fnv1a32, hash_v2_seeded, in_namespace
from edge.core.files import FileChecks, FileShape, NonEmpty, convert_file
from edge.core.ranking import DEFAULT_WEIGHTS, MAX_CATEGORY_SHARE
from edge.core.shapes import Shape

Unit = Literal["user_id", "session_id"]

PLACEHOLDERS: Final = frozenset({"first_name", "points", "tier", "discount_pct"})
WEIGHT_SUM_EPSILON: Final = 1e-6
DEFAULT_HOLDOUT_SEED: Final = "holdout"
DEFAULT_WINDOW_HOURS: Final = 72.0  # a unit's metric events count for its arm this long after its first exposure
MAX_WINDOW_HOURS: Final = 24.0 * 366


@dataclass(frozen=True, slots=True)
class Experiment:
    """A validated experiment, compiled from its `ExperimentFile` entry for `assign`: the hashing seed
    actually used (`:v{version}` included) and its FNV state, the targeting as frozensets, the
    arms' bucket ranges and an index by arm key; the arms are the file's (`ArmFile`)."""

    key: str
    seed: str
    unit: Unit
    coverage: float
    arms: tuple[ArmFile, ...]
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
    """All experiments plus the global holdout (the file's `HoldoutFile`); `version` is a content hash of the
    normalized config; the holdout's hashing state and threshold are derived once for `assign`."""

    version: str
    holdout: HoldoutFile
    experiments: tuple[Experiment, ...]
    source: str
    holdout_state: int = field(init=False, repr=False, compare=False)
    holdout_threshold: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holdout_state", fnv1a32(self.holdout.seed))
        object.__setattr__(self, "holdout_threshold", self.holdout.percent / 100)

    @classmethod
    def empty(cls) -> ExperimentsConfig:
        """No holdout, no experiments (no experiments file configured)."""
        return parse_experiments({}, source="")

    def listing(self) -> ExperimentsListing:
        """The answer of `GET /v1/experiments`."""
        return ExperimentsListing(
            version=self.version,
            source=self.source,
            holdout=ListedHoldout(percent=self.holdout.percent, seed=self.holdout.seed),
            experiments=[_listed(exp) for exp in self.experiments],
        )


@dataclass(frozen=True, slots=True)
class ArmAssignment:
    """The arm one request falls in for one experiment; `bucket` is rounded to 4 decimals."""

    experiment: str
    arm: str
    bucket: float
    variant: str | None
    content: Mapping[str, Mapping[str, str]]
    ranking: RankingFile
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


# --- the file's shape (docs/experiments.md), declared once ------------------------------------------

Key = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}(?!\n)$", description="1-64 characters of [A-Za-z0-9._:-]")]
Fraction = Annotated[float, Meta(ge=0, le=1)]
WindowHours = Annotated[float, Meta(ge=1 / 60, le=MAX_WINDOW_HOURS)]
TargetingKey = Annotated[
    Literal[
        "segment", "tier", "country", "device", "page", "locale", "utm_source", "utm_campaign", "weather", "region"
    ],
    Meta(description="unknown targeting attribute"),
]
if TYPE_CHECKING:
    WeightedReason = str
else:  # the product reasons a ranking weight may name (the weighted sources of edge.core.ranking)
    WeightedReason = Annotated[Literal[tuple(DEFAULT_WEIGHTS)], Meta(description="unknown reason")]
ContentLocale = Annotated[
    str,
    Meta(pattern=r"^[a-z]{2}(?!\n)$", description="locale must be a 2-letter lowercase language code (e.g. en, nl)"),
]
ContentField = Annotated[
    str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}(?!\n)$", description="content field names are lowercase snake_case")
]


class RankingFile(FileShape, frozen=True):
    """What an arm changes in the ranking; only the fields given apply (`RankingParams.with_overrides`)."""

    weights: dict[WeightedReason, Annotated[float, Meta(ge=0, description="a non-negative number")]] | UnsetType = UNSET
    max_category_share: Annotated[float, Meta(gt=0, le=MAX_CATEGORY_SHARE, description="a number in (0, 1/3]")] | (
        UnsetType
    ) = UNSET
    strategy: Literal["blend", "learned", "popular"] | UnsetType = UNSET
    ranker: NonEmpty | UnsetType = UNSET


class ArmFile(FileShape, frozen=True):
    """One arm: its traffic weight and what it changes (homepage variant, content texts, ranking).

    Served as decoded: the content texts become read-only (post-decode, as are a ranking's weights);
    post-decode, the texts' placeholders are checked (`parse_experiments`).
    """

    key: Key
    weight: Fraction
    description: NonEmpty | None = None
    variant: NonEmpty | None = None
    content: Mapping[ContentLocale, Mapping[ContentField, NonEmpty]] = msgspec.field(default_factory=dict)
    ranking: RankingFile = RankingFile()

    def __post_init__(self) -> None:
        texts = {locale: MappingProxyType(dict(fields)) for locale, fields in self.content.items()}
        force_setattr(self, "content", MappingProxyType(texts))


class NamespaceFile(FileShape, frozen=True):
    """A slice [start, end) of a namespace's units (post-decode: start < end, disjoint from others)."""

    id: NonEmpty
    start: Fraction = 0.0
    end: Fraction = 1.0


class ExperimentFile(FileShape, frozen=True):
    """Post-decode: unique arm keys, weights summing to 1, known placeholders in the content texts."""

    named_by_key: ClassVar[bool] = True

    key: Key
    arms: Annotated[list[ArmFile], Meta(min_length=2, description="a list of at least 2 arms")]
    description: NonEmpty | None = None
    seed: NonEmpty | None = None  # the key when absent
    version: Annotated[int, Meta(ge=1)] = 1
    unit: Unit = "user_id"
    coverage: Fraction = 1.0
    namespace: NamespaceFile | None = None
    when: dict[
        TargetingKey, Annotated[list[NonEmpty], Meta(min_length=1, description="a list of at least one allowed value")]
    ] = msgspec.field(default_factory=dict)
    conversion_window_hours: WindowHours = DEFAULT_WINDOW_HOURS


class HoldoutFile(FileShape, frozen=True):
    percent: Annotated[float, Meta(ge=0, le=100)] = 0.0
    seed: NonEmpty = DEFAULT_HOLDOUT_SEED
    conversion_window_hours: WindowHours = DEFAULT_WINDOW_HOURS


class ExperimentsFile(FileShape, frozen=True):
    """The experiments file. Post-decode: unique experiment keys, disjoint slices of a shared namespace."""

    holdout: HoldoutFile = HoldoutFile()
    experiments: list[ExperimentFile] = msgspec.field(default_factory=list)


REASONS: Final = frozenset(DEFAULT_WEIGHTS)


# --- loading: decode, then the rules a schema cannot state ---------------------------------------


def parse_experiments(data: object, source: str) -> ExperimentsConfig:
    """Decode config data as `ExperimentsFile` and compile it; ConfigError names source, experiment and field."""
    file = convert_file(data, ExperimentsFile, source)
    check = FileChecks(source)
    experiments = tuple(
        _experiment(check, exp, f"experiments[{i}] ({exp.key})") for i, exp in enumerate(file.experiments)
    )
    _check_unique_keys(check, experiments)
    _check_namespaces(check, experiments)
    holdout = file.holdout
    canonical: dict[str, Any] = {
        "holdout": {"percent": holdout.percent, "seed": holdout.seed},
        "experiments": msgspec.to_builtins([_listed(exp) for exp in experiments]),
    }
    if holdout.conversion_window_hours != DEFAULT_WINDOW_HOURS:
        canonical["holdout"]["conversion_window_hours"] = holdout.conversion_window_hours
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    version = hashlib.sha256(blob).hexdigest()[:12]
    return ExperimentsConfig(version, holdout, experiments, source)


def _experiment(check: FileChecks, exp: ExperimentFile, path: str) -> Experiment:
    seed = exp.seed or exp.key
    if exp.version > 1:
        seed = f"{seed}:v{exp.version}"
    namespace = None
    if exp.namespace is not None:
        ns = exp.namespace
        if ns.start >= ns.end:
            check.fail(f"{path}.namespace", f"start must be below end, got [{ns.start:g}, {ns.end:g})")
        namespace = (ns.id, ns.start, ns.end)
    arms = tuple(_arm(check, arm, f"{path}.arms[{i}]") for i, arm in enumerate(exp.arms))
    seen: dict[str, int] = {}
    for i, arm in enumerate(arms):
        if arm.key in seen:
            check.fail(f"{path}.arms[{i}].key", f"duplicate arm key {arm.key!r} (also {path}.arms[{seen[arm.key]}])")
        seen[arm.key] = i
    total = math.fsum(arm.weight for arm in arms)
    if abs(total - 1.0) > WEIGHT_SUM_EPSILON:
        check.fail(f"{path}.arms", f"weights must sum to 1, got {total:g}")
    when: Mapping[str, frozenset[str]] = MappingProxyType({k: frozenset(v) for k, v in exp.when.items()})
    ranges = tuple(bucket_ranges(len(arms), exp.coverage, [arm.weight for arm in arms]))
    return Experiment(
        exp.key, seed, exp.unit, exp.coverage, arms, when, namespace, ranges, exp.version, exp.conversion_window_hours
    )


def _arm(check: FileChecks, arm: ArmFile, path: str) -> ArmFile:
    for locale, texts in arm.content.items():
        for name, text in texts.items():
            _template(check, text, f"{path}.content.{locale}.{name}")
    return arm


def _template(check: FileChecks, text: str, path: str) -> str:
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        check.fail(path, f"malformed template ({exc}); write literal braces as {{{{ and }}}}")
    allowed = ", ".join(sorted(PLACEHOLDERS))
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            check.fail(path, f"unknown placeholder {{{name}}} (allowed: {allowed})")
        if spec or conversion:
            check.fail(path, f"placeholder {{{name}}} takes no format spec or conversion")
    return text


def _check_unique_keys(check: FileChecks, experiments: Sequence[Experiment]) -> None:
    seen: dict[str, int] = {}
    for i, exp in enumerate(experiments):
        if exp.key in seen:
            check.fail(
                f"experiments[{i}] ({exp.key}).key", f"duplicate experiment key (also experiments[{seen[exp.key]}])"
            )
        seen[exp.key] = i


def _check_namespaces(check: FileChecks, experiments: Sequence[Experiment]) -> None:
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
                check.fail(
                    where, f"unit {exp.unit} differs from experiments[{j}] ({other.key}) in namespace {namespace_id!r}"
                )
            if start < other.namespace[2] and other.namespace[1] < end:
                check.fail(
                    where, f"[{start:g}, {end:g}) overlaps experiments[{j}] ({other.key}) in namespace {namespace_id!r}"
                )


# --- the description: GET /v1/experiments, and the version hash -----------------------------------


class ListedArm(Shape, frozen=True):
    key: str
    weight: float
    variant: str | None
    content: dict[str, dict[str, str]]
    ranking: RankingFile


class ListedExperiment(Shape, frozen=True):
    """An experiment as compiled: `seed` is the hashing seed used, `ranges` each arm's share of the buckets."""

    key: str
    seed: str
    version: int
    unit: Unit
    coverage: float
    namespace: NamespaceFile | None
    when: dict[str, list[str]]
    arms: list[ListedArm]
    ranges: list[tuple[float, float]]
    conversion_window_hours: Annotated[float, Meta(description="Absent at the default, 72.")] | UnsetType = UNSET


class ListedHoldout(Shape, frozen=True):
    percent: float
    seed: str


class ExperimentsListing(Shape, frozen=True):
    """`GET /v1/experiments`: the loaded experiments (docs/experiments.md)."""

    version: Annotated[str, Meta(description="A hash of the normalized config.")]
    source: Annotated[str, Meta(description="The experiments file.")]
    holdout: ListedHoldout
    experiments: list[ListedExperiment]


def _listed(exp: Experiment) -> ListedExperiment:
    namespace = None if exp.namespace is None else NamespaceFile(id=exp.namespace[0], start=exp.namespace[1],
                                                                 end=exp.namespace[2])  # fmt: skip
    arms = [
        ListedArm(
            key=arm.key,
            weight=arm.weight,
            variant=arm.variant,
            content={locale: dict(texts) for locale, texts in arm.content.items()},
            ranking=arm.ranking,
        )
        for arm in exp.arms
    ]
    return ListedExperiment(
        key=exp.key,
        seed=exp.seed,
        version=exp.version,
        unit=exp.unit,
        coverage=exp.coverage,
        namespace=namespace,
        when={key: sorted(allowed) for key, allowed in exp.when.items()},
        arms=arms,
        ranges=list(exp.ranges),
        conversion_window_hours=UNSET if exp.window_hours == DEFAULT_WINDOW_HOURS else exp.window_hours,
    )
