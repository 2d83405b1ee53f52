"""Outage: a store outage is logged at warning, rate-limited, and its end at info.

Every failed store call reports here; the first failure logs at once, later ones at most every
`every_s` seconds with how many failed meanwhile, and the first success after failures logs how
long the outage lasted. Counts go to `/metrics` (edge_store_failures_total).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("edge.store")


class Outage:
    def __init__(self, what: str, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.every_s = every_s
        self.clock = clock
        self.since: float | None = None  # when the current outage began
        self.last_log = float("-inf")
        self.unlogged = 0
        self.failures = 0  # total, for /metrics

    def failed(self, exc: BaseException) -> None:
        """One failed call."""
        self.failures += 1
        now = self.clock()
        if self.since is None:
            self.since = now
        if now - self.last_log >= self.every_s:
            extra = f" ({self.unlogged} more failures since the last report)" if self.unlogged else ""
            log.warning("%s unavailable: %s: %s%s", self.what, type(exc).__name__, exc, extra)
            self.last_log, self.unlogged = now, 0
        else:
            self.unlogged += 1

    def ok(self) -> None:
        """A call succeeded: ends an outage (logged once)."""
        if self.since is not None:
            log.info("%s answering again after %.1f s", self.what, self.clock() - self.since)
            self.since, self.unlogged = None, 0
