"""TransactionMarkerChannelManager with fakes: a leader map standing in for the metadata image, a recording local
writer, and one scripted WriteTxnMarkers sender per destination broker. Markers go to the current leaders, one
request per destination (and markers queued while a request is in flight share the next one); errors that must be
retried are retried by the coordinator, at the leader the image names then; a transaction is complete only once
every marker is written; a fenced coordinator stops. And the KIP-890 verification queue beside it
(AddPartitionsToTxnManager), on the same per-destination queue."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.add_partitions_to_txn_manager import (
    AddPartitionsToTxnManager,
    RemoteTxnVerificationSender,
    TxnVerification,
)
from odradek.broker.replication.api import TopicPartition
from odradek.broker.replication.broker_blocking_sender import BrokerEndPoint, ConnectionFailed, UnsupportedVersion
from odradek.broker.replication.txn_marker_channel_manager import (
    NO_LEADER,
    TransactionMarkerChannelManager,
    TxnMarkerEntry,
)
from odradek.broker.txn.api import TransactionConfig
from odradek.broker.txn.coordinator import TransactionCoordinator
from odradek.broker.utils.time import MockTime
from txn_fakes import MarkerWriter, ProducerIds

pytestmark = pytest.mark.timeout(10)
E = ErrorCode
ME = 1
TID = "tx"
CONFIG = TransactionConfig(max_timeout_ms=60_000, retry_backoff_ms=100)


class Sender:
    """A destination broker: records each request; answers `answer` per partition (or raises `raises`); with
    `hold`, waits for `release` before answering."""

    def __init__(self, broker_id: int) -> None:
        self.broker_id = broker_id
        self.requests: list[list[TxnMarkerEntry]] = []
        self.answer: dict[TopicPartition, ErrorCode] = {}
        self.raises: Exception | None = None
        self.hold = False
        self.release = asyncio.Event()
        self.closed = 0

    async def write_txn_markers(self, markers: Sequence[TxnMarkerEntry]) -> list[Mapping[TopicPartition, ErrorCode]]:
        self.requests.append(list(markers))
        if self.hold:
            await self.release.wait()
        if self.raises is not None:
            raise self.raises
        return [{tp: self.answer.get(tp, E.NONE) for tp in entry.partitions} for entry in markers]

    async def close(self) -> None:
        self.closed += 1

    @property
    def partitions(self) -> list[tuple[TopicPartition, ...]]:
        return [entry.partitions for request in self.requests for entry in request]


class Cluster:
    """The leader map and endpoints the channel reads, and the senders it made."""

    def __init__(self, leaders: dict[TopicPartition, int]) -> None:
        self.leaders = leaders
        self.brokers = {b: BrokerEndPoint(b, "127.0.0.1", 9000 + b) for b in (1, 2, 3)}
        self.senders: dict[int, Sender] = {}
        self.local = MarkerWriter()
        self.channel = TransactionMarkerChannelManager(
            ME, self.local, self.leaders.get, lambda: self.brokers, self._new_sender
        )

    def _new_sender(self, endpoint: BrokerEndPoint) -> Sender:
        sender = self.senders.get(endpoint.broker_id) or Sender(endpoint.broker_id)
        self.senders[endpoint.broker_id] = sender
        return sender

    def sender(self, broker_id: int) -> Sender:
        return self._new_sender(self.brokers[broker_id])


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_markers_go_to_each_leader_in_one_request_per_destination() -> None:
    cluster = Cluster({("a", 0): ME, ("a", 1): 2, ("b", 0): 2, ("b", 1): 3, ("c", 0): NO_LEADER})
    partitions = [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0), ("gone", 0)]
    errors = await cluster.channel.write_markers(7, 0, 5, True, partitions)
    assert errors == {
        ("a", 0): E.NONE,
        ("a", 1): E.NONE,
        ("b", 0): E.NONE,
        ("b", 1): E.NONE,
        ("c", 0): E.NOT_LEADER_OR_FOLLOWER,  # no leader now: retried
        ("gone", 0): E.UNKNOWN_TOPIC_OR_PARTITION,  # not in the image: deleted, no marker needed
    }
    assert cluster.local.written == [(7, 0, True, (("a", 0),))]
    assert cluster.senders[2].requests == [[TxnMarkerEntry(7, 0, 5, True, (("a", 1), ("b", 0)))]]
    assert cluster.senders[3].requests == [[TxnMarkerEntry(7, 0, 5, True, (("b", 1),))]]
    await cluster.channel.close()


async def test_markers_queued_while_a_request_is_in_flight_share_the_next_request() -> None:
    cluster = Cluster({("a", 0): 2, ("a", 1): 2})
    sender = cluster.sender(2)
    sender.hold = True
    first = asyncio.create_task(cluster.channel.write_markers(7, 0, 5, True, [("a", 0)]))
    await settle()
    second = asyncio.create_task(cluster.channel.write_markers(8, 0, 5, False, [("a", 0), ("a", 1)]))
    third = asyncio.create_task(cluster.channel.write_markers(9, 0, 5, True, [("a", 1)]))
    await settle()
    assert [len(r) for r in sender.requests] == [1]  # one in flight, two waiting
    sender.release.set()
    assert await first == {("a", 0): E.NONE}
    assert await second == {("a", 0): E.NONE, ("a", 1): E.NONE}
    assert await third == {("a", 1): E.NONE}
    assert [[m.producer_id for m in r] for r in sender.requests] == [[7], [8, 9]]
    await cluster.channel.close()


async def test_lost_connections_and_unknown_partitions_at_a_leader_are_retriable() -> None:
    cluster = Cluster({("a", 0): 2, ("a", 1): ME})
    cluster.sender(2).raises = ConnectionResetError("gone")
    cluster.local.errors = {("a", 1): E.UNKNOWN_TOPIC_OR_PARTITION}  # the leader has not created its replica yet
    errors = await cluster.channel.write_markers(7, 0, 5, True, [("a", 0), ("a", 1)])
    assert errors == {("a", 0): E.NETWORK_EXCEPTION, ("a", 1): E.NOT_LEADER_OR_FOLLOWER}
    cluster.sender(2).raises = asyncio.IncompleteReadError(b"", 4)  # closed in the middle of the answer
    assert await cluster.channel.write_markers(7, 0, 5, True, [("a", 0)]) == {("a", 0): E.NETWORK_EXCEPTION}
    cluster.sender(2).raises = None
    cluster.sender(2).answer = {("a", 0): E.UNKNOWN_TOPIC_OR_PARTITION}
    assert await cluster.channel.write_markers(7, 0, 5, True, [("a", 0)]) == {("a", 0): E.NOT_LEADER_OR_FOLLOWER}
    await cluster.channel.close()


async def test_closing_answers_markers_in_flight_with_a_retriable_error() -> None:
    cluster = Cluster({("a", 0): 2})
    cluster.sender(2).hold = True
    waiting = asyncio.create_task(cluster.channel.write_markers(7, 0, 5, True, [("a", 0)]))
    await settle()
    await cluster.channel.close()
    assert await waiting == {("a", 0): E.NETWORK_EXCEPTION}
    assert cluster.senders[2].closed == 1
    assert await cluster.channel.write_markers(7, 0, 5, True, [("a", 0)]) == {("a", 0): E.NOT_LEADER_OR_FOLLOWER}


async def test_a_moved_broker_gets_a_new_connection() -> None:
    cluster = Cluster({("a", 0): 2})
    await cluster.channel.write_markers(7, 0, 5, True, [("a", 0)])
    old = cluster.channel.queues[2]
    cluster.brokers[2] = BrokerEndPoint(2, "127.0.0.1", 9999)
    await cluster.channel.write_markers(7, 0, 5, True, [("a", 0)])
    assert cluster.channel.queues[2] is not old
    await settle()
    assert cluster.senders[2].closed == 1
    await cluster.channel.close()


# ==== with the transaction coordinator =======================================================================


async def coordinated(cluster: Cluster) -> tuple[TransactionCoordinator, MockTime, int, int]:
    time = MockTime()
    coordinator = TransactionCoordinator(
        CONFIG, InMemoryCoordinatorLog(), lambda: 1, lambda tid, n: 0, time, ProducerIds(), cluster.channel
    )
    coordinator.on_elected(0, 4)
    await coordinator.wait_loaded()
    _, pid, epoch = await coordinator.init_producer_id(TID, 10_000, -1, -1)
    return coordinator, time, pid, epoch


def txn_state(coordinator: TransactionCoordinator) -> str:
    return coordinator.describe(TID).state


async def test_a_marker_refused_by_an_old_leader_is_retried_at_the_new_leader() -> None:
    cluster = Cluster({("a", 0): 2, ("b", 0): 3})
    coordinator, time, pid, epoch = await coordinated(cluster)
    await coordinator.add_partitions(TID, pid, epoch, [("a", 0), ("b", 0)])
    cluster.sender(2).answer = {("a", 0): E.NOT_LEADER_OR_FOLLOWER}  # leadership moved away from broker 2
    assert await coordinator.end_transaction(TID, pid, epoch, True) is E.NONE
    await settle()
    assert txn_state(coordinator) == "PrepareCommit"
    cluster.leaders[("a", 0)] = 3  # the image now names broker 3
    time.advance(CONFIG.retry_backoff_ms)
    await coordinator.wait_idle()
    assert cluster.senders[2].partitions == [(("a", 0),)]
    assert cluster.senders[3].partitions == [(("b", 0),), (("a", 0),)]
    assert all(m.coordinator_epoch == 4 and m.commit for r in cluster.senders[3].requests for m in r)
    assert txn_state(coordinator) == "CompleteCommit"
    coordinator.close()
    await cluster.channel.close()


async def test_the_transaction_completes_only_after_every_marker_is_written() -> None:
    cluster = Cluster({("a", 0): ME, ("b", 0): 2, ("c", 0): 3})
    coordinator, time, pid, epoch = await coordinated(cluster)
    await coordinator.add_partitions(TID, pid, epoch, [("a", 0), ("b", 0), ("c", 0)])
    cluster.sender(3).hold = True
    cluster.sender(2).raises = TimeoutError()
    assert await coordinator.end_transaction(TID, pid, epoch, False) is E.NONE
    await settle()
    assert txn_state(coordinator) == "PrepareAbort"  # broker 3 has not answered
    cluster.sender(2).raises = None
    cluster.sender(3).release.set()
    await settle()
    assert txn_state(coordinator) == "PrepareAbort"  # broker 2 timed out: its marker waits for the backoff
    time.advance(CONFIG.retry_backoff_ms)
    await settle()
    assert txn_state(coordinator) == "CompleteAbort"
    assert cluster.local.written == [(pid, epoch, False, (("a", 0),))]
    assert cluster.senders[2].partitions == [(("b", 0),), (("b", 0),)]
    assert cluster.senders[3].partitions == [(("c", 0),)]
    assert all(not m.commit and m.producer_epoch == epoch for r in cluster.senders[2].requests for m in r)
    coordinator.close()
    await cluster.channel.close()


async def test_a_fenced_coordinator_stops_sending_and_does_not_complete() -> None:
    cluster = Cluster({("a", 0): 2})
    coordinator, time, pid, epoch = await coordinated(cluster)
    await coordinator.add_partitions(TID, pid, epoch, [("a", 0)])
    cluster.sender(2).answer = {("a", 0): E.TRANSACTION_COORDINATOR_FENCED}
    assert await coordinator.end_transaction(TID, pid, epoch, True) is E.NONE
    await coordinator.wait_idle()
    for _ in range(3):
        time.advance(CONFIG.retry_backoff_ms)
        await settle()
    assert len(cluster.senders[2].requests) == 1
    assert txn_state(coordinator) == "PrepareCommit"
    coordinator.close()
    await cluster.channel.close()


# ==== KIP-890 part 1: verification with a coordinator on another broker =====================================


class Verifier:
    """A coordinator broker answering AddPartitionsToTxn verify_only: `added` holds each id's partitions."""

    def __init__(self) -> None:
        self.requests: list[list[TxnVerification]] = []
        self.added: dict[str, set[TopicPartition]] = {}
        self.hold = False
        self.release = asyncio.Event()

    async def verify(self, entries: Sequence[TxnVerification]) -> list[Mapping[TopicPartition, ErrorCode]]:
        self.requests.append(list(entries))
        if self.hold:
            await self.release.wait()
        return [
            {
                tp: E.NONE if tp in self.added.get(e.transactional_id, set()) else E.INVALID_TXN_STATE
                for tp in e.partitions
            }
            for e in entries
        ]

    async def close(self) -> None:
        pass


async def test_verifications_go_to_the_coordinator_one_entry_per_transactional_id_per_request() -> None:
    verifier = Verifier()
    coordinators = {"t1": 2, "t2": 2, "t3": None}
    brokers = {2: BrokerEndPoint(2, "127.0.0.1", 9002)}
    manager = AddPartitionsToTxnManager(coordinators.get, lambda: brokers, lambda _e: verifier)
    verifier.added = {"t1": {("a", 0)}, "t2": {("a", 1)}}
    verifier.hold = True
    in_flight = asyncio.create_task(manager.verify_transaction("t2", 8, 0, [("a", 1)]))
    await settle()
    first = asyncio.create_task(manager.verify_transaction("t1", 7, 0, [("a", 0), ("a", 1)]))
    again = asyncio.create_task(manager.verify_transaction("t1", 7, 0, [("a", 0)]))
    other = asyncio.create_task(manager.verify_transaction("t2", 8, 0, [("a", 0)]))
    assert await manager.verify_transaction("t3", 9, 0, [("a", 0)]) == {("a", 0): E.COORDINATOR_NOT_AVAILABLE}
    await settle()
    verifier.release.set()
    assert await in_flight == {("a", 1): E.NONE}
    assert await first == {("a", 0): E.NONE, ("a", 1): E.INVALID_TXN_STATE}
    assert await again == {("a", 0): E.NONE}
    assert await other == {("a", 0): E.INVALID_TXN_STATE}
    # Queued meanwhile: one request for t1 and t2, t1's second check in a request of its own (at most one entry per
    # transactional id in a request, as Kafka sends them).
    assert [[e.transactional_id for e in r] for r in verifier.requests] == [["t2"], ["t1", "t2"], ["t1"]]
    await manager.close()


class RefusingSender:
    """A BrokerBlockingSender whose destination raises `error` for every request."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def request(self, api_key: int, ours: tuple[int, int], build: object) -> tuple[int, object]:
        raise self.error

    async def close(self) -> None:
        pass


async def test_a_coordinator_without_verification_skips_it_and_other_failures_are_io_errors() -> None:
    entry = TxnVerification("t1", 7, 0, (("a", 0), ("a", 1)))
    sender = RemoteTxnVerificationSender(BrokerEndPoint(2, "127.0.0.1", 9002), ME, 1000)
    sender._sender = RefusingSender(UnsupportedVersion("v4+ not served"))  # type: ignore[assignment]
    assert await sender.verify([entry]) == [{("a", 0): E.NONE, ("a", 1): E.NONE}]  # as Kafka: not verified
    sender._sender = RefusingSender(ConnectionFailed("invalid response size"))  # type: ignore[assignment]
    with pytest.raises(ConnectionFailed):
        await sender.verify([entry])
