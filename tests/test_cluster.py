"""Redis Cluster: a real three-master cluster started here; one decision is one round trip on one shard."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from edge.cli import load
from edge.http.app import create_app
from edge.settings import Settings
from edge.store.redis_store import RedisStore
from tests.conftest import AUTH, NOW, free_port, settle


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free and valid too."""
    while True:
        port = free_port()
        if port < 55000:
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


class Cluster:
    """Three cluster-enabled redis-servers on free ports, joined with `redis-cli --cluster create`."""

    def __init__(self, tmp: Path) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            pytest.fail("redis-server and redis-cli are needed (apt-get install redis-server)")
        self.ports: list[int] = []
        while len(self.ports) < 3:
            port = cluster_port()
            if port not in self.ports:
                self.ports.append(port)
        self.processes: list[subprocess.Popen[bytes]] = []
        for port in self.ports:
            folder = tmp / str(port)
            folder.mkdir()
            command = [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                       "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000", "--save", "",
                       "--appendonly", "no", "--dir", str(folder)]  # fmt: skip
            self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.wait(lambda node: node.ping())
        created = subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-replicas", "0",
             "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if created.returncode != 0:
            self.stop()
            pytest.fail(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
        self.wait(lambda node: node.cluster("info")["cluster_state"] == "ok")

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def nodes(self) -> list[redis.Redis]:
        return [redis.Redis(port=p, socket_timeout=2) for p in self.ports]

    def wait(self, ready: Any, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        for node in self.nodes():
            while True:
                try:
                    if ready(node):
                        break
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail("the test cluster did not come up")
                time.sleep(0.05)
            node.close()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)
        self.processes = []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = Cluster(tmp_path_factory.mktemp("cluster"))
    yield started
    started.stop()


@pytest.fixture()
def cluster_client(cluster: Cluster, settings: Settings) -> Iterator[TestClient]:
    # a generous deadline: these tests check where keys live; a first connection to a node on a busy
    # test machine can take longer than the 50 ms production deadline and would degrade the decision
    cluster_settings = dataclasses.replace(settings, redis_url=cluster.url, redis_prefix="edge", deadline_ms=2000)
    assert load(cluster_settings, cluster.url) == 0
    with TestClient(create_app(cluster_settings)) as client:
        yield client


BOOKKEEPING = {"info", "config|resetstat", "cluster|slots", "cluster|shards", "ping", "command", "hello",
               "client|setinfo"}  # fmt: skip


def commands_by_node(cluster: Cluster) -> list[dict[str, int]]:
    """Calls per command on each node since the last `CONFIG RESETSTAT` (bookkeeping commands left out)."""
    counts = []
    for node in cluster.nodes():
        stats = node.info("commandstats")
        counts.append({
            name.removeprefix("cmdstat_"): int(value["calls"])
            for name, value in stats.items()
            if name.removeprefix("cmdstat_") not in BOOKKEEPING
        })  # fmt: skip
        node.close()
    return counts


def reset_stats(cluster: Cluster) -> None:
    for node in cluster.nodes():
        node.config_resetstat()
        node.close()


def test_one_decision_is_one_round_trip_on_one_shard(cluster_client: TestClient, cluster: Cluster) -> None:
    user = "20003"
    assert cluster_client.post("/v1/decide", json={"session_id": "s-warm", "now": NOW}).status_code == 200
    events = [{"type": "view", "session_id": "s-one", "user_id": user, "product_id": f"SYN1{i:04d}"} for i in range(3)]
    assert cluster_client.post("/v1/events", json={"events": events}).status_code == 202
    settle(cluster_client)
    reset_stats(cluster)
    body = {"session_id": "s-one", "user_id": user, "now": NOW, "consent": {"personalization": True}, "debug": True}
    result = cluster_client.post("/v1/decide", json=body, headers=AUTH).json()
    settle(cluster_client)
    assert result["degraded"] is False and result["explain"]["signals"]["viewed"] == 3
    busy = [counts for counts in commands_by_node(cluster) if counts]
    assert len(busy) == 1, busy  # profile, session, counters: one shard
    assert busy[0]["hgetall"] == 3  # ... in one read script; the offer counter is written after, on the same shard


def test_events_across_shards_and_login_promotion(cluster_client: TestClient, catalog: dict[str, Any]) -> None:
    store: RedisStore = cluster_client.app_state["runtime"].store
    users = [f"cu-{i}" for i in range(12)]  # spread over the partitions, hence over the three masters
    shards = {store.key(f"u={u}", "profile") for u in users}
    purchases = [{"type": "purchase", "user_id": u, "product_id": "SYN10001", "quantity": 1, "price": 15.0}
                 for u in users]  # fmt: skip
    assert cluster_client.post("/v1/events", json={"events": purchases}).json() == {"accepted": 12}
    for user in users:
        found = cluster_client.get(f"/v1/profiles/{user}", headers=AUTH).json()
        assert (found["points"], found["orders"]) == (15, 1)
    assert len(shards) == 12

    viewed = catalog["by_category"]["candles"][:3]
    anonymous = [{"type": "view", "session_id": "s-cluster-login", "product_id": p} for p in viewed]
    assert cluster_client.post("/v1/events", json={"events": anonymous}).status_code == 202
    login = {"type": "search", "session_id": "s-cluster-login", "user_id": "cu-0", "query": "candle"}
    assert cluster_client.post("/v1/events", json={"events": [login]}).status_code == 202
    body = {"session_id": "s-cluster-login", "user_id": "cu-0", "now": NOW, "debug": True}
    assert cluster_client.post("/v1/decide", json=body, headers=AUTH).json()["explain"]["signals"]["viewed"] == 3


def test_erasure_in_a_cluster(cluster_client: TestClient, cluster: Cluster) -> None:
    user, session = "cu-erase-5b1e", "s-cu-erase-0c9a"
    assert cluster_client.put(f"/v1/profiles/{user}", json={"first_name": "Ida"}, headers=AUTH).status_code == 200
    events = [{"type": "view", "session_id": session, "product_id": "SYN10002"},
              {"type": "purchase", "session_id": session, "user_id": user, "product_id": "SYN10003",
               "quantity": 1, "price": 5.0}]  # fmt: skip
    assert cluster_client.post("/v1/events", json={"events": events}).status_code == 202
    cluster_client.post("/v1/decide", json={"session_id": session, "user_id": user, "now": NOW})
    assert cluster_client.delete(f"/v1/profiles/{user}", headers=AUTH).status_code == 204
    for node in cluster.nodes():
        for key in node.scan_iter(count=1000):
            assert user.encode() not in key and session.encode() not in key
            if node.type(key) == b"stream":
                for _, fields in node.xrange(key):
                    assert user.encode() not in fields.values() and session.encode() not in fields.values()
        node.close()
    assert cluster_client.get(f"/v1/profiles/{user}", headers=AUTH).status_code == 404
