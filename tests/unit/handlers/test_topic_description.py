"""Metadata's topic description while this broker is still creating some partitions' logs, and how long the
create APIs wait for them."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from odradek.broker.handlers.context import MAX_REPLICA_WAIT_S, replica_wait_s
from odradek.broker.handlers.topics import describe_topic, pending_here
from odradek.broker.metadata.image import PartitionImage, TopicImage
from odradek.broker.protocol.errors import ErrorCode

TOPIC_ID = str(uuid.uuid4())


def topic(partitions: int) -> TopicImage:
    parts = {p: PartitionImage("t", p, (1,), 1, 4, (1,)) for p in range(partitions)}
    return TopicImage("t", TOPIC_ID, partitions, {}, parts)


def test_pending_partitions_have_no_leader_until_their_log_exists() -> None:
    described = describe_topic(topic(3), lambda name, index: name == "t" and index == 2)
    assert [(p.partition_index, p.error_code, p.leader_id) for p in described.partitions] == [
        (0, ErrorCode.NONE, 1),
        (1, ErrorCode.NONE, 1),
        (2, ErrorCode.LEADER_NOT_AVAILABLE, -1),
    ]
    assert described.partitions[2].replica_nodes == [1] and described.partitions[2].leader_epoch == 4
    assert all(p.error_code == ErrorCode.NONE for p in describe_topic(topic(3)).partitions)


def test_pending_here_only_when_the_replica_manager_has_pending_partitions() -> None:
    def services(manager: Any) -> Any:
        return SimpleNamespace(replica_manager=manager)

    assert pending_here(services(None)) is None  # handler tests without a replica manager
    assert pending_here(services(SimpleNamespace(has_pending=False))) is None
    busy = SimpleNamespace(has_pending=True, is_pending=lambda name, index: index == 0)
    check = pending_here(services(busy))
    assert check is not None and check("t", 0) and not check("t", 1)


def test_create_wait_is_the_request_timeout_within_the_cap() -> None:
    assert replica_wait_s(5_000) == 5.0
    assert replica_wait_s(60_000) == MAX_REPLICA_WAIT_S
    assert replica_wait_s(0) == MAX_REPLICA_WAIT_S  # librdkafka's default operation timeout
    assert replica_wait_s(-1) == MAX_REPLICA_WAIT_S


def test_offline_partitions_and_replicas_of_unregistered_brokers() -> None:
    parts = {
        0: PartitionImage("t", 0, (1, 2, 3), 2, 5, (2, 3)),  # broker 1 is gone: an offline replica
        1: PartitionImage("t", 1, (1, 2), -1, 6, (1,)),  # offline: no in-sync replica to elect
        2: PartitionImage("t", 2, (3, 2), 3, 1, (3, 2)),  # its leader's registration is gone, not yet re-elected
    }
    described = describe_topic(TopicImage("t", TOPIC_ID, 3, {}, parts), brokers={2})
    assert [(p.error_code, p.leader_id, p.leader_epoch, p.offline_replicas) for p in described.partitions] == [
        (ErrorCode.NONE, 2, 5, [1, 3]),
        (ErrorCode.LEADER_NOT_AVAILABLE, -1, 6, [1]),
        (ErrorCode.LEADER_NOT_AVAILABLE, -1, 1, [3]),
    ]
    assert described.partitions[1].isr_nodes == [1] and described.partitions[1].replica_nodes == [1, 2]
