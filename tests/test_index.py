"""Index: flat and HNSW retrieval against exact inner-product search on seeded clustered vectors."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from edge.errors import ArtifactError
from edge.model import index as item_index

N, DIM, CLUSTERS = 20_000, 32, 64


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """Unit vectors around `clusters` random centres (like item vectors of a real catalog)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    points = centres[rng.integers(clusters, size=n)] + 0.6 * rng.normal(size=(n, dim))
    return item_index.normalize(points)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered(N, DIM, CLUSTERS, seed=11)


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    rng = np.random.default_rng(12)
    base = clustered(N, DIM, CLUSTERS, seed=11)
    return item_index.normalize(base[rng.choice(N, 300, replace=False)] + 0.2 * rng.normal(size=(300, DIM)))


@pytest.fixture(scope="module")
def built(vectors: np.ndarray) -> dict[str, faiss.Index]:
    return {kind: item_index.build_index(vectors, kind)[0] for kind in ("flat", "hnsw", "ivf")}


def exact(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    return flat.search(queries, k)[1]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return sum(len(set(f) & set(t)) for f, t in zip(found.tolist(), truth.tolist(), strict=True)) / truth.size


@pytest.mark.parametrize(("kind", "least"), [("flat", 1.0), ("hnsw", 0.9), ("ivf", 0.9)])
def test_recall_against_exact_search(
    vectors: np.ndarray, queries: np.ndarray, built: dict[str, faiss.Index], kind: str, least: float
) -> None:
    index = built[kind]
    truth = exact(vectors, queries, 50)
    found = index.search(queries, 50)[1]
    assert recall(found, truth) >= least
    assert item_index.measure_recall(index, vectors, k=50, n_queries=300) >= least


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_each_item_finds_itself_first(vectors: np.ndarray, built: dict[str, faiss.Index], kind: str) -> None:
    """Known answers: an item's own vector is its best match (all vectors are unit length)."""
    index = built[kind]
    rows = np.random.default_rng(5).choice(N, 500, replace=False)
    found = index.search(vectors[rows], 1)[1][:, 0]
    assert float(np.mean(found == rows)) >= (1.0 if kind == "flat" else 0.99)


def test_kind_is_chosen_by_catalog_size(monkeypatch: pytest.MonkeyPatch) -> None:
    small = clustered(500, 16, 8, seed=1)
    assert item_index.build_index(small)[1] == "IndexFlatIP"
    monkeypatch.setattr(item_index, "IVF_THRESHOLD", 100)
    assert item_index.build_index(small)[1].startswith("IndexIVFFlat")
    with pytest.raises(ValueError, match="unknown index kind"):
        item_index.build_index(small, "lsh")


def test_item_index_round_trips_and_answers_best_first(tmp_path: Path) -> None:
    vectors = clustered(2000, 16, 8, seed=2)
    index, _ = item_index.build_index(vectors, "hnsw")
    path = tmp_path / "item.index"
    path.write_bytes(item_index.serialize(index))
    loaded = item_index.ItemIndex.load(path, vectors)
    assert loaded.size == 2000
    found = loaded.search(vectors[7], 10)
    assert found.rows[0] == 7
    assert bool(np.all(np.diff(found.scores) <= 1e-6))
    assert np.array_equal(found.rows, exact(vectors, vectors[7:8], 10)[0])
    # HNSW may return fewer than k rows when k exceeds efSearch; exact search never does
    assert 0 < len(loaded.search(vectors[7], 5000).rows) <= 2000
    assert len(item_index.ItemIndex(_flat(vectors), vectors).search(vectors[7], 5000).rows) == 2000


def test_query_for_rows_weighs_recent_items_more() -> None:
    vectors = np.eye(4, dtype=np.float32)
    loaded = item_index.ItemIndex(_flat(vectors), vectors)
    query = loaded.query_for_rows([0, 1])
    assert query is not None and query[1] > query[0] > 0
    assert loaded.query_for_rows([]) is None


def test_wrong_metric_or_size_is_refused(tmp_path: Path) -> None:
    vectors = clustered(100, 8, 4, seed=3)
    l2 = faiss.IndexFlatL2(8)
    l2.add(vectors)
    with pytest.raises(ArtifactError, match="metric"):
        item_index.ItemIndex(l2, vectors)
    with pytest.raises(ArtifactError, match="vectors"):
        item_index.ItemIndex(_flat(vectors), vectors[:50])
    broken = tmp_path / "item.index"
    broken.write_bytes(b"not an index")
    with pytest.raises(ArtifactError, match="unreadable"):
        item_index.ItemIndex.load(broken, vectors)


def _flat(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index
