"""Survivors of the mutation run after the issue-8 refactor (docs/mutation-testing.md), handlers/fetch.py: the
session epoch rule, the topic id of a v13+ response, and an empty partition's records, as a client sees them on the
wire. Each test's docstring names the mutants it kills."""

from __future__ import annotations

from errors_testing import BrokerClient
from odradek.broker.protocol.errors import ErrorCode
from test_partition_data_errors import (  # noqa: F401 (fixtures)
    batch,
    broker,
    client,
    fetch_request,
    new_topic,
    produce,
    topic_id,
)


def test_session_epoch_0_opens_a_full_fetch_and_1_needs_a_session(client: BrokerClient) -> None:  # noqa: F811
    """session_id 0 with epoch 0 is a full fetch (a client opening a session: every partition answered), epoch 1
    without a session is FETCH_SESSION_ID_NOT_FOUND (kills `session_epoch > 0` ->
    `>= 0` / `> 1`)."""
    name = new_topic(client)
    full = client.call(fetch_request(name, session_id=0, session_epoch=0), 12)
    assert full.error_code == ErrorCode.NONE and full.responses[0].partitions[0].error_code == ErrorCode.NONE
    missing = client.call(fetch_request(name, session_id=0, session_epoch=1), 12)
    assert missing.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def test_v13_responses_name_topics_by_id_and_empty_partitions_have_empty_records(
    client: BrokerClient,  # noqa: F811
) -> None:
    """From v13 a topic response carries the topic id it was asked by; a partition with nothing to read answers
    empty records, not null (kills `FetchableTopicResponse(topic=name, )` without the id, and `records=None` /
    dropped for the empty partition)."""
    name = new_topic(client)
    assert produce(client, name, batch()).error_code == ErrorCode.NONE
    tid = topic_id(client, name)
    response = client.call(fetch_request("", offset=1, tid=tid), 13)
    (topic,) = response.responses
    assert topic.topic_id == tid
    (partition,) = topic.partitions
    assert partition.error_code == ErrorCode.NONE and partition.records == b""
