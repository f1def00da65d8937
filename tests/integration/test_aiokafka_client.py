"""aiokafka 0.14 against one broker process: producer with every codec, consumer in assign mode.

Each test runs its own event loop (`asyncio.run`) and bounds every await with `asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from it_support import BrokerProcess, ck_create_topic, ck_watermarks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
TIMEOUT_S = 15.0


async def _produce(bootstrap: str, topic: str, codec: str | None, sent: list[tuple[bytes, bytes, int]]) -> list[int]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, compression_type=codec, acks="all", linger_ms=10, enable_idempotence=False
    )
    await asyncio.wait_for(producer.start(), TIMEOUT_S)
    try:
        futures = [
            await producer.send(topic, value=v, key=k, partition=0, timestamp_ms=ts, headers=[("i", k)])
            for k, v, ts in sent
        ]
        metas = await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT_S)
        return [m.offset for m in metas]
    finally:
        await asyncio.wait_for(producer.stop(), TIMEOUT_S)


async def _consume(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes | None, bytes | None, int, list]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await asyncio.wait_for(consumer.start(), TIMEOUT_S)
    out = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(tp, timeout_ms=200)
            for rec in batches.get(tp, []):
                out.append((rec.offset, rec.key, rec.value, rec.timestamp, list(rec.headers)))
    finally:
        await asyncio.wait_for(consumer.stop(), TIMEOUT_S)
    return out


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
def test_producer_every_codec_consumer_assign(broker: BrokerProcess, topic: str, codec: str | None) -> None:
    ck_create_topic(broker.bootstrap, topic)
    base_ts = int(time.time() * 1000) - 5000
    sent = [(f"k{i}".encode(), f"aio-{i}-".encode() * (1 + i % 9), base_ts + i) for i in range(120)]
    offsets = asyncio.run(_produce(broker.bootstrap, topic, codec, sent))
    assert offsets == list(range(120))
    got = asyncio.run(_consume(broker.bootstrap, topic, 120))
    assert [g[0] for g in got] == list(range(120))
    assert [(g[1], g[2], g[3], g[4]) for g in got] == [(k, v, ts, [("i", k)]) for k, v, ts in sent]
    assert ck_watermarks(broker.bootstrap, topic) == (0, 120)
