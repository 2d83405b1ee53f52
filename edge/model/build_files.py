"""The optional files of a build: the learned ranking arrays (`ranking.npz`) and the text index.

Reading and writing only; what the arrays and the document must hold is checked in the core
(`edge.core.learned.from_arrays`, `edge.core.textindex.from_document`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from edge.core import learned as learned_mod
from edge.core import textindex
from edge.core.learned import RANKING_FILE, Learned
from edge.core.textindex import TEXT_INDEX_FILE, TextIndex
from edge.errors import ArtifactError


def save_learned(learned: Learned, directory: Path) -> None:
    """Write `directory / ranking.npz`."""
    np.savez(directory / RANKING_FILE, **learned.arrays())  # type: ignore[arg-type]


def load_learned(directory: Path, n_items: int, ranker: Mapping[str, Any] | None) -> Learned | None:
    """`ranking.npz` of a build, checked against the catalog size; None for a build without one."""
    path = directory / RANKING_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: unreadable ({exc})") from exc
    return learned_mod.from_arrays(arrays, n_items, ranker, str(path))


def save_text_index(index: TextIndex, directory: Path) -> None:
    """Write `index` as `directory / text_index.json`."""
    document = textindex.to_document(index)
    (directory / TEXT_INDEX_FILE).write_bytes(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))


def load_text_index(directory: Path, n_items: int) -> TextIndex | None:
    """The build's text index, checked against the catalog size; None for a build without one."""
    path = directory / TEXT_INDEX_FILE
    if not path.is_file():
        return None
    try:
        document: Any = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable ({exc})") from exc
    return textindex.from_document(document, n_items, str(path))
