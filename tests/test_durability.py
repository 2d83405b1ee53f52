"""The strictest durability: AOF fsynced on every write and WAIT for a replica before a 202."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from edge.http.app import create_app
from edge.settings import Settings
from tests.conftest import PrivateRedis, free_port
from tests.test_faults import fault_settings


def replica_of(primary: PrivateRedis, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A redis-server replicating `primary`, once its link is up."""
    port = free_port()
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp), "--replicaof", "127.0.0.1", str(primary.port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_timeout=0.5)
    deadline = time.monotonic() + 15
    while True:
        try:
            if client.info("replication").get("master_link_status") == "up":
                break
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, "replica did not sync"
    client.close()
    return process, port


def ids_in(port: int) -> list[str]:
    reader = redis.Redis(port=port)
    try:
        return sorted(f[b"id"].decode() for k in reader.scan_iter(match="edge:*:events") for _, f in reader.xrange(k))
    finally:
        reader.close()


def event(n: int) -> dict[str, Any]:
    return {"type": "view", "session_id": f"s-durable-{n % 3}", "product_id": "SYN10003", "id": f"ev-{n:03d}"}


def test_acknowledged_events_survive_a_killed_primary(settings: Settings, tmp_path: Path) -> None:
    primary = PrivateRedis(tmp_path / "primary", durable=True)  # appendfsync always
    (tmp_path / "primary").mkdir()
    primary.start()
    (tmp_path / "replica").mkdir()
    replica, replica_port = replica_of(primary, tmp_path / "replica")
    try:
        app_settings = dataclasses.replace(
            fault_settings(settings, primary), redis_wait_replicas=1, events_timeout_ms=1000
        )
        with TestClient(create_app(app_settings)) as client:
            for n in range(20):
                assert client.post("/v1/events", json={"events": [event(n)]}).status_code == 202
            assert ids_in(replica_port) == [f"ev-{n:03d}" for n in range(20)]  # on the replica before the 202
            replica.terminate()
            replica.wait(timeout=10)
            refused = client.post("/v1/events", json={"events": [event(20)]})
            assert refused.status_code == 503 and "replicas" in refused.json()["error"]["message"]
            replica, replica_port = replica_of(primary, tmp_path / "replica")
            until_accepted = time.monotonic() + 10
            while client.post("/v1/events", json={"events": [event(20)]}).status_code != 202:
                assert time.monotonic() < until_accepted
        assert primary.process is not None
        primary.process.kill()  # SIGKILL: no shutdown, no final flush
        primary.process.wait(timeout=10)
        primary.process = None
        primary.start()  # from the append-only file
        assert ids_in(primary.port) == [f"ev-{n:03d}" for n in range(21)]  # every 202 is there, ev-020 once
    finally:
        replica.terminate()
        replica.wait(timeout=10)
        primary.stop()


def test_waiting_for_replicas_is_refused_on_a_cluster(settings: Settings) -> None:
    from edge.errors import ConfigError
    from edge.runtime import Runtime

    cluster = dataclasses.replace(settings, redis_url="redis+cluster://127.0.0.1:1", redis_wait_replicas=1)
    with pytest.raises(ConfigError, match="not a cluster"):
        Runtime.open(cluster)
