"""StreamedRecords (Fetch down-conversion for old clients): the server writes the promised size first, then the
pieces one at a time, and closes the source once sent; a source that yields less than promised closes the
connection instead of desynchronising the framing."""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

from odradek.broker.protocol.frames import StreamedRecords
from odradek.broker.server import Chunk, KafkaServer
from server_testing import Client, FakeDispatcher, frame, run_with_server, wait_until


def _pieces(parts: list[bytes], made: list[int]) -> Iterator[bytes]:
    for part in parts:
        made.append(len(part))  # made only when the server asks for the next piece
        yield part


def test_streamed_records_are_sent_piece_by_piece_and_closed() -> None:
    closed: list[bool] = []
    made: list[int] = []

    async def behaviour(correlation_id: int, payload: bytes) -> Sequence[Chunk]:
        parts = [b"a" * 10, b"b" * 20_000, b"c"]
        records = StreamedRecords(sum(map(len, parts)), _pieces(parts, made), lambda: closed.append(True))
        return [struct.pack(">i", correlation_id), records, b"tail"]

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(frame(5))
        assert await client.response() == (5, b"a" * 10 + b"b" * 20_000 + b"c" + b"tail")
        await wait_until(lambda: closed == [True])
        assert made == [10, 20_000, 1]

    run_with_server(body, FakeDispatcher(behaviour))


def test_a_stream_shorter_than_promised_closes_the_connection() -> None:
    closed: list[bool] = []

    async def behaviour(correlation_id: int, payload: bytes) -> Sequence[Chunk]:
        records = StreamedRecords(100, iter([b"x" * 10]), lambda: closed.append(True))
        return [struct.pack(">i", correlation_id), records]

    async def body(server: KafkaServer, port: int, fake: FakeDispatcher) -> None:
        client = await Client.connect(port)
        await client.send(frame(6))
        size = struct.unpack(">i", await client.reader.readexactly(4))[0]
        assert size == 4 + 100
        await client.reader.readexactly(4 + 10)
        assert await client.closed_by_server()
        await wait_until(lambda: closed == [True])

    run_with_server(body, FakeDispatcher(behaviour))
