# ruff: noqa: E501  (an HTML template: markup lines read better whole)
"""The HTML report (`GET /reports`): the JSON reports rendered for a marketer, plots as inline SVG.

Pure: the report Structs (edge/core/answers.py) in, one self-contained page out (no script, no
stylesheet or font from a network; it renders offline). Per experiment: the sample-ratio banner, cumulative conversion per
arm over time, and each metric's uplift with its 95 % interval; then the holdout's verdict on
personalization, offers and which reasons, slots and variants earned clicks and sales.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from msgspec import UnsetType

from edge.core.answers import (
    ArmSeries,
    ArmStats,
    ExperimentReport,
    Metric,
    PersonalizationReport,
    ReportResult,
    Srm,
)
from edge.core.shapes import stamp

COLOURS = ("#1f6feb", "#d4772c", "#2da44e", "#8250df", "#cf222e", "#57606a")
METRIC_LABELS = {
    "conversion": "Conversion (any purchase)",
    "revenue": "Revenue per unit",
    "add_to_cart": "Add-to-cart rate",
    "click": "Click-through",
    "redemption": "Offer redemption",
}
NONE = "&ndash;"  # shown for a value that is not defined yet
STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1040px;padding:24px;color:#1f2328}
h1{font-size:26px}h2{font-size:21px;margin-top:40px;border-bottom:1px solid #d0d7de;padding-bottom:6px}
h3{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px}td,th{padding:4px 10px;white-space:nowrap;border-bottom:1px solid #eaeef2;text-align:right}td:last-child{white-space:normal}
th:first-child,td:first-child{text-align:left}.banner{padding:10px 14px;border-radius:6px;margin:10px 0}
.ok{background:#dafbe1;border:1px solid #2da44e}.bad{background:#ffebe9;border:1px solid #cf222e}
.win{color:#1a7f37;font-weight:600}.lose{color:#cf222e;font-weight:600}.muted{color:#57606a}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
"""


def _pct(x: float | None, digits: int = 1) -> str:
    return NONE if x is None else f"{x * 100:+.{digits}f} %"


def _num(x: float | None, digits: int = 4) -> str:
    return NONE if x is None else f"{x:,.{digits}f}"


def srm_banner(srm: Srm) -> str:
    if srm.p_value is None:
        return '<div class="banner ok">Sample ratio: no units yet.</div>'
    if srm.ok:
        return f'<div class="banner ok">Sample ratio OK (p = {srm.p_value:.3f}): traffic splits as configured.</div>'
    return (
        f'<div class="banner bad"><b>Sample ratio mismatch</b> (p = {srm.p_value:.2g} &lt; {srm.threshold}): '
        "the arms did not get the traffic share they were configured for. Do not trust these results "
        "until the cause (targeting, caching, redirects, a bug in one arm) is found.</div>"
    )


def conversion_plot(series: Sequence[ArmSeries], width: int = 640, height: int = 240) -> str:
    """Cumulative conversion rate per arm over days, one polyline per arm."""
    points = [
        (s.arm, [(p.date.isoformat(), p.conversion_rate) for p in s.points if p.conversion_rate is not None])
        for s in series
    ]
    days = sorted({day for _, ps in points for day, _ in ps})
    if not days:
        return '<p class="muted">No conversions over time yet.</p>'
    top = max((rate for _, ps in points for _, rate in ps), default=0.0) * 1.15 or 0.01
    left, right, pad_top, bottom = 56, 120, 12, 28
    plot_w, plot_h = width - left - right, height - pad_top - bottom

    def x(day: str) -> float:
        return left + (days.index(day) / max(1, len(days) - 1)) * plot_w

    def y(rate: float) -> float:
        return pad_top + plot_h - rate / top * plot_h

    parts = [f'<svg role="img" aria-label="cumulative conversion per arm" width="{width}" height="{height}">']
    for i in range(5):
        rate = top * i / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(rate):.1f}" y2="{y(rate):.1f}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{left - 6}" y="{y(rate) + 4:.1f}" text-anchor="end">{rate * 100:.1f}%</text>')
    for label_day in (days[0], days[-1]):
        parts.append(f'<text x="{x(label_day):.1f}" y="{height - 8}" text-anchor="middle">{escape(label_day)}</text>')
    for i, (arm, ps) in enumerate(points):
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{x(day):.1f},{y(rate):.1f}" for day, rate in ps)
        if len(ps) == 1:
            parts.append(f'<circle cx="{coords.split(",")[0]}" cy="{coords.split(",")[1]}" r="3" fill="{colour}"/>')
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(
            f'<text x="{left + plot_w + 8}" y="{pad_top + 14 + 16 * i}" style="fill:{colour}">■ {escape(arm)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def uplift_plot(results: Sequence[ReportResult], width: int = 720) -> str:
    """Each arm's relative uplift per metric with its 95 % interval, around a zero line."""
    rows = [(r, r.ci, r.uplift) for r in results if r.ci is not None and r.uplift is not None]
    if not rows:
        return '<p class="muted">Not enough data for intervals yet.</p>'
    span = max(max(abs(ci[0]), abs(ci[1])) for _, ci, _ in rows) * 1.1 or 0.1
    left, right, row_h = 290, 70, 28
    plot_w = width - left - right
    height = row_h * len(rows) + 30

    def x(v: float) -> float:
        return left + (v + span) / (2 * span) * plot_w

    parts = [f'<svg role="img" aria-label="uplift with 95% interval" width="{width}" height="{height}">']
    parts.append(
        f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="4" y2="{height - 22}" stroke="#8c959f" stroke-dasharray="4 3"/>'
    )
    for v in (-span, 0.0, span):
        parts.append(f'<text x="{x(v):.1f}" y="{height - 6}" text-anchor="middle">{v * 100:+.0f}%</text>')
    for i, (r, ci, mid) in enumerate(rows):
        cy = 16 + i * row_h
        lo, hi = ci[0], ci[1]
        colour = "#1a7f37" if lo > 0 else "#cf222e" if hi < 0 else "#57606a"
        label = f"{METRIC_LABELS.get(r.metric, r.metric)} · {r.arm}"
        parts.append(f'<text x="{left - 8}" y="{cy + 4}" text-anchor="end">{escape(label)}</text>')
        parts.append(
            f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{cy}" y2="{cy}" stroke="{colour}" stroke-width="3"/>'
        )
        parts.append(f'<circle cx="{x(mid):.1f}" cy="{cy}" r="5" fill="{colour}"/>')
        parts.append(f'<text x="{left + plot_w + 8}" y="{cy + 4}" style="fill:{colour}">{_pct(mid)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def verdict(result: ReportResult) -> str:
    """One sentence a marketer can act on."""
    chance, ci = result.chance_to_win, result.ci
    if result.error or chance is None or ci is None:
        return f'<span class="muted">not enough data ({escape(result.error or "")})</span>'
    if ci[0] > 0:
        return f'<span class="win">{escape(result.arm)} wins ({chance * 100:.1f} % chance to beat control)</span>'
    if ci[1] < 0:
        return f'<span class="lose">{escape(result.arm)} loses ({chance * 100:.1f} % chance to beat control)</span>'
    return f'<span class="muted">no clear difference yet ({chance * 100:.1f} % chance to beat control)</span>'


def results_table(results: Sequence[ReportResult]) -> str:
    head = "<tr><th>Metric</th><th>Arm</th><th>Baseline</th><th>Arm value</th><th>Uplift</th><th>95 % interval</th><th>p-value</th><th>Verdict</th></tr>"
    rows = []
    for r in results:
        digits = 2 if r.metric == "revenue" else 4
        ci = NONE if r.ci is None else f"{_pct(r.ci[0])} … {_pct(r.ci[1])}"
        rows.append(
            f"<tr><td>{escape(METRIC_LABELS.get(r.metric, r.metric))}</td><td>{escape(r.arm)}</td>"
            f"<td>{_num(r.baseline_mean, digits)}</td><td>{_num(r.mean, digits)}</td><td>{_pct(r.uplift)}</td>"
            f"<td>{ci}</td><td>{_num(r.p_value)}</td><td>{verdict(r)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def arms_table(arms: Sequence[ArmStats]) -> str:
    head = "<tr><th>Arm</th><th>Units</th><th>Conversion</th><th>Revenue / unit</th><th>Add to cart</th><th>Click</th></tr>"
    rows = []
    for a in arms:

        def cell(name: Metric, digits: int = 4, a: ArmStats = a) -> str:
            return _num(a.metrics[name].mean, digits) if name in a.metrics else NONE

        rows.append(
            f"<tr><td>{escape(a.key)}</td><td>{a.units:,}</td><td>{cell('conversion')}</td>"
            f"<td>{cell('revenue', 2)}</td><td>{cell('add_to_cart')}</td><td>{cell('click')}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def experiment_section(report: ExperimentReport) -> str:
    return (
        f'<h2 id="{escape(report.experiment)}">Experiment {escape(report.experiment)}</h2>'
        f'<p class="muted">Conversion window {report.conversion_window_hours:g} h after first exposure; '
        f"baseline: {escape(report.arms[0].key)}.</p>"
        f"{srm_banner(report.srm)}{arms_table(report.arms)}"
        f"<h3>Cumulative conversion per arm</h3>{conversion_plot(report.timeseries)}"
        f"<h3>Uplift against the baseline (95 % interval)</h3>{uplift_plot(report.results)}"
        f"{results_table(report.results)}"
    )


def personalization_section(report: PersonalizationReport) -> str:
    holdout = report.holdout
    if not holdout.percent:
        return "<h2>Personalization</h2><p>No holdout is configured, so the uplift of personalization itself cannot be measured: set <code>holdout.percent</code> in the experiments file.</p>"
    inc = report.incremental_revenue
    inc_text = NONE if inc.value is None else f"{inc.value:,.2f}"
    if inc.ci:
        inc_text += f" (95 % interval {inc.ci[0]:,.2f} … {inc.ci[1]:,.2f})"
    segments = "".join(
        f"<h3>Segment {escape(s.segment)}</h3>{results_table([r for r in s.results if r.metric in ('conversion', 'revenue')])}"
        for s in ([] if isinstance(report.segments, UnsetType) else report.segments)
    )
    offers = "".join(
        f"<tr><td>{escape(o.code)}</td><td>{o.discount_pct:g} %</td><td>{o.units:,}</td><td>{o.redemptions:,}</td>"
        f"<td>{_pct(o.redemption_rate)}</td><td>{_num(o.discount_given, 2)}</td><td>{_num(o.incremental_revenue, 2)}</td></tr>"
        for o in report.offers
    )
    attribution = report.attribution
    reasons = "".join(
        f"<tr><td>{escape(r.key)}</td><td>{r.shown:,.0f}</td><td>{r.click:,.0f}</td><td>{_pct(r.click_rate, 2)}</td>"
        f"<td>{r.add_to_cart:,.0f}</td><td>{r.purchase:,.0f}</td><td>{r.revenue:,.2f}</td></tr>"
        for r in (*attribution.reason, *attribution.variant)
    )
    return (
        f"<h2>Personalization against the holdout</h2>"
        f'<p class="muted">{holdout.percent:g} % of units are held out (no personalization); window {holdout.conversion_window_hours:g} h.</p>'
        f"{srm_banner(report.srm)}{arms_table(report.arms)}"
        f"<h3>Uplift of personalization</h3>{uplift_plot(report.results)}{results_table(report.results)}"
        f"<p><b>Incremental revenue</b> of personalization: {inc_text}</p>"
        f"<h3>Cumulative conversion</h3>{conversion_plot(report.timeseries)}{segments}"
        "<h3>Offers</h3><table><tr><th>Code</th><th>Discount</th><th>Units shown</th><th>Redemptions</th>"
        f"<th>Redemption rate</th><th>Discount given</th><th>Incremental revenue</th></tr>{offers}</table>"
        "<h3>What earned the clicks and sales (by reason, then by variant)</h3><table><tr><th>Reason / variant</th>"
        f"<th>Shown</th><th>Clicks</th><th>Click rate</th><th>Carts</th><th>Purchases</th><th>Revenue</th></tr>{reasons}</table>"
    )


def render(experiments: Sequence[ExperimentReport], personalization: PersonalizationReport) -> str:
    """The whole page."""
    toc = " · ".join(f'<a href="#{escape(r.experiment)}">{escape(r.experiment)}</a>' for r in experiments)
    body = "".join(experiment_section(r) for r in experiments) or "<p>No experiments are configured.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Edge reports</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head><body>'
        f'<h1>Edge: experiment results</h1><p class="muted">Generated {stamp(personalization.generated_at)}. {toc}</p>'
        f"{body}{personalization_section(personalization)}</body></html>"
    )
