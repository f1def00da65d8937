"""The codecs of the versions Kafka 4.0 removed (generated from Kafka 3.9's floors, tools/gen_protocol.py) against
kafka-python's hand-written legacy structs (kafka.protocol.old: an independent transcription of Kafka's old
schemas): a body kafka-python encodes decodes with ours and re-encodes to the same bytes, requests and
responses. Values are filled from the kafka-python schema (distinct ints, strings, one element per array)."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import pytest
from odradek.broker.protocol.apis import APIS
from odradek.broker.protocol.primitives import Reader

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.old import admin, commit, fetch, list_offsets, produce
    from kafka.protocol.old import offset_for_leader_epoch as leader_epoch
    from kafka.protocol.old import types as t

# (api key, version, kafka-python request class, response class)
CASES = [
    (0, v, getattr(produce, f"ProduceRequest_v{v}"), getattr(produce, f"ProduceResponse_v{v}")) for v in (0, 1, 2)
] + [
    (1, v, getattr(fetch, f"FetchRequest_v{v}"), getattr(fetch, f"FetchResponse_v{v}")) for v in (0, 1, 2, 3)
] + [
    (2, 0, list_offsets.ListOffsetsRequest_v0, list_offsets.ListOffsetsResponse_v0),
    (8, 0, commit.OffsetCommitRequest_v0, commit.OffsetCommitResponse_v0),
    (8, 1, commit.OffsetCommitRequest_v1, commit.OffsetCommitResponse_v1),
    (9, 0, commit.OffsetFetchRequest_v0, commit.OffsetFetchResponse_v0),
    (19, 0, admin.CreateTopicsRequest_v0, admin.CreateTopicsResponse_v0),
    (19, 1, admin.CreateTopicsRequest_v1, admin.CreateTopicsResponse_v1),
    (20, 0, admin.DeleteTopicsRequest_v0, admin.DeleteTopicsResponse_v0),
    (23, 0, leader_epoch.OffsetForLeaderEpochRequest_v0, leader_epoch.OffsetForLeaderEpochResponse_v0),
    (23, 1, leader_epoch.OffsetForLeaderEpochRequest_v1, leader_epoch.OffsetForLeaderEpochResponse_v1),
    (29, 0, admin.DescribeAclsRequest_v0, admin.DescribeAclsResponse_v0),
    (30, 0, admin.CreateAclsRequest_v0, admin.CreateAclsResponse_v0),
    (31, 0, admin.DeleteAclsRequest_v0, admin.DeleteAclsResponse_v0),
    (32, 0, admin.DescribeConfigsRequest_v0, admin.DescribeConfigsResponse_v0),
]  # fmt: skip


def _sample(kind: Any, counter: itertools.count[int]) -> Any:
    """A value for one kafka-python schema type: distinct per field, so a swapped field is caught."""
    n = next(counter)
    if isinstance(kind, t.Schema):
        return tuple(_sample(field, counter) for field in kind.fields)
    if isinstance(kind, t.Array):
        return [_sample(kind.array_of, counter)]
    if kind is t.String or isinstance(kind, t.String):
        return f"s{n}"
    if kind is t.Bytes or isinstance(kind, t.Bytes):
        return b"b%d" % n
    if kind is t.Boolean:
        return n % 2 == 1
    if kind is t.Int8:
        return n % 100
    return n  # Int16/32/64


def _roundtrip(api_key: int, version: int, cls: Any, message: Any) -> None:
    counter = itertools.count(1)
    values = _sample(cls.SCHEMA, counter)
    theirs = cls(*values).encode()
    ours = message.decode(Reader(memoryview(theirs)), version)
    again = bytearray()
    message.encode(again, ours, version)
    assert bytes(again) == theirs, f"{APIS[api_key].name} v{version}: {ours}"


@pytest.mark.parametrize(("api_key", "version", "request_cls", "response_cls"), CASES)
def test_old_versions_match_kafka_pythons_legacy_structs(
    api_key: int, version: int, request_cls: Any, response_cls: Any
) -> None:
    assert request_cls.API_KEY == response_cls.API_KEY == api_key
    _roundtrip(api_key, version, request_cls, APIS[api_key].request)
    _roundtrip(api_key, version, response_cls, APIS[api_key].response)
