"""Types of the compiled core (edge/_kernels.c); edge/core/kernels.py is the facade that calls it."""

from collections.abc import Container, Sequence
from typing import Any

from numpy.typing import NDArray

def pool(
    entry_row: NDArray[Any],
    entry_score: NDArray[Any],
    lengths: NDArray[Any],
    source_code: NDArray[Any],
    source_weight: NDArray[Any],
    block_a: NDArray[Any],  # ascending
    block_b: NDArray[Any],  # ascending
    item_facts: NDArray[Any],
    history: NDArray[Any],
    category_codes: NDArray[Any],
    prices: NDArray[Any],
    ease: NDArray[Any] | None,
    candidates: NDArray[Any],
    x: NDArray[Any],
    reason: NDArray[Any],
    ratio: NDArray[Any],
    width: int,
    ease_column: int,
    /,
) -> int: ...
def predict(
    x: NDArray[Any],
    feature: NDArray[Any],
    threshold: NDArray[Any],
    node_rows: NDArray[Any],
    leaf: NDArray[Any],
    out: NDArray[Any],
    /,
) -> None: ...
def order(shown: NDArray[Any], rows: NDArray[Any], out: NDArray[Any], /) -> None: ...
def ease_scores(
    ease_rows: NDArray[Any], ease_weights: NDArray[Any], recent: NDArray[Any], decay: NDArray[Any], out: NDArray[Any], /
) -> int: ...
def similar(
    found_rows: Sequence[int],
    found_scores: Sequence[float],
    k: int,
    codes: NDArray[Any],
    n_categories: int,
    per_category: int,
    first_blocked: Container[int],
    second_blocked: Container[int],
    skip: Container[int],
    /,
) -> tuple[list[int], list[float]]: ...
def ease_source(scores: NDArray[Any], k: int, skip: Container[int], /) -> tuple[int, list[int], list[float]]: ...
def ease_sparse(
    ease_items: NDArray[Any],
    ease_rows: NDArray[Any],
    ease_weights: NDArray[Any],
    recent: NDArray[Any],
    decay: NDArray[Any],
    found: NDArray[Any],
    scores: NDArray[Any],
    /,
) -> int: ...
