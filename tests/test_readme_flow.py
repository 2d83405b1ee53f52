"""The README top to bottom, as a new user runs it: serve, build real data beside it, decide. Never a 5xx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, require_real_data
from tests.test_serve import post, wait_ready

README_DECIDE = {  # the README's own first example (its `explain` is read through the demo's /demo/explain)
    "session_id": "s-8f2c01", "user_id": "20000", "locale": "nl-NL",
    "location": {"country": "NL", "timezone": "Europe/Amsterdam"},
    "session": {"viewed": ["SYN10001", "SYN10013"], "utm": {"source": "newsletter", "campaign": "xmas"}},
}  # fmt: skip
REAL_DECIDE = {"session_id": "s-real", "user_id": "12748", "now": "2011-10-20T10:00:00Z"}


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
        return text


@pytest.mark.slow
def test_serve_then_real_build_then_decide_never_5xx(tmp_path: Path) -> None:
    real_data = require_real_data()
    port = free_port()
    env = {**os.environ, "EDGE_ARTIFACTS": str(tmp_path / "artifacts"), "EDGE_WATCH_S": "0.5"}
    env.pop("EDGE_REDIS_URL", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "edge", "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process, timeout=120)  # with no artifacts, `edge serve` builds the demo store
        assert (tmp_path / "artifacts" / "CURRENT").is_file()
        status, _ = post(f"{base}/v1/decide", README_DECIDE)
        assert status == 200
        status, anonymous = post(f"{base}/v1/decide", {"session_id": "s-1", "location": {"country": "NL"}})
        assert status == 200 and anonymous["segment"] == "new_visitor" and len(anonymous["products"]) == 12
        status, error = post(f"{base}/v1/decide", {"session_id": "s 1"})
        assert status == 422 and error["error"]["field"] == "session_id"
        status, explained = post(f"{base}/demo/explain", README_DECIDE)
        assert status == 200 and explained["explain"]["signals"]["vector"] is True
        synthetic_build = get_json(f"{base}/readyz")[1]["build"]
        built = subprocess.run(
            [sys.executable, "-m", "edge", "build", "--data", str(real_data), "--no-evaluate"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert built.returncode == 0, built.stderr
        deadline = time.monotonic() + 60
        while get_json(f"{base}/readyz")[1]["build"] == synthetic_build:
            assert time.monotonic() < deadline, "the running server did not pick up the new build"
            time.sleep(0.2)
        status, ready = get_json(f"{base}/readyz")
        assert status == 200 and ready["build"].startswith("online-retail") and ready["last_reload"]["status"] == "ok"
        for body in (README_DECIDE, REAL_DECIDE):
            status, answer = post(f"{base}/v1/decide", body)
            assert status == 200, answer
        status, explained = post(f"{base}/demo/explain", REAL_DECIDE)
        assert status == 200 and explained["segment"] != "new_visitor"
        assert explained["explain"]["signals"]["vector"] is True
        metrics = get_text(f"{base}/metrics")
        assert 'status="5' not in metrics
        assert 'edge_reloads_total{trigger="watch",outcome="ok"} 1' in metrics
    finally:
        process.terminate()
        process.wait(timeout=15)
    output = log.read_text()
    assert output.count("edge ready") == 1, output  # artifacts loaded once at start-up
    assert "Loading faiss" not in output and "AVX" not in output
    assert "--rebase-to" in output  # the real data ends in 2011: the server says so
