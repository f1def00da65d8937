"""KafkaServer shutdown and peers that go away: stop() closes idle connections at once and lets a busy one finish
its request within the grace period (cancelling it after); a peer that closes during a long request gets its
socket released without waiting for the request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from odradek.broker.server import Chunk, KafkaServer, ServerLimits
from server_testing import TIMEOUT_S, Client, FakeDispatcher, answer, frame, run, wait_until

LIMITS = ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0, read_ahead=8)


def test_stop_closes_idle_connections_and_lets_a_busy_request_finish() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def busy(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        if payload == b"busy":
            started.set()
            await release.wait()
        return answer(correlation_id, payload)

    async def main() -> None:
        fake = FakeDispatcher(busy)
        server = KafkaServer(fake, LIMITS)
        port = await server.start("127.0.0.1", 0)
        working, idle = await Client.connect(port), await Client.connect(port)
        await idle.send(frame(1))
        assert await idle.response() == (1, b"")
        await working.send(frame(2, b"busy"))
        await asyncio.wait_for(started.wait(), TIMEOUT_S)
        stopping = asyncio.create_task(server.stop(10.0))
        assert await idle.closed_by_server()
        assert not stopping.done()
        with_refusal = await _connect_refused_or_closed(port)
        release.set()
        assert await working.response() == (2, b"busy")
        assert await working.closed_by_server()
        await asyncio.wait_for(stopping, TIMEOUT_S)
        assert server.connection_count == 0
        assert with_refusal

    run(main())


def test_stop_cancels_a_request_that_outlasts_the_grace_period() -> None:
    cancelled = asyncio.Event()

    async def forever(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None

    async def main() -> None:
        fake = FakeDispatcher(forever)
        server = KafkaServer(fake, LIMITS)
        port = await server.start("127.0.0.1", 0)
        client = await Client.connect(port)
        await client.send(frame(1))
        await wait_until(lambda: fake.in_flight == 1)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.wait_for(server.stop(0.2), TIMEOUT_S)
        assert loop.time() - began < 2.0
        assert cancelled.is_set()
        assert await client.closed_by_server()
        assert server.connection_count == 0

    run(main())


def test_stop_with_no_connections_returns_at_once() -> None:
    async def main() -> None:
        server = KafkaServer(FakeDispatcher(), LIMITS)
        await server.start("127.0.0.1", 0)
        await asyncio.wait_for(server.stop(10.0), 1.0)

    run(main())


def test_a_peer_that_goes_away_during_a_long_request_is_released_at_once() -> None:
    """The peer half-closes while its request waits (a long-poll Fetch): the server closes the socket now, not when
    the request ends; the request's response is dropped and the connection is forgotten once it finishes."""
    release = asyncio.Event()

    async def long_poll(correlation_id: int, payload: bytes) -> Sequence[Chunk] | None:
        await release.wait()
        return answer(correlation_id, payload)

    async def main() -> None:
        fake = FakeDispatcher(long_poll)
        server = KafkaServer(fake, LIMITS)
        port = await server.start("127.0.0.1", 0)
        try:
            client = await Client.connect(port)
            await client.send(frame(1, b"long poll"))
            await wait_until(lambda: fake.in_flight == 1)
            client.writer.write_eof()
            assert await client.closed_by_server()  # while the request is still parked
            assert fake.in_flight == 1
            release.set()
            await wait_until(lambda: server.connection_count == 0)
            assert fake.done == [1]
        finally:
            await server.stop(1.0)

    run(main())


async def _connect_refused_or_closed(port: int) -> bool:
    """After stop() begins, a new connection is refused or closed without being served."""
    try:
        client = await Client.connect(port)
    except OSError:
        return True
    await client.send(frame(99))
    return await client.closed_by_server()
