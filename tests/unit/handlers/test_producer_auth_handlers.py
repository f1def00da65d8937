"""Authorization of InitProducerId (KIP-679: IDEMPOTENT_WRITE on the cluster or WRITE on some topic; WRITE on
the transactional id) and DescribeProducers (READ on the topic), with a denying authorizer and fake services;
the transactional path is delegated to the transaction coordinator."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from odradek.broker.auth.authorizer import CLUSTER_NAME, AclOperation, ResourceType
from odradek.broker.handlers import describe_producers, init_producer_id
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import describe_producers_request as dp
from odradek.broker.protocol.messages.init_producer_id_request import InitProducerIdRequest
from test_auth_handlers import context, run, services

T, C, TX = ResourceType.TOPIC, ResourceType.CLUSTER, ResourceType.TRANSACTIONAL_ID
IDEMPOTENT = (AclOperation.IDEMPOTENT_WRITE, C, CLUSTER_NAME)


class Ids:
    def __init__(self) -> None:
        self.next = 1000

    async def generate_producer_id(self) -> int:
        self.next += 1
        return self.next


class Coordinator:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def init_producer_id(self, *args: Any) -> tuple[ErrorCode, int, int]:
        self.calls.append(args)
        return ErrorCode.NONE, 77, 3


def init(svc: Any, **fields: Any) -> Any:
    return run(init_producer_id.handle(InitProducerIdRequest(**fields), context(svc, 22, 4)))


def with_ids(denied: set[Any]) -> Any:
    svc = services(denied)
    svc.producer_id_manager = Ids()
    return svc


def test_idempotent_write_on_the_cluster_is_enough() -> None:
    svc = with_ids(
        {(AclOperation.WRITE, T, "a"), (AclOperation.WRITE, T, "b"), (AclOperation.WRITE, T, "__consumer_offsets")}
    )
    assert (init(svc).error_code, init(svc).producer_id) == (ErrorCode.NONE, 1002)


def test_write_on_any_topic_is_enough() -> None:
    svc = with_ids({IDEMPOTENT, (AclOperation.WRITE, T, "a"), (AclOperation.WRITE, T, "__consumer_offsets")})
    assert init(svc).error_code == ErrorCode.NONE


def test_neither_is_cluster_authorization_failed() -> None:
    denied = {IDEMPOTENT, *((AclOperation.WRITE, T, t) for t in ("a", "b", "__consumer_offsets"))}
    answer = init(with_ids(denied))
    assert (answer.error_code, answer.producer_id, answer.producer_epoch) == (
        ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
        -1,
        -1,
    )


def test_transactional_id_needs_write_on_it_and_goes_to_the_coordinator() -> None:
    svc = with_ids({(AclOperation.WRITE, TX, "denied")})
    assert init(svc, transactional_id="denied").error_code == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert init(svc, transactional_id="tx").error_code == ErrorCode.NOT_COORDINATOR  # no coordinator yet
    svc.txn_coordinator = Coordinator()
    answer = init(svc, transactional_id="tx", transaction_timeout_ms=9000, producer_id=5, producer_epoch=2)
    assert (answer.error_code, answer.producer_id, answer.producer_epoch) == (ErrorCode.NONE, 77, 3)
    assert svc.txn_coordinator.calls == [("tx", 9000, 5, 2)]


def test_authorization_comes_before_request_checks() -> None:
    answer = init(with_ids({(AclOperation.WRITE, TX, "x")}), transactional_id="x", producer_id=5)
    assert answer.error_code == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def test_describe_producers_needs_read_on_the_topic() -> None:
    svc = services({(AclOperation.READ, T, "b")})
    producer = SimpleNamespace(
        producer_id=9,
        producer_epoch=1,
        last_sequence=4,
        last_timestamp=5,
        coordinator_epoch=-1,
        current_txn_first_offset=12,
    )
    svc.replica_manager.active_producers = lambda topic, index: [producer]
    request = dp.DescribeProducersRequest(
        topics=[dp.TopicRequest(name="a", partition_indexes=[0]), dp.TopicRequest(name="b", partition_indexes=[0, 1])]
    )
    a, b = run(describe_producers.handle(request, context(svc, 61, 0))).topics
    assert [p.error_code for p in b.partitions] == [ErrorCode.TOPIC_AUTHORIZATION_FAILED] * 2
    (state,) = a.partitions[0].active_producers
    assert (state.producer_id, state.last_sequence, state.current_txn_start_offset) == (9, 4, 12)
