"""KafkaServer response writes (issue 15 item 7): the responses to pipelined requests handled in one loop turn leave
in one write, in request order; a request that waits never holds back the responses before it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest
from odradek.broker.server import COALESCE_RESPONSES, Chunk, KafkaServer, ServerLimits
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

    run_with_server(body, FakeDispatcher(second_waits), LIMITS)
