"""GrowthBook-compatible hashing and bucketing: pure functions, no I/O.

A unit (user id or session id) is hashed with an experiment's seed to a bucket in [0, 1); the
experiment's arms own disjoint ranges of [0, 1) and the range holding the bucket is the arm.
The functions reproduce GrowthBook's `gbhash` (versions 1 and 2), `getBucketRanges`,
`chooseVariation` and `inNamespace` bit for bit (tests/data/bucketing_cases.json holds its golden
vectors), so an assignment made here can be re-derived with any GrowthBook SDK. Unlike GrowthBook,
invalid input (coverage outside [0, 1], bad weights) raises `ValueError` instead of being
silently replaced with defaults.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Final

FNV32_OFFSET_BASIS: Final = 0x811C9DC5
FNV32_PRIME: Final = 0x01000193

# Weight vectors must sum to 1 within GrowthBook's tolerance (its WEIGHT_SUM_MIN/MAX).
WEIGHT_SUM_MIN: Final = 0.99
WEIGHT_SUM_MAX: Final = 1.01

_UTF16_NATIVE: Final = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"

Range = tuple[float, float]


def fnv1a32(text: str, basis: int = FNV32_OFFSET_BASIS) -> int:
    """32-bit FNV-1a over the UTF-16 code units of `text` (JavaScript's `charCodeAt`).

    `basis` continues a running hash: `fnv1a32(b, fnv1a32(a)) == fnv1a32(a + b)`.
    """
    h = basis
    if text.isascii():
        for unit in text.encode("ascii"):
            h = ((h ^ unit) * 0x01000193) & 0xFFFFFFFF
    else:
        for unit in memoryview(text.encode(_UTF16_NATIVE, "surrogatepass")).cast("H"):
            h = ((h ^ unit) * 0x01000193) & 0xFFFFFFFF
    return h


def hash_v2_seeded(seed_state: int, value: str) -> float:
    """`hash_v2(seed, value)` with `seed_state = fnv1a32(seed)` computed once in advance."""
    h = fnv1a32(value, seed_state)
    h2 = FNV32_OFFSET_BASIS
    for digit in str(h).encode("ascii"):
        h2 = ((h2 ^ digit) * 0x01000193) & 0xFFFFFFFF
    return (h2 % 10000) / 10000


def hash_v2(seed: str, value: str) -> float:
    """GrowthBook hash version 2: `fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000`, in [0, 1)."""
    return hash_v2_seeded(fnv1a32(seed), value)


def hash_v1(seed: str, value: str) -> float:
    """GrowthBook hash version 1 (legacy, used for namespaces): `fnv1a32(value + seed) % 1000 / 1000`."""
    return (fnv1a32(seed, fnv1a32(value)) % 1000) / 1000


def bucket_ranges(n_arms: int, coverage: float = 1.0, weights: Sequence[float] | None = None) -> list[Range]:
    """Each arm's `[start, end)` range of [0, 1), like GrowthBook's `getBucketRanges`.

    Arm i starts where arm i-1's full weight ends and covers `coverage * weight` of it, so raising
    coverage only widens ranges: an enrolled unit never moves to another arm. `weights=None`
    means equal weights. Raises `ValueError` for n_arms < 1, coverage outside [0, 1], or weights
    that are not n_arms finite non-negative numbers summing to 1 (+-0.01).
    """
    if n_arms < 1:
        raise ValueError(f"n_arms must be >= 1, got {n_arms}")
    if not 0.0 <= coverage <= 1.0:
        raise ValueError(f"coverage must be in [0, 1], got {coverage!r}")
    if weights is None:
        weights = [1 / n_arms] * n_arms
    elif len(weights) != n_arms:
        raise ValueError(f"expected {n_arms} weights, got {len(weights)}")
    elif not all(math.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(f"weights must be finite and non-negative, got {list(weights)!r}")
    elif not WEIGHT_SUM_MIN <= sum(weights) <= WEIGHT_SUM_MAX:
        raise ValueError(f"weights must sum to 1, got {list(weights)!r}")
    ranges: list[Range] = []
    cumulative = 0.0
    for w in weights:
        start = cumulative
        cumulative += w
        ranges.append((start, start + coverage * w))
    return ranges


def choose_arm(bucket: float, ranges: Sequence[Range]) -> int:
    """Index of the range holding `bucket` (start inclusive, end exclusive); -1 when not enrolled."""
    for i, (start, end) in enumerate(ranges):
        if start <= bucket < end:
            return i
    return -1


def in_namespace(unit: str, namespace: tuple[str, float, float]) -> bool:
    """Whether `unit` falls in `namespace = (id, start, end)`: `start <= hash_v1("__" + id, unit) < end`."""
    namespace_id, start, end = namespace
    return start <= hash_v1("__" + namespace_id, unit) < end
