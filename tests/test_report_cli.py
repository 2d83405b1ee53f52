"""`edge report` against a real HTTP server prints what the report API returns."""

from __future__ import annotations

import dataclasses
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from edge.cli import main
from edge.http.app import create_app
from edge.settings import Settings
from tests.conftest import ADMIN, NOW, free_port
from tests.test_attribution import CONFIG, LATER


def call(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else orjson.dumps(body)
    headers = {"content-type": "application/json", "authorization": f"Bearer {ADMIN}"}
    request = urllib.request.Request(base + path, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return orjson.loads(response.read())


@pytest.fixture()
def server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "experiments.yaml"
    path.write_text(CONFIG)
    port = free_port()
    config = uvicorn.Config(create_app(dataclasses.replace(settings, experiments=path)), port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


def test_edge_report_prints_the_api_numbers(server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = []
    for n in range(120):
        decision = call(server, "/v1/decide", {"session_id": f"cli-{n}", "now": NOW})
        if n % 3 == 0:
            events.append({"type": "purchase", "session_id": f"cli-{n}", "decision_id": decision["decision_id"],
                           "product_id": "p", "quantity": 1, "price": 12.5, "ts": LATER})  # fmt: skip
    call(server, "/v1/events", {"events": events})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # enrolments are written behind the decisions
        report = call(server, "/v1/reports/experiments/hero-test")
        held = call(server, "/v1/reports/personalization")["arms"][0]["units"]
        if sum(a["units"] for a in report["arms"]) + held == 120:
            break
        time.sleep(0.05)
    out = tmp_path / "report.json"
    assert main(["report", "--url", server, "--token", ADMIN, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    written = orjson.loads(out.read_bytes())
    assert written["experiments"][0]["arms"] == report["arms"]
    conversion = next(r for r in report["results"] if r["metric"] == "conversion")
    assert "== experiment hero-test (window 48 h)" in printed
    assert f"{conversion['uplift'] * 100:+.2f}%" in printed
    for arm in report["arms"]:
        assert f"{arm['units']:,}" in printed
    assert "== personalization vs holdout (10 % held out)" in printed


def test_edge_report_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_ADMIN_TOKEN", raising=False)
    assert main(["report", "--url", "http://127.0.0.1:9"]) == 2


def test_edge_report_names_a_refused_call(server: str) -> None:
    with pytest.raises(SystemExit, match="401"):
        main(["report", "--url", server, "--token", "wrong", "--experiment", "hero-test"])
