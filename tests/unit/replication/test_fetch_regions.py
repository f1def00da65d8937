"""Fetch record data as file regions: the fetch response codec writes a `Region` (here `FileRecords`) as its length
prefix plus a recorded region, and the body comes out as [bytes, FileRegion, bytes, ...], byte-identical to
encoding the same records as bytes. The fetch handler's chunks decode to what was appended."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from odradek.broker.auth.authorizer import AllowEverythingAuthorizer
from odradek.broker.handlers import fetch as fetch_handler
from odradek.broker.handlers.context import RequestContext
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.protocol.frames import Chunk, FileRegion, RegionWriter
from odradek.broker.protocol.headers import RequestHeader
from odradek.broker.protocol.messages import fetch_request, fetch_response
from odradek.broker.protocol.primitives import Reader
from odradek.broker.quota.manager import QuotaManagers
from odradek.broker.replication.api import AppendOrigin, FileRecords, ProduceEntry
from odradek.broker.utils.time import MockTime

if TYPE_CHECKING:
    from conftest import Replicas


def joined(chunks: list[Chunk]) -> bytes:
    out = bytearray()
    for chunk in chunks:
        out += chunk.read() if isinstance(chunk, FileRegion) else chunk
    return bytes(out)


def close(chunks: list[Chunk]) -> None:
    for chunk in chunks:
        if isinstance(chunk, FileRegion):
            chunk.close()


def response(first: Any, second: Any) -> fetch_response.FetchResponse:
    return fetch_response.FetchResponse(
        responses=[
            fetch_response.FetchableTopicResponse(
                topic="t",
                partitions=[
                    fetch_response.PartitionData(partition_index=0, high_watermark=3, records=first),
                    fetch_response.PartitionData(partition_index=1, high_watermark=4, records=second),
                ],
            )
        ]
    )


@pytest.mark.parametrize("version", [4, 11, 12, 16])
def test_regions_encode_like_their_bytes(tmp_path: Path, version: int) -> None:
    path = tmp_path / "segment"
    path.write_bytes(b"x" * 10 + b"first-records" + b"second-records!" + b"y" * 5)
    fd = os.open(path, os.O_RDONLY)
    try:
        body = RegionWriter()
        fetch_response.encode(body, response(FileRecords(fd, 10, 13), FileRecords(fd, 23, 15)), version)
        chunks = body.chunks()
        try:
            kinds = [type(chunk) for chunk in chunks]
            assert kinds == [memoryview, FileRegion, memoryview, FileRegion, memoryview]
            regions = [chunk for chunk in chunks if isinstance(chunk, FileRegion)]
            assert [(r.position, r.size) for r in regions] == [(10, 13), (23, 15)]
            assert all(r.fd != fd for r in regions)  # each owns a dup
            expected = bytearray()
            fetch_response.encode(expected, response(b"first-records", b"second-records!"), version)
            assert joined(chunks) == bytes(expected)
        finally:
            close(chunks)
    finally:
        os.close(fd)


def test_a_region_needs_a_region_writer(tmp_path: Path) -> None:
    path = tmp_path / "segment"
    path.write_bytes(b"records")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(TypeError):
            fetch_response.encode(bytearray(), response(FileRecords(fd, 0, 7), b""), 12)
    finally:
        os.close(fd)


def test_bytes_only_bodies_are_one_chunk() -> None:
    body = RegionWriter()
    fetch_response.encode(body, response(b"abc", None), 12)
    assert body.chunks() == [body]


@pytest.mark.parametrize("version", [4, 12, 16])
def test_the_fetch_handler_sends_the_appended_batches_as_regions(replicas: Replicas, version: int) -> None:
    batches = [replicas.batch(3, b"zero"), replicas.batch(2, b"one")]

    async def scenario() -> list[Chunk]:
        entries = [ProduceEntry("t", index, batch) for index, batch in enumerate(batches)]
        await replicas.manager.produce(entries, 1, 0, AppendOrigin.CLIENT)
        topic_id = replicas.topic_ids["t"]
        image = SimpleNamespace(
            topic_by_id=lambda wanted: SimpleNamespace(name="t") if wanted == str(topic_id) else None
        )
        services = SimpleNamespace(
            metadata=SimpleNamespace(image=image),
            replica_manager=replicas.manager,
            metrics=BrokerMetrics(),
            authorizer=AllowEverythingAuthorizer(),
            quotas=QuotaManagers(MockTime()),
        )
        request = fetch_request.FetchRequest(
            max_wait_ms=0,
            topics=[
                fetch_request.FetchTopic(
                    topic="t",
                    topic_id=topic_id,
                    partitions=[
                        fetch_request.FetchPartition(partition=index, fetch_offset=0, partition_max_bytes=1 << 20)
                        for index in range(3)
                    ],
                )
            ],
        )
        context = RequestContext(RequestHeader(1, version, 1, "test"), "127.0.0.1", 1, "PLAINTEXT", services)  # type: ignore[arg-type]
        encoded = await fetch_handler.handle(request, context)
        assert isinstance(encoded, fetch_handler.Encoded)
        return list(encoded.chunks)

    chunks = asyncio.run(scenario())
    try:
        assert sum(isinstance(chunk, FileRegion) for chunk in chunks) == 2  # partition 2 is empty: no region
        decoded = fetch_response.decode(Reader(memoryview(joined(chunks))), version)
        partitions = decoded.responses[0].partitions
        assert [bytes(p.records or b"") for p in partitions] == [*batches_as_stored(replicas), b""]
        assert [p.high_watermark for p in partitions] == [3, 2, 0]
    finally:
        close(chunks)


def batches_as_stored(replicas: Replicas) -> list[bytes]:
    """The batches as the log holds them (the leader stamped its epoch and offsets)."""
    return [replicas.manager.get_partition("t", index).log.read(0, 1 << 20).read_bytes() for index in range(2)]
