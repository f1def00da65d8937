"""The hand-written Produce fast paths are equivalent to the generated codecs (objects and bytes)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odradek.broker.protocol import fast
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.messages import produce_request as pq
from odradek.broker.protocol.messages import produce_response as pr
from odradek.broker.protocol.primitives import Reader

SETTINGS = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))

records = st.none() | st.binary(max_size=300)
partitions = st.builds(pq.PartitionProduceData, index=st.integers(-(2**31), 2**31 - 1), records=records)


def requests(version: int) -> st.SearchStrategy[pq.ProduceRequest]:
    if version >= 13:
        topic = st.builds(pq.TopicProduceData, topic_id=st.uuids(), partition_data=st.lists(partitions, max_size=3))
    else:
        topic = st.builds(
            pq.TopicProduceData, name=st.text(max_size=200), partition_data=st.lists(partitions, max_size=3)
        )
    return st.builds(
        pq.ProduceRequest,
        transactional_id=st.none() | st.text(max_size=10),
        acks=st.sampled_from([-1, 0, 1]),
        timeout_ms=st.integers(0, 2**31 - 1),
        topic_data=st.lists(topic, max_size=3),
    )


@pytest.mark.parametrize("version", range(3, 14))
def test_decode_produce_request_matches_generated(version: int) -> None:
    @SETTINGS
    @given(requests(version), st.binary(max_size=5))
    def check(m: pq.ProduceRequest, prefix: bytes) -> None:
        w = bytearray(prefix)
        pq.encode(w, m, version)
        buf = memoryview(bytes(w))
        got = fast.decode_produce_request(buf, len(prefix), version)
        assert got == pq.decode(Reader(buf, len(prefix)), version) == m
        for p in (p for t in got.topic_data for p in t.partition_data):
            assert p.records is None or isinstance(p.records, memoryview)

    check()


@pytest.mark.parametrize("version", [3, 8, 9, 13])
def test_decode_produce_request_rejects_garbage(version: int) -> None:
    @SETTINGS
    @given(st.binary(max_size=80))
    def check(data: bytes) -> None:
        with contextlib.suppress(ProtocolError):
            fast.decode_produce_request(memoryview(data), 0, version)

    check()
    m = pq.ProduceRequest(
        topic_data=[
            pq.TopicProduceData(
                name="t", topic_id=uuid.uuid4(), partition_data=[pq.PartitionProduceData(records=b"x" * 50)]
            )
        ]
    )
    w = bytearray()
    pq.encode(w, m, version)
    for cut in range(len(w)):
        with pytest.raises(ProtocolError):
            fast.decode_produce_request(memoryview(bytes(w[:cut])), 0, version)


leader = st.none() | st.builds(pr.LeaderIdAndEpoch, leader_id=st.integers(-1, 5), leader_epoch=st.integers(-1, 5))
presp = st.builds(
    pr.PartitionProduceResponse,
    index=st.integers(0, 100),
    error_code=st.integers(-1, 120),
    base_offset=st.integers(-1, 2**62),
    log_append_time_ms=st.integers(-1, 2**42),
    log_start_offset=st.integers(-1, 2**62),
    record_errors=st.lists(st.builds(pr.BatchIndexAndErrorMessage, batch_index=st.integers(0, 9)), max_size=1),
    error_message=st.none() | st.text(max_size=5),
    current_leader=leader,
)
responses = st.builds(
    pr.ProduceResponse,
    responses=st.lists(
        st.builds(
            pr.TopicProduceResponse,
            name=st.text(max_size=200),
            topic_id=st.uuids(),
            partition_responses=st.lists(presp, max_size=3),
        ),
        max_size=3,
    ),
    throttle_time_ms=st.integers(0, 1000),
    node_endpoints=st.lists(st.builds(pr.NodeEndpoint, host=st.text(max_size=3)), max_size=1),
)


@pytest.mark.parametrize("version", range(3, 14))
def test_encode_produce_response_matches_generated(version: int) -> None:
    @SETTINGS
    @given(responses)
    def check(m: pr.ProduceResponse) -> None:
        a = bytearray(b"hdr")
        pr.encode(a, m, version)
        b = bytearray(b"hdr")
        fast.encode_produce_response(b, m, version)
        assert a == b

    check()
    # the common shape (fast branch taken)
    m = pr.ProduceResponse(
        responses=[pr.TopicProduceResponse(name="t", partition_responses=[pr.PartitionProduceResponse(base_offset=7)])]
    )
    a, b = bytearray(), bytearray()
    pr.encode(a, m, version)
    fast.encode_produce_response(b, m, version)
    assert a == b
