"""Stateless workers over one Redis: real `edge serve` processes see each other's events."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge.cli import load
from edge.settings import Settings
from tests.conftest import ADMIN, NOW, REDIS_URL, free_port, require_redis
from tests.test_serve import post, wait_ready


@contextmanager
def serving(artifacts: Path, prefix: str, workers: int = 1) -> Iterator[str]:
    """`edge serve` on a free port over the test Redis; yields its base URL."""
    port = free_port()
    env = {**os.environ, "EDGE_ARTIFACTS": str(artifacts), "EDGE_BUILD_IF_MISSING": "false",
           "EDGE_REDIS_URL": REDIS_URL, "EDGE_REDIS_PREFIX": prefix, "EDGE_ADMIN_TOKEN": ADMIN,
           "EDGE_LOG_LEVEL": "warning"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "serve", "--port", str(port), "--workers", str(workers)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def admin(method: str, url: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {ADMIN}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
            return response.status, json.loads(body) if body else {}
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_an_event_sent_to_one_worker_is_seen_by_another(
    artifacts_dir: Path, redis_prefix: str, catalog: dict[str, Any], tmp_path: Path
) -> None:
    require_redis().close()
    artifacts_dir = Path(shutil.copytree(artifacts_dir, tmp_path / "artifacts"))  # the erasure's tombstone stays here
    assert load(Settings(artifacts=artifacts_dir, redis_prefix=redis_prefix), REDIS_URL) == 0
    viewed = catalog["by_category"]["stationery"][:3]
    user = catalog["artifacts"].profiles[0]["user_id"]
    with serving(artifacts_dir, redis_prefix) as one, serving(artifacts_dir, redis_prefix) as two:
        events = [{"type": "view", "session_id": "s-workers", "user_id": user, "product_id": p} for p in viewed]
        assert post(f"{one}/v1/events", {"events": events}) == (202, {"accepted": 3})
        status, seen = post(f"{two}/v1/decide", {"session_id": "s-workers", "user_id": user, "now": NOW,
                                                 "debug": True}, {"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
        assert status == 200 and seen["explain"]["signals"]["viewed"] == 3
        assert [p["reason"] for p in seen["products"]].count("similar_to_viewed") >= 3

        points = admin("GET", f"{one}/v1/profiles/{user}")[1]["points"]
        purchase = {"type": "purchase", "user_id": user, "product_id": viewed[0], "quantity": 2, "price": 10.0}
        assert post(f"{two}/v1/events", {"events": [purchase]})[0] == 202
        assert admin("GET", f"{one}/v1/profiles/{user}")[1]["points"] == points + 20

        assert admin("DELETE", f"{two}/v1/profiles/{user}")[0] == 204
        assert admin("GET", f"{one}/v1/profiles/{user}")[0] == 404
        _, forgotten = post(f"{one}/v1/decide", {"session_id": "s-workers", "user_id": user, "now": NOW})
        assert forgotten["personalized"] is False


def test_edge_serve_with_two_workers_shares_sessions(artifacts_dir: Path, redis_prefix: str) -> None:
    require_redis().close()
    with serving(artifacts_dir, redis_prefix, workers=2) as base:
        for i in range(6):  # the connections land on either worker
            event = {"type": "search", "session_id": "s-two", "query": f"q{i}", "utm": {"campaign": "xmas"}}
            assert post(f"{base}/v1/events", {"events": [event]})[0] == 202
            status, result = post(f"{base}/v1/decide", {"session_id": "s-two", "now": NOW})
            assert status == 200 and result["segment"] == "campaign"
