from __future__ import annotations

from edge.core.memo import Memo


def test_remembers_up_to_size_least_recently_used_first_out() -> None:
    calls: list[str] = []
    memo: Memo[str] = Memo(2)

    def compute(key: str) -> str:
        calls.append(key)
        return key.upper()

    assert memo.get("a", lambda: compute("a")) == "A"
    assert memo.get("b", lambda: compute("b")) == "B"
    assert memo.get("a", lambda: compute("a")) == "A"  # hit, and now the most recent
    assert memo.get("c", lambda: compute("c")) == "C"  # evicts b
    assert memo.get("b", lambda: compute("b")) == "B"
    assert calls == ["a", "b", "c", "b"]
    assert len(memo) == 2 and memo.hits == 1


def test_size_zero_remembers_nothing() -> None:
    memo: Memo[int] = Memo(0)
    counter = iter(range(10))
    assert [memo.get("k", lambda: next(counter)) for _ in range(3)] == [0, 1, 2]
