"""Answers of the report, operations and demo endpoints, declared once as msgspec Structs.

edge/http/openapi.py generates their schemas from these classes (as it does for the decide
answer in edge/core/shapes.py); the service builds the answers as plain JSON and
tests/test_shapes_conformance.py checks that what it serves decodes as these shapes. A report's
per-arm tables (`timeseries`, `segments`, `attribution` ...) stay free-form objects, as in docs/reports.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from edge.core.shapes import Id, SegmentName, Shape, TierName, Time, Utm

Metric = Literal["conversion", "revenue", "add_to_cart", "click", "redemption"]
VerdictReason = Literal["ok", "unknown_code", "other_customer", "not_started", "expired", "redeemed"]
Table = dict[str, Any]  # a free-form report table

# --- reports (edge/core/reports.py) ---------------------------------------------------------------


class ReportResult(Shape, frozen=True):
    """One metric of one arm against the baseline."""

    metric: Metric
    arm: str
    baseline: str
    baseline_mean: float
    mean: float
    uplift: Annotated[float, Meta(description="Relative: 0.10 = +10 %.")] | None
    ci: Annotated[list[float], Meta(description="95 %, relative.")] | None
    p_value: float | None
    chance_to_win: float | None
    baseline_units: int | UnsetType = UNSET
    units: int | UnsetType = UNSET
    significant: bool | UnsetType = UNSET
    bayes_ci: list[float] | UnsetType | None = UNSET
    risk: list[float] | UnsetType | None = UNSET
    error: str | UnsetType | None = UNSET


class Srm(Shape, frozen=True):
    """Sample-ratio check of the units per arm against the configured weights."""

    p_value: float | None
    ok: bool
    threshold: float | UnsetType = UNSET


class ArmStats(Shape, frozen=True):
    key: str
    units: int
    metrics: Table | UnsetType = UNSET


class ExperimentReport(Shape, frozen=True):
    experiment: str
    srm: Srm
    arms: list[ArmStats]
    results: list[ReportResult]
    generated_at: Time | UnsetType = UNSET
    conversion_window_hours: float | UnsetType = UNSET
    weights: dict[str, float] | UnsetType = UNSET
    timeseries: list[Table] | UnsetType = UNSET
    segments: list[Table] | UnsetType = UNSET


class PersonalizationReport(Shape, frozen=True):
    holdout: Table
    arms: list[Table]
    results: list[ReportResult]
    incremental_revenue: Table
    offers: list[Table]
    attribution: Table
    generated_at: Time | UnsetType = UNSET
    baseline: str | UnsetType = UNSET
    srm: Table | UnsetType = UNSET
    timeseries: list[Table] | UnsetType = UNSET
    segments: list[Table] | UnsetType = UNSET


class OfferVerdict(Shape, frozen=True):
    """`GET /v1/offers/verify/{code}`."""

    code: str
    user_id: Id
    valid: bool
    reason: VerdictReason
    offer_id: str | UnsetType | None = UNSET
    discount_pct: int | UnsetType | None = UNSET
    expires_at: Time | UnsetType | None = UNSET


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
    data_end: Annotated[Time, Meta(description="The last timestamp in the build's data.")] | UnsetType | None = UNSET
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
