"""The item vector index: the only module that knows faiss.

Build: `build_index` picks exact inner product for small catalogs and an inverted-file index
(IVF) above `IVF_THRESHOLD` items, with `nprobe` raised until recall@50 against exact search
reaches `TARGET_RECALL` (measured in loadtest/bench_models.py: at 1M x 64, IVF nlist=4000,
nprobe=64 gives recall 0.93 at p99 0.56 ms, where HNSW M=32 stayed below 0.7). Serve: `ItemIndex`
loads the built file, checks its metric and size, and answers nearest-item queries.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from edge.core.vectors import Neighbours
from edge.errors import ArtifactError

IVF_THRESHOLD = 50_000
IVF_NPROBES = (64, 128, 256)  # below 64, recall on hard (out-of-cluster) queries fell under 0.9
TARGET_RECALL = 0.9
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def set_threads(n: int) -> None:
    """Fix faiss's OpenMP thread count (one per query is right for a 2-core web worker)."""
    faiss.omp_set_num_threads(n)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def build_index(vectors: np.ndarray, kind: str | None = None) -> tuple[faiss.Index, str]:
    """An inner-product index over `vectors`; kind `flat`, `ivf`, `hnsw` or None (chosen by size)."""
    n, dim = vectors.shape
    kind = kind or ("ivf" if n > IVF_THRESHOLD else "flat")
    if kind == "ivf":
        return _build_ivf(np.ascontiguousarray(vectors, dtype=np.float32))
    if kind == "flat":
        index: faiss.Index = faiss.IndexFlatIP(dim)
        name = "IndexFlatIP"
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        name = f"IndexHNSWFlat(M={HNSW_M},efSearch={HNSW_EF_SEARCH})"
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, name


def _build_ivf(vectors: np.ndarray) -> tuple[faiss.Index, str]:
    n, dim = vectors.shape
    nlist = max(1, int(4 * np.sqrt(n)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
    index.train(sample)
    index.add(vectors)
    for nprobe in IVF_NPROBES:
        index.nprobe = nprobe
        if measure_recall(index, vectors, n_queries=200) >= TARGET_RECALL:
            break
    return index, f"IndexIVFFlat(nlist={nlist},nprobe={index.nprobe})"


def serialize(index: faiss.Index) -> bytes:
    """The index as bytes for the artifact file."""
    return bytes(faiss.serialize_index(index))


def measure_recall(index: faiss.Index, vectors: np.ndarray, k: int = 50, n_queries: int = 500, seed: int = 0) -> float:
    """Recall@k of `index` against exact inner-product search.

    Half the queries mix two random items (as a customer's taste or a session's views do), half
    are random directions (the hardest case for a clustered index); an item's own vector would
    find itself and flatter an approximate index.
    """
    rng = np.random.default_rng(seed)
    n, dim = vectors.shape
    k = min(k, n)
    half = max(1, min(n_queries, n) // 2)
    pairs = rng.integers(0, n, size=(half, 2))
    mixed = vectors[pairs[:, 0]] + vectors[pairs[:, 1]]
    queries = normalize(np.vstack([mixed, rng.normal(size=(half, dim)).astype(np.float32)]))
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, k)
    _, found = index.search(queries, k)
    hits = sum(len(set(t) & set(f)) for t, f in zip(truth.tolist(), found.tolist(), strict=True))
    return hits / float(truth.size)


class ItemIndex:
    """A loaded item index (the core's `VectorIndex`); thread-safe for concurrent searches (faiss releases the GIL)."""

    def __init__(self, index: faiss.Index, vectors: np.ndarray) -> None:
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ArtifactError(f"item index metric is {index.metric_type}, expected inner product")
        if index.ntotal != vectors.shape[0] or index.d != vectors.shape[1]:
            raise ArtifactError(f"item index has {index.ntotal} x {index.d} vectors, item_vectors has {vectors.shape}")
        self._index = index
        self.vectors = vectors

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray) -> ItemIndex:
        """Read the index file and check it against the item vectors."""
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ArtifactError(f"{path}: unreadable faiss index ({exc})") from exc
        return cls(index, vectors)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int) -> Neighbours:
        """The `k` items with the highest inner product with `query` (a 1-d vector)."""
        k = min(k, self.size)
        scores, rows = self._index.search(query.reshape(1, -1).astype(np.float32, copy=False), k)
        keep = rows[0] >= 0
        return Neighbours(rows[0][keep], scores[0][keep])

    def query_for_rows(self, rows: list[int], recency_decay: float = 0.7) -> np.ndarray | None:
        """A query vector for a list of items, most-recent-last weighted by recency; None if empty."""
        if not rows:
            return None
        weights = recency_decay ** np.arange(len(rows) - 1, -1, -1, dtype=np.float32)
        query = weights @ self.vectors[rows]
        norm = float(np.linalg.norm(query))
        return query / norm if norm > 0 else None
