"""The CLI's commands as processes, and the helpers that start `edge serve` and call it over HTTP (its first
start, which builds the demo store, is the first step of tests/test_readme_flow.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    sent = {"content-type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=sent, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"edge serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail("edge serve did not become ready")


def run_edge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_every_command_has_help() -> None:
    for command in ([], ["serve"], ["build"], ["load"]):
        result = run_edge(*command, "--help")
        assert result.returncode == 0 and "usage: edge" in result.stdout


def test_a_bad_setting_fails_naming_it(tmp_path: Path) -> None:
    result = run_edge("serve", env={"EDGE_DEADLINE_MS": "soon", "EDGE_ARTIFACTS": str(tmp_path)})
    assert result.returncode == 2
    assert "EDGE_DEADLINE_MS" in result.stderr
    missing = run_edge("serve", env={"EDGE_BUILD_IF_MISSING": "false", "EDGE_ARTIFACTS": str(tmp_path / "none")})
    assert missing.returncode == 2 and "no artifacts" in missing.stderr


def test_build_then_load_into_redis_is_idempotent(tmp_path: Path, redis_prefix: str) -> None:
    import redis

    out = tmp_path / "art"
    env = {"EDGE_REDIS_PREFIX": redis_prefix}
    built = run_edge("build", "--synthetic", "--out", str(out), "--items", "300", "--customers", "200",
                     "--anchor", "2026-11-01", env=env)  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert (out / "CURRENT").is_file()
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for _ in range(2):
        loaded = run_edge("load", "--redis", "redis://127.0.0.1:6379/0", env={**env, "EDGE_ARTIFACTS": str(out)})
        assert loaded.returncode == 0, loaded.stderr
        keys = list(client.scan_iter(match=f"{redis_prefix}:*:profile", count=1000))
        assert len(keys) == 200
    client.close()
