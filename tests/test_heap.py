"""The garbage collector and the loaded build (edge/heap.py): the live build is kept out of the collector's
sight once served and after every reload, and a replaced build is still freed, also when a request held it
while the reload froze it."""

from __future__ import annotations

import gc
import shutil
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from edge.cli import build_synthetic
from edge.http.app import create_app
from edge.runtime import Runtime
from edge.settings import Settings
from tests.conftest import ADMIN, ANCHOR, AUTH, decide, wait_for


def in_collectors_sight(obj: object) -> bool:
    """Whether a collection would walk `obj` (tracked and not frozen)."""
    return any(found is obj for found in gc.get_objects())


@pytest.fixture()
def own_root(artifacts_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, root)
    return root


@pytest.fixture()
def served(own_root: Path) -> Iterator[TestClient]:
    settings = Settings(artifacts=own_root, admin_token=ADMIN, build_if_missing=False, watch_s=0)
    with TestClient(create_app(settings)) as client:
        yield client


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app_state["runtime"]
    return runtime


def serve_some(client: TestClient) -> None:
    """A few decisions of each kind, so that the build's memo tables hold something."""
    for i in range(5):
        decide(client, session_id=f"s-heap-{i}", location={"country": "GB"})
        decide(client, session_id=f"s-heap-{i}", user_id=str(20000 + i), session={"viewed": ["SYN10001"]})


def test_a_served_build_is_frozen_out_of_the_collectors_sight(served: TestClient) -> None:
    serve_some(served)
    model = runtime_of(served).engine.model
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(model.derived) and not in_collectors_sight(model.derived)
    assert not in_collectors_sight(model.catalog)


def test_what_decisions_remember_is_out_of_the_collectors_sight_too(served: TestClient) -> None:
    """Index answers and purchased rows are remembered per build; kept as tuples of numbers, the collector
    stops tracking them at its first look, so a long-running worker's full collections do not grow with them."""
    for i in range(20):
        decide(served, session_id=f"s-heap-m{i}", user_id=str(20000 + i), session={"viewed": [f"SYN{10001 + i}"]})
    model = runtime_of(served).engine.model
    gc.collect()
    gc.collect()  # a tuple of tuples is untracked at the collection after the one that untracked its parts
    answers = list(model.searches._data.values())
    rows = list(model.derived._rows.values())
    assert answers and rows  # the decisions remembered something of both kinds
    assert not any(gc.is_tracked(answer) for answer in answers)
    assert not any(gc.is_tracked(entry[1]) for entry in rows)


def test_a_reload_frees_the_old_build_and_freezes_the_new_one(served: TestClient, own_root: Path) -> None:
    serve_some(served)
    runtime = runtime_of(served)
    old = weakref.ref(runtime.engine.model.derived)
    new_version = build_synthetic(own_root, seed=11, items=700, customers=500, anchor=ANCHOR).name
    assert served.post("/v1/admin/reload", headers=AUTH).json()["model"] == new_version
    wait_for(lambda: old() is None, what="the old build freed")
    serve_some(served)
    model = runtime.engine.model
    assert model.version == new_version and not in_collectors_sight(model.derived)


def test_a_build_held_by_a_request_across_the_reload_is_freed_by_reference_counting(
    served: TestClient, own_root: Path
) -> None:
    """The reload freezes what is live at that moment, the old build too while a request still holds it;
    a frozen object is never collected, so the build must go by reference counting alone (no cycles)."""
    serve_some(served)
    runtime = runtime_of(served)
    held = runtime.engine  # what a decision in flight holds
    old = weakref.ref(held.model.derived)
    build_synthetic(own_root, seed=11, items=700, customers=500, anchor=ANCHOR)
    assert served.post("/v1/admin/reload", headers=AUTH).status_code == 200
    assert old() is not None and not in_collectors_sight(held.model.derived)
    gc.disable()
    try:
        del held  # the request ends
        assert old() is None
    finally:
        gc.enable()
