"""`__consumer_offsets` as tools read it: a plain consumer reads the topic and decodes Kafka's record formats
(parsed here independently of the broker's code, straight from Kafka's schemas)."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition
from it_support import BrokerProcess, ck_create_topic, ck_produce

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _string(data: bytes, pos: int) -> tuple[str | None, int]:
    (size,) = struct.unpack_from(">h", data, pos)
    if size < 0:
        return None, pos + 2
    return data[pos + 2 : pos + 2 + size].decode(), pos + 2 + size


def parse_key(data: bytes) -> tuple[int, tuple[object, ...]]:
    (version,) = struct.unpack_from(">h", data)
    group, pos = _string(data, 2)
    if version in (0, 1):
        topic, pos = _string(data, pos)
        (partition,) = struct.unpack_from(">i", data, pos)
        return version, (group, topic, partition)
    return version, (group,)


def parse_offset_value(data: bytes) -> tuple[int, int, int, str | None]:
    version, offset = struct.unpack_from(">hq", data)
    pos = 10
    epoch = -1
    if version >= 3:
        (epoch,) = struct.unpack_from(">i", data, pos)
        pos += 4
    metadata, pos = _string(data, pos)
    return version, offset, epoch, metadata


def parse_group_value(data: bytes) -> tuple[int, str | None, int, str | None, int]:
    (version,) = struct.unpack_from(">h", data)
    protocol_type, pos = _string(data, 2)
    (generation,) = struct.unpack_from(">i", data, pos)
    protocol, pos = _string(data, pos + 4)
    _leader, pos = _string(data, pos)
    if version >= 2:
        pos += 8
    (members,) = struct.unpack_from(">i", data, pos)
    return version, protocol_type, generation, protocol, members


def test_commits_and_group_metadata_are_readable_in_kafkas_format(
    broker_factory: Callable[..., BrokerProcess], topic: str
) -> None:
    broker = broker_factory({"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "3"})
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    ck_produce(broker.bootstrap, topic, [b"a", b"b", b"c"], partition=0)
    member = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "fmt-group",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    member.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 30
    while seen < 3 and time.monotonic() < deadline:
        msg = member.poll(0.2)
        if msg is not None and msg.error() is None:
            seen += 1
    assert seen == 3
    member.commit(offsets=[TopicPartition(topic, 0, 3, leader_epoch=0)], asynchronous=False)
    member.close()

    reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader", "enable.auto.commit": False})
    reader.assign([TopicPartition("__consumer_offsets", p, 0) for p in range(3)])
    offsets: dict[tuple[object, ...], tuple[int, int, int, str | None]] = {}
    groups: dict[str, tuple[int, str | None, int, str | None, int] | None] = {}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (
        offsets and "fmt-group" in groups and groups["fmt-group"] is not None and groups["fmt-group"][4] == 0
    ):
        msg = reader.poll(0.2)
        if msg is None or msg.error() is not None:
            continue
        version, key = parse_key(msg.key())
        value = msg.value()
        if version in (0, 1):
            if value is not None:
                offsets[key] = parse_offset_value(value)
        elif version == 2:
            groups[str(key[0])] = parse_group_value(value) if value is not None else None
    reader.close()
    assert offsets[("fmt-group", topic, 0)] == (3, 3, 0, "")
    # The last group record: the member left, so the group is empty at its next generation.
    version, protocol_type, generation, protocol, members = groups["fmt-group"]  # type: ignore[misc]
    assert (version, protocol_type, members, protocol) == (3, "consumer", 0, None)
    assert generation == 2
