"""Item vectors as the core searches them: the `VectorIndex` seam and its answer (faiss: edge/model/index.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Neighbours:
    """Result of one query: item rows and their inner-product scores, best first."""

    rows: np.ndarray
    scores: np.ndarray


class VectorIndex(Protocol):
    """Nearest items by inner product over the build's item vectors (row i = catalog row i)."""

    @property
    def vectors(self) -> np.ndarray:
        """float32 [n_items, dim], L2-normalised."""
        ...

    @property
    def size(self) -> int: ...

    def search(self, query: np.ndarray, k: int) -> Neighbours:
        """The `k` items with the highest inner product with `query` (a 1-d vector)."""
        ...

    def query_for_rows(self, rows: list[int], recency_decay: float = 0.7) -> np.ndarray | None:
        """A query vector for a list of items, most-recent-last weighted by recency; None if empty."""
        ...
