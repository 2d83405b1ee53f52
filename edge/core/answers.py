"""Answers of the report, operations and demo endpoints, declared once as msgspec Structs.

The service builds these answers as the Structs and encodes them with msgspec (a misspelt or
missing field fails mypy or the constructor, not a client); edge/http/openapi.py generates their
schemas from the same classes (as it does for the decide answer in edge/core/shapes.py), and
tests/test_shapes_conformance.py decodes what is served with both. Field order is the wire order.
docs/reports.md describes every report field.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from edge.core.experiments import HoldoutFile
from edge.core.shapes import Id, SegmentName, Shape, TierName, Time, Utm

Metric = Literal["conversion", "revenue", "add_to_cart", "click", "redemption"]
VerdictReason = Literal["ok", "unknown_code", "other_customer", "not_started", "expired", "redeemed"]

# --- reports (edge/core/reports.py) ---------------------------------------------------------------


class ReportResult(Shape, frozen=True):
    """One metric of one arm against the baseline."""

    metric: Metric
    arm: str
    baseline: str
    baseline_units: int
    units: int
    baseline_mean: float
    mean: float
    uplift: Annotated[float, Meta(description="Relative: 0.10 = +10 %.")] | None
    ci: Annotated[list[float], Meta(description="95 %, relative.")] | None
    p_value: float | None
    significant: Annotated[bool, Meta(description="p_value < 0.05.")]
    chance_to_win: float | None
    bayes_ci: list[float] | None
    risk: list[float] | None
    error: Annotated[str, Meta(description="Why the comparison is undefined; the numbers are null then.")] | None


class Srm(Shape, frozen=True):
    """Sample-ratio check of the units per arm against the configured weights."""

    p_value: float | None
    ok: bool
    threshold: float


class MetricStats(Shape, frozen=True):
    """One metric of one arm: sum, mean and variance of the per-unit values."""

    sum: float
    mean: float
    variance: float


class ArmStats(Shape, frozen=True):
    key: str
    units: int
    metrics: dict[Metric, MetricStats]


class DayPoint(Shape, frozen=True):
    """One UTC day of an arm: cumulative units enrolled and converted, and their ratio."""

    date: date
    units: int
    conversions: int
    conversion_rate: float | None


class ArmSeries(Shape, frozen=True):
    arm: str
    points: list[DayPoint]


class SegmentComparison(Shape, frozen=True):
    """The arms and results of the units whose segment at first exposure was `segment`."""

    segment: str
    arms: list[ArmStats]
    results: list[ReportResult]


class ExperimentReport(Shape, frozen=True):
    experiment: str
    generated_at: Time
    conversion_window_hours: float
    weights: dict[str, float]
    srm: Srm
    arms: list[ArmStats]
    results: list[ReportResult]
    timeseries: list[ArmSeries]
    segments: Annotated[list[SegmentComparison], Meta(description="Absent with segments=false.")] | UnsetType = UNSET


class IncrementalRevenue(Shape, frozen=True):
    value: float | None
    ci: list[float] | None


class OfferResult(Shape, frozen=True):
    """One offer code: shown, redeemed, the discount given and the revenue beyond the holdout."""

    code: str
    discount_pct: float
    shown: int
    units: int
    redemptions: int
    redemption_rate: float
    redeemed_revenue: float
    discount_given: float
    revenue_per_unit: float
    incremental_revenue: float | None


class AttributionRow(Shape, frozen=True):
    """What one variant, reason, slot or offer showed and earned (decisions crediting it)."""

    key: str
    shown: int
    click: int
    add_to_cart: int
    purchase: int
    revenue: float
    redemption: int
    click_rate: float | None


class Unattributed(Shape, frozen=True):
    """Events with a decision_id Edge did not make, or too late after the decision."""

    click: int
    add_to_cart: int
    purchase: int
    revenue: float


class Attribution(Shape, frozen=True):
    variant: list[AttributionRow]
    reason: list[AttributionRow]
    slot: list[AttributionRow]
    offer: list[AttributionRow]
    unattributed: Unattributed


class PersonalizationReport(Shape, frozen=True, kw_only=True):
    generated_at: Time
    holdout: Annotated[HoldoutFile, Meta(description="The holdout as configured (experiments file).")]
    baseline: str
    srm: Srm
    arms: list[ArmStats]
    results: list[ReportResult]
    timeseries: list[ArmSeries]
    segments: Annotated[list[SegmentComparison], Meta(description="Absent with segments=false.")] | UnsetType = UNSET
    incremental_revenue: IncrementalRevenue
    offers: list[OfferResult]
    attribution: Attribution


class OfferVerdict(Shape, frozen=True):
    """`GET /v1/offers/verify/{code}`."""

    code: str
    user_id: Id
    valid: bool
    reason: VerdictReason
    offer_id: str | None
    discount_pct: int | None
    expires_at: Time | None


# --- operations (edge/http/app.py) ----------------------------------------------------------------


class Status(Shape, frozen=True):
    status: Annotated[str, Meta(examples=["ok"])] | UnsetType = UNSET


class ReadinessChecks(Shape, frozen=True):
    index: Annotated[bool, Meta(description="The item index is loaded and not empty.")]
    build: Annotated[bool, Meta(description="Index, catalog and profile vectors agree.")]
    store: Annotated[bool, Meta(description="The store (Redis) answers.")]


class LastReload(Shape, frozen=True):
    """The last reload attempt since start-up (absent before the first)."""

    status: Literal["ok", "failed"]
    trigger: Literal["admin", "watch"]
    at: Time
    error: Annotated[str, Meta(description="Why it was refused (the old build is kept).")] | UnsetType = UNSET


class Readiness(Shape, frozen=True):
    status: Literal["ready", "not ready"]
    checks: ReadinessChecks
    build: Annotated[str, Meta(description="Version of the live build (artifacts).")]
    content: Annotated[str, Meta(description="Version (hash) of the live content file.")]
    experiments: Annotated[str, Meta(description="Version (hash) of the live experiments.")]
    data_end: Annotated[Time, Meta(description="The last timestamp in the build's data.")] | None
    problem: Annotated[str, Meta(description="Why the build is inconsistent (only then).")] | UnsetType = UNSET
    last_reload: LastReload | UnsetType = UNSET
    warnings: Annotated[list[str], Meta(description="What is unsafe, such as no API key.")] | UnsetType = UNSET


class Reloaded(Shape, frozen=True):
    status: Literal["reloaded"]
    model: Annotated[str, Meta(description="Version of the live build.")]
    content: str
    experiments: str


# --- the demo (edge/http/demo.py) -----------------------------------------------------------------


class Persona(Shape, frozen=True):
    """A visitor the demo can be: a key, a label, and what the page sends for it."""

    key: Annotated[str, Meta(examples=["ambassador"])]
    label: str
    segment: SegmentName
    user_id: Id | None
    first_name: str | UnsetType | None = UNSET
    tier: TierName | UnsetType | None = UNSET
    utm: Utm | UnsetType | None = UNSET
    consent: bool | UnsetType | None = UNSET


class Personas(Shape, frozen=True):
    build: str
    now: Annotated[Time, Meta(description="Send as `now` (set when the build's data is old).")] | None
    personas: list[Persona]
