"""The compiled core (edge/_kernels.c through edge/core/kernels.py) against the numpy code it stands for: the same
answers bit for bit on generated and real-build calls, ValueError (never a crash) on bad input, and a build that
cannot silently lose it."""

from __future__ import annotations

import shutil
import sysconfig
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.core import kernels
from edge.core import learned as numpy_path
from edge.core.learned import FEATURES, SOURCE_KEYS, Learned, Pool, SparseScores, Trees
from edge.core.ranking import Source
from edge.runtime import Runtime
from edge.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
needs_core = pytest.mark.skipif(kernels.COMPILED is None, reason="edge._kernels was not built (see the build test)")


def _compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "").split()
    return shutil.which("cc") or (shutil.which(cc[0]) if cc else None)


def test_the_compiled_core_is_built_wherever_a_c_compiler_is() -> None:
    """`pip install -e .` (./scripts/setup) builds edge._kernels where a compiler exists; a build that lost it
    (missing headers, a compile error: the extension is optional) fails here instead of serving numpy quietly."""
    compiler = _compiler()
    if compiler is None:
        pytest.skip("no C compiler on this machine: Edge runs its numpy code")
    assert kernels.COMPILED is not None, (
        f"{compiler} exists but edge._kernels did not build (the Python headers, e.g. python3-dev, missing?): "
        "`.venv/bin/python -m pip install -v -e .` shows why"
    )


@pytest.fixture(autouse=True)
def _compiled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The facade calls the compiled core here even under EDGE_KERNELS=off (that switch is tested on its own)."""
    if kernels.COMPILED is not None:
        monkeypatch.setattr(kernels, "_C", kernels.COMPILED)
    yield


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _same_pool(expected: Pool, got: Pool) -> bool:
    return _same(expected.rows, got.rows) and _same(expected.features, got.features) and expected.reasons == got.reasons


def _learned(rng: np.random.Generator, n: int, k: int = 4) -> Learned:
    ease_rows = rng.integers(-1, n, (n, k)).astype(np.int32)
    ease_weights = np.round(rng.random((n, k)) * 2 - 0.5, 2).astype(np.float32)  # ties, zeros, negatives
    facts = np.round(rng.random((n, 6)) * 5, 1).astype(np.float32)
    return Learned(ease_rows, ease_weights, facts, np.arange(n, dtype=np.int32), np.full(n, -1, np.int32))


def _score(rng: np.random.Generator) -> float:
    return float(rng.choice([0.0, -0.0, 0.3, 0.5, 1.0, float(np.round(rng.random(), 1)), float(rng.random())]))


def _call(rng: np.random.Generator, case: int, learned: Learned, vectors: np.ndarray) -> tuple[Any, ...]:
    """One pool_small call: sources with duplicates within and across them, tied scores and weights, blocked
    rows in sets and frozensets (sometimes everything, sometimes another container), histories empty to long."""
    n = len(learned.item_facts)
    sources: list[tuple[str, Source]] = []
    for key in rng.choice(SOURCE_KEYS, int(rng.integers(0, 8))).tolist():  # a key may repeat (preference)
        rows = rng.integers(0, n, int(rng.integers(0, 50))).tolist()
        sources.append((key, Source(key, rows, [_score(rng) for _ in rows])))  # type: ignore[arg-type]
    if case % 17 == 0:
        sources.append(("best_seller", Source("best_seller", [], [])))
    out_of_stock: Container[int] = frozenset(rng.integers(0, n, int(rng.integers(0, 12))).tolist())
    personal = rng.integers(0, n, int(rng.integers(0, 30))).tolist()
    second: Container[int] = set(personal) if case % 5 else frozenset(personal)
    if case % 23 == 0:
        second = set(range(n))  # everything blocked
    if case % 29 == 0:
        second = tuple(personal)  # not a set: the numpy path
    history = rng.integers(0, n, int(rng.choice([0, 1, 2, 7, 30, 120]))).tolist()
    reasons = ["for_you", "similar_to_viewed", "best_seller", "trending_local", "bought_together", "preference"]
    weights = {r: float(rng.choice([0.0, 0.45, 0.5, 1.0])) for r in rng.choice(reasons, 4).tolist()}
    categories = rng.integers(0, 9, n).astype(np.int32)
    prices = np.round(rng.random(n) * 20, 1)
    taste = (vectors, rng.random(vectors.shape[1]).astype(np.float32)) if case % 3 else None
    ease = np.round(rng.random(n), 2) if case % 2 else None
    return learned, sources, (out_of_stock, second), history, categories, prices, weights, taste, ease


def _trees(rng: np.random.Generator, depth: int, n_trees: int) -> Trees:
    """Random complete trees laid out as `models.ranker.export` lays them out (+inf thresholds: padding)."""
    internal, leaves = 2**depth - 1, 2**depth
    feature = rng.integers(0, len(FEATURES), n_trees * internal).astype(np.int32)
    threshold = np.round(rng.random(n_trees * internal) * 3, 1)
    threshold[rng.random(len(threshold)) < 0.15] = np.inf
    n_internal = n_trees * internal
    left = np.array(
        [
            t * internal + 2 * p + 1 if 2 * p + 1 < internal else n_internal + t * leaves + 2 * p + 1 - internal
            for t in range(n_trees)
            for p in range(internal)
        ],
        dtype=np.int32,
    )
    leaf = np.round(rng.normal(size=n_trees * leaves), 3)
    roots = (np.arange(n_trees) * internal).astype(np.int32)
    return Trees("t", FEATURES, depth, feature, threshold, left, leaf, roots)


@needs_core
def test_the_pool_equals_pool_small_bit_for_bit_on_generated_calls() -> None:
    rng = np.random.default_rng(20)
    in_c = 0
    for case in range(600):
        n = int(rng.choice([1, 5, 40, 300]))
        learned = _learned(rng, n)
        vectors = rng.random((n, 8)).astype(np.float32)
        args = _call(rng, case, learned, vectors)
        expected = numpy_path.pool_small(*args)
        got = kernels.pool_small(*args)
        assert _same_pool(expected, got), case
        in_c += isinstance(args[2][1], (set, frozenset)) and bool(args[1])
    assert in_c > 400


@needs_core
def test_a_big_catalogs_pool_with_sparse_ease_scores_equals_pool_fast() -> None:
    """A catalog of `large_catalog` items and more takes the compiled pool too (its work grows with the proposals,
    not the catalog), its EASE scores as `SparseScores`: the answer is `pool_fast`'s, bit for bit."""
    rng = np.random.default_rng(21)
    for case in range(300):
        n = int(rng.choice([40, 300, 200_000]))
        learned = _learned(rng, n)
        vectors = rng.random((n, 8)).astype(np.float32)
        *args, ease = _call(rng, case, learned, vectors)
        if case % 4 == 0:  # a catalog's out-of-stock set holding half the catalog (a frozen set: remembered)
            args[2] = (frozenset(range(0, n, 2)), args[2][1])
        sparse = None
        if ease is not None:
            rows = np.flatnonzero(ease)
            sparse = SparseScores(rows, ease[rows])
        expected = numpy_path.pool_fast(*args, sparse)
        assert _same_pool(expected, kernels.pool_small(*args, sparse)), case


@needs_core
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_the_trees_score_as_trees_predict_bit_for_bit(depth: int) -> None:
    """The table form (depth <= 3) in C; deeper trees keep numpy's walk. Values sit on the thresholds (ties)."""
    rng = np.random.default_rng(depth)
    for n_trees in (1, 7, 60):
        trees = _trees(rng, depth, n_trees)
        assert (trees.table is not None) == (depth <= 3)
        for rows in (1, 2, 63, 64, 65, 300):
            x = np.round(rng.random((rows, len(FEATURES))) * 3, 1)
            x[rng.random(x.shape) < 0.02] = np.nan
            assert _same(trees.predict(x), kernels.predict(trees, x)), (n_trees, rows)
        assert _same(trees.predict(np.zeros((0, len(FEATURES)))), kernels.predict(trees, np.zeros((0, len(FEATURES)))))


@needs_core
def test_the_order_is_lexsorts() -> None:
    """Best `shown` first, the lower row on a tie, NaN last; rows repeated too (lexsort is stable)."""
    rng = np.random.default_rng(5)
    for case in range(400):
        n = int(rng.choice([0, 1, 2, 15, 16, 17, 33, 250, 1000]))
        shown = np.round(rng.random(n), int(rng.choice([1, 2, 6])))
        shown[rng.random(n) < 0.03] = np.nan
        shown[rng.random(n) < 0.03] = 0.0 if case % 2 else -0.0
        rows = rng.permutation(5 * n + 1)[:n] if case % 3 else rng.integers(0, max(n // 4, 1), n)
        rows = rows.astype(np.int64)
        assert kernels.order(shown, rows) == np.lexsort((rows, -shown)).tolist(), case


@needs_core
def test_sparse_ease_scores_equal_numpys_bit_for_bit() -> None:
    """A big catalog's EASE scores (`ease_items`: EASE over part of the catalog): the same rows, ascending, and the
    same sums, bit for bit; history rows without an EASE row add nothing, and the history itself scores 0."""
    rng = np.random.default_rng(9)
    for case in range(300):
        n = int(rng.choice([10, 300, 50_000]))
        width = int(rng.choice([1, 4, 20]))
        items = np.sort(rng.choice(n, size=int(rng.integers(1, min(n, 400) + 1)), replace=False)).astype(np.int32)
        base = _learned(rng, len(items), width)
        ease_rows = rng.integers(-1, n, (len(items), width)).astype(np.int32)
        ease_rows[rng.random(ease_rows.shape) < 0.2] = -1
        learned = Learned(ease_rows, base.ease_weights, np.zeros((n, 6), np.float32), np.arange(n, dtype=np.int32),
                          np.full(n, -1, np.int32), ease_items=items)  # fmt: skip
        pick = [rng.choice(items), rng.integers(0, n), rng.choice(ease_rows[ease_rows >= 0] if (ease_rows >= 0).any()
                else items)]  # fmt: skip
        length = int(rng.choice([0, 1, 3, 49, 50, 51, 120]))
        history = [int(pick[int(rng.integers(0, 3))]) for _ in range(length)]
        expected, got = numpy_path.ease_scores_sparse(learned, history), kernels.ease_scores_sparse(learned, history)
        if expected is None or got is None:
            assert expected is None and got is None, case
            continue
        assert _same(expected.rows, got.rows) and _same(expected.scores, got.scores), case


@needs_core
def test_ease_scores_equal_numpys_bit_for_bit() -> None:
    rng = np.random.default_rng(8)
    for case in range(300):
        n = int(rng.choice([1, 10, 300]))
        learned = _learned(rng, n, int(rng.choice([1, 4, 20])))
        history = rng.integers(0, n, int(rng.choice([0, 1, 3, 49, 50, 51, 200]))).tolist()
        expected, got = numpy_path.ease_scores(learned, history), kernels.ease_scores(learned, history)
        assert (expected is None and got is None) or (
            expected is not None and got is not None and _same(expected, got)
        ), case


@needs_core
def test_a_real_data_builds_calls_give_the_same_pools_scores_and_order(
    ranker_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pipeline's build (its trained ranker, EASE, catalog): every pool of 60 customers' decisions."""
    from edge.core.ranking import RankingParams
    from edge.core.recommend import Model, recommend
    from edge.model import artifacts
    from edge.model.index import ItemIndex
    from models.evaluate import customer_signals

    art = artifacts.load(ranker_build)
    model = Model.from_artifacts(art, ItemIndex.load(art.index_path, art.item_vectors))
    assert model.learned is not None and model.learned.trees is not None
    calls: list[tuple[Any, ...]] = []
    served = kernels.pool_small

    def recording(*args: Any) -> Pool:
        calls.append(args)
        return served(*args)

    monkeypatch.setattr(kernels, "pool_small", recording)
    monkeypatch.setattr(kernels, "ENABLED", True)
    position = {str(p["user_id"]): i for i, p in enumerate(art.profiles)}
    users = [str(p["user_id"]) for p in art.profiles if p.get("purchased")][:60]
    for user in users:
        recommend(model, customer_signals(model, art, user, position), 10, RankingParams())
    assert len(calls) >= 30
    trees = model.learned.trees
    for args in calls:
        expected, got = numpy_path.pool_small(*args), served(*args)
        assert _same_pool(expected, got)
        scores = trees.predict(expected.features)
        assert _same(scores, kernels.predict(trees, got.features))
        shown = 1.0 / (1.0 + np.exp(-scores))
        assert kernels.order(shown, got.rows) == np.lexsort((expected.rows, -shown)).tolist()
        history = args[3]
        expected_ease, got_ease = numpy_path.ease_scores(args[0], history), kernels.ease_scores(args[0], history)
        assert (expected_ease is None) == (got_ease is None)
        assert expected_ease is None or got_ease is None or _same(expected_ease, got_ease)


def _same_source(expected: Source | None, got: Source | None) -> bool:
    if expected is None or got is None:
        return expected is got
    return (
        expected.reason == got.reason
        and list(expected.rows) == list(got.rows)
        and [type(r) for r in expected.rows] == [type(r) for r in got.rows]
        and _same(np.asarray(expected.scores, dtype=np.float64), np.asarray(got.scores, dtype=np.float64))
        and [type(s) for s in expected.scores] == [type(s) for s in got.scores]
    )


@needs_core
def test_the_similar_source_equals_the_quick_one() -> None:
    """`_similar_source_quick`'s loop in C: the category cap, the three containers, scores clipped to [0, 1]."""
    from edge.core.recommend import _similar_source_quick

    rng = np.random.default_rng(11)
    for case in range(400):
        n = int(rng.choice([1, 30, 500]))
        codes = rng.integers(0, int(rng.choice([1, 3, 12])), n).astype(np.int32)
        length = int(rng.choice([0, 1, 20, 300]))
        found_rows = tuple(rng.choice(n, min(length, n), replace=False).tolist())
        found = (found_rows, tuple(float(v) for v in np.round(rng.random(len(found_rows)) * 1.6 - 0.3, 2)))
        blocked = (
            frozenset(rng.integers(0, n, 5).tolist()),
            set(rng.integers(0, n, int(rng.integers(0, 40))).tolist()),
        )
        skip: Container[int] = [(), set(rng.integers(0, n, 10).tolist()), tuple(range(case % 9))][case % 3]
        k, per_category = int(rng.choice([0, 1, 5, 60])), int(rng.choice([1, 2, 4, 1_000_000]))
        categories = codes.tolist()
        expected = _similar_source_quick(found, k, "for_you", blocked, categories, per_category, skip)
        got = kernels.similar_source(found, k, "for_you", blocked, codes, int(codes.max()) + 1, per_category, skip)
        assert _same_source(expected, got), case


@needs_core
def test_the_ease_source_equals_numpys() -> None:
    """The heap's best k + 64 against np.argpartition's; ties among the positive best and NaN go to numpy."""
    rng = np.random.default_rng(12)
    fell_back = answered = 0
    for case in range(400):
        n = int(rng.choice([1, 50, 100, 2000]))
        k = int(rng.choice([0, 1, 24, 60]))
        scores = rng.random(n) * 2 - 0.2
        scores[rng.random(n) < 0.6] = 0.0
        if case % 4 == 0:
            scores = np.round(scores, 2)  # ties among the best
        if case % 13 == 0:
            scores[rng.integers(0, n)] = np.nan
        if case % 7 == 0:
            scores = -np.abs(scores)  # nothing positive
        skip = set(rng.integers(0, n, int(rng.integers(0, 80))).tolist())
        with np.errstate(invalid="ignore"):
            expected = numpy_path.ease_source(scores, k, skip)
            got = kernels.ease_source(scores, k, skip)
        assert _same_source(expected, got), case
        if 1 <= k + 64 < n and not np.isnan(scores).any():
            status = kernels.COMPILED.ease_source(scores, k, skip)[0] if kernels.COMPILED else -1
            fell_back += status < 0
            answered += status >= 0
    assert kernels.ease_source(None, 10, set()) is None
    assert answered > 100 and fell_back > 10


def _pool_args(n_items: int = 5, total: int = 3) -> list[Any]:
    return [
        np.arange(total, dtype=np.int64),  # entry_row
        np.ones(total),  # entry_score
        np.array([total], dtype=np.int64),  # lengths
        np.zeros(1, dtype=np.int64),  # source_code
        np.ones(1),  # source_weight
        np.zeros(0, dtype=np.int64),  # block_a
        np.zeros(0, dtype=np.int64),  # block_b
        np.zeros((n_items, 6), dtype=np.float32),  # item_facts
        np.array([0, 1], dtype=np.int64),  # history
        np.zeros(n_items, dtype=np.int32),  # category_codes
        np.ones(n_items),  # prices
        None,  # ease
        np.empty(total, dtype=np.int64),  # candidates
        np.zeros((total, len(FEATURES))),  # x
        np.empty(total, dtype=np.int64),  # reason
        np.empty(total),  # ratio
        len(SOURCE_KEYS),
        len(FEATURES) - 1,
    ]


@needs_core
@pytest.mark.parametrize(
    ("at", "value"),
    [
        (0, np.array([0, 1, 5], dtype=np.int64)),  # a proposed row past the catalog
        (0, np.array([0, -1, 2], dtype=np.int64)),  # a negative row
        (0, np.arange(3, dtype=np.int32)),  # the wrong dtype
        (0, np.arange(6, dtype=np.int64)[::2]),  # not contiguous
        (1, np.ones(2)),  # scores shorter than rows
        (2, np.array([4], dtype=np.int64)),  # lengths past the entries
        (2, np.array([2], dtype=np.int64)),  # lengths short of them
        (3, np.array([10], dtype=np.int64)),  # a source column past the width
        (5, np.array([7], dtype=np.int64)),  # a blocked row past the catalog
        (6, np.array([-3], dtype=np.int64)),
        (7, np.zeros((4, 6), dtype=np.float32)),  # item facts for another catalog
        (8, np.array([0, 9], dtype=np.int64)),  # a history row past the catalog
        (9, np.array([0, -1, 0, 0, 0], dtype=np.int32)),  # a negative category code (history row 1)
        (10, np.ones(4)),  # prices for another catalog
        (11, np.ones(4)),  # ease for another catalog
        (12, np.empty(2, dtype=np.int64)),  # outputs too short
        (13, np.zeros((3, 5))),  # x too narrow for the columns
        (14, np.empty(3, dtype=np.float64)),
        (15, np.empty(3, dtype=np.float64)[::1].view(np.int64)),
        (12, np.frombuffer(bytes(24), dtype=np.int64)),  # a read-only output
        (17, 3),  # ease column inside the item facts
    ],
)
def test_bad_pool_input_raises_value_error(at: int, value: Any) -> None:
    assert kernels.COMPILED is not None
    args = _pool_args()
    args[at] = value
    with pytest.raises(ValueError):
        kernels.COMPILED.pool(*args)


@needs_core
def test_bad_predict_order_and_ease_input_raises_value_error() -> None:
    core = kernels.COMPILED
    assert core is not None
    table = _trees(np.random.default_rng(1), 3, 4).table
    assert table is not None
    x, out = np.zeros((3, len(FEATURES))), np.empty(3)
    core.predict(x, table.feature, table.threshold, table.node_rows, table.leaf, out)  # the good call
    bad_predicts = [
        (x, table.feature, table.threshold, table.node_rows, table.leaf, np.empty(4)),  # out for other rows
        (x[:, :5].copy(), table.feature, table.threshold, table.node_rows, table.leaf, out),  # a split's column
        (x, table.feature, table.threshold[:-1], table.node_rows, table.leaf, out),
        (x, table.feature, table.threshold, table.node_rows[:-1], table.leaf, out),  # not 8 per tree
        (x, table.feature, table.threshold, table.node_rows + 100, table.leaf, out),  # a split past the table
        (x, table.feature, table.threshold, table.node_rows, table.leaf[:-4], out),
        (x, table.feature, table.threshold, table.node_rows, table.leaf[: 4 * 64], out),  # codes past the leaves
        (x.astype(np.float32), table.feature, table.threshold, table.node_rows, table.leaf, out),
    ]
    for args in bad_predicts:
        with pytest.raises(ValueError):
            core.predict(*args)
    shown, rows = np.ones(3), np.arange(3, dtype=np.int64)
    for args in [(shown, rows[:2], np.empty(3, np.int64)), (shown, rows, np.empty(4, np.int64)), (shown, rows, out)]:
        with pytest.raises(ValueError):
            core.order(*args)
    ease_rows, weights = np.zeros((5, 2), np.int32), np.ones((5, 2), np.float32)
    recent, decay = np.array([0, 4], np.int64), np.ones(2, np.float32)
    codes = np.zeros(4, np.int32)
    for args in [
        ((0, 4), (1.0, 1.0), 2, codes, 1, 9, (), (), ()),  # a found row past the catalog
        ((0, -1), (1.0, 1.0), 2, codes, 1, 9, (), (), ()),
        ((0, 1), (1.0,), 2, codes, 1, 9, (), (), ()),  # fewer scores than rows
        ((0, 1), (1.0, 1.0), 2, codes + 3, 1, 9, (), (), ()),  # a category past n_categories
        ((0, 1), (1.0, 1.0), 2, codes.astype(np.int64), 1, 9, (), (), ()),
    ]:
        with pytest.raises(ValueError):
            core.similar(*args)
    with pytest.raises(ValueError):
        core.ease_source(np.ones(100, np.float32), 3, set())
    for args in [
        (ease_rows, weights, np.array([0, 5], np.int64), decay, np.zeros(5)),  # a history row past the catalog
        (ease_rows + 7, weights, recent, decay, np.zeros(5)),  # an EASE row past the catalog
        (ease_rows, weights[:4], recent, decay, np.zeros(5)),
        (ease_rows, weights, recent, decay[:1], np.zeros(5)),
        (ease_rows, weights, recent, decay, np.zeros(3)),
    ]:
        with pytest.raises(ValueError):
            core.ease_scores(*args)


def _garbage(rng: np.random.Generator) -> Any:
    """An argument of any kind: None, a number, or an array of a random dtype, length, shape and stride."""
    kind = int(rng.integers(0, 5))
    if kind == 0:
        return None
    if kind == 1:
        return int(rng.integers(-5, 100))
    dtype = [np.int64, np.int32, np.float64, np.float32, np.uint8][int(rng.integers(0, 5))]
    n = int(rng.choice([0, 1, 2, 3, 5, 17, 64]))
    values = rng.integers(-3, 70, n) if np.issubdtype(dtype, np.integer) else rng.normal(size=n) * 10
    array = values.astype(dtype)
    if kind == 3 and n > 4:
        return array.reshape(-1, 1) if rng.random() < 0.5 else array[::2]
    return np.frombuffer(array.tobytes(), dtype=dtype) if kind == 4 and n else array  # read-only


@needs_core
def test_garbage_never_crashes_the_worker() -> None:
    """Random dtypes, shapes, strides, lengths and values into every kernel: each call answers or raises, and the
    process lives on (a crash would take the test worker down with it)."""
    assert kernels.COMPILED is not None
    core: Any = kernels.COMPILED
    arity = {"pool": 18, "predict": 6, "order": 3, "ease_scores": 5, "ease_sparse": 7}
    rng = np.random.default_rng(7)
    raised = 0
    for case in range(6_000):
        name = ["pool", "predict", "order", "ease_scores", "ease_sparse", "ease_source", "similar"][case % 7]
        if name == "ease_source":
            args: list[Any] = [_garbage(rng), int(rng.integers(-2, 10)), set(rng.integers(0, 70, 2).tolist())]
        elif name == "similar":
            rows, scores = tuple(rng.integers(-2, 70, 5).tolist()), tuple(rng.random(5).tolist())
            args = [rows, scores, int(rng.integers(0, 5)), _garbage(rng), int(rng.integers(-1, 5)), 2, {3}, (), ()]
        else:
            args = [_garbage(rng) for _ in range(arity[name])]
            if name == "pool":
                args[16:] = [int(rng.integers(-1, 12)), int(rng.integers(-1, 30))]
        try:
            getattr(core, name)(*args)
        except (ValueError, TypeError, OverflowError):
            raised += 1
    assert raised > 5_000  # nearly all of it is refused, none of it crashes


@needs_core
def test_a_nan_score_is_left_to_numpy() -> None:
    rng = np.random.default_rng(2)
    learned = _learned(rng, 10)
    sources = [("for_you", Source("for_you", [1, 2], [float("nan"), 0.5]))]
    args = (learned, sources, (frozenset(), set()), [1], np.zeros(10, np.int32), np.ones(10), {"for_you": 1.0})
    # numpy's answer: a NaN-scored candidate has no winner
    with np.errstate(invalid="ignore"), pytest.raises(IndexError):
        numpy_path.pool_small(*args)
    with np.errstate(invalid="ignore"), pytest.raises(IndexError):
        kernels.pool_small(*args)


def test_edge_kernels_off_runs_the_numpy_code(artifacts_dir: Path) -> None:
    """`EDGE_KERNELS=off` (a setting like any other) makes the runtime run the numpy code, process-wide."""
    assert Settings.from_env({"EDGE_KERNELS": "off"}).kernels is False
    assert Settings.from_env({}).kernels is True
    try:
        Runtime.open(Settings(artifacts=artifacts_dir, build_if_missing=False, kernels=False))
        assert kernels.ENABLED is False
        Runtime.open(Settings(artifacts=artifacts_dir, build_if_missing=False))
        assert kernels.ENABLED is (kernels.COMPILED is not None)
    finally:
        kernels.use(True)
