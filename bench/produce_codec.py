#!/usr/bin/env python3
"""Produce codec benchmark (issue 8): the generated ProduceRequest decoder and ProduceResponse encoder against the
hand-written ones in `protocol/fast.py`, side by side in one run.

    PYTHONPATH=broker python bench/produce_codec.py           # 25 rounds x 2,000 calls per codec and case
    PYTHONPATH=broker python bench/produce_codec.py --quick   # 5 rounds x 500

Cases: the Produce versions the broker serves (3-11; librdkafka 2.x sends v7-v9 or up to v11, Java clients
v9-v11), 1 topic x 1 partition x 16 KiB records (one batch per request, the common shape) and 1 topic x 30
partitions x 1 KiB (a producer writing many partitions). The decode includes what the dispatcher does around
it (the `Reader` over the body for the generated decoder). The two codecs are timed in alternating rounds, so
that load from other processes on the machine falls on both; figures are the best round, microseconds per call;
ratio = generated / fast (above 1: fast is faster).
"""

from __future__ import annotations

import argparse
import timeit
import uuid
from collections.abc import Callable
from functools import partial

from odradek.broker.protocol import fast
from odradek.broker.protocol.messages import produce_request as pq
from odradek.broker.protocol.messages import produce_response as pr
from odradek.broker.protocol.primitives import Reader

VERSIONS = (3, 7, 9, 11)


def request(version: int, partitions: int, record_bytes: int) -> pq.ProduceRequest:
    data = [pq.PartitionProduceData(index=i, records=b"\x00" * record_bytes) for i in range(partitions)]
    topic = (
        pq.TopicProduceData(topic_id=uuid.uuid4(), partition_data=data)
        if version >= 13
        else pq.TopicProduceData(name="bench-topic", partition_data=data)
    )
    return pq.ProduceRequest(transactional_id=None, acks=-1, timeout_ms=30_000, topic_data=[topic])


def response(version: int, partitions: int) -> pr.ProduceResponse:
    parts = [pr.PartitionProduceResponse(index=i, base_offset=1234567, log_start_offset=0) for i in range(partitions)]
    topic = (
        pr.TopicProduceResponse(topic_id=uuid.uuid4(), partition_responses=parts)
        if version >= 13
        else pr.TopicProduceResponse(name="bench-topic", partition_responses=parts)
    )
    return pr.ProduceResponse(responses=[topic])


def generated_decode(frame: memoryview, version: int) -> pq.ProduceRequest:
    """What the dispatcher did before: a Reader over the body, then the generated decoder."""
    return pq.decode(Reader(frame[7:]), version)


def encode_with(
    encode: Callable[[bytearray, pr.ProduceResponse, int], None], resp: pr.ProduceResponse, version: int
) -> None:
    encode(bytearray(), resp, version)


def best_us(
    generated: Callable[[], object], hand: Callable[[], object], number: int, rounds: int
) -> tuple[float, float]:
    """Best microseconds per call of each, timed in alternating rounds."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, fn in enumerate((generated, hand)):
            best[i] = min(best[i], timeit.timeit(fn, number=number))
    return best[0] / number * 1e6, best[1] / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    number, rounds = (500, 5) if args.quick else (2_000, 25)
    print(f"{'case':<44} {'generated us':>12} {'fast us':>9} {'ratio':>7}")
    for partitions, record_bytes in ((1, 16 * 1024), (30, 1024)):
        for version in VERSIONS:
            body = bytearray(b"\x00" * 7)  # where a request header would be: decode starts at an offset
            pq.encode(body, request(version, partitions, record_bytes), version)
            frame = memoryview(bytes(body))
            assert fast.decode_produce_request(frame, 7, version) == pq.decode(Reader(frame[7:]), version)
            generated, hand = best_us(
                partial(generated_decode, frame, version),
                partial(fast.decode_produce_request, frame, 7, version),
                number,
                rounds,
            )
            label = f"decode v{version} {partitions} x {record_bytes} B"
            print(f"{label:<44} {generated:>12.2f} {hand:>9.2f} {generated / hand:>7.2f}")
        for version in VERSIONS:
            resp = response(version, partitions)
            a, b = bytearray(), bytearray()
            pr.encode(a, resp, version)
            fast.encode_produce_response(b, resp, version)
            assert a == b
            generated, hand = best_us(
                partial(encode_with, pr.encode, resp, version),
                partial(encode_with, fast.encode_produce_response, resp, version),
                number,
                rounds,
            )
            label = f"encode response v{version} {partitions} partition(s)"
            print(f"{label:<44} {generated:>12.2f} {hand:>9.2f} {generated / hand:>7.2f}")


if __name__ == "__main__":
    main()
