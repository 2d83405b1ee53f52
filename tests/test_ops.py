"""Operations truth: reloads that cannot break decisions, counted errors and reloads, an honest /readyz."""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from edge import __version__
from edge import runtime as runtime_module
from edge.cli import build_synthetic, load
from edge.http.app import create_app
from edge.runtime import warn_if_stale
from edge.settings import Settings
from models import synthetic
from tests.conftest import ANCHOR, AUTH, NOW, REDIS_URL, free_port, wait_for, with_redis
from tests.test_serve import run_edge, wait_ready

KNOWN = "20003"  # a customer of every synthetic build


def decide_known(client: TestClient) -> dict[str, Any]:
    body = {"session_id": "s-ops", "user_id": KNOWN, "now": NOW, "debug": True}
    response = client.post("/v1/decide", json=body, headers=AUTH)  # debug with the admin token
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def other_dim_build(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new build under `root` whose vectors are 16 wide (the test build's are 32), like real data after the demo."""
    monkeypatch.setattr(synthetic, "DIM", 16)
    path = build_synthetic(root, seed=11, items=700, customers=500, anchor=ANCHOR)
    return path.name


@pytest.fixture()
def own_root(artifacts_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, root)
    return root


def test_reload_to_a_build_of_another_width_serves_its_profiles(
    settings: Settings, own_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(artifacts=own_root, admin_token=settings.admin_token, build_if_missing=False, watch_s=0)
    with TestClient(create_app(settings)) as client:
        assert decide_known(client)["explain"]["signals"]["vector"] is True
        version = other_dim_build(own_root, monkeypatch)
        reloaded = client.post("/v1/admin/reload", headers=AUTH)
        assert reloaded.status_code == 200 and reloaded.json()["model"] == version
        after = decide_known(client)  # the new build's own profile, with a vector that fits its model
        assert after["explain"]["model_version"] == version and after["explain"]["signals"]["vector"] is True
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["build"] == version and ready["checks"]["build"] is True
        assert ready["last_reload"]["status"] == "ok"
        text = client.get("/metrics").text
        assert metric(text, "edge_reloads_total", trigger="admin", outcome="ok") == 1
        assert metric(text, "edge_errors_total", status="500") == 0


@pytest.mark.redis
def test_reload_refuses_a_build_whose_redis_profiles_do_not_fit(
    settings: Settings, own_root: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    settings = with_redis(Settings(artifacts=own_root, admin_token=settings.admin_token, watch_s=0), redis_prefix)
    assert load(settings, REDIS_URL) == 0  # the old build's profiles (dim 32)
    with TestClient(create_app(settings)) as client:
        old = client.get("/readyz").json()["build"]
        new = other_dim_build(own_root, monkeypatch)
        with caplog.at_level(logging.ERROR, logger="edge"):
            refused = client.post("/v1/admin/reload", headers=AUTH)
        assert refused.status_code == 422 and "edge load" in refused.json()["error"]["message"]
        assert any("refused" in r.getMessage() for r in caplog.records)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["build"] == old
        assert ready.json()["last_reload"]["status"] == "failed"
        assert decide_known(client)["explain"]["model_version"] == old
        # the operator loads the new profiles first: the old model ignores vectors that do not fit it
        assert load(settings, REDIS_URL) == 0
        assert decide_known(client)["explain"]["signals"]["vector"] is False
        assert client.post("/v1/admin/reload", headers=AUTH).json()["model"] == new
        assert decide_known(client)["explain"]["signals"]["vector"] is True
        text = client.get("/metrics").text
        assert metric(text, "edge_reloads_total", trigger="admin", outcome="failed") == 1
        assert metric(text, "edge_reloads_total", trigger="admin", outcome="ok") == 1


def test_a_server_error_is_answered_as_json_and_counted(settings: Settings) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        runtime = client.app_state["runtime"]

        async def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("a bug")

        runtime.decider.decide = broken  # a defect in the decision core, as a 500 would come from
        failed = client.post("/v1/decide", json={"session_id": "s-1"})
        assert failed.status_code == 500 and failed.json()["error"]["code"] == "internal_error"
        client.get("/no-such-page")
        text = client.get("/metrics").text
        assert metric(text, "edge_errors_total", code="internal_error", status="500") == 1
        assert metric(text, "edge_errors_total", code="not_found", status="404") == 1


def test_readyz_names_the_live_versions(client: TestClient) -> None:
    ready = client.get("/readyz").json()
    assert ready["build"].startswith("synthetic-") and ready["content"] and ready["experiments"]
    assert ready["data_end"] <= f"{ANCHOR.isoformat()}T23:59:59Z" and "last_reload" not in ready


def test_stale_data_is_announced_with_the_way_out(caplog: Any) -> None:
    manifest = {"data_end": "2011-12-09T12:50:00Z"}
    with caplog.at_level(logging.WARNING, logger="edge"):
        message = warn_if_stale(manifest, datetime(2026, 11, 28, tzinfo=UTC))
    assert message is not None and "--rebase-to" in message and "2011-12-09" in message
    assert any("--rebase-to" in r.getMessage() for r in caplog.records)
    assert warn_if_stale(manifest, datetime(2011, 12, 20, tzinfo=UTC)) is None
    assert warn_if_stale({}, datetime(2026, 11, 28, tzinfo=UTC)) is None


def test_a_build_is_readable_by_other_users(tmp_path: Path) -> None:
    path = build_synthetic(tmp_path, seed=3, items=200, customers=100, anchor=date(2026, 1, 1))
    assert stat.S_IMODE(path.stat().st_mode) & 0o055 == 0o055
    for child in path.iterdir():
        assert stat.S_IMODE(child.stat().st_mode) & 0o044 == 0o044, child


def test_the_cli_shows_its_version_and_defaults() -> None:
    version = run_edge("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"edge {__version__}"
    serve_help = " ".join(run_edge("serve", "--help").stdout.split())
    assert "(default: 127.0.0.1)" in serve_help and "(default: 8000)" in serve_help
    assert "(default: 1)" in serve_help
    assert "(default: 2011-09-01)" in " ".join(run_edge("evaluate", "--help").stdout.split())


@pytest.mark.slow
def test_the_access_log_can_be_turned_on(artifacts_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "EDGE_ARTIFACTS": str(artifacts_dir), "EDGE_ACCESS_LOG": "true", "EDGE_BUILD_IF_MISSING": "0"}
    env.pop("EDGE_REDIS_URL", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "edge", "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        process.wait(timeout=15)
    output = log.read_text()
    assert '"GET /readyz HTTP/1.1" 200' in output, output
    assert output.count("edge ready") == 1 and "AVX" not in output


def test_readyz_fails_when_the_build_is_inconsistent(settings: Settings) -> None:
    import numpy as np

    from edge.store.base import profiles_from_records

    with TestClient(create_app(settings)) as client:
        runtime = client.app_state["runtime"]
        records = runtime.profiles
        runtime.store.replace_profiles(profiles_from_records(records), np.zeros((len(records), 5), np.float32))
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "not ready"
        assert ready.json()["checks"]["build"] is False and "dim 5" in ready.json()["problem"]
        assert decide_known(client)["explain"]["signals"]["vector"] is False  # still answers, without the vector


@pytest.mark.redis
def test_the_watcher_retries_a_refused_build_once_its_profiles_are_loaded(
    settings: Settings, own_root: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "WATCH_RETRY_S", 0.2)
    settings = with_redis(Settings(artifacts=own_root, admin_token=settings.admin_token, watch_s=0.05), redis_prefix)
    assert load(settings, REDIS_URL) == 0
    with TestClient(create_app(settings)) as client:
        new = other_dim_build(own_root, monkeypatch)  # CURRENT changes; its customers' vectors in Redis are 32 wide
        wait_for(lambda: client.get("/readyz").json().get("last_reload", {}).get("status") == "failed", timeout=20)
        assert client.get("/readyz").json()["build"] != new
        assert load(settings, REDIS_URL) == 0  # the operator (or the build job) loads the new profiles
        wait_for(lambda: client.get("/readyz").json()["build"] == new, timeout=20)
        assert client.get("/readyz").json()["last_reload"] == {
            **client.get("/readyz").json()["last_reload"],
            "status": "ok",
        }
        assert decide_known(client)["explain"]["signals"]["vector"] is True
