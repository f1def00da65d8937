"""The inter-broker transaction clients against a real broker in this process, as a peer broker calls them.

- The marker channel's (`replication/txn_marker_channel_manager.RemoteTxnMarkerSender`): WriteTxnMarkers encoded
  with the broker's own codecs, markers written into a partition led there, Kafka's coordinator epoch fencing
  (TRANSACTION_COORDINATOR_FENCED for a marker from an older coordinator epoch than one already seen), unknown
  partitions, and several markers in one request answered in order.
- The KIP-890 verifier's (`replication/add_partitions_to_txn_manager.RemoteTxnVerificationSender`):
  AddPartitionsToTxn v4+ verify_only answered from the coordinator's state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import add_partitions_to_txn_request as ap
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import find_coordinator_request as fc
from odradek.broker.protocol.messages import init_producer_id_request as ip
from odradek.broker.protocol.messages import produce_request as pr
from odradek.broker.records.builder import build_batch
from odradek.broker.replication.add_partitions_to_txn_manager import RemoteTxnVerificationSender, TxnVerification
from odradek.broker.replication.broker_blocking_sender import BrokerEndPoint
from odradek.broker.replication.txn_marker_channel_manager import RemoteTxnMarkerSender, TxnMarkerEntry

E = ErrorCode
TIMEOUT_MS = 600_000  # the broker's own coordinator must not abort these transactions during the test


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("marker-client")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


def create_topic(client: BrokerClient, prefix: str, partitions: int) -> str:
    topic = unique(prefix)
    request = ct.CreateTopicsRequest(
        topics=[ct.CreatableTopic(name=topic, num_partitions=partitions, replication_factor=1)], timeout_ms=5000
    )
    assert client.call(request, 7).topics[0].error_code == E.NONE
    return topic


def begin(client: BrokerClient, topic: str, tid: str) -> tuple[int, int]:
    """A producer id for `tid` (retried while __transaction_state loads) and `topic`-0 added to its transaction."""
    for _ in range(200):  # bounded: the coordinator may still be loading its partition
        client.call(fc.FindCoordinatorRequest(key_type=1, coordinator_keys=[tid]), 4)
        init = client.call(ip.InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=TIMEOUT_MS), 4)
        if init.error_code == E.NONE:
            break
    assert init.error_code == E.NONE
    add = ap.AddPartitionsToTxnRequest(
        v3_and_below_transactional_id=tid,
        v3_and_below_producer_id=init.producer_id,
        v3_and_below_producer_epoch=init.producer_epoch,
        v3_and_below_topics=[ap.AddPartitionsToTxnTopic(name=topic, partitions=[0])],
    )
    ((added,),) = [t.results_by_partition for t in client.call(add, 3).results_by_topic_v3_and_below]
    assert added.partition_error_code == E.NONE
    return init.producer_id, init.producer_epoch


def produce(client: BrokerClient, topic: str, tid: str, pid: int, epoch: int, sequence: int) -> None:
    records = build_batch(
        [(b"k", b"v", (), 1_700_000_000_000)],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=sequence,
        transactional=True,
    )
    data = [pr.TopicProduceData(name=topic, partition_data=[pr.PartitionProduceData(index=0, records=records)])]
    answer = client.call(pr.ProduceRequest(transactional_id=tid, acks=-1, timeout_ms=5000, topic_data=data), 9)
    assert answer.responses[0].partition_responses[0].error_code == E.NONE


def test_markers_from_a_peer_coordinator_and_epoch_fencing(broker: InProcessBroker, client: BrokerClient) -> None:
    topic = create_topic(client, "markers", 1)
    first, second = unique("tx"), unique("tx")
    pid, epoch = begin(client, topic, first)
    other_pid, other_epoch = begin(client, topic, second)
    produce(client, topic, first, pid, epoch, 0)
    produce(client, topic, second, other_pid, other_epoch, 0)
    tp = (topic, 0)

    async def scenario() -> None:
        sender = RemoteTxnMarkerSender(BrokerEndPoint(0, "127.0.0.1", broker.port), 99, 10_000)
        try:
            answers = await sender.write_txn_markers(
                [
                    TxnMarkerEntry(pid, epoch, 10, True, (tp, ("no-such-topic", 0))),
                    TxnMarkerEntry(other_pid, other_epoch, 10, False, (tp,)),
                ]
            )
            assert answers == [{tp: E.NONE, ("no-such-topic", 0): E.UNKNOWN_TOPIC_OR_PARTITION}, {tp: E.NONE}]
            # The same producer's next transaction, ended by a coordinator of an older epoch: a zombie's marker.
            await asyncio.to_thread(produce, client, topic, first, pid, epoch, 1)
            assert await sender.write_txn_markers([TxnMarkerEntry(pid, epoch, 9, True, (tp,))]) == [
                {tp: E.TRANSACTION_COORDINATOR_FENCED}
            ]
            assert await sender.write_txn_markers([TxnMarkerEntry(pid, epoch, 11, False, (tp,))]) == [{tp: E.NONE}]
        finally:
            await sender.close()

    asyncio.run(scenario())


def test_verification_from_a_peer_partition_leader(broker: InProcessBroker, client: BrokerClient) -> None:
    """AddPartitionsToTxn v4+ verify_only, as a partition leader on another broker sends it (KIP-890 part 1)."""
    topic = create_topic(client, "verify", 2)
    tid = unique("tx")
    pid, epoch = begin(client, topic, tid)  # partition 0 added, partition 1 not
    added, missing = (topic, 0), (topic, 1)

    async def scenario() -> None:
        sender = RemoteTxnVerificationSender(BrokerEndPoint(0, "127.0.0.1", broker.port), 99, 10_000)
        try:
            answers = await sender.verify(
                [
                    TxnVerification(tid, pid, epoch, (added, missing)),
                    TxnVerification(tid + "-unknown", pid, epoch, (added,)),
                ]
            )
            assert answers == [
                {added: E.NONE, missing: E.INVALID_TXN_STATE},
                {added: E.INVALID_PRODUCER_ID_MAPPING},
            ]
            fenced = await sender.verify([TxnVerification(tid, pid, epoch + 1, (added,))])
            assert fenced == [{added: E.INVALID_PRODUCER_EPOCH}]  # PRODUCER_FENCED, as producers expect it here
        finally:
            await sender.close()

    asyncio.run(scenario())
