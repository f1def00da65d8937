"""KafkaServer framing: the 4-byte size prefix is checked before the body is read, a torn frame is never
dispatched, an idle connection is closed, and a malformed request closes only its own connection."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence

from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.server import MIN_REQUEST_SIZE, Chunk, KafkaServer, ServerLimits
from server_testing import Client, FakeDispatcher, answer, frame, run_with_server, wait_until


def test_a_size_below_the_smallest_request_header_closes_the_connection() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(struct.pack(">i", MIN_REQUEST_SIZE - 1) + b"\0" * (MIN_REQUEST_SIZE - 1))
        assert await client.closed_by_server()
        assert fake.calls == []
        await wait_until(lambda: server.connection_count == 0)

    run_with_server(body)


def test_a_negative_size_closes_the_connection() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(struct.pack(">i", -1))
        assert await client.closed_by_server()
        assert fake.calls == []

    run_with_server(body)


def test_the_smallest_request_is_served() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(frame(7))  # exactly MIN_REQUEST_SIZE bytes
        assert await client.response() == (7, b"")

    run_with_server(body)


def test_a_size_above_socket_request_max_bytes_closes_before_the_body_is_read() -> None:
    """Only the size is sent: a server that waited for (or allocated) the body would keep the connection open."""

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(struct.pack(">i", 1025))
        assert await client.closed_by_server()
        assert fake.calls == []
        await wait_until(lambda: server.connection_count == 0)

    run_with_server(body, limits=ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0, read_ahead=8))


def test_a_request_of_exactly_socket_request_max_bytes_is_served() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        payload = b"x" * (1024 - 8)
        await client.send(frame(3, payload))
        assert await client.response() == (3, payload)

    run_with_server(body, limits=ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0, read_ahead=8))


def test_a_partial_frame_then_eof_is_never_dispatched_and_releases_the_connection() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(frame(1) + frame(2, b"payload")[:-3])  # one whole frame, then a torn one
        assert await client.response() == (1, b"")
        client.writer.write_eof()
        assert await client.closed_by_server()
        await wait_until(lambda: server.connection_count == 0)
        assert [cid for _, cid in fake.calls] == [1]

    run_with_server(body)


def test_a_size_prefix_cut_short_then_eof_releases_the_connection() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(b"\0\0")
        client.writer.write_eof()
        assert await client.closed_by_server()
        await wait_until(lambda: server.connection_count == 0)
        assert fake.calls == []

    run_with_server(body)


def test_an_idle_connection_is_closed_after_connections_max_idle() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(frame(1))
        assert await client.response() == (1, b"")
        assert await client.closed_by_server()  # within TIMEOUT_S, far above the 0.2 s idle limit
        await wait_until(lambda: server.connection_count == 0)

    run_with_server(body, limits=ServerLimits(max_request_bytes=1024, idle_timeout_s=0.2, read_ahead=8))


def test_a_connection_that_keeps_sending_is_not_idle() -> None:
    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        for correlation_id in range(6):  # 6 x 0.25 s: longer than the idle limit in total, never idle for 1 s
            await client.send(frame(correlation_id))
            assert await client.response() == (correlation_id, b"")
            await asyncio.sleep(0.25)
        assert server.connection_count == 1

    run_with_server(body, limits=ServerLimits(max_request_bytes=1024, idle_timeout_s=1.0, read_ahead=8))


def test_a_protocol_error_closes_only_that_connection() -> None:
    async def behaviour(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        if payload == b"malformed":
            raise ProtocolError("bad varint")
        return answer(correlation_id, payload)

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        bad, good = await Client.connect(port), await Client.connect(port)
        await good.send(frame(1))
        assert await good.response() == (1, b"")
        await bad.send(frame(2, b"malformed") + frame(3))
        assert await bad.closed_by_server()  # no response to 2, and 3 (read ahead) is never answered
        await good.send(frame(4, b"still here"))
        assert await good.response() == (4, b"still here")
        await wait_until(lambda: server.connection_count == 1)
        assert 3 not in fake.done

    run_with_server(body, FakeDispatcher(behaviour))


def test_an_unexpected_handler_failure_closes_only_that_connection() -> None:
    async def behaviour(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        if payload == b"boom":
            raise RuntimeError("handler bug")
        return answer(correlation_id, payload)

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        bad, good = await Client.connect(port), await Client.connect(port)
        await bad.send(frame(1, b"boom"))
        assert await bad.closed_by_server()
        await good.send(frame(2))
        assert await good.response() == (2, b"")

    run_with_server(body, FakeDispatcher(behaviour))
