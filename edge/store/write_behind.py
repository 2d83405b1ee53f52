"""Background: the writes a decision causes, buffered and sent in batches off the response path.

A decision only appends its groups (offer counter, exposure records) to a list; one task per
event-loop turn sends what has gathered as one write program (one script per partition in a
cluster), at most `batch` groups per call. A batch that cannot be written in time is dropped and
counted: the decisions it describes were already answered, and a lost counter only lets one more
offer through.
"""

from __future__ import annotations

import asyncio

from edge.core.writes import Group, Program
from edge.errors import DependencyError
from edge.store.base import ProfileStore


class WriteBehind:
    """Groups to write, one background sender; `add` never waits."""

    def __init__(self, store: ProfileStore, timeout_s: float, max_pending: int = 20_000, batch: int = 500) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.batch = batch
        self.written = 0
        self.dropped = 0
        self._pending: list[Group] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Groups waiting to be sent."""
        return len(self._pending)

    def add(self, program: Program) -> None:
        """Queue `program`'s groups (dropped, and counted, when too much is already waiting)."""
        if len(self._pending) + len(program) > self.max_pending:
            self.dropped += len(program)
            return
        self._pending.extend(program)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        try:
            await asyncio.sleep(0)  # the decisions of this loop turn join the batch
            while self._pending:
                batch, self._pending = self._pending[: self.batch], self._pending[self.batch :]
                try:
                    async with asyncio.timeout(self.timeout_s):
                        await self.store.apply(tuple(batch))
                    self.written += len(batch)
                except (TimeoutError, DependencyError):
                    self.dropped += len(batch)
        finally:
            self._task = None

    async def drain(self) -> None:
        """Wait until everything added so far was written (or dropped)."""
        while self._task is not None:
            await asyncio.shield(self._task)
