"""Reports: experiment results and the ROI of personalization, from the stores' mergeable aggregates.

`experiment_report` and `personalization_report` are pure: they take the merged partition
aggregates (edge/core/attribution.py) and the experiments config and return the answers of
`GET /v1/reports/experiments/{key}` and `GET /v1/reports/personalization` as the Structs declared
in edge/core/answers.py (`ExperimentReport`, `PersonalizationReport`); `load_*` read the
aggregates from a store (64 small hashes, whatever the number of units). docs/reports.md
documents every field and formula.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol, cast, overload

from msgspec import UNSET, UnsetType

from edge.core.answers import (
    ArmSeries,
    ArmStats,
    Attribution,
    AttributionRow,
    DayPoint,
    ExperimentReport,
    IncrementalRevenue,
    Metric,
    MetricStats,
    OfferResult,
    PersonalizationReport,
    ReportResult,
    SegmentComparison,
    Srm,
    Unattributed,
)
from edge.core.attribution import (
    ALL,
    HOLDOUT_ARMS,
    HOLDOUT_TRACK,
    METRICS,
    OFFER_ARM,
    OFFER_TRACK,
    PROPORTIONS,
    merged,
)
from edge.core.experiments import ExperimentsConfig
from edge.core.stats import SRM_THRESHOLD, Comparison, Kind, Moments, compare, srm
from edge.errors import NotFound, ValidationFailed

DECISION_DIMENSIONS = ("variant", "reason", "slot", "offer")
DECISION_COUNTS = ("shown", "click", "add_to_cart", "purchase", "revenue", "redemption")


class AggregateReader(Protocol):
    async def read_aggregate(self, name: str) -> list[dict[str, str]]: ...


@dataclass(frozen=True, slots=True)
class Query:
    """Validated report parameters."""

    metrics: tuple[Metric, ...] = METRICS
    segments: bool = True


def parse_query(params: Mapping[str, str]) -> Query:
    """`metric` (comma-separated subset of the metrics), `segments` (true/false); 422 naming the field."""
    unknown = sorted(set(params) - {"metric", "segments", "token"})
    if unknown:
        raise ValidationFailed(f"unknown report parameter {unknown[0]!r}", unknown[0])
    metrics: tuple[Metric, ...] = METRICS
    if params.get("metric"):
        named = tuple(m.strip() for m in params["metric"].split(","))
        bad = [m for m in named if m not in METRICS]
        if bad:
            raise ValidationFailed(f"metric must be among {', '.join(METRICS)}; got {bad[0]!r}", "metric")
        metrics = cast(tuple[Metric, ...], named)
    segments = params.get("segments", "true").lower()
    if segments not in ("true", "false"):
        raise ValidationFailed("segments must be true or false", "segments")
    return Query(metrics, segments == "true")


def _kind(metric: str) -> Kind:
    return "proportion" if metric in PROPORTIONS else "mean"


@overload
def _round(x: float, digits: int = 6) -> float: ...
@overload
def _round(x: float | None, digits: int = 6) -> float | None: ...
def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


def _pair(pair: tuple[float, float] | None, digits: int = 6) -> list[float] | None:
    return None if pair is None else [_round(pair[0], digits), _round(pair[1], digits)]


@dataclass(frozen=True, slots=True)
class Arms:
    """Sufficient statistics of one track, by segment (`*` = everyone), arm and metric; daily series."""

    units: dict[tuple[str, str], int]
    moments: dict[tuple[str, str, str], Moments]
    daily: dict[str, dict[str, tuple[int, int]]]  # arm -> day -> (new units, new converters)

    def segments(self) -> list[str]:
        return sorted({seg for _, seg in self.units if seg != ALL})

    def metric(self, arm: str, segment: str, metric: str) -> Moments:
        found = self.moments.get((arm, segment, metric))
        n = self.units.get((arm, segment), 0)
        return Moments(n, found.sum, found.sum_squares) if found else Moments(n, 0.0, 0.0)


def parse_arms(fields: Mapping[str, float]) -> Arms:
    """The merged `xa:<track>` fields as statistics."""
    units: dict[tuple[str, str], int] = {}
    sums: dict[tuple[str, str, str], list[float]] = {}
    daily: dict[str, dict[str, tuple[int, int]]] = {}
    for name, value in fields.items():
        parts = name.split("|")
        if len(parts) == 3 and parts[2] == "n":
            units[(parts[0], parts[1])] = int(value)
        elif len(parts) == 4 and parts[1] == "#":
            new, conv = daily.setdefault(parts[0], {}).get(parts[2], (0, 0))
            daily[parts[0]][parts[2]] = (new + int(value), conv) if parts[3] == "n" else (new, conv + int(value))
        elif len(parts) == 4 and parts[3] in ("s", "q"):
            pair = sums.setdefault((parts[0], parts[1], parts[2]), [0.0, 0.0])
            pair[0 if parts[3] == "s" else 1] += value
    moments = {k: Moments(0, s, s if k[2] in PROPORTIONS else q) for k, (s, q) in sums.items()}  # 0/1: q = s
    return Arms(units, moments, daily)


def _result(metric: Metric, arm: str, baseline: str, control: Moments, treatment: Moments) -> ReportResult:
    c: Comparison = compare(control, treatment, _kind(metric))
    return ReportResult(
        metric=metric,
        arm=arm,
        baseline=baseline,
        baseline_units=control.n,
        units=treatment.n,
        baseline_mean=_round(control.mean),
        mean=_round(treatment.mean),
        uplift=_round(c.uplift),
        ci=_pair(c.ci),
        p_value=_round(c.p_value, 8),
        significant=c.p_value is not None and c.p_value < 0.05,
        chance_to_win=_round(c.chance_to_win),
        bayes_ci=_pair(c.bayes_ci),
        risk=_pair(c.risk),
        error=c.error,
    )


def _arm_stats(stats: Arms, arm: str, segment: str, metrics: Sequence[Metric]) -> ArmStats:
    described: dict[Metric, MetricStats] = {}
    for metric in metrics:
        m = stats.metric(arm, segment, metric)
        described[metric] = MetricStats(
            sum=_round(m.sum), mean=_round(m.mean), variance=_round(m.variance(_kind(metric)))
        )
    return ArmStats(key=arm, units=stats.units.get((arm, segment), 0), metrics=described)


def _results(stats: Arms, arms: Sequence[str], segment: str, metrics: Sequence[Metric]) -> list[ReportResult]:
    baseline = arms[0]
    return [
        _result(metric, arm, baseline, stats.metric(baseline, segment, metric), stats.metric(arm, segment, metric))
        for metric in metrics
        for arm in arms[1:]
    ]


def _srm(stats: Arms, arms: Sequence[str], weights: Sequence[float]) -> Srm:
    found = srm([stats.units.get((arm, ALL), 0) for arm in arms], weights)
    return Srm(p_value=_round(found.p_value, 8), ok=found.ok, threshold=SRM_THRESHOLD)


def _timeseries(stats: Arms, arms: Sequence[str]) -> list[ArmSeries]:
    """Per arm and day: cumulative units exposed, units converted, and their ratio."""
    days = sorted({day for arm in arms for day in stats.daily.get(arm, {})})
    series = []
    for arm in arms:
        units = conversions = 0
        points = []
        for day in days:
            new, conv = stats.daily.get(arm, {}).get(day, (0, 0))
            units, conversions = units + new, conversions + conv
            rate = conversions / units if units else None
            when = date(int(day[:4]), int(day[4:6]), int(day[6:]))
            points.append(DayPoint(date=when, units=units, conversions=conversions, conversion_rate=_round(rate)))
        series.append(ArmSeries(arm=arm, points=points))
    return series


@dataclass(frozen=True, slots=True)
class _Comparison:
    """What both reports show of a track: SRM, arms, results, the daily series and, asked for, per segment."""

    srm: Srm
    arms: list[ArmStats]
    results: list[ReportResult]
    timeseries: list[ArmSeries]
    segments: list[SegmentComparison] | UnsetType


def _comparison(stats: Arms, arms: Sequence[str], weights: Sequence[float], query: Query) -> _Comparison:
    segments: list[SegmentComparison] | UnsetType = UNSET
    if query.segments:
        segments = [
            SegmentComparison(
                segment=seg,
                arms=[_arm_stats(stats, arm, seg, query.metrics) for arm in arms],
                results=_results(stats, arms, seg, query.metrics),
            )
            for seg in stats.segments()
        ]
    return _Comparison(
        srm=_srm(stats, arms, weights),
        arms=[_arm_stats(stats, arm, ALL, query.metrics) for arm in arms],
        results=_results(stats, arms, ALL, query.metrics),
        timeseries=_timeseries(stats, arms),
        segments=segments,
    )


def generated_at() -> datetime:
    """The clock to the second, in UTC (encoded as `edge.core.shapes.stamp` writes it)."""
    return datetime.now(UTC).replace(microsecond=0)


def experiment_report(
    config: ExperimentsConfig, key: str, partitions: Sequence[Mapping[str, str]], query: Query = Query()
) -> ExperimentReport:
    """The report of one configured experiment; its first arm is the baseline (control)."""
    experiment = next((e for e in config.experiments if e.key == key), None)
    if experiment is None:
        raise NotFound(f"no experiment {key!r} in the loaded config", "key")
    stats = parse_arms(merged(partitions))
    arms = [arm.key for arm in experiment.arms]
    compared = _comparison(stats, arms, [arm.weight for arm in experiment.arms], query)
    return ExperimentReport(
        experiment=key,
        generated_at=generated_at(),
        conversion_window_hours=experiment.window_hours,
        weights={arm.key: arm.weight for arm in experiment.arms},
        srm=compared.srm,
        arms=compared.arms,
        results=compared.results,
        timeseries=compared.timeseries,
        segments=compared.segments,
    )


def _decision_table(da: Mapping[str, float]) -> Attribution:
    """Decision-level attribution: per variant, reason, slot and offer, what it showed and earned."""
    rows: dict[str, dict[str, dict[str, float]]] = {dim: {} for dim in DECISION_DIMENSIONS}
    unattributed: dict[str, float] = {}
    for name, value in da.items():
        parts = name.split("|")
        if parts[0] == "unattributed" and len(parts) == 2:
            unattributed[parts[1]] = value
        elif parts[0] in rows and len(parts) == 3 and parts[2] in DECISION_COUNTS:
            rows[parts[0]].setdefault(parts[1], {})[parts[2]] = value
    by_length = {int(n.split("|")[1]): v for n, v in da.items() if n.startswith("slots|") and n.endswith("|decisions")}
    for slot in range(1, max(by_length, default=0) + 1):  # slot i was shown by every decision with >= i products
        rows["slot"].setdefault(str(slot), {})["shown"] = sum(v for n, v in by_length.items() if n >= slot)
    table: dict[str, list[AttributionRow]] = {}
    for dim, values in rows.items():
        entries = [_attribution_row(label, counts) for label, counts in values.items()]
        order = (lambda e: int(e.key)) if dim == "slot" else (lambda e: -float(e.shown))
        table[dim] = sorted(entries, key=order)
    return Attribution(
        variant=table["variant"],
        reason=table["reason"],
        slot=table["slot"],
        offer=table["offer"],
        unattributed=Unattributed(
            click=int(unattributed.get("click", 0.0)),
            add_to_cart=int(unattributed.get("add_to_cart", 0.0)),
            purchase=int(unattributed.get("purchase", 0.0)),
            revenue=round(unattributed.get("revenue", 0.0), 2),
        ),
    )


def _attribution_row(label: str, counts: Mapping[str, float]) -> AttributionRow:
    """Counts are integers; revenue keeps cents."""
    shown = counts.get("shown", 0.0)
    return AttributionRow(
        key=label,
        shown=int(shown),
        click=int(counts.get("click", 0.0)),
        add_to_cart=int(counts.get("add_to_cart", 0.0)),
        purchase=int(counts.get("purchase", 0.0)),
        revenue=round(counts.get("revenue", 0.0), 2),
        redemption=int(counts.get("redemption", 0.0)),
        click_rate=_round(counts.get("click", 0.0) / shown) if shown else None,
    )


def personalization_report(
    config: ExperimentsConfig,
    holdout: Sequence[Mapping[str, str]],
    offers: Mapping[str, Sequence[Mapping[str, str]]],
    decisions: Sequence[Mapping[str, str]],
    query: Query = Query(),
) -> PersonalizationReport:
    """Holdout against everyone else (overall and per segment), offers, and decision-level attribution."""
    stats = parse_arms(merged(holdout))
    arms = list(HOLDOUT_ARMS)
    pct = config.holdout.percent
    compared = _comparison(stats, arms, [pct, 100 - pct] if pct > 0 else [1.0, 1.0], query)
    control = stats.metric(HOLDOUT_ARMS[0], ALL, "revenue")
    treated = stats.metric(HOLDOUT_ARMS[1], ALL, "revenue")
    c = compare(control, treated, "mean")
    scale = control.mean * treated.n
    da = merged(decisions)
    return PersonalizationReport(
        generated_at=generated_at(),
        holdout=config.holdout,
        baseline=HOLDOUT_ARMS[0],
        srm=compared.srm,
        arms=compared.arms,
        results=compared.results,
        timeseries=compared.timeseries,
        segments=compared.segments,
        incremental_revenue=IncrementalRevenue(
            value=_round((treated.mean - control.mean) * treated.n, 2) if control.n else None,
            ci=None if c.ci is None else [_round(c.ci[0] * scale, 2), _round(c.ci[1] * scale, 2)],
        ),
        offers=[_offer(code, parse_arms(merged(parts)), da, control) for code, parts in sorted(offers.items())],
        attribution=_decision_table(da),
    )


def _offer(code: str, stats: Arms, da: Mapping[str, float], holdout_revenue: Moments) -> OfferResult:
    """One offer: units shown, redemption rate, discount given, incremental revenue against the holdout."""
    units = stats.units.get((OFFER_ARM, ALL), 0)
    revenue = stats.metric(OFFER_ARM, ALL, "revenue")
    redeemers = stats.metric(OFFER_ARM, ALL, "redemption")
    pct = da.get(f"offer|{code}|pct", 0.0)
    redeemed_revenue = da.get(f"redeemed|{code}|revenue", 0.0)
    discount = redeemed_revenue * pct / (100.0 - pct) if 0 < pct < 100 else 0.0
    incremental = (revenue.mean - holdout_revenue.mean) * units if holdout_revenue.n else None
    return OfferResult(
        code=code,
        discount_pct=pct,
        shown=int(da.get(f"offer|{code}|shown", 0)),
        units=units,
        redemptions=int(da.get(f"redeemed|{code}|count", 0)),
        redemption_rate=_round(redeemers.mean),
        redeemed_revenue=_round(redeemed_revenue, 2),
        discount_given=_round(discount, 2),
        revenue_per_unit=_round(revenue.mean),
        incremental_revenue=_round(incremental, 2),
    )


# --- the I/O shell --------------------------------------------------------------------------------


async def load_experiment_report(
    reader: AggregateReader, config: ExperimentsConfig, key: str, query: Query = Query()
) -> ExperimentReport:
    if not any(e.key == key for e in config.experiments):
        raise NotFound(f"no experiment {key!r} in the loaded config", "key")
    return experiment_report(config, key, await reader.read_aggregate(f"xa:{key}"), query)


async def load_personalization_report(
    reader: AggregateReader, config: ExperimentsConfig, query: Query = Query()
) -> PersonalizationReport:
    decisions = await reader.read_aggregate("da")
    codes = sorted({name.split("|")[1] for part in decisions for name in part if name.startswith("offer|")})
    offers = {code: await reader.read_aggregate(f"xa:{OFFER_TRACK}{code}") for code in codes}
    holdout = await reader.read_aggregate(f"xa:{HOLDOUT_TRACK}")
    return personalization_report(config, holdout, offers, decisions, query)
