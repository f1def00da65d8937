"""KIP-227 on the wire, against an in-process broker: Fetch v13 in a session by topic id (a full request opens
it, the incremental ones answer only what changed, forgotten topics leave it, the session by id refuses v12),
and a v12 session by name that a FINAL epoch closes."""

from __future__ import annotations

import uuid
from typing import Any

from errors_testing import BrokerClient
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import fetch_request as fr
from test_partition_data_errors import (  # noqa: F401 (fixtures)
    batch,
    broker,
    client,
    fetch_request,
    new_topic,
    produce,
    topic_id,
)


def answered(response: Any) -> dict[tuple[uuid.UUID, int], tuple[int, int, bytes]]:
    return {
        (topic.topic_id, part.partition_index): (part.error_code, part.high_watermark, bytes(part.records or b""))
        for topic in response.responses
        for part in topic.partitions
    }


def test_a_v13_session_by_topic_id(client: BrokerClient) -> None:  # noqa: F811
    a, b = new_topic(client), new_topic(client)
    ida, idb = topic_id(client, a), topic_id(client, b)
    assert produce(client, a, batch(2)).error_code == ErrorCode.NONE
    full = fetch_request("", tid=ida, session_id=0, session_epoch=0)
    full.topics.append(fr.FetchTopic(topic_id=idb, partitions=[fr.FetchPartition(partition_max_bytes=1 << 20)]))
    opened = client.call(full, 13)
    assert opened.error_code == ErrorCode.NONE and opened.session_id != 0
    assert set(answered(opened)) == {(ida, 0), (idb, 0)}
    session = opened.session_id
    # a's fetch offset moves to 2 (named); b is idle (not named): nothing changed, nothing answered
    quiet = client.call(fetch_request("", offset=2, tid=ida, session_id=session, session_epoch=1), 13)
    assert (quiet.error_code, quiet.session_id, answered(quiet)) == (ErrorCode.NONE, session, {})
    assert produce(client, b, batch(1)).error_code == ErrorCode.NONE
    moved = client.call(fr.FetchRequest(max_bytes=1 << 20, session_id=session, session_epoch=2), 13)
    ((key, (error, hw, records)),) = answered(moved).items()
    assert key == (idb, 0) and (error, hw) == (ErrorCode.NONE, 1) and records  # b's record, a not answered
    by_name = client.call(fr.FetchRequest(max_bytes=1 << 20, session_id=session, session_epoch=3), 12)
    assert by_name.error_code == ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR
    stale = client.call(fr.FetchRequest(max_bytes=1 << 20, session_id=session, session_epoch=2), 13)
    assert stale.error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    forget = fetch_request("", offset=1, tid=idb, session_id=session, session_epoch=3)  # b read up to 1
    forget.forgotten_topics_data = [fr.ForgottenTopic(topic_id=ida, partitions=[0])]
    assert produce(client, a, batch(1)).error_code == ErrorCode.NONE
    left = client.call(forget, 13)
    assert (left.error_code, answered(left)) == (ErrorCode.NONE, {})  # a's new record: a is no longer in it
    assert produce(client, b, batch(1)).error_code == ErrorCode.NONE
    again = client.call(fr.FetchRequest(max_bytes=1 << 20, session_id=session, session_epoch=4), 13)
    assert list(answered(again)) == [(idb, 0)] and answered(again)[(idb, 0)][1] == 2


def test_a_v12_session_closed_by_the_final_epoch(client: BrokerClient) -> None:  # noqa: F811
    name = new_topic(client)
    opened = client.call(fetch_request(name, session_id=0, session_epoch=0), 12)
    assert opened.session_id != 0
    closing = client.call(fetch_request(name, session_id=opened.session_id, session_epoch=-1), 12)
    assert (closing.error_code, closing.session_id) == (ErrorCode.NONE, 0)
    assert len(answered(closing)) == 1  # answered sessionless: every partition named
    gone = client.call(fetch_request(name, session_id=opened.session_id, session_epoch=1), 12)
    assert gone.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
