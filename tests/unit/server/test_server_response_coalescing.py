"""KafkaServer response writes (issue 15 item 7): the responses to pipelined requests handled in one loop turn leave
in one write, in request order; a request that waits never holds back the responses before it, except a pipelined
coordinator write (OffsetCommit), behind which they are held for a bounded count and time."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator, Sequence

import pytest
from odradek.broker.handlers import all_handlers
from odradek.broker.handlers.registry import Registry
from odradek.broker.server import COALESCE_RESPONSES, HOLD_BEHIND_WRITE_S, Chunk, KafkaServer, ServerLimits
from server_testing import Client, FakeDispatcher, answer, frame, run_with_server

LIMITS = ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0, read_ahead=64)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The number of chunks of each `StreamWriter.writelines` call (the test client only uses `write`)."""
    calls: list[int] = []
    original = asyncio.StreamWriter.writelines

    def counting(self: asyncio.StreamWriter, data: Sequence[bytes]) -> None:
        calls.append(len(data))
        original(self, data)

    monkeypatch.setattr(asyncio.StreamWriter, "writelines", counting)
    yield calls


def test_responses_to_pipelined_requests_leave_in_one_write(writes: list[int]) -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(b"".join(frame(i, bytes([i])) for i in range(40)))  # one write, forty frames
        assert [await client.response() for _ in range(40)] == [(i, bytes([i])) for i in range(40)]
        assert fake.max_in_flight == 1
        # Forty responses (a size prefix and one chunk each) in three or four sends, not forty, and none holds
        # more than COALESCE_RESPONSES of them.
        assert 3 <= len(writes) <= 4 and sum(writes) == 80
        assert max(writes) == 2 * COALESCE_RESPONSES

    run_with_server(body, limits=LIMITS)


def test_a_waiting_request_does_not_hold_back_the_responses_before_it(writes: list[int]) -> None:
    release = asyncio.Event()

    async def second_waits(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        if correlation_id == 2:
            await release.wait()  # a long-poll Fetch, a parked JoinGroup
        return answer(correlation_id, payload)

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(frame(1) + frame(2) + frame(3))
        assert await client.response() == (1, b"")  # while 2 still waits
        assert fake.done == [1]
        release.set()
        assert [await client.response() for _ in range(2)] == [(2, b""), (3, b"")]

    run_with_server(body, FakeDispatcher(second_waits), LIMITS, COORDINATOR_WRITES)


COORDINATOR_WRITES = Registry(all_handlers()).coordinator_writes()  # what app.py gives every server


def test_the_coordinator_writes_are_offset_commit_and_txn_offset_commit() -> None:
    assert {8, 28} == COORDINATOR_WRITES


def commit_frame(correlation_id: int, api_key: int = 8) -> bytes:
    """A frame of `api_key` (OffsetCommit by default): the server looks at the key to hold responses behind it."""
    body = struct.pack(">hhi", api_key, 0, correlation_id)
    return struct.pack(">i", len(body)) + body


async def answered_next_turn(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
    """A coordinator write: answered a turn later (the write queue's flush), as OffsetCommit is."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return answer(correlation_id, payload)


def test_responses_are_held_behind_pipelined_coordinator_writes(writes: list[int]) -> None:
    """Forty pipelined OffsetCommits, each answered two turns later, leave in sends of up to COALESCE_RESPONSES
    responses instead of one send per response."""

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(b"".join(commit_frame(i) for i in range(40)))
        assert [await client.response() for _ in range(40)] == [(i, b"") for i in range(40)]
        assert fake.max_in_flight == 1
        assert sum(writes) == 80 and max(writes) == 2 * COALESCE_RESPONSES
        assert len(writes) <= 5

    run_with_server(body, FakeDispatcher(answered_next_turn), LIMITS, COORDINATOR_WRITES)


def test_other_requests_that_wait_do_not_hold_responses(writes: list[int]) -> None:
    """The same run with another API key (a Fetch, a Produce waiting for its ISR): one turn's responses per send,
    as before (the hold is only for coordinator writes)."""

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(b"".join(commit_frame(i, api_key=1) for i in range(40)))
        assert [await client.response() for _ in range(40)] == [(i, b"") for i in range(40)]
        assert len(writes) >= 20

    run_with_server(body, FakeDispatcher(answered_next_turn), LIMITS, COORDINATOR_WRITES)


def test_a_held_response_leaves_within_the_hold_time(writes: list[int]) -> None:
    """A response buffered before a pipelined OffsetCommit that takes long (its ISR is slow) leaves after
    HOLD_BEHIND_WRITE_S, before that commit is answered."""
    release = asyncio.Event()

    async def second_waits(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        if correlation_id == 2:
            await release.wait()
        return answer(correlation_id, payload)

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(commit_frame(1) + commit_frame(2))
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await client.response() == (1, b"")
        waited = loop.time() - started
        assert HOLD_BEHIND_WRITE_S * 0.8 <= waited < 1.0
        assert fake.done == [1]
        release.set()
        assert await client.response() == (2, b"")

    run_with_server(body, FakeDispatcher(second_waits), LIMITS, COORDINATOR_WRITES)
