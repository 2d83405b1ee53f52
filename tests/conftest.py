"""Shared fixtures and helpers: a small synthetic build, one real-data build, one build with a trained ranker,
settings, the app with its lifespan, a real Redis, one `decide` call and one polling wait."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pytest
import redis
import yaml
from starlette.testclient import TestClient

from edge.cli import build_synthetic
from edge.core.content import parse_content
from edge.errors import ConfigError
from edge.http.app import create_app
from edge.settings import PACKAGE_DATA, Settings

ANCHOR = date(2026, 11, 1)  # the synthetic store's last day of history
NOW = "2026-11-01T10:30:00Z"  # a decision time inside it
ADMIN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
REDIS_URL = os.environ.get("EDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REAL_DATA = Path(os.environ.get("EDGE_DATA") or Path(__file__).parents[1].parent / "shared/data/online-retail")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest work first, so that pytest-xdist's workers (`./scripts/test`: `-n 2 --dist loadfile
    --no-loadscope-reorder`, modules in the order of their first test) finish together: the tests allowed the
    longest time (`timeout` marks: the Spark comparison, the real-data evaluation), then the other slow tests,
    then the rest around them. Serially the order changes nothing: no test depends on another."""

    def first(item: pytest.Item) -> tuple[float, bool]:
        timeout = item.get_closest_marker("timeout")
        return -float(timeout.args[0]) if timeout else 0.0, item.get_closest_marker("slow") is None

    items.sort(key=first)


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("artifacts")
    build_synthetic(root, seed=7, items=900, customers=600, anchor=ANCHOR)
    return root


@pytest.fixture(scope="session")
def ranker_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifacts of the real-data pipeline (`build_real`, with its trained ranker) on generated data in the
    generic format (500 items, 700 customers, seed 11, history ending 2011-12-01), made once per run (per
    pytest-xdist worker) for the tests that need a learned ranker. Read it, never write into it."""
    from models.realdata import build_real
    from models.sources import write_generic
    from models.synthetic import generate

    root = tmp_path_factory.mktemp("ranker-build")
    write_generic(generate(n_items=500, n_customers=700, seed=11, anchor=date(2011, 12, 1)), root / "data")
    build_real(root / "data", root / "art", log=lambda _: None, evaluate_split=None)
    return root / "art"


def require_real_data() -> Path:
    """The Online Retail folder; fails (never skips) when it is not there."""
    if not REAL_DATA.is_dir():
        pytest.fail(f"real data not found at {REAL_DATA} (set EDGE_DATA)")
    return REAL_DATA


class RealBuild(NamedTuple):
    root: Path  # the artifacts folder a Settings points at
    path: Path  # the build inside it that build_real made


def make_real_build(tmp_path_factory: pytest.TempPathFactory) -> RealBuild:
    """The full Online Retail build (evaluated on the default split), made once per run: under pytest-xdist the
    first worker to ask builds it in the run's shared folder while the others wait, then read it."""
    from models.realdata import DEFAULT_SPLIT, build_real

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # each worker's own folder sits in the run's folder
    root, made = shared / "real-build", shared / "real-build.done"
    with (shared / "real-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when the build fails
        if not made.exists():
            root.mkdir(exist_ok=True)
            path = build_real(require_real_data(), root, log=lambda _: None, evaluate_split=DEFAULT_SPLIT)
            made.write_text(str(path))
    return RealBuild(root, Path(made.read_text()))


@pytest.fixture(scope="session")
def real_build(tmp_path_factory: pytest.TempPathFactory) -> RealBuild:
    """`make_real_build` as a fixture. (A module fixture calls make_real_build itself: it would come after this
    session fixture, and so after the build, whatever the order of its arguments.)"""
    return make_real_build(tmp_path_factory)


@pytest.fixture()
def settings(artifacts_dir: Path) -> Settings:
    return Settings(artifacts=artifacts_dir, admin_token=ADMIN, build_if_missing=False)


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def decide(
    client: TestClient, *, headers: Mapping[str, str] | None = None, settle_writes: bool = False, **body: Any
) -> dict[str, Any]:
    """POST /v1/decide with `body` (`now` defaults to NOW), require a 200 and return the decision; with
    `settle_writes`, after the writes the decision makes off the response path have landed.

    A module binds its own defaults once: `decide = functools.partial(conftest.decide, session_id=..., ...)`.
    """
    response = client.post("/v1/decide", json={"now": NOW, **body}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    if settle_writes:
        settle(client)
    return result


def settle(client: TestClient) -> None:
    """Wait for the writes decisions make off the response path (offer counters, first-shown times, exposures)."""
    client.portal.call(client.app_state["runtime"].decider.drain)


T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 10.0, what: str = "the condition") -> T:
    """Poll `condition` until it returns something truthy and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not hold within {timeout} s (last: {value!r})")
        time.sleep(0.02)
    return value


def require_redis(url: str = REDIS_URL) -> redis.Redis:
    """A client of the test Redis; fails (never skips) when it is not there."""
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis-backed test needs a redis-server at {url}: {exc}")
    return client


@contextlib.contextmanager
def own_prefix() -> Iterator[str]:
    """A Redis key prefix of its own; every key under it is deleted on leaving."""
    client = require_redis()
    prefix = f"edge-test-{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture()
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    with own_prefix() as prefix:
        yield prefix


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own on a free port, which the test may stop and restart.

    `durable=True` keeps an append-only file fsynced on every write, so a restart loses nothing.
    """

    def __init__(self, tmp: Path, durable: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.dir = tmp
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *durability,
             "--enable-debug-command", "yes", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_timeout=0.2).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        pytest.fail("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def catalog(artifacts_dir: Path) -> dict[str, Any]:
    """Item ids of the test build, by category and by country where they are out of stock."""
    from edge.model import artifacts

    art = artifacts.load(artifacts_dir)
    by_category: dict[str, list[str]] = {}
    out_of_stock: dict[str, list[str]] = {}
    for item in art.items:
        by_category.setdefault(item.category, []).append(item.id)
        for country, units in (item.stock or {}).items():
            if units <= 0:
                out_of_stock.setdefault(country, []).append(item.id)
    repeatable = [item.id for item in art.items if item.repeatable]
    return {"by_category": by_category, "out_of_stock": out_of_stock, "repeatable": repeatable, "artifacts": art}


def with_redis(settings: Settings, prefix: str, url: str = REDIS_URL, **changes: Any) -> Settings:
    """`settings` on a Redis store under `prefix`."""
    return dataclasses.replace(settings, redis_url=url, redis_prefix=prefix, **changes)


def on_redis(settings: Settings, prefix: str) -> Settings:
    """`settings` on the test Redis under `prefix`, with the build's profiles bulk-loaded and a generous deadline:
    these tests check what is decided on a loaded machine (test_faults and test_recovery check how fast)."""
    from edge.cli import load

    redis_settings = with_redis(settings, prefix, deadline_ms=1000, redis_timeout_ms=500)
    assert load(redis_settings, REDIS_URL) == 0
    return redis_settings


@pytest.fixture(params=["memory", "redis"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings on the embedded store, and on Redis with the build's profiles bulk-loaded."""
    if request.param == "memory":
        return settings
    require_redis().close()
    return on_redis(settings, request.getfixturevalue("redis_prefix"))


@pytest.fixture()
def store_client(store_settings: Settings) -> Iterator[TestClient]:
    """The app on `store_settings` (the embedded store, then Redis), with its lifespan."""
    with TestClient(create_app(store_settings)) as client:
        yield client


@pytest.fixture(scope="module", params=["memory", "redis"])
def refusing_client(request: pytest.FixtureRequest, artifacts_dir: Path) -> Iterator[TestClient]:
    """One app per module and store (as `store_settings`; `indirect` parametrization picks one) for tests of
    requests refused before anything is written: they leave nothing behind, so each needs no app of its own."""
    settings = Settings(artifacts=artifacts_dir, admin_token=ADMIN, build_if_missing=False)
    with contextlib.ExitStack() as stack:
        if request.param == "redis":
            settings = on_redis(settings, stack.enter_context(own_prefix()))
        yield stack.enter_context(TestClient(create_app(settings)))


def stream_entries(client: TestClient, name: str = "events") -> list[dict[str, str]]:
    """Every entry of the `events` or `exposures` stream the app writes, whichever its store."""
    from edge.store.redis_store import RedisStore

    store = client.app_state["runtime"].store
    if not isinstance(store, RedisStore):
        entries: list[dict[str, str]] = store.entries(name)
        return entries
    reader = redis.Redis.from_url(client.app_state["runtime"].settings.redis_url)
    try:
        return [
            {k.decode(): v.decode() for k, v in fields.items()}
            for key in store.stream_keys(name)
            for _, fields in reader.xrange(key)
        ]
    finally:
        reader.close()


PACKAGED_CONTENT: dict[str, Any] = yaml.safe_load((PACKAGE_DATA / "content.yaml").read_text())
MEMBER: dict[str, Any] = {"first_name": "Anna", "joined_at": "2024-03-10T08:00:00Z", "orders": 4, "spend": 300.0,
                          "points": 300, "last_purchase_at": "2026-10-15T10:00:00Z", "subscription": "active",
                          "tier": "bronze", "consent": {"personalization": True}}  # fmt: skip


def member(client: TestClient, user_id: str, **fields: Any) -> None:
    """PUT a bronze member (MEMBER with `fields` changed) through the admin API."""
    response = client.put(f"/v1/profiles/{user_id}", json={**MEMBER, **fields}, headers=AUTH)
    assert response.status_code == 200, response.text


def profile(client: TestClient, user_id: str) -> dict[str, Any]:
    """GET a stored profile through the admin API."""
    response = client.get(f"/v1/profiles/{user_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def content_error(mutate: Callable[[dict[str, Any]], Any]) -> str:
    """The message with which the packaged content file, changed by `mutate`, is refused."""
    raw = copy.deepcopy(PACKAGED_CONTENT)
    mutate(raw)
    with pytest.raises(ConfigError) as caught:
        parse_content(raw, "content.yaml", "x")
    return caught.value.message
