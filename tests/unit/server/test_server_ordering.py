"""KafkaServer ordering: a connection's requests are handled one at a time in arrival order and answered in that
order, however long each takes; a request with no response (Produce acks=0) sends nothing and does not shift the
responses that follow; connections do not wait for each other."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from odradek.broker.server import Chunk, KafkaServer, ServerLimits
from server_testing import Client, FakeDispatcher, answer, frame, run_with_server


async def slow_first(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
    # Earlier requests take longer: a server that handled them concurrently would answer them out of order.
    await asyncio.sleep(0.02 * (5 - correlation_id % 5))
    return answer(correlation_id, payload)


def test_pipelined_requests_are_handled_one_at_a_time_in_arrival_order() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(b"".join(frame(i, bytes([i])) for i in range(5)))  # one write, five frames
        assert [await client.response() for _ in range(5)] == [(i, bytes([i])) for i in range(5)]
        assert [cid for _, cid in fake.calls] == list(range(5))
        assert fake.done == list(range(5))
        assert fake.max_in_flight == 1

    run_with_server(body, FakeDispatcher(slow_first))


def test_more_pipelined_requests_than_the_read_ahead_are_all_answered_in_order() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(b"".join(frame(i) for i in range(20)))
        assert [(await client.response())[0] for _ in range(20)] == list(range(20))
        assert fake.max_in_flight == 1

    run_with_server(body, limits=ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0, read_ahead=2))


def test_a_request_without_response_sends_nothing_and_later_responses_still_match() -> None:
    async def acks_zero(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        return None if payload == b"acks=0" else answer(correlation_id, payload)

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(frame(1, b"acks=0") + frame(2) + frame(3, b"acks=0") + frame(4, b"acks=0") + frame(5))
        assert await client.response() == (2, b"")
        assert await client.response() == (5, b"")
        assert [cid for _, cid in fake.calls] == [1, 2, 3, 4, 5]
        await client.send(frame(6, b"acks=0"))
        await asyncio.wait_for(_until_done(fake, 6), 5)
        await client.send(frame(7))
        assert await client.response() == (7, b"")  # nothing was written for 6

    run_with_server(body, FakeDispatcher(acks_zero))


def test_a_response_in_several_chunks_is_framed_as_one() -> None:
    async def chunked(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        return [correlation_id.to_bytes(4, "big"), bytearray(b"ab"), memoryview(b"cd"), b""]

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(frame(9) + frame(10))
        assert await client.response() == (9, b"abcd")
        assert await client.response() == (10, b"abcd")

    run_with_server(body, FakeDispatcher(chunked))


def test_a_slow_request_on_one_connection_does_not_hold_another() -> None:
    release = asyncio.Event()

    async def parked(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        if payload == b"park":
            await release.wait()
        return answer(correlation_id, payload)

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        slow, fast = await Client.connect(port), await Client.connect(port)
        await slow.send(frame(1, b"park") + frame(2))
        await fast.send(frame(3))
        assert await fast.response() == (3, b"")
        release.set()
        assert await slow.response() == (1, b"park")
        assert await slow.response() == (2, b"")

    run_with_server(body, FakeDispatcher(parked))


async def _until_done(fake: FakeDispatcher, correlation_id: int) -> None:
    while correlation_id not in fake.done:
        await asyncio.sleep(0.01)
