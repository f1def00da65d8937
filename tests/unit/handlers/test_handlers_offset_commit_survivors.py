"""Survivors of the mutation run after the issue-8 refactor (docs/mutation-testing.md), handlers/offset_commit.py:
the committed leader epoch by version and the response's names, as a client sees them on the wire. Each test's
docstring names the mutants it kills."""

from __future__ import annotations

from errors_testing import BrokerClient, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import offset_commit_request as oc
from odradek.broker.protocol.messages import offset_fetch_request as of
from test_group_errors import broker, client, topic  # noqa: F401 (fixtures)


def commit(client: BrokerClient, group: str, topic: str, version: int, partition: int = 0, epoch: int = 3) -> object:  # noqa: F811
    request = oc.OffsetCommitRequest(
        group_id=group,
        generation_id_or_member_epoch=-1,
        member_id="",
        topics=[
            oc.OffsetCommitRequestTopic(
                name=topic,
                partitions=[
                    oc.OffsetCommitRequestPartition(
                        partition_index=partition, committed_offset=5, committed_leader_epoch=epoch
                    )
                ],
            )
        ],
    )
    return client.call(request, version)


def committed_epoch(client: BrokerClient, group: str, topic: str) -> int:  # noqa: F811
    request = of.OffsetFetchRequest(
        groups=[
            of.OffsetFetchRequestGroup(
                group_id=group, topics=[of.OffsetFetchRequestTopics(name=topic, partition_indexes=[0])]
            )
        ]
    )
    (found,) = client.call(request, 8).groups
    (partition,) = found.topics[0].partitions
    assert partition.committed_offset == 5
    return int(partition.committed_leader_epoch)


def test_the_committed_leader_epoch_is_read_from_v6(client: BrokerClient, topic: str) -> None:  # noqa: F811
    """OffsetCommit v6+ carries committed_leader_epoch, stored and returned by OffsetFetch; before v6 it is -1
    (kills `version >= 6` mutated to `> 6` / `>= 7` / `and False`, and the -1 of older versions mutated to +1 / -2)."""
    v6 = unique("epoch-v6")
    commit(client, v6, topic, 6)
    assert committed_epoch(client, v6, topic) == 3
    v5 = unique("epoch-v5")
    commit(client, v5, topic, 5)
    assert committed_epoch(client, v5, topic) == -1


def test_the_response_names_topics_and_partitions(client: BrokerClient, topic: str) -> None:  # noqa: F811
    """Each topic of the response has its name, each partition its index, also for an unknown partition (kills
    the name and the partition index dropped from the response)."""
    response = commit(client, unique("names"), topic, 8, partition=3)
    (result,) = response.topics  # type: ignore[attr-defined]
    assert result.name == topic
    (partition,) = result.partitions
    assert (partition.partition_index, partition.error_code) == (3, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
