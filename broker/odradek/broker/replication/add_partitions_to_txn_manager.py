"""AddPartitionsToTxnManager: KIP-890 part 1 verification of transactional produce when the producer's
transaction coordinator is another broker (Kafka's AddPartitionsToTxnManager).

A partition leader receiving a transactional batch of a producer that has no ongoing transaction in the
partition's log asks the coordinator whether the partition was added to the producer's transaction, with
AddPartitionsToTxn v4+ (`verify_only`), before appending. The coordinator is the leader of the transactional id's
`__transaction_state` partition in the metadata image (`coordinator_of`); requests to one coordinator are queued
and sent together (`inter_broker_send_thread.DestinationQueue`), at most one entry per transactional id in a
request, as in Kafka.

The answer maps each partition to an error, as Kafka's verification callback gets it: NONE (verified),
INVALID_TXN_STATE (not in the transaction; also for a refused CLUSTER_ACTION, which the client must not see),
INVALID_PRODUCER_EPOCH (the coordinator answered PRODUCER_FENCED), NETWORK_EXCEPTION (lost connection or
timeout), COORDINATOR_NOT_AVAILABLE (no coordinator in the image), or the coordinator's own code
(NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, INVALID_PRODUCER_ID_MAPPING).
A coordinator that does not serve v4+ skips the verification (every partition NONE, as Kafka does on an
unsupported version).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.add_partitions_to_txn_request import (
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnTopic,
    AddPartitionsToTxnTransaction,
)
from odradek.broker.protocol.messages.add_partitions_to_txn_response import AddPartitionsToTxnResponse
from odradek.broker.replication.api import TopicPartition
from odradek.broker.replication.broker_blocking_sender import (
    PLAINTEXT,
    BrokerBlockingSender,
    BrokerEndPoint,
    ChannelSecurity,
    UnsupportedVersion,
)
from odradek.broker.replication.inter_broker_send_thread import DestinationQueue, DestinationQueues

ADD_PARTITIONS_TO_TXN = 24
BROKER_VERSIONS = (4, 5)  # v4+: the batched broker form with verify_only (v3 and below are the clients')

VerificationErrors = Mapping[TopicPartition, ErrorCode]


@dataclass(frozen=True, slots=True)
class TxnVerification:
    """One producer's partitions to verify (Kafka's AddPartitionsToTxnTransaction with verifyOnly)."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    partitions: tuple[TopicPartition, ...]


class TxnVerificationSender(Protocol):
    async def verify(self, entries: Sequence[TxnVerification]) -> list[VerificationErrors]:
        """One AddPartitionsToTxn (verify_only) for `entries`; their errors, in order. Raises OSError or
        TimeoutError or EOFError on I/O failure."""
        ...

    async def close(self) -> None: ...


class RemoteTxnVerificationSender:
    """AddPartitionsToTxn v4-5 over the broker's own inter-broker client."""

    def __init__(
        self,
        destination: BrokerEndPoint,
        node_id: int,
        request_timeout_ms: int,
        security: ChannelSecurity = PLAINTEXT,
    ) -> None:
        self._sender = BrokerBlockingSender(
            destination, request_timeout_ms, f"broker-{node_id}-txn-verifier", "odradek-txn-verifier", security
        )

    async def verify(self, entries: Sequence[TxnVerification]) -> list[VerificationErrors]:
        request = AddPartitionsToTxnRequest(transactions=[_wire(entry) for entry in entries])
        try:
            _, response = await self._sender.request(ADD_PARTITIONS_TO_TXN, BROKER_VERSIONS, lambda _v: request)
        except UnsupportedVersion:  # a coordinator without verification: skipped, as Kafka does
            return [dict.fromkeys(entry.partitions, ErrorCode.NONE) for entry in entries]
        assert isinstance(response, AddPartitionsToTxnResponse)
        return [_answered(entry, response) for entry in entries]

    async def close(self) -> None:
        await self._sender.close()


def _wire(entry: TxnVerification) -> AddPartitionsToTxnTransaction:
    topics: dict[str, list[int]] = {}
    for topic, index in entry.partitions:
        topics.setdefault(topic, []).append(index)
    return AddPartitionsToTxnTransaction(
        transactional_id=entry.transactional_id,
        producer_id=entry.producer_id,
        producer_epoch=entry.producer_epoch,
        verify_only=True,
        topics=[AddPartitionsToTxnTopic(name=name, partitions=indexes) for name, indexes in topics.items()],
    )


def _answered(entry: TxnVerification, response: AddPartitionsToTxnResponse) -> VerificationErrors:
    if response.error_code != ErrorCode.NONE:
        top = ErrorCode(response.error_code)
        return dict.fromkeys(
            entry.partitions, ErrorCode.INVALID_TXN_STATE if top is ErrorCode.CLUSTER_AUTHORIZATION_FAILED else top
        )
    errors = dict.fromkeys(entry.partitions, ErrorCode.INVALID_TXN_STATE)  # not answered: not verified
    for result in response.results_by_transaction:
        if result.transactional_id != entry.transactional_id:
            continue
        for topic in result.topic_results:
            for part in topic.results_by_partition:
                if (topic.name, part.partition_index) in errors:
                    error = ErrorCode(part.partition_error_code)
                    # Producers expect INVALID_PRODUCER_EPOCH here (Kafka's AddPartitionsToTxnManager).
                    errors[(topic.name, part.partition_index)] = (
                        ErrorCode.INVALID_PRODUCER_EPOCH if error is ErrorCode.PRODUCER_FENCED else error
                    )
    return errors


def _failed(entry: TxnVerification, error: ErrorCode) -> VerificationErrors:
    return dict.fromkeys(entry.partitions, error)


def _same_id(a: TxnVerification, b: TxnVerification) -> bool:
    return a.transactional_id == b.transactional_id


class AddPartitionsToTxnManager:
    def __init__(
        self,
        coordinator_of: Callable[[str], int | None],
        endpoints: Callable[[], Mapping[int, BrokerEndPoint]],
        new_sender: Callable[[BrokerEndPoint], TxnVerificationSender],
    ) -> None:
        self.coordinator_of = coordinator_of
        self.endpoints = endpoints
        self.new_sender = new_sender
        self.queues: DestinationQueues[TxnVerification, VerificationErrors] = DestinationQueues(self._new_queue)

    async def verify_transaction(
        self, transactional_id: str, producer_id: int, producer_epoch: int, partitions: Sequence[TopicPartition]
    ) -> VerificationErrors:
        """Whether each partition is in the producer's ongoing transaction, as its coordinator says."""
        coordinator = self.coordinator_of(transactional_id)
        endpoint = None if coordinator is None else self.endpoints().get(coordinator)
        if endpoint is None or self.queues.closed:
            return dict.fromkeys(partitions, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        entry = TxnVerification(transactional_id, producer_id, producer_epoch, tuple(partitions))
        return await self.queues.submit(endpoint, entry)

    def _new_queue(self, endpoint: BrokerEndPoint) -> DestinationQueue[TxnVerification, VerificationErrors]:
        sender = self.new_sender(endpoint)
        name = f"txn verification to broker {endpoint.broker_id}"
        return DestinationQueue(name, sender.verify, _failed, sender.close, _same_id)

    async def close(self) -> None:
        await self.queues.close()
