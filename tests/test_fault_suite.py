"""The fault suite (`loadtest/fault_suite.py`): Redis killed, paused and slept under load, two workers.

A real `edge serve --workers 2` over a private redis-server with `appendfsync always`; concurrent
decisions and event calls (every event with an `id`, a 503'd call resent with the same ids). After
the three faults: no 5xx (other than the contract's 503 on events), every acknowledged event stored
exactly once, and every buyer's orders and spend grown by exactly what was acknowledged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loadtest.fault_suite import run_suite

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(90)]  # about 15 s; every wait has a deadline


def test_redis_killed_paused_and_slept_under_load_loses_and_doubles_nothing(
    artifacts_dir: Path, tmp_path: Path
) -> None:
    if shutil.which("redis-server") is None:
        pytest.fail("the fault suite needs redis-server (apt-get install redis-server)")
    report = run_suite(artifacts_dir, tmp_path, decisions=16, senders=8)
    print("\n".join(report.lines()))
    assert [f.name for f in report.faults] == ["SIGKILL, restart from AOF", "SIGSTOP ... SIGCONT", "DEBUG SLEEP 2"]
    assert report.decisions.keys() == {200}, report.decisions  # every decision answered, degraded at worst
    assert report.event_calls.keys() == {202, 503}, report.event_calls  # the faults were felt: 503s, then 202s
    assert report.retried_calls > 0 and report.unacknowledged == 0
    assert report.acknowledged > 0 and report.lost == []  # acknowledged, then Redis SIGKILLed: still there
    assert report.duplicated == [] and report.unexpected == []  # a retried call's ids are stored once
    assert report.orders_expected > 0 and report.buyers_off == []
    assert (report.orders_counted, report.spend_counted) == (report.orders_expected, report.spend_expected)
    assert report.log_errors == []
    assert all(f.recovered_s < 5 for f in report.faults)
    assert report.ok
