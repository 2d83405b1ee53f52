"""A text index over product names and categories: search queries become catalog rows.

Built at build time from the build's items and best sellers and shipped as `text_index.json`
(TEXT_INDEX_FILE, versioned by TEXT_INDEX_VERSION); a build from before it had one gets its index
built when it is loaded (`edge.core.recommend.Model.from_artifacts`). Every word of a name or category
(lower case, a trailing plural `s` dropped) maps to its rows, most popular first.
A query's items are those matching its words, weighted by how rare each word is (idf); items that
match more of the query come first, popularity breaks ties.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge.core.catalog import Item
from edge.errors import ArtifactError

TEXT_INDEX_FILE = "text_index.json"
TEXT_INDEX_VERSION = 1  # bump when the words, postings or weights change meaning

_WORD = re.compile(r"[a-z0-9]+")
MIN_WORD = 2


def words(text: str) -> list[str]:
    """The index's words of a text: lower case, at least MIN_WORD characters, plural `s` dropped."""
    out = []
    for word in _WORD.findall(text.lower()):
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        if len(word) >= MIN_WORD:
            out.append(word)
    return out


@dataclass(frozen=True, slots=True)
class TextIndex:
    postings: Mapping[str, tuple[int, ...]]  # word -> rows, most popular first
    idf: Mapping[str, float]
    rank: Sequence[int]  # popularity rank per row (0 = best seller)

    @classmethod
    def from_items(cls, items: Sequence[Item], popular_rows: Sequence[int]) -> TextIndex:
        rank = [len(items)] * len(items)
        for position, row in enumerate(popular_rows):
            rank[row] = position
        postings: dict[str, set[int]] = {}
        for row, item in enumerate(items):
            for word in {*words(item.name), *words(item.category.replace("-", " "))}:
                postings.setdefault(word, set()).add(row)
        n = max(len(items), 1)
        return cls(
            {w: tuple(sorted(rows, key=lambda r: (rank[r], r))) for w, rows in postings.items()},
            {w: math.log(1.0 + n / len(rows)) for w, rows in postings.items()},
            rank,
        )

    def search(self, query: str, limit: int = 200) -> tuple[list[int], list[float]]:
        """Rows matching the query's words and scores in (0, 1] (share of the query's weight matched)."""
        terms = [w for w in dict.fromkeys(words(query)) if w in self.postings]
        if not terms:
            return [], []
        total = sum(self.idf[w] for w in dict.fromkeys(words(query)) if w in self.idf) or 1.0
        score: dict[int, float] = {}
        for word in terms:
            weight = self.idf[word] / total
            for row in self.postings[word]:
                score[row] = score.get(row, 0.0) + weight
        best = sorted(score, key=lambda r: (-round(score[r], 6), self.rank[r], r))[:limit]
        return best, [min(1.0, score[r]) for r in best]


def to_document(index: TextIndex) -> dict[str, Any]:
    """The JSON document of `text_index.json`."""
    return {
        "format_version": TEXT_INDEX_VERSION,
        "postings": {word: list(rows) for word, rows in index.postings.items()},
        "idf": dict(index.idf),
        "rank": list(index.rank),
    }


def from_document(document: Any, n_items: int, source: str) -> TextIndex:
    """The decoded `text_index.json` (read from `source`), checked against the catalog size."""
    if not isinstance(document, dict) or document.get("format_version") != TEXT_INDEX_VERSION:
        version = document.get("format_version") if isinstance(document, dict) else None
        raise ArtifactError(f"{source}: format_version {version!r}, this Edge reads {TEXT_INDEX_VERSION}")
    try:
        postings = {str(word): tuple(int(r) for r in rows) for word, rows in document["postings"].items()}
        idf = {str(word): float(value) for word, value in document["idf"].items()}
        rank = [int(r) for r in document["rank"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f"{source}: {exc!r}") from exc
    if len(rank) != n_items:
        raise ArtifactError(f"{source}: rank has {len(rank)} rows, the catalog {n_items}")
    if set(postings) != set(idf) or any(not 0 <= r < n_items for rows in postings.values() for r in rows):
        raise ArtifactError(f"{source}: postings and idf disagree or name a row outside the catalog")
    return TextIndex(postings, idf, rank)
