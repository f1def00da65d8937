"""Survivors of the mutation run after the issue-8 refactor (docs/mutation-testing.md), handlers/produce.py: the
fields of a Produce response as a client reads them on the wire. Each test's docstring names the mutants it kills."""

from __future__ import annotations

from errors_testing import BrokerClient
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.builder import build_control_batch
from test_partition_data_errors import batch, broker, client, new_topic, produce, produce_request  # noqa: F401 (fixtures)


def test_produce_response_names_its_topic_and_partition(client: BrokerClient) -> None:  # noqa: F811
    """Each topic response carries the topic's name and each partition response its index, also for a partition
    that does not exist (kills `TopicProduceResponse(partition_responses=...)` without the name, and the index
    dropped from the partition response)."""
    name = new_topic(client)
    (topic,) = client.call(produce_request(name, batch(), partition=4), 9).responses
    assert topic.name == name
    (partition,) = topic.partition_responses
    assert (partition.index, partition.error_code) == (4, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


def test_produce_response_carries_log_append_time_and_log_start_offset(client: BrokerClient) -> None:  # noqa: F811
    """log_start_offset is the partition's (0 here, not the default -1), log_append_time_ms the broker's time on a
    LogAppendTime topic (kills the two fields dropped from the partition response)."""
    name = new_topic(client, {"message.timestamp.type": "LogAppendTime"})
    result = produce(client, name, batch())
    assert result.error_code == ErrorCode.NONE
    assert result.log_start_offset == 0
    assert result.log_append_time_ms > 1_700_000_000_000


def test_produce_errors_carry_their_messages(client: BrokerClient) -> None:  # noqa: F811
    """A refused batch answers with the error message and, per record, the batch index's message (kills
    `error_message=None` / dropped, and `batch_index_error_message=None` / dropped)."""
    name = new_topic(client, {"cleanup.policy": "compact"})
    result = produce(client, name, batch(key=None))
    assert result.error_code == ErrorCode.INVALID_RECORD
    assert result.error_message
    (record_error,) = result.record_errors
    assert record_error.batch_index == 0 and record_error.batch_index_error_message


def test_clients_may_not_produce_transaction_markers(client: BrokerClient) -> None:  # noqa: F811
    """A Produce request is a client's append: a control batch is refused (kills `AppendOrigin.CLIENT` -> None,
    which skipped the client-only checks)."""
    name = new_topic(client)
    result = produce(client, name, build_control_batch(True, 7, 0), acks=1)
    assert result.error_code != ErrorCode.NONE
