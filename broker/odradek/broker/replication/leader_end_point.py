"""The follower's view of a partition leader (Kafka's LeaderEndPoint), and the broker-to-broker client behind it.

`LeaderEndPoint` is what a `ReplicaFetcherThread` needs of its source broker: one Fetch for all its partitions and
OffsetForLeaderEpoch for truncation, in replication/api terms. `RemoteLeaderEndPoint` (Kafka's RemoteLeaderEndPoint
over BrokerBlockingSender) speaks the Kafka protocol with the broker's own generated codecs over one asyncio
connection:

- connect with a timeout of `replica.socket.timeout.ms`; on any I/O error the connection is closed and the next
  request reconnects (the fetcher backs off `replica.fetch.backoff.ms` in between);
- ApiVersions v3 once per connection, then Fetch and OffsetForLeaderEpoch at the highest version both sides
  support (Fetch 4..16 here: v13+ name topics by id, `topic_ids` maps names to ids; OffsetForLeaderEpoch 2..4);
- one request at a time, each answered within `replica.socket.timeout.ms` (which must exceed
  `replica.fetch.wait.max.ms`, as in Kafka);
- frames: int32 size, request header (v1, or v2 for flexible versions), body; responses: int32 size, correlation
  id, a tagged-field byte for flexible versions (not for ApiVersions), body.

Only PLAINTEXT inter-broker listeners are supported (docs/not-implemented.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from odradek.broker.protocol.apis import request_message, response_message
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.headers import (
    RequestHeader,
    encode_request_header,
    request_header_version,
    response_header_version,
)
from odradek.broker.protocol.messages.api_versions_request import ApiVersionsRequest
from odradek.broker.protocol.messages.api_versions_response import ApiVersionsResponse
from odradek.broker.protocol.messages.fetch_request import FetchPartition as WireFetchPartition
from odradek.broker.protocol.messages.fetch_request import FetchRequest, FetchTopic, ReplicaState
from odradek.broker.protocol.messages.fetch_response import FetchResponse
from odradek.broker.protocol.messages.offset_for_leader_epoch_request import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderPartition,
    OffsetForLeaderTopic,
)
from odradek.broker.protocol.messages.offset_for_leader_epoch_response import OffsetForLeaderEpochResponse
from odradek.broker.protocol.primitives import Reader
from odradek.broker.replication.api import FetchParams, FetchPartition, TopicPartition

API_VERSIONS, FETCH, OFFSET_FOR_LEADER_EPOCH = 18, 1, 23
FETCH_VERSIONS = (4, 16)
OFFSET_FOR_LEADER_EPOCH_VERSIONS = (2, 4)
TOPIC_IDS_FROM = 13  # Fetch v13+ names topics by id
REPLICA_STATE_FROM = 15  # Fetch v15+ carries the replica id in ReplicaState
API_VERSIONS_VERSION = 3
MAX_RESPONSE_BYTES = 1 << 30
CLOSE_TIMEOUT_S = 1.0  # bound on waiting for a closed connection to report closed


@dataclass(frozen=True, slots=True)
class BrokerEndPoint:
    """Where a broker's inter-broker listener is (from its registration)."""

    broker_id: int
    host: str
    port: int
    security_protocol: str = "PLAINTEXT"


@dataclass(frozen=True, slots=True)
class FetchedPartition:
    """One partition of a Fetch answer: `records` are whole or partial batches (the last may be cut)."""

    error: ErrorCode
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes = b""


@dataclass(frozen=True, slots=True)
class EpochRequest:
    topic: str
    partition: int
    current_leader_epoch: int
    leader_epoch: int


@dataclass(frozen=True, slots=True)
class EpochEndOffset:
    """The leader's answer: the largest epoch <= the one asked and where it ends (-1, -1: undefined)."""

    error: ErrorCode
    leader_epoch: int = -1
    end_offset: int = -1


class LeaderEndPoint(Protocol):
    async def fetch(self, params: FetchParams, partitions: Sequence[FetchPartition]) -> list[FetchedPartition]:
        """One Fetch for `partitions` (answers in the same order); raises OSError/TimeoutError on I/O failure."""
        ...

    async def fetch_epoch_end_offsets(self, requests: Sequence[EpochRequest]) -> list[EpochEndOffset]:
        """One OffsetForLeaderEpoch for `requests` (answers in the same order)."""
        ...

    async def close(self) -> None: ...


class ConnectionFailed(OSError):
    pass


class RemoteLeaderEndPoint:
    def __init__(
        self,
        source: BrokerEndPoint,
        replica_id: int,
        socket_timeout_ms: int,
        topic_ids: Callable[[str], uuid.UUID | None],
        client_id: str = "",
    ) -> None:
        self.source = source
        self.replica_id = replica_id
        self.socket_timeout_s = socket_timeout_ms / 1000.0
        self._topic_ids = topic_ids
        self._client_id = client_id or f"broker-{replica_id}-fetcher-{source.broker_id}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._correlation_id = 0
        self._versions: dict[int, tuple[int, int]] = {}

    async def _connect(self) -> None:
        if self._writer is not None:
            return
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.source.host, self.source.port), self.socket_timeout_s
            )
            answer: ApiVersionsResponse = await self._call(
                API_VERSIONS,
                API_VERSIONS_VERSION,
                ApiVersionsRequest(client_software_name="odradek-replica-fetcher", client_software_version="1"),
            )
        except BaseException:
            await self.close()
            raise
        if answer.error_code != ErrorCode.NONE:
            await self.close()
            raise ConnectionFailed(f"ApiVersions to broker {self.source.broker_id}: error {answer.error_code}")
        self._versions = {api.api_key: (api.min_version, api.max_version) for api in answer.api_keys}

    def _version(self, api_key: int, ours: tuple[int, int]) -> int:
        theirs = self._versions.get(api_key)
        if theirs is None or theirs[1] < ours[0] or theirs[0] > ours[1]:
            raise ConnectionFailed(f"broker {self.source.broker_id} supports no common version of API {api_key}")
        return min(ours[1], theirs[1])

    async def _call(self, api_key: int, version: int, message: Any) -> Any:
        assert self._reader is not None and self._writer is not None
        self._correlation_id += 1
        correlation_id = self._correlation_id
        payload = bytearray(4)
        encode_request_header(
            payload,
            RequestHeader(api_key, version, correlation_id, self._client_id),
            request_header_version(api_key, version),
        )
        request_message(api_key).encode(payload, message, version)
        struct.pack_into(">i", payload, 0, len(payload) - 4)
        self._writer.write(payload)
        await asyncio.wait_for(self._writer.drain(), self.socket_timeout_s)
        size_bytes = await asyncio.wait_for(self._reader.readexactly(4), self.socket_timeout_s)
        (size,) = struct.unpack(">i", size_bytes)
        if size < 4 or size > MAX_RESPONSE_BYTES:
            raise ConnectionFailed(f"invalid response size {size} from broker {self.source.broker_id}")
        frame = await asyncio.wait_for(self._reader.readexactly(size), self.socket_timeout_s)
        (answered,) = struct.unpack_from(">i", frame, 0)
        if answered != correlation_id:
            raise ConnectionFailed(f"correlation id {answered} answered for {correlation_id}")
        reader = Reader(frame)
        reader.pos = 4
        if response_header_version(api_key, version) >= 1:
            reader.skip_tagged_fields()
        return response_message(api_key).decode(reader, version)

    async def _request(self, api_key: int, ours: tuple[int, int], build: Callable[[int], Any]) -> tuple[int, Any]:
        await self._connect()
        version = self._version(api_key, ours)
        try:
            return version, await self._call(api_key, version, build(version))
        except BaseException:
            await self.close()  # a half-read answer leaves the stream unusable
            raise

    async def fetch(self, params: FetchParams, partitions: Sequence[FetchPartition]) -> list[FetchedPartition]:
        def build(version: int) -> FetchRequest:
            topics: list[FetchTopic] = []
            for p in partitions:
                if not topics or topics[-1].topic != p.topic:
                    topic_id = self._topic_ids(p.topic) if version >= TOPIC_IDS_FROM else None
                    topics.append(FetchTopic(topic=p.topic, topic_id=topic_id or uuid.UUID(int=0)))
                topics[-1].partitions.append(
                    WireFetchPartition(
                        partition=p.partition,
                        current_leader_epoch=p.current_leader_epoch,
                        fetch_offset=p.fetch_offset,
                        partition_max_bytes=p.max_bytes,
                    )
                )
            request = FetchRequest(
                max_wait_ms=params.max_wait_ms,
                min_bytes=params.min_bytes,
                max_bytes=params.max_bytes,
                isolation_level=0,
                session_id=0,
                session_epoch=-1,
                topics=topics,
            )
            if version >= REPLICA_STATE_FROM:
                request.replica_state = ReplicaState(replica_id=params.replica_id, replica_epoch=-1)
            else:
                request.replica_id = params.replica_id
            return request

        version, response = await self._request(FETCH, FETCH_VERSIONS, build)
        assert isinstance(response, FetchResponse)
        if response.error_code != ErrorCode.NONE:
            return [FetchedPartition(ErrorCode(response.error_code))] * len(partitions)
        answers: dict[TopicPartition, FetchedPartition] = {}
        names = {self._topic_ids(p.topic): p.topic for p in partitions} if version >= TOPIC_IDS_FROM else {}
        for topic in response.responses:
            name = names.get(topic.topic_id, "") if version >= TOPIC_IDS_FROM else topic.topic
            for part in topic.partitions:
                answers[(name, part.partition_index)] = FetchedPartition(
                    ErrorCode(part.error_code),
                    part.high_watermark,
                    part.log_start_offset,
                    bytes(part.records) if isinstance(part.records, (bytes, bytearray, memoryview)) else b"",
                )
        missing = FetchedPartition(ErrorCode.UNKNOWN_SERVER_ERROR)
        return [answers.get((p.topic, p.partition), missing) for p in partitions]

    async def fetch_epoch_end_offsets(self, requests: Sequence[EpochRequest]) -> list[EpochEndOffset]:
        def build(_version: int) -> OffsetForLeaderEpochRequest:
            topics: list[OffsetForLeaderTopic] = []
            for r in requests:
                if not topics or topics[-1].topic != r.topic:
                    topics.append(OffsetForLeaderTopic(topic=r.topic))
                topics[-1].partitions.append(
                    OffsetForLeaderPartition(
                        partition=r.partition, current_leader_epoch=r.current_leader_epoch, leader_epoch=r.leader_epoch
                    )
                )
            return OffsetForLeaderEpochRequest(replica_id=self.replica_id, topics=topics)

        _, response = await self._request(OFFSET_FOR_LEADER_EPOCH, OFFSET_FOR_LEADER_EPOCH_VERSIONS, build)
        assert isinstance(response, OffsetForLeaderEpochResponse)
        answers = {
            (topic.topic, part.partition): EpochEndOffset(
                ErrorCode(part.error_code), part.leader_epoch, part.end_offset
            )
            for topic in response.topics
            for part in topic.partitions
        }
        missing = EpochEndOffset(ErrorCode.UNKNOWN_SERVER_ERROR)
        return [answers.get((r.topic, r.partition), missing) for r in requests]

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            # Bounded: a transport closed while the leader is gone (or paused) may never report closed, and a
            # broker's shutdown must not wait on it.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await writer.wait_closed()
