"""`edge report`: the experiment and personalization reports of a running Edge, printed as tables.

It reads the same JSON as `GET /v1/reports/...` from the service (`--url`, default
http://127.0.0.1:8000; the admin token from `--token` or EDGE_ADMIN_TOKEN), so what it prints is
what the HTML report and the API show, whichever store the service uses; it reads the answers as
the declared Structs (edge/core/answers.py). `--json FILE` also writes the reports it read.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import orjson

from edge.core.answers import ArmStats, ExperimentReport, PersonalizationReport, ReportResult, Srm
from edge.http.report_html import METRIC_LABELS

T = TypeVar("T")


def add_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="print experiment results and the ROI of personalization")
    report.add_argument("--experiment", metavar="KEY", help="only this experiment (default: all, and personalization)")
    report.add_argument("--json", type=Path, metavar="FILE", help="also write the reports as JSON")
    report.add_argument("--url", default="http://127.0.0.1:8000", help="the running service (default %(default)s)")
    report.add_argument("--token", help="admin token (default: EDGE_ADMIN_TOKEN)")


def _get(base: str, path: str, token: str) -> bytes:
    request = urllib.request.Request(base.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise SystemExit(f"edge report: {path} answered {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"edge report: cannot reach {base}: {exc.reason}") from None


def _decoded(raw: bytes, shape: type[T]) -> T:
    """A report as its declared Struct; an answer of another shape (another Edge version) says so."""
    try:
        return msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"edge report: the service answered a {shape.__name__} this edge cannot read: {exc}") from None


def _cell(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value * 100:+.2f}%"
    if kind == "rate":
        return f"{value * 100:.2f}%"
    if isinstance(value, float):
        return f"{value:,.4f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows
    ]
    return "\n".join(lines)


def _results(results: Sequence[ReportResult]) -> str:
    rows = [
        [
            METRIC_LABELS.get(r.metric, r.metric), r.arm, _cell(r.baseline_mean), _cell(r.mean),
            _cell(r.uplift, "pct"),
            "-" if r.ci is None else f"[{_cell(r.ci[0], 'pct')}, {_cell(r.ci[1], 'pct')}]",
            _cell(r.p_value), _cell(r.chance_to_win),
        ]
        for r in results
    ]  # fmt: skip
    return table(["metric", "arm", "baseline", "mean", "uplift", "95% ci", "p-value", "chance to win"], rows)


def _arms(arms: Sequence[ArmStats]) -> str:
    return table(["arm", "units"], [[a.key, _cell(a.units)] for a in arms])


def _srm(srm: Srm) -> str:
    state = "OK" if srm.ok else "MISMATCH: do not trust these results"
    return f"sample ratio: {state} (p = {_cell(srm.p_value)})"


def experiment_text(report: ExperimentReport) -> str:
    return "\n".join([
        f"== experiment {report.experiment} (window {report.conversion_window_hours:g} h)",
        _srm(report.srm), "", _arms(report.arms), "", _results(report.results), "",
    ])  # fmt: skip


def personalization_text(report: PersonalizationReport) -> str:
    lines = [f"== personalization vs holdout ({report.holdout.percent:g} % held out)", _srm(report.srm), ""]
    lines += [_arms(report.arms), "", _results(report.results), ""]
    inc = report.incremental_revenue
    lines.append(f"incremental revenue: {_cell(inc.value)} (95% ci {inc.ci})")
    for segment in [] if isinstance(report.segments, msgspec.UnsetType) else report.segments:
        lines += ["", f"-- segment {segment.segment}", _results(segment.results)]
    offers = [[o.code, _cell(o.units), _cell(o.redemptions), _cell(o.redemption_rate, "rate"),
               _cell(o.discount_given), _cell(o.incremental_revenue)] for o in report.offers]  # fmt: skip
    lines += ["", "-- offers", table(["code", "units", "redemptions", "rate", "discount given", "incremental"], offers)]
    attribution = report.attribution
    by = {"variant": attribution.variant, "reason": attribution.reason, "slot": attribution.slot,
          "offer": attribution.offer}  # fmt: skip
    rows = [[dim, r.key, _cell(r.shown), _cell(r.click), _cell(r.click_rate, "rate"),
             _cell(r.add_to_cart), _cell(r.purchase), _cell(r.revenue)]
            for dim, entries in by.items() for r in entries]  # fmt: skip
    lines += ["", "-- decisions", table(["by", "key", "shown", "clicks", "ctr", "carts", "purchases", "revenue"], rows)]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, admin_token: str | None) -> int:
    token = args.token or admin_token
    if not token:
        print("edge report: needs the admin token (--token or EDGE_ADMIN_TOKEN)", file=sys.stderr)
        return 2
    if args.experiment:
        keys = [args.experiment]
    else:
        keys = [e["key"] for e in orjson.loads(_get(args.url, "/v1/experiments", token))["experiments"]]
    found: dict[str, Any] = {"experiments": []}
    for key in keys:
        raw = _get(args.url, f"/v1/reports/experiments/{urllib.parse.quote(key)}", token)
        found["experiments"].append(orjson.loads(raw))
        print(experiment_text(_decoded(raw, ExperimentReport)))
    if not args.experiment:
        raw = _get(args.url, "/v1/reports/personalization", token)
        found["personalization"] = orjson.loads(raw)
        print(personalization_text(_decoded(raw, PersonalizationReport)))
    if args.json:
        args.json.write_bytes(orjson.dumps(found, option=orjson.OPT_INDENT_2))
    return 0
