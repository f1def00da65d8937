import functools

from odradek.broker.utils.memo import BoundedMemo


def test_a_memo_computes_each_key_once_and_empties_itself_when_full() -> None:
    calls: list[int] = []

    def square(n: int) -> int:
        calls.append(n)
        return n * n

    memo: BoundedMemo[int, int] = BoundedMemo(3)
    assert [memo.get(n, functools.partial(square, n)) for n in (1, 2, 1, 3, 2)] == [1, 4, 1, 9, 4]
    assert calls == [1, 2, 3] and len(memo) == 3
    assert memo.get(4, lambda: square(4)) == 16  # full: emptied, then 4 stored
    assert len(memo) == 1 and memo.get(1, lambda: square(1)) == 1 and calls == [1, 2, 3, 4, 1]
    memo.clear()
    assert len(memo) == 0
