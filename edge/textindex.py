"""A text index over product names and categories: search queries become catalog rows.

Built from a build's items when it is loaded (a few milliseconds per thousand items): every word of
a name or category (lower case, a trailing plural `s` dropped) maps to its rows, most popular first.
A query's items are those matching its words, weighted by how rare each word is (idf); items that
match more of the query come first, popularity breaks ties.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edge.artifacts import Item

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
