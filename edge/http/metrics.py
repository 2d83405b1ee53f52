"""Metrics: a few per-process counters and a latency histogram, rendered as Prometheus text."""

from __future__ import annotations

import bisect
from collections import Counter

BUCKETS_MS = (0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0)


class Metrics:
    """Cheap to update on the hot path (plain dict increments, no locks: one event loop per process)."""

    def __init__(self) -> None:
        self.decisions: Counter[tuple[str, bool, bool]] = Counter()  # (segment, personalized, degraded)
        self.errors: Counter[tuple[str, int]] = Counter()  # (code, status)
        self.offers: Counter[str] = Counter()
        self.reloads: Counter[tuple[str, str]] = Counter()  # (trigger, outcome)
        self.latency_buckets = [0] * (len(BUCKETS_MS) + 1)
        self.latency_sum_ms = 0.0
        self.latency_count = 0

    def decision(self, segment: str, personalized: bool, degraded: bool, took_ms: float) -> None:
        self.decisions[(segment, personalized, degraded)] += 1
        self.latency_buckets[bisect.bisect_left(BUCKETS_MS, took_ms)] += 1
        self.latency_sum_ms += took_ms
        self.latency_count += 1

    def error(self, code: str, status: int) -> None:
        self.errors[(code, status)] += 1

    def reload(self, trigger: str, ok: bool) -> None:
        """One reload attempt (`trigger` admin or watch); a refused swap counts as failed."""
        self.reloads[(trigger, "ok" if ok else "failed")] += 1

    def render(self, info: dict[str, str]) -> str:
        """Prometheus text exposition format."""
        lines = ["# HELP edge_info Build and config versions.", "# TYPE edge_info gauge"]
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(info.items()))
        lines.append(f"edge_info{{{labels}}} 1")
        lines += ["# HELP edge_decisions_total Decisions answered.", "# TYPE edge_decisions_total counter"]
        for (segment, personalized, degraded), n in sorted(self.decisions.items()):
            lines.append(
                f'edge_decisions_total{{segment="{segment}",personalized="{str(personalized).lower()}",'
                f'degraded="{str(degraded).lower()}"}} {n}'
            )
        lines += ["# HELP edge_errors_total Requests answered with an error.", "# TYPE edge_errors_total counter"]
        for (code, status), n in sorted(self.errors.items()):
            lines.append(f'edge_errors_total{{code="{code}",status="{status}"}} {n}')
        lines += ["# HELP edge_reloads_total Reload attempts by outcome.", "# TYPE edge_reloads_total counter"]
        for (trigger, outcome), n in sorted(self.reloads.items()):
            lines.append(f'edge_reloads_total{{trigger="{trigger}",outcome="{outcome}"}} {n}')
        lines += [
            "# HELP edge_decision_duration_ms Time to decide, in milliseconds.",
            "# TYPE edge_decision_duration_ms histogram",
        ]
        cumulative = 0
        for bound, n in zip((*BUCKETS_MS, float("inf")), self.latency_buckets, strict=True):
            cumulative += n
            le = "+Inf" if bound == float("inf") else f"{bound}"
            lines.append(f'edge_decision_duration_ms_bucket{{le="{le}"}} {cumulative}')
        lines.append(f"edge_decision_duration_ms_sum {self.latency_sum_ms:.3f}")
        lines.append(f"edge_decision_duration_ms_count {self.latency_count}")
        return "\n".join(lines) + "\n"
