"""KIP-890 part 1 across brokers at the handlers, with a denying authorizer and fake services: AddPartitionsToTxn
v4+ (the broker form) needs CLUSTER_ACTION and answers verify_only from the coordinator; Produce answers the
coordinator's verdict as Kafka's ReplicaManager does (INVALID_TXN_STATE, retriable failures as
NOT_ENOUGH_REPLICAS)."""

from __future__ import annotations

from typing import Any

import pytest
from odradek.broker.auth.authorizer import CLUSTER_NAME, AclOperation, ResourceType
from odradek.broker.handlers import add_partitions_to_txn
from odradek.broker.handlers.produce import _verification_result, _verify_remotely
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import add_partitions_to_txn_request as ap
from odradek.broker.replication.api import ProduceEntry, ProducerFields
from test_auth_handlers import context, run, services

E = ErrorCode
CLUSTER_ACTION = (AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME)


class Coordinator:
    def __init__(self) -> None:
        self.verified: list[tuple[Any, ...]] = []

    def verify_partitions(self, tid: str, pid: int, epoch: int, partitions: list[tuple[str, int]]) -> dict[Any, E]:
        self.verified.append((tid, pid, epoch, tuple(partitions)))
        return {tp: E.NONE if tp == ("a", 0) else E.INVALID_TXN_STATE for tp in partitions}


def verify(svc: Any, version: int = 4) -> Any:
    request = ap.AddPartitionsToTxnRequest(
        transactions=[
            ap.AddPartitionsToTxnTransaction(
                transactional_id="tx",
                producer_id=5,
                producer_epoch=1,
                verify_only=True,
                topics=[ap.AddPartitionsToTxnTopic(name="a", partitions=[0, 1])],
            )
        ]
    )
    return run(add_partitions_to_txn.handle(request, context(svc, 24, version)))


@pytest.mark.parametrize("version", [4, 5])
def test_verify_only_answers_from_the_coordinator(version: int) -> None:
    svc = services(set())
    svc.txn_coordinator = Coordinator()
    answer = verify(svc, version)
    assert answer.error_code == E.NONE
    (result,) = answer.results_by_transaction
    assert result.transactional_id == "tx"
    errors = {
        (t.name, p.partition_index): p.partition_error_code
        for t in result.topic_results
        for p in t.results_by_partition
    }
    assert errors == {("a", 0): E.NONE, ("a", 1): E.INVALID_TXN_STATE}
    assert svc.txn_coordinator.verified == [("tx", 5, 1, (("a", 0), ("a", 1)))]


def test_the_broker_form_needs_cluster_action() -> None:
    svc = services({CLUSTER_ACTION})
    svc.txn_coordinator = Coordinator()
    answer = verify(svc)
    assert (answer.error_code, answer.results_by_transaction) == (E.CLUSTER_AUTHORIZATION_FAILED, [])
    assert svc.txn_coordinator.verified == []


def test_produce_answers_the_verification_as_kafka_does() -> None:
    assert _verification_result(E.NONE) is None
    refused = _verification_result(E.INVALID_TXN_STATE)
    assert refused is not None and refused.error is E.INVALID_TXN_STATE
    for retriable in (
        E.CONCURRENT_TRANSACTIONS,
        E.NETWORK_EXCEPTION,
        E.COORDINATOR_LOAD_IN_PROGRESS,
        E.COORDINATOR_NOT_AVAILABLE,
        E.NOT_COORDINATOR,
    ):
        result = _verification_result(retriable)
        assert result is not None and result.error is E.NOT_ENOUGH_REPLICAS, retriable
    fenced = _verification_result(E.INVALID_PRODUCER_EPOCH)
    assert fenced is not None and fenced.error is E.INVALID_PRODUCER_EPOCH


class Verifier:
    """The AddPartitionsToTxnManager as the produce handler sees it: ("a", 0) is in the transaction."""

    def __init__(self) -> None:
        self.asked: list[tuple[Any, ...]] = []

    async def verify_transaction(self, tid: str, pid: int, epoch: int, partitions: list[tuple[str, int]]) -> Any:
        self.asked.append((tid, pid, epoch, tuple(partitions)))
        return {tp: E.NONE if tp == ("a", 0) else E.INVALID_TXN_STATE for tp in partitions}


def test_produce_verifies_the_requests_producer_once_and_refuses_two_producers_as_kafka() -> None:
    svc = services(set())
    svc.txn_verifier = verifier = Verifier()
    ctx = context(svc, 0, 9)
    a0, a1 = ProduceEntry("a", 0, b""), ProduceEntry("a", 1, b"")
    producer, other = ProducerFields(5, 1, True), ProducerFields(6, 0, True)
    verdicts = run(_verify_remotely(ctx, "tx", [(a0, producer), (a1, producer)]))
    assert verdicts[0] is None and verdicts[1] is not None and verdicts[1].error is E.INVALID_TXN_STATE
    assert verifier.asked == [("tx", 5, 1, (("a", 0), ("a", 1)))]
    # Kafka's ReplicaManager: "Transactional records contained more than one producer ID".
    mixed = run(_verify_remotely(ctx, "tx", [(a0, producer), (a1, other)]))
    assert [v.error if v is not None else None for v in mixed] == [E.INVALID_PRODUCER_ID_MAPPING] * 2
    assert len(verifier.asked) == 1
