"""Exposures: which experiment arm each decision showed, logged off the response path for analysis.

Every decision that enrols its unit in an experiment adds one record per arm: experiment, arm,
bucket, which id was hashed (`unit`), the ids, the decision time and the decision id. QA-forced
arms and the global holdout are not exposures (the holdout is recomputable from the unit id).
The records go to the exposure stream of the unit's partition (in the embedded store, an
in-process ring buffer) through the decider's write-behind buffer (`edge.store.write_behind`), so a
decision adds no round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge.core.writes import LINKS_TTL_S, Group, Op, Program


@dataclass(frozen=True, slots=True)
class Exposure:
    experiment: str
    arm: str
    bucket: float
    unit: str  # "user_id" or "session_id": the id the experiment hashed
    session_id: str
    user_id: str | None
    decision_id: str
    ts: str

    def fields(self) -> tuple[str, ...]:
        """The stream entry."""
        ids = ("user_id", self.user_id) if self.user_id else ()
        return (
            "experiment", self.experiment, "arm", self.arm, "bucket", repr(self.bucket), "unit", self.unit,
            "session_id", self.session_id, *ids, "decision_id", self.decision_id, "ts", self.ts,
        )  # fmt: skip


def exposure_program(unit: str, exposures: Sequence[Exposure], maxlen: int) -> Program:
    """The records of one decision of `unit`, for the exposure stream of the unit's partition.

    A user's decision also lists its session among the user's `links`: erasing the user then
    erases what that session recorded before the login (its anonymous exposures too).
    """
    ops = [Op("X", "@exposures", (maxlen, *e.fields())) for e in exposures]
    sessions = sorted({e.session_id for e in exposures if e.user_id})
    if sessions:
        ops += [*(Op("SA", "links", (s,)) for s in sessions), Op("E", "links", (LINKS_TTL_S,))]
    return (Group(unit, tuple(ops)),)
