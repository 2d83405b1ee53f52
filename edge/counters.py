"""Counters: the process's operational counters beyond `Metrics`, in Prometheus text.

Every counter a component keeps is exported here: the write-behind buffer (written, dropped,
pending), store failures (edge/store/outage.py), unreadable stored records (edge/store/repair.py) and offers
shown (`Metrics.offers`). Appended to `/metrics` by the app.
"""

from __future__ import annotations

from typing import Any

from edge.store import repair


def render(runtime: Any) -> str:
    """Prometheus text for the runtime's components (each counter with HELP and TYPE)."""
    writes = runtime.decider.writes
    outage = getattr(runtime.store, "outage", None)
    rows: list[tuple[str, str, str, list[tuple[str, float]]]] = [
        ("edge_write_behind_written_total", "counter", "Decision side writes (offer counters, exposures) stored.",
         [("", writes.written)]),
        ("edge_write_behind_dropped_total", "counter", "Decision side writes dropped (store down or buffer full).",
         [("", writes.dropped)]),
        ("edge_write_behind_pending", "gauge", "Decision side writes waiting to be sent.", [("", writes.pending)]),
        ("edge_store_failures_total", "counter", "Store calls that failed (Redis unavailable or too slow).",
         [("", outage.failures if outage is not None else 0)]),
        ("edge_unreadable_records_total", "counter", "Stored records found unreadable and ignored.",
         [("", repair.unreadable_count())]),
        ("edge_offers_shown_total", "counter", "Offers shown, by code.",
         [(f'{{code="{code}"}}', n) for code, n in sorted(runtime.metrics.offers.items())]),
    ]  # fmt: skip
    lines: list[str] = []
    for name, kind, help_text, samples in rows:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{labels} {value:g}" for labels, value in samples]
    return "\n".join(lines) + "\n"
