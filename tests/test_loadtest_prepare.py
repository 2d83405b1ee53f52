"""`./scripts/loadtest`'s set-up (`loadtest/prepare.py`): the build's profiles bulk-loaded into Redis under the
load test's prefix, the settings Edge is started with, and every key deleted afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.model import artifacts
from loadtest import prepare
from tests.conftest import require_redis

pytestmark = [pytest.mark.redis]


def test_up_loads_the_profiles_into_redis_and_down_deletes_them(
    artifacts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_ARTIFACTS", str(artifacts_dir))
    monkeypatch.delenv("EDGE_REDIS_URL", raising=False)
    client = require_redis()
    pattern = f"{prepare.REDIS_PREFIX}:*:profile"
    try:
        settings = prepare.up(embedded=False, synthetic=False)
        assert settings == {
            "EDGE_ARTIFACTS": str(artifacts_dir.resolve()),
            "EDGE_REDIS_URL": prepare.DEFAULT_REDIS,
            "EDGE_REDIS_PREFIX": prepare.REDIS_PREFIX,
        }
        profiles = artifacts.load(artifacts_dir).profiles
        assert sum(1 for _ in client.scan_iter(match=pattern, count=1000)) == len(profiles) > 0
    finally:
        assert prepare.main(["down"]) == 0
    assert not list(client.scan_iter(match=f"{prepare.REDIS_PREFIX}:*", count=1000))
    client.close()


def test_embedded_leaves_redis_alone(artifacts_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_ARTIFACTS", str(artifacts_dir))
    client = require_redis()
    assert prepare.up(embedded=True, synthetic=False) == {"EDGE_ARTIFACTS": str(artifacts_dir.resolve())}
    assert not list(client.scan_iter(match=f"{prepare.REDIS_PREFIX}:*", count=1000))
    client.close()
