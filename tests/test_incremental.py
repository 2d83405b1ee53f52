"""Incremental build: months 1..2 built, month 3 folded in == the relevant parts of a build on months 1..3."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.errors import ConfigError
from edge.model import artifacts
from models import generate, incremental
from models.realdata import build_real

KEPT = ("orders", "spend", "points", "first_purchase_at", "last_purchase_at", "joined_at", "purchased", "ledger",
        "country", "locale", "complaints_at")  # fmt: skip


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[artifacts.Artifacts, artifacts.Artifacts, Path]:
    data = tmp_path_factory.mktemp("months")
    files = generate.generate(data, 45_000, n_items=300, n_months=3, seed=11)
    early = tmp_path_factory.mktemp("early")
    for path in files[:2]:
        shutil.copy(path, early / path.name)
    folded_root, full_root = tmp_path_factory.mktemp("folded"), tmp_path_factory.mktemp("full")
    base = build_real(early, folded_root, log=lambda _: None, evaluate_split=None)
    assert main(["build", "--data", str(data), "--out", str(folded_root), "--since", base.name]) == 0
    build_real(data, full_root, log=lambda _: None, evaluate_split=None)
    return artifacts.load(folded_root), artifacts.load(full_root), base


def ids(art: artifacts.Artifacts, rows: np.ndarray) -> list[str]:
    return [art.items[r].id for r in rows.tolist() if r >= 0]


def test_the_fold_continues_the_base_build(builds: tuple[artifacts.Artifacts, artifacts.Artifacts, Path]) -> None:
    folded, full, base = builds
    assert folded.manifest["incremental"]["since"] == base.name
    assert folded.manifest["incremental"]["new_lines"] > 10_000
    assert folded.manifest["data_end"] == full.manifest["data_end"]
    assert folded.manifest["n_interactions"] == full.manifest["n_interactions"]
    assert [i.id for i in folded.items] == [i.id for i in full.items]  # every product sold by month 2
    assert np.array_equal(folded.item_vectors, artifacts.load(base).item_vectors)  # no refactorization


def test_popularity_and_neighbours_equal_a_full_build(
    builds: tuple[artifacts.Artifacts, artifacts.Artifacts, Path],
) -> None:
    folded, full, _ = builds
    one, other = folded.popularity, full.popularity
    assert ids(folded, one.global_rows) == ids(full, other.global_rows)
    assert ids(folded, one.trending_rows) == ids(full, other.trending_rows)
    for mine, theirs in ((one.by_country, other.by_country), (one.trending_by_country, other.trending_by_country)):
        assert mine.keys() == theirs.keys()
        assert all(ids(folded, mine[c]) == ids(full, theirs[c]) for c in mine)
    assert [ids(folded, row) for row in folded.neighbors] == [ids(full, row) for row in full.neighbors]


def test_profiles_equal_a_full_build(builds: tuple[artifacts.Artifacts, artifacts.Artifacts, Path]) -> None:
    folded, full, base = builds
    assert [p["user_id"] for p in folded.profiles] == [p["user_id"] for p in full.profiles]
    assert len(folded.profiles) > len(artifacts.load(base).profiles)  # new customers in month 3
    for mine, theirs in zip(folded.profiles, full.profiles, strict=True):
        assert {k: mine.get(k) for k in KEPT} == {k: theirs.get(k) for k in KEPT}, mine["user_id"]
    assert folded.user_vectors.shape == full.user_vectors.shape


def test_folding_needs_a_build_with_state(
    tmp_path: Path, builds: tuple[artifacts.Artifacts, artifacts.Artifacts, Path]
) -> None:
    _, _, base = builds
    root = tmp_path / "copy"
    shutil.copytree(base.parent.parent, root)
    (root / "versions" / base.name / incremental.STATE_FILE).unlink()
    with pytest.raises(ConfigError, match=r"fold_state\.npz"):
        incremental.fold(base.parent.parent, root, base.name)
