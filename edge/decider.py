"""Decider: the I/O shell around a decision (edge/core/decide.py is the pure part).

The I/O is one `store.fetch` under the request's deadline (profile, session and offer counters in
one round trip; a failure or timeout degrades to a non-personalized answer) and, off the response
path, the writes a decision causes: the offer counter and the exposure log (buffered and written in
batches, `edge.store.write_behind`), and the promotion of a session that just logged in.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

from edge.core.attribution import Enrolled, ShownCounts, decision_attribution
from edge.core.decide import Engine, consented, decide_from_snapshot, exposures_of, offer_shown
from edge.core.exposures import exposure_program
from edge.core.requests import DecideRequest
from edge.core.sessions import SessionPolicy
from edge.core.snapshot import EMPTY, Snapshot
from edge.core.writes import Group
from edge.errors import DependencyError
from edge.settings import Settings
from edge.store.base import ProfileStore, promote_session
from edge.store.write_behind import WriteBehind

PROMOTED_MEMORY = 10_000  # (user, session) pairs a worker remembers having tried to promote
BACKGROUND_TIMEOUT_S = 1.0  # bound of a write off the response path (counter, exposures, promotion)


class Decider:
    """Runs decisions against a store; keeps the background writes it started alive."""

    def __init__(
        self,
        store: ProfileStore,
        deadline_s: float,
        clock: Callable[[], datetime] | None = None,
        *,
        sessions: SessionPolicy | None = None,
        exposures_maxlen: int = 200_000,
    ) -> None:
        self.store = store
        self.deadline_s = deadline_s
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sessions = sessions or SessionPolicy()
        self.exposures_maxlen = exposures_maxlen
        self.background_timeout_s = max(BACKGROUND_TIMEOUT_S, deadline_s * 4)
        self.writes = WriteBehind(store, self.background_timeout_s)
        self._background: set[asyncio.Task[None]] = set()
        self._promoted: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.enrolled = Enrolled()  # attribution: units already enrolled by this worker
        self.shown = ShownCounts()  # attribution: impressions, written in batches

    @classmethod
    def from_settings(cls, store: ProfileStore, settings: Settings) -> Decider:
        return cls(
            store,
            settings.deadline_ms / 1000.0,
            sessions=settings.session_policy(),
            exposures_maxlen=settings.exposures_maxlen,
        )

    async def _fetch(self, request: DecideRequest, day: str) -> tuple[Snapshot, str | None]:
        try:
            async with asyncio.timeout(self.deadline_s):
                return await self.store.fetch(request.user_id, request.session_id, day), None
        except TimeoutError:
            return EMPTY, "store timeout"
        except DependencyError as exc:
            return EMPTY, exc.message

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` off the response path, bounded in time; a failure only loses that write."""

        async def run() -> None:
            try:
                async with asyncio.timeout(self.background_timeout_s):
                    await work
            except (TimeoutError, DependencyError):
                pass  # the anonymous part stays where it is and expires on its own

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _promote(self, user_id: str, session_id: str) -> None:
        """Once per worker and pair: bring the anonymous part of a session that logged in to the user's slot."""
        pair = (user_id, session_id)
        if pair in self._promoted:
            return
        self._promoted[pair] = None
        if len(self._promoted) > PROMOTED_MEMORY:
            self._promoted.popitem(last=False)
        self._spawn(promote_session(self.store, user_id, session_id, self.sessions))

    async def drain(self) -> None:
        """Wait for the background writes started so far (erasure runs after them)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.writes.drain()

    async def flush_shown(self) -> None:
        """Write this worker's batched impressions now, and everything before them (a report reads next)."""
        if self.shown.pending:
            self.writes.add(self.shown.take())
        await self.drain()

    async def decide(
        self, engine: Engine, request: DecideRequest, forced_arms: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The contract's decision for one request."""
        started = time.perf_counter()
        now = request.now or self.clock()
        day = now.strftime("%Y%m%d")
        if request.consent is False:
            snapshot, failure = EMPTY, None  # no profile read at all
        else:
            snapshot, failure = await self._fetch(request, day)
        fetched = time.perf_counter()
        decided = decide_from_snapshot(engine, request, snapshot, now, failure, forced_arms)
        body, arms = decided.body, decided.arms
        if decided.offer_code is not None:
            self.writes.add(offer_shown(request.unit_key, day, decided.offer_code))
        if decided.profile_ops and request.user_id and failure is None:
            self.writes.add((Group(request.unit_key, tuple(decided.profile_ops)),))
        if failure is None and request.user_id and snapshot.session is None and consented(request, snapshot):
            self._promote(request.user_id, request.session_id)
        if arms:
            exposures = exposures_of(engine.experiments, request, arms, body["decision_id"], now)
            self.writes.add(exposure_program(request.unit_key, exposures, self.exposures_maxlen))
        if request.consent is not False:  # attribution (edge/core/attribution.py): enrolments, the decision record
            forced = bool(forced_arms)
            attribution = decision_attribution(
                engine.experiments, request.unit_key, body, arms, decided.holdout, forced, now, self.enrolled
            )
            if attribution:  # a repeat visitor's decision enrols nowhere new
                self.writes.add(attribution)
            self.shown.add(body)
            if self.shown.due():
                self.writes.add(self.shown.take())
        done = time.perf_counter()
        body["took_ms"] = round((done - started) * 1000, 3)
        if request.debug:
            body["explain"]["timings_ms"] = {
                "fetch": round((fetched - started) * 1000, 3),
                "decide": round((done - fetched) * 1000, 3),
            }
        return body
