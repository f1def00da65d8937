"""GroupCall (operator/batching.py): concurrent callers' keys go out as one request; outcomes per key."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

import pytest
from odradek.operator.batching import GroupCall

WAIT_S = 10.0


class Sender:
    """A `send` that records each request and can hold the first one until released."""

    def __init__(
        self, hold_first: bool = False, answer: Callable[[str, int], object] = lambda k, a: f"{k}:{a}"
    ) -> None:
        self.requests: list[list[tuple[str, int]]] = []
        self.release = threading.Event()
        self.sending = threading.Event()
        self.hold_first = hold_first
        self.answer = answer

    def __call__(self, items: Sequence[tuple[str, int]]) -> Mapping[str, object]:
        self.requests.append(list(items))
        self.sending.set()
        if self.hold_first and len(self.requests) == 1:
            assert self.release.wait(WAIT_S)
        return {key: self.answer(key, arg) for key, arg in items}


def call_in_threads(group: GroupCall[str, int, object], calls: Sequence[tuple[str, int]]) -> list[object]:
    results: list[object] = [None] * len(calls)

    def one(i: int, key: str, arg: int) -> None:
        try:
            results[i] = group(key, arg)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i, k, a)) for i, (k, a) in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive()
    return results


def wait_pending(group: GroupCall[str, int, object], count: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with group._lock:
            queued = sum(len(futures) for _, futures in group._pending.values()) + len(group._later)
        if queued >= count:
            return
        time.sleep(0.005)
    raise AssertionError(f"{count} callers never queued")


def test_a_lone_call_goes_out_at_once_as_a_request_of_one() -> None:
    send = Sender()
    group: GroupCall[str, int, object] = GroupCall("t", send, WAIT_S)
    assert group("a", 1) == "a:1"
    assert send.requests == [[("a", 1)]]
    assert (group.requests, group.largest) == (1, 1)


def test_callers_arriving_while_a_request_is_in_flight_share_the_next_one() -> None:
    send = Sender(hold_first=True)
    group: GroupCall[str, int, object] = GroupCall("t", send, WAIT_S)
    first = threading.Thread(target=group, args=("first", 0))
    first.start()
    assert send.sending.wait(WAIT_S)
    calls = [(f"k{i}", i) for i in range(9)]
    results: list[object] = []
    rest = threading.Thread(target=lambda: results.extend(call_in_threads(group, calls)))
    rest.start()
    wait_pending(group, 9)
    send.release.set()
    rest.join(WAIT_S)
    first.join(WAIT_S)
    assert results == [f"k{i}:{i}" for i in range(9)], "each caller gets its own key's answer"
    assert [len(r) for r in send.requests] == [1, 9]
    assert sorted(send.requests[1]) == sorted(calls)


def test_one_keys_exception_fails_only_its_callers() -> None:
    def answer(key: str, arg: int) -> object:
        return ValueError(f"refused {key}") if key == "bad" else key

    send = Sender(hold_first=True, answer=answer)
    group: GroupCall[str, int, object] = GroupCall("t", send, WAIT_S)
    first = threading.Thread(target=group, args=("warm-up", 0))
    first.start()
    assert send.sending.wait(WAIT_S)
    results: list[object] = []
    calls = [("good", 1), ("bad", 2), ("fine", 3)]
    rest = threading.Thread(target=lambda: results.extend(call_in_threads(group, calls)))
    rest.start()
    wait_pending(group, 3)
    send.release.set()
    rest.join(WAIT_S)
    first.join(WAIT_S)
    assert results[0] == "good" and results[2] == "fine"
    assert isinstance(results[1], ValueError) and "refused bad" in str(results[1])
    assert len(send.requests[1]) == 3, "the three were one request"


def test_a_failed_request_fails_every_caller_of_it_and_the_next_request_works() -> None:
    failing = [True]

    def send(items: Sequence[tuple[str, int]]) -> Mapping[str, object]:
        if failing[0]:
            failing[0] = False
            raise ConnectionError("broker gone")
        return {key: key for key, _ in items}

    group: GroupCall[str, int, object] = GroupCall("t", send, WAIT_S)
    with pytest.raises(ConnectionError, match="broker gone"):
        group("a", 1)
    assert group("b", 1) == "b"


def test_the_same_key_shares_an_answer_and_another_argument_waits_for_the_next_request() -> None:
    send = Sender(hold_first=True)
    group: GroupCall[str, int, object] = GroupCall("t", send, WAIT_S)
    first = threading.Thread(target=group, args=("warm-up", 0))
    first.start()
    assert send.sending.wait(WAIT_S)
    results: list[object] = []
    calls = [("x", 1), ("x", 1), ("x", 2)]
    rest = threading.Thread(target=lambda: results.extend(call_in_threads(group, calls)))
    rest.start()
    wait_pending(group, 3)
    send.release.set()
    rest.join(WAIT_S)
    first.join(WAIT_S)
    assert results == ["x:1", "x:1", "x:2"]
    assert send.requests[1:] == [[("x", 1)], [("x", 2)]], "one key once per request; the other argument after"


def test_a_lone_call_is_sent_from_the_callers_own_thread() -> None:
    threads: list[int] = []

    def send(items: Sequence[tuple[str, int]]) -> Mapping[str, object]:
        threads.append(threading.get_ident())
        return {key: key for key, _ in items}

    group: GroupCall[str, int, object] = GroupCall("t", send, WAIT_S)
    assert group("a", 1) == "a"
    assert threads == [threading.get_ident()], "no hand-off to another thread"
    assert group("b", 1) == "b" and threads == [threading.get_ident()] * 2, "the next caller sends again"


def test_a_caller_behind_a_request_in_flight_waits_at_most_its_timeout() -> None:
    send = Sender(hold_first=True)
    group: GroupCall[str, int, object] = GroupCall("t", send, 0.2)
    first = threading.Thread(target=lambda: group("held", 0))
    first.start()
    assert send.sending.wait(WAIT_S)
    with pytest.raises(TimeoutError, match=r"no answer within 0\.2 s"):
        group("stuck", 1)
    send.release.set()
    first.join(WAIT_S)
