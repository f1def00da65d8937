"""A KafkaServer on 127.0.0.1 port 0 with a fake dispatcher, and a raw client for it.

Test frames are `api_key int16 | api_version int16 | correlation_id int32 | payload` (the smallest valid
request header, so the server's size check passes); the fake dispatcher answers `correlation_id | payload`, so a
test can tell which request each response belongs to. Every wait is bounded by `TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from odradek.broker.server import Chunk, ConnectionInfo, KafkaServer, ServerLimits

TIMEOUT_S = 5.0
_SIZE = struct.Struct(">i")
_HEAD = struct.Struct(">hhi")

Behaviour = Callable[[int, bytes], Awaitable[Sequence[Chunk] | None]]


def frame(correlation_id: int, payload: bytes = b"") -> bytes:
    body = _HEAD.pack(0, 0, correlation_id) + payload
    return _SIZE.pack(len(body)) + body


def answer(correlation_id: int, payload: bytes = b"") -> list[Chunk]:
    return [struct.pack(">i", correlation_id) + payload]


@dataclass(slots=True)
class FakeDispatcher:
    """Records the correlation ids it is called with, the connection ids, and the most calls in flight at once;
    `behaviour` decides the answer (default: echo)."""

    behaviour: Behaviour | None = None
    calls: list[tuple[int, int]] = field(default_factory=list)  # (connection_id, correlation_id)
    done: list[int] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(self, request: memoryview, connection: ConnectionInfo) -> Sequence[Chunk] | None:
        # Recorded before parsing: a frame the server should have refused must show up here even if it is short.
        correlation_id = _HEAD.unpack_from(request)[2] if len(request) >= _HEAD.size else -1
        self.calls.append((connection.connection_id, correlation_id))
        payload = bytes(request[_HEAD.size :])
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.behaviour is None:
                return answer(correlation_id, payload)
            return await self.behaviour(correlation_id, payload)
        finally:
            self.in_flight -= 1
            self.done.append(correlation_id)


class Client:
    """One raw connection to the server. Every client opened is closed by `close_all` (called by
    `run_with_server`, and by tests that run their own server) before the event loop ends."""

    opened: list[Client] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        cls.opened.append(client)
        return client

    @classmethod
    async def close_all(cls) -> None:
        clients, cls.opened[:] = list(cls.opened), []
        for client in clients:
            client.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.writer.wait_closed(), TIMEOUT_S)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self) -> tuple[int, bytes]:
        """The next response: (correlation_id, payload)."""
        async with asyncio.timeout(TIMEOUT_S):
            size = _SIZE.unpack(await self.reader.readexactly(4))[0]
            body = await self.reader.readexactly(size)
        return struct.unpack_from(">i", body)[0], body[4:]

    async def closed_by_server(self) -> bool:
        """True if the server closes the connection (EOF or reset) within TIMEOUT_S without sending anything."""
        try:
            async with asyncio.timeout(TIMEOUT_S):
                data = await self.reader.read(1)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return data == b""


def run(body: Coroutine[Any, Any, None]) -> None:
    """Run a test's coroutine on a fresh event loop, 30 s at most; the clients it left open are closed."""

    async def main() -> None:
        try:
            await body
        finally:
            await Client.close_all()

    asyncio.run(asyncio.wait_for(main(), 30))


async def wait_until(condition: Callable[[], bool], timeout_s: float = TIMEOUT_S) -> None:
    """Poll `condition` every 10 ms, at most `timeout_s` (AssertionError then)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def run_with_server(
    body: Callable[[KafkaServer, int, FakeDispatcher], Coroutine[Any, Any, None]],
    dispatcher: FakeDispatcher | None = None,
    limits: ServerLimits | None = None,
    hold_behind: frozenset[int] = frozenset(),
) -> None:
    """Start a server with `dispatcher`, run `body(server, port, dispatcher)`, stop the server; 30 s at most.
    `hold_behind`: the API keys whose pipelined requests hold the responses before them (KafkaServer's)."""
    fake = dispatcher or FakeDispatcher()

    async def main() -> None:
        limits_ = limits or ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0, read_ahead=8)
        server = KafkaServer(fake, limits_, hold_behind=hold_behind)
        port = await server.start("127.0.0.1", 0)
        try:
            await body(server, port, fake)
        finally:
            await Client.close_all()
            await server.stop(1.0)

    asyncio.run(asyncio.wait_for(main(), 30))
