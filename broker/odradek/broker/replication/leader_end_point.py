"""The follower's view of a partition leader (Kafka's LeaderEndPoint), and the broker-to-broker client behind it.

`LeaderEndPoint` is what a `ReplicaFetcherThread` needs of its source broker: one Fetch for all its partitions and
OffsetForLeaderEpoch for truncation, in replication/api terms. The Fetch carries the fetcher's fetch session
(`fetch_session_handler.FetchRequestData`: KIP-227 session id and epoch, the partitions named, those forgotten) and
its answer (`FetchAnswer`) holds only the partitions the leader sent: in an incremental session, those with
records, a new high watermark or log start offset, or an error. `RemoteLeaderEndPoint` (Kafka's RemoteLeaderEndPoint
over BrokerBlockingSender) speaks the Kafka protocol through a `broker_blocking_sender.BrokerBlockingSender` (one
asyncio connection, the broker's own generated codecs, `replica.socket.timeout.ms` on connect and on each answer,
which must exceed `replica.fetch.wait.max.ms`, as in Kafka): Fetch and OffsetForLeaderEpoch at the highest
version both sides support (Fetch 4..16 here: v13+ name topics by id, `topic_ids` maps names to ids;
OffsetForLeaderEpoch 2..4). On any I/O error the connection is closed and the next request reconnects (the
fetcher backs off `replica.fetch.backoff.ms` in between).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.fetch_request import FetchPartition as WireFetchPartition
from odradek.broker.protocol.messages.fetch_request import FetchRequest, FetchTopic, ForgottenTopic, ReplicaState
from odradek.broker.protocol.messages.fetch_response import FetchResponse
from odradek.broker.protocol.messages.offset_for_leader_epoch_request import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderPartition,
    OffsetForLeaderTopic,
)
from odradek.broker.protocol.messages.offset_for_leader_epoch_response import OffsetForLeaderEpochResponse
from odradek.broker.replication.api import NO_TOPIC_ID, FetchParams, TopicPartition
from odradek.broker.replication.broker_blocking_sender import (
    PLAINTEXT,
    BrokerBlockingSender,
    BrokerEndPoint,
    ChannelSecurity,
    ConnectionFailed,
)
from odradek.broker.replication.fetch_session import INVALID_SESSION_ID
from odradek.broker.replication.fetch_session_handler import FetchRequestData

__all__ = [
    "BrokerEndPoint",
    "ConnectionFailed",
    "EpochEndOffset",
    "EpochRequest",
    "FetchAnswer",
    "FetchRequestData",
    "FetchedPartition",
    "LeaderEndPoint",
    "RemoteLeaderEndPoint",
]

FETCH, OFFSET_FOR_LEADER_EPOCH = 1, 23
FETCH_VERSIONS = (4, 16)
OFFSET_FOR_LEADER_EPOCH_VERSIONS = (2, 4)
TOPIC_IDS_FROM = 13  # Fetch v13+ names topics by id
REPLICA_STATE_FROM = 15  # Fetch v15+ carries the replica id in ReplicaState


@dataclass(frozen=True, slots=True)
class FetchedPartition:
    """One partition of a Fetch answer: `records` are whole or partial batches (the last may be cut)."""

    error: ErrorCode
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes = b""


@dataclass(frozen=True, slots=True)
class FetchAnswer:
    """A Fetch response: its top-level error (a session error, or every partition's when the request failed as a
    whole), the session id it names, and the partitions it holds."""

    error: ErrorCode
    session_id: int = INVALID_SESSION_ID
    partitions: Mapping[TopicPartition, FetchedPartition] = field(default_factory=dict)


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
    async def fetch(self, params: FetchParams, request: FetchRequestData) -> FetchAnswer:
        """One Fetch in the request's session; raises OSError/TimeoutError on I/O failure."""
        ...

    async def fetch_epoch_end_offsets(self, requests: Sequence[EpochRequest]) -> list[EpochEndOffset]:
        """One OffsetForLeaderEpoch for `requests` (answers in the same order)."""
        ...

    async def close(self) -> None: ...


class RemoteLeaderEndPoint:
    def __init__(
        self,
        source: BrokerEndPoint,
        replica_id: int,
        socket_timeout_ms: int,
        topic_ids: Callable[[str], uuid.UUID | None],
        client_id: str = "",
        security: ChannelSecurity = PLAINTEXT,
    ) -> None:
        self.source = source
        self.replica_id = replica_id
        self._topic_ids = topic_ids
        self._sender = BrokerBlockingSender(
            source,
            socket_timeout_ms,
            client_id or f"broker-{replica_id}-fetcher-{source.broker_id}",
            "odradek-replica-fetcher",
            security,
        )

    async def fetch(self, params: FetchParams, request: FetchRequestData) -> FetchAnswer:
        def build(version: int) -> FetchRequest:
            by_id = version >= TOPIC_IDS_FROM
            topics: list[FetchTopic] = []
            for p in request.to_send:
                if not topics or topics[-1].topic != p.topic:
                    topic_id = self._topic_ids(p.topic) if by_id else None
                    topics.append(FetchTopic(topic=p.topic, topic_id=topic_id or NO_TOPIC_ID))
                topics[-1].partitions.append(
                    WireFetchPartition(
                        partition=p.partition,
                        current_leader_epoch=p.current_leader_epoch,
                        fetch_offset=p.fetch_offset,
                        partition_max_bytes=p.max_bytes,
                    )
                )
            forgotten: list[ForgottenTopic] = []
            for p in request.to_forget:
                if not forgotten or forgotten[-1].topic != p.topic:
                    topic_id = self._topic_ids(p.topic) if by_id else None
                    forgotten.append(ForgottenTopic(topic=p.topic, topic_id=topic_id or NO_TOPIC_ID))
                forgotten[-1].partitions.append(p.partition)
            wire = FetchRequest(
                max_wait_ms=params.max_wait_ms,
                min_bytes=params.min_bytes,
                max_bytes=params.max_bytes,
                isolation_level=0,
                session_id=request.metadata.session_id,
                session_epoch=request.metadata.epoch,
                topics=topics,
                forgotten_topics_data=forgotten,
            )
            if version >= REPLICA_STATE_FROM:
                wire.replica_state = ReplicaState(replica_id=params.replica_id, replica_epoch=-1)
            else:
                wire.replica_id = params.replica_id
            return wire

        version, response = await self._sender.request(FETCH, FETCH_VERSIONS, build)
        assert isinstance(response, FetchResponse)
        if response.error_code != ErrorCode.NONE:
            return FetchAnswer(ErrorCode(response.error_code), response.session_id)
        by_id = version >= TOPIC_IDS_FROM
        names = {self._topic_ids(topic): topic for topic, _ in request.session} if by_id else {}
        answers: dict[TopicPartition, FetchedPartition] = {}
        for topic in response.responses:
            name = names.get(topic.topic_id, "") if by_id else topic.topic
            for part in topic.partitions:
                answers[(name, part.partition_index)] = FetchedPartition(
                    ErrorCode(part.error_code),
                    part.high_watermark,
                    part.log_start_offset,
                    bytes(part.records) if isinstance(part.records, (bytes, bytearray, memoryview)) else b"",
                )
        return FetchAnswer(ErrorCode.NONE, response.session_id, answers)

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

        _, response = await self._sender.request(OFFSET_FOR_LEADER_EPOCH, OFFSET_FOR_LEADER_EPOCH_VERSIONS, build)
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
        await self._sender.close()
