"""TransactionMarkerChannelManager: the transaction coordinator's way to write COMMIT/ABORT markers into every
partition of a transaction, wherever its leader is (Kafka's TransactionMarkerChannelManager). Structurally a
`txn.api.TxnMarkerWriter`.

For each partition the current leader is read from the metadata image (`leader_of`, asked again on every call, so
a retry after a leader change goes to the new leader):

- the partition is not in the image (deleted): UNKNOWN_TOPIC_OR_PARTITION, which the coordinator takes as "no
  marker needed" (Kafka drops such partitions from the pending set);
- no leader, or a leader whose inter-broker endpoint is unknown: NOT_LEADER_OR_FOLLOWER (retried, Kafka's
  markers queue for an unknown broker);
- this broker: the `local` writer (`txn_markers.ReplicaTxnMarkerWriter`: a control batch through the replica
  manager, `__consumer_offsets` through the group coordinator);
- another broker: a WriteTxnMarkers request to it. Markers for one destination are queued and sent together
  (`inter_broker_send_thread.DestinationQueue`: every marker queued while the previous request was in flight goes
  in the next), as Kafka's send thread drains a broker's queue.

Since only the image says whether a partition is gone, an UNKNOWN_TOPIC_OR_PARTITION from a replica manager (the
leader has not created its replica yet, or a deleted-and-re-created topic) is answered NOT_LEADER_OR_FOLLOWER: the
coordinator retries, and a marker is never skipped for a partition that exists. A lost connection or a timeout
answers NETWORK_EXCEPTION for every marker of the request (the connection is reopened on the next one).

Retrying is the coordinator's (`TransactionStateManager._complete`): it calls again for the partitions not yet
written, every `retry_backoff_ms`, while it still owns its `__transaction_state` partition, stops when a leader
answers TRANSACTION_COORDINATOR_FENCED or INVALID_PRODUCER_EPOCH (another coordinator or a newer epoch took the
transaction over), and writes CompleteCommit/CompleteAbort only once every partition answered NONE (or is gone).

WriteTxnMarkers is sent at v0-v1 (v2 adds the transaction version of KIP-890 part 2, which is not served), with
`request.timeout.ms` as the bound on connecting and on each answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.write_txn_markers_request import (
    WritableTxnMarker,
    WritableTxnMarkerTopic,
    WriteTxnMarkersRequest,
)
from odradek.broker.protocol.messages.write_txn_markers_response import WriteTxnMarkersResponse
from odradek.broker.replication.api import TopicPartition
from odradek.broker.replication.broker_blocking_sender import (
    PLAINTEXT,
    BrokerBlockingSender,
    BrokerEndPoint,
    ChannelSecurity,
)
from odradek.broker.replication.inter_broker_send_thread import DestinationQueue, DestinationQueues

WRITE_TXN_MARKERS = 27
WRITE_TXN_MARKERS_VERSIONS = (0, 1)
NO_LEADER = -1


@dataclass(frozen=True, slots=True)
class TxnMarkerEntry:
    """One transaction's marker for some partitions (Kafka's TxnMarkerEntry)."""

    producer_id: int
    producer_epoch: int
    coordinator_epoch: int
    commit: bool
    partitions: tuple[TopicPartition, ...]


MarkerErrors = Mapping[TopicPartition, ErrorCode]


class LocalTxnMarkerWriter(Protocol):
    async def write_markers(
        self,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        partitions: Sequence[TopicPartition],
    ) -> MarkerErrors: ...


class TxnMarkerSender(Protocol):
    """WriteTxnMarkers to one broker."""

    async def write_txn_markers(self, markers: Sequence[TxnMarkerEntry]) -> list[MarkerErrors]:
        """One request for `markers`; the errors of each, in order. Raises OSError, TimeoutError or EOFError on
        I/O failure."""
        ...

    async def close(self) -> None: ...


LeaderLookup = Callable[[TopicPartition], int | None]
"""The partition's leader in the current metadata image: a broker id, NO_LEADER, or None (no such partition)."""


class RemoteTxnMarkerSender:
    """WriteTxnMarkers over the broker's own inter-broker client (`BrokerBlockingSender`)."""

    def __init__(
        self,
        destination: BrokerEndPoint,
        node_id: int,
        request_timeout_ms: int,
        security: ChannelSecurity = PLAINTEXT,
    ) -> None:
        self._sender = BrokerBlockingSender(
            destination,
            request_timeout_ms,
            f"broker-{node_id}-txn-marker-sender",
            "odradek-txn-marker-sender",
            security,
        )

    async def write_txn_markers(self, markers: Sequence[TxnMarkerEntry]) -> list[MarkerErrors]:
        request = WriteTxnMarkersRequest(markers=[_wire_marker(entry) for entry in markers])
        _, response = await self._sender.request(WRITE_TXN_MARKERS, WRITE_TXN_MARKERS_VERSIONS, lambda _v: request)
        assert isinstance(response, WriteTxnMarkersResponse)
        return [_answered(entry, response, i) for i, entry in enumerate(markers)]

    async def close(self) -> None:
        await self._sender.close()


def _wire_marker(entry: TxnMarkerEntry) -> WritableTxnMarker:
    topics: dict[str, list[int]] = {}
    for topic, index in entry.partitions:
        topics.setdefault(topic, []).append(index)
    return WritableTxnMarker(
        producer_id=entry.producer_id,
        producer_epoch=entry.producer_epoch,
        transaction_result=entry.commit,
        coordinator_epoch=entry.coordinator_epoch,
        topics=[WritableTxnMarkerTopic(name=name, partition_indexes=indexes) for name, indexes in topics.items()],
    )


def _answered(entry: TxnMarkerEntry, response: WriteTxnMarkersResponse, i: int) -> MarkerErrors:
    """The answer to the i-th marker (answers come in request order); a partition missing from it: UNKNOWN."""
    errors = dict.fromkeys(entry.partitions, ErrorCode.UNKNOWN_SERVER_ERROR)
    if i < len(response.markers) and response.markers[i].producer_id == entry.producer_id:
        for topic in response.markers[i].topics:
            for part in topic.partitions:
                if (topic.name, part.partition_index) in errors:
                    errors[(topic.name, part.partition_index)] = ErrorCode(part.error_code)
    return errors


def _failed(entry: TxnMarkerEntry, error: ErrorCode) -> MarkerErrors:
    return dict.fromkeys(entry.partitions, error)


class TransactionMarkerChannelManager:
    def __init__(
        self,
        node_id: int,
        local: LocalTxnMarkerWriter,
        leader_of: LeaderLookup,
        endpoints: Callable[[], Mapping[int, BrokerEndPoint]],
        new_sender: Callable[[BrokerEndPoint], TxnMarkerSender],
    ) -> None:
        self.node_id = node_id
        self.local = local
        self.leader_of = leader_of
        self.endpoints = endpoints
        self.new_sender = new_sender
        self.queues: DestinationQueues[TxnMarkerEntry, MarkerErrors] = DestinationQueues(self._new_queue)

    async def write_markers(
        self,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        partitions: Sequence[TopicPartition],
    ) -> MarkerErrors:
        """One marker in each of `partitions`, to their current leaders; the error of each (NONE: written)."""
        errors: dict[TopicPartition, ErrorCode] = {}
        local: list[TopicPartition] = []
        remote: dict[int, list[TopicPartition]] = {}
        known = self.endpoints()
        for tp in partitions:
            leader = self.leader_of(tp)
            if leader is None:
                errors[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif leader == self.node_id:
                local.append(tp)
            elif leader == NO_LEADER or leader not in known or self.queues.closed:
                errors[tp] = ErrorCode.NOT_LEADER_OR_FOLLOWER
            else:
                remote.setdefault(leader, []).append(tp)
        waits: list[Awaitable[MarkerErrors]] = [
            self.queues.submit(
                known[broker],
                TxnMarkerEntry(producer_id, producer_epoch, coordinator_epoch, commit, tuple(tps)),
            )
            for broker, tps in remote.items()
        ]
        if local:
            waits.append(self.local.write_markers(producer_id, producer_epoch, coordinator_epoch, commit, local))
        for answer in await asyncio.gather(*waits):
            errors.update((tp, _retriable_if_unknown(error)) for tp, error in answer.items())
        return errors

    def _new_queue(self, endpoint: BrokerEndPoint) -> DestinationQueue[TxnMarkerEntry, MarkerErrors]:
        sender = self.new_sender(endpoint)
        name = f"txn markers to broker {endpoint.broker_id}"
        return DestinationQueue(name, sender.write_txn_markers, _failed, sender.close)

    async def close(self) -> None:
        await self.queues.close()


def _retriable_if_unknown(error: ErrorCode) -> ErrorCode:
    """The image (not a replica manager) says whether a partition is gone: a leader not knowing it yet is retried."""
    return ErrorCode.NOT_LEADER_OR_FOLLOWER if error is ErrorCode.UNKNOWN_TOPIC_OR_PARTITION else error
