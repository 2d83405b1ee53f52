"""Heap: keep Python's cyclic garbage collector away from the loaded build.

A loaded build is tens of thousands of tracked objects (catalog, profile records, memo tables) that
live until the next reload, and decisions make no reference cycles (their garbage is freed by
reference counting). Left in the collector's view, every full collection walks all of it: about
100 ms of CPU with the real-data build (measured: 89-107 ms, 40,000 `known` decisions per full
collection), a stall for whichever decisions are in flight.

`settle()` runs once a build is live (`Runtime.open`, and after every reload's swap): it brings
everything frozen before back into view, collects (so a cycle left by loading, or by the previous
build, is freed, not frozen), and freezes what survives (`gc.freeze`). The collector never walks
frozen objects again; reference counting still frees them the moment nothing refers to them, which
is how a replaced build goes (tests/test_heap.py checks that it does). What decisions remember
later (index answers, rows per profile) is kept as tuples of numbers, which the collector stops
tracking at its first look (`edge.core.recommend._search`, `edge.core.derived.Derived.rows`).

The thresholds stay CPython's (700, 10, 10): decisions leave few objects behind (a young collection
every ~270 `known` decisions, 0.25 ms), and a gen0 threshold of 10,000 made each young collection
~5 ms and a middle one ~75 ms of CPU (loadtest/README.md, "Garbage collector pauses").
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass

log = logging.getLogger("edge")


@dataclass(frozen=True, slots=True)
class Settled:
    """What `settle` did: objects frozen, cyclic garbage freed, and how long the collection took."""

    frozen: int
    collected: int
    ms: float


def settle() -> Settled:
    """Collect, then freeze the survivors (the live build) out of the collector's sight."""
    started = time.perf_counter()
    gc.unfreeze()
    collected = gc.collect()
    gc.freeze()
    settled = Settled(gc.get_freeze_count(), collected, (time.perf_counter() - started) * 1e3)
    log.info("heap settled: %d objects frozen, %d collected in %.0f ms", settled.frozen, collected, settled.ms)
    return settled
