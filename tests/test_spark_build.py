"""The Spark build (local[2], real data) against the single-machine build: the same catalog, customers,
tiers, segment shares and popularity lists, its profiles written by the executors in parts that
`edge load` bulk-loads into Redis, and what it serves (EASE and the learned ranker included) within
10 % of the one-machine build's recall@10.

One Spark session and one build of each kind serve every test here (module fixtures; the one-machine build is
conftest's `real_build`, evaluated on the same DEFAULT_SPLIT); the JVM is
stopped at the end. Needs pyspark (dependency group `spark`) and Java 17+ (scripts/java): a missing
one fails, never skips.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from edge.cli import load
from edge.core.requests import SessionSignals
from edge.core.segments import SegmentRules, assign_segment
from edge.http.app import create_app
from edge.model import artifacts
from edge.settings import Settings
from edge.store import tombstones
from edge.store.base import profiles_from_records
from models.realdata import DEFAULT_SPLIT
from tests.conftest import ADMIN, AUTH, REDIS_URL, make_real_build, require_real_data, require_redis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from models import spark_build

    session = spark_build.session("local[2]", app="edge-test")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def single(distributed: artifacts.Artifacts, tmp_path_factory: pytest.TempPathFactory) -> artifacts.Artifacts:
    """The one-machine build of the same data and split (shared with test_evaluate), after the Spark build: under
    pytest-xdist that one runs while another worker makes this one."""
    return artifacts.load(make_real_build(tmp_path_factory).root)


@pytest.fixture(scope="module")
def distributed(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> artifacts.Artifacts:
    from models.spark_build import build_spark

    root = tmp_path_factory.mktemp("spark")
    build_spark(require_real_data(), root, spark=spark, log=print, evaluate_split=DEFAULT_SPLIT)
    return artifacts.load(root)


def segment_shares(art: artifacts.Artifacts) -> dict[str, float]:
    now = datetime.fromisoformat(art.manifest["data_end"].replace("Z", "+00:00"))
    segments = Counter(
        assign_segment(p, SessionSignals(), now, SegmentRules())[0] for p in profiles_from_records(art.profiles)
    )
    return {name: round(n / len(art.profiles), 4) for name, n in sorted(segments.items())}


def test_same_items_categories_and_report(single: artifacts.Artifacts, distributed: artifacts.Artifacts) -> None:
    assert distributed.manifest["engine"] == "spark"
    assert [i.id for i in distributed.items] == [i.id for i in single.items]
    assert [(i.name, i.price) for i in distributed.items] == [(i.name, i.price) for i in single.items]
    assert distributed.manifest["categories"] == single.manifest["categories"]
    same_category = np.mean([a.category == b.category for a, b in zip(single.items, distributed.items, strict=True)])
    assert same_category > 0.98  # names decide most; a few unnamed products go by (different) ALS vectors
    assert distributed.manifest["report"] == single.manifest["report"]


def test_same_profiles_tiers_and_segment_shares(single: artifacts.Artifacts, distributed: artifacts.Artifacts) -> None:
    assert [p["user_id"] for p in distributed.profiles] == [p["user_id"] for p in single.profiles]
    assert [p["tier"] for p in distributed.profiles] == [p["tier"] for p in single.profiles]
    assert list(distributed.profiles) == list(single.profiles)  # orders, spend, purchased, country, facts
    assert segment_shares(distributed) == segment_shares(single)
    assert distributed.manifest["segments"] == single.manifest["segments"]  # at-risk platinum/gold by reason
    assert len(distributed.user_vectors) == len(single.user_vectors)


def test_same_popularity_lists_and_neighbours(single: artifacts.Artifacts, distributed: artifacts.Artifacts) -> None:
    one, other = single.popularity, distributed.popularity
    assert np.array_equal(one.global_rows, other.global_rows)
    assert np.array_equal(one.trending_rows, other.trending_rows)
    for lists, others in ((one.by_country, other.by_country), (one.trending_by_country, other.trending_by_country)):
        assert lists.keys() == others.keys()
        assert all(np.array_equal(lists[c], others[c]) for c in lists)
    assert np.array_equal(single.neighbors, distributed.neighbors)


def test_recall_within_ten_percent_of_the_same_ranking(
    single: artifacts.Artifacts, distributed: artifacts.Artifacts
) -> None:
    """The fixed blend over the Spark build's sources is as good as over the one-machine build's."""
    reference = single.manifest["evaluation"]["methods"]["blend"]["recall"]
    spark_recall = distributed.manifest["evaluation"]["methods"]["blend"]["recall"]
    print(f"recall@10 of the blend: single machine {reference:.4f}, Spark {spark_recall:.4f}")
    assert spark_recall >= 0.9 * reference


def test_recall_within_ten_percent_of_what_the_one_machine_build_serves(
    single: artifacts.Artifacts, distributed: artifacts.Artifacts
) -> None:
    """Both builds ship EASE and a learned ranker trained on their own data; the served ranking is as good."""
    assert distributed.learned is not None and distributed.learned.trees is not None
    assert distributed.manifest["ranker"]["features"] == single.manifest["ranker"]["features"]
    reference = single.manifest["evaluation"]["methods"]["model"]["recall"]
    spark_recall = distributed.manifest["evaluation"]["methods"]["model"]["recall"]
    print(f"recall@10 served: single machine {reference:.4f}, Spark {spark_recall:.4f}")
    assert spark_recall >= 0.9 * reference


def test_profile_parts_are_bulk_loaded_into_redis_and_scrubbed_of_erased_users(
    distributed: artifacts.Artifacts, tmp_path: Path, redis_prefix: str
) -> None:
    """The executors wrote the profiles as several parts; `edge load` loads every part (an erased customer
    left out of Redis and scrubbed from the parts on disk) and the service reads them back from Redis."""
    parts = artifacts.profile_files(distributed.path)
    assert len(parts) > 1 and all(p.parent.name == artifacts.PROFILE_PARTS for p, _ in parts)
    root = tmp_path / "artifacts"  # a copy: the erasure below rewrites the parts
    shutil.copytree(distributed.path, root / "versions" / distributed.version)
    (root / "CURRENT").write_text(distributed.version + "\n")
    erased, kept = distributed.profiles[0], distributed.profiles[-1]
    tombstones.add(root, {tombstones.digest(erased["user_id"])})
    settings = Settings(artifacts=root, admin_token=ADMIN, build_if_missing=False, redis_prefix=redis_prefix)
    assert load(settings, REDIS_URL) == 0
    reloaded = artifacts.load(root)
    assert [p["user_id"] for p in reloaded.profiles] == [p["user_id"] for p in distributed.profiles[1:]]
    assert len(reloaded.user_vectors) == len(distributed.user_vectors) - 1
    with TestClient(create_app(replace(settings, redis_url=REDIS_URL))) as client:
        assert client.get(f"/v1/profiles/{erased['user_id']}", headers=AUTH).status_code == 404
        found = client.get(f"/v1/profiles/{kept['user_id']}", headers=AUTH)
        assert found.status_code == 200
        assert (found.json()["tier"], found.json()["spend"]) == (kept["tier"], kept["spend"])
    reader = require_redis()
    assert sum(1 for _ in reader.scan_iter(match=f"{redis_prefix}:*:profile", count=1000)) == len(reloaded.profiles)
    reader.close()
