"""Quota throttling in the server (KIP-219): a response goes out at once, then its connection is muted for the
throttle time the dispatcher set: the server reads and handles nothing more from it until the (mock) time has passed,
and other connections carry on."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence

from odradek.broker.server import Chunk, ConnectionInfo, KafkaServer, ServerLimits
from odradek.broker.utils.time import MockTime
from server_testing import Client, answer, frame

_HEAD = struct.Struct(">hhi")


def test_a_throttled_connection_is_muted_for_the_throttle_time_and_others_are_not() -> None:
    time = MockTime()
    handled: list[int] = []

    async def dispatch(request: memoryview, connection: ConnectionInfo) -> Sequence[Chunk] | None:
        correlation_id = _HEAD.unpack_from(request)[2]
        handled.append(correlation_id)
        if correlation_id == 1:
            connection.mute(1000)
        return answer(correlation_id)

    async def main() -> None:
        server = KafkaServer(dispatch, ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0), time=time)
        port = await server.start("127.0.0.1", 0)
        try:
            throttled = await Client.connect(port)
            await throttled.send(frame(1) + frame(2))
            assert (await throttled.response())[0] == 1  # answered at once
            other = await Client.connect(port)
            await other.send(frame(7))
            assert (await other.response())[0] == 7  # not affected
            await asyncio.sleep(0.3)
            assert handled == [1, 7]  # request 2 waits while muted
            time.advance(999)
            await asyncio.sleep(0.1)
            assert handled == [1, 7]
            time.advance(1)
            assert (await throttled.response())[0] == 2
            assert handled == [1, 7, 2]
        finally:
            await Client.close_all()
            await server.stop(1.0)

    asyncio.run(asyncio.wait_for(main(), 30))
