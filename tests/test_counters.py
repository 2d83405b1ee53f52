"""Every counter is exported in /metrics: write-behind written/dropped/pending, store failures, offers."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from starlette.testclient import TestClient

from edge.http.app import create_app
from edge.settings import Settings
from tests.conftest import NOW, PrivateRedis, settle
from tests.test_faults import fault_settings


def value(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_write_behind_and_store_failures_are_exported(
    settings: Settings, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    experiments = tmp_path / "experiments.yaml"
    experiments.write_text("experiments:\n  - key: all\n    arms: [{key: a, weight: 0.5}, {key: b, weight: 0.5}]\n")
    app_settings = dataclasses.replace(fault_settings(settings, private_redis), experiments=experiments)
    with TestClient(create_app(app_settings)) as client:
        assert client.post("/v1/decide", json={"session_id": "s-count-0", "now": NOW}).status_code == 200
        settle(client)
        before = client.get("/metrics").text
        assert value(before, "edge_write_behind_written_total") >= 1  # the exposure records
        assert value(before, "edge_write_behind_dropped_total") == 0
        assert value(before, "edge_store_failures_total") == 0
        private_redis.stop()
        for n in range(3):
            assert client.post("/v1/decide", json={"session_id": f"s-count-{n}", "now": NOW}).json()["degraded"]
            settle(client)
        after = client.get("/metrics").text
        assert value(after, "edge_write_behind_dropped_total") >= 3  # each decision's exposures, lost and counted
        assert value(after, "edge_store_failures_total") >= 6  # three reads and three writes
        assert value(after, "edge_write_behind_pending") == 0
        assert "# TYPE edge_unreadable_records_total counter" in after and "# TYPE edge_offers_shown_total" in after
