#!/usr/bin/env python3
"""Capture real client request frames for the golden-byte tests (tests/golden/<client>/).

Runs a tiny fake broker on a free 127.0.0.1 port that answers ApiVersions, Metadata and Produce with the
project's own generated encoders, then drives librdkafka (confluent-kafka), kcat, kafka-python and aiokafka
to produce one message with each compression codec. Every request frame (size prefix stripped) is written to
``tests/golden/<client>/<api>_v<N>.bin`` (Produce: ``produce_v<N>_<codec>.bin``), first frame of each kind wins.

Usage: ``python tools/capture_golden.py [--out tests/golden]``. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import socketserver
import struct
import subprocess
import threading
from pathlib import Path
from typing import Any

from odradek.broker.protocol.apis import APIS
from odradek.broker.protocol.headers import decode_request_header, encode_response_header, response_header_version
from odradek.broker.protocol.messages import api_versions_response as avr
from odradek.broker.protocol.messages import metadata_response as mdr
from odradek.broker.protocol.messages import produce_request as prq
from odradek.broker.protocol.messages import produce_response as prr
from odradek.broker.protocol.primitives import Reader

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
TOPIC = "golden"
# advertised ranges (Kafka 4.1-like; Produce from 0 so librdkafka <= 2.11 enables compression)
ADVERTISED = {
    0: (0, 10),
    1: (4, 12),
    2: (1, 7),
    3: (0, 13),
    8: (2, 8),
    9: (1, 8),
    10: (0, 4),
    11: (0, 7),
    12: (0, 4),
    13: (0, 4),
    14: (0, 4),
    15: (0, 5),
    16: (0, 4),
    17: (0, 1),
    18: (0, 4),
    19: (2, 7),
    20: (1, 6),
    22: (0, 4),
    36: (0, 2),
}


class State:
    client = "unknown"
    out = Path("tests/golden")
    port = 0
    seen: set[str] = set()
    lock = threading.Lock()


def _save(name: str, frame: bytes) -> None:
    with State.lock:
        key = f"{State.client}/{name}"
        if key in State.seen:
            return
        State.seen.add(key)
        path = State.out / State.client / f"{name}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(frame)


def _respond(frame: bytes) -> bytes | None:
    hdr, off = decode_request_header(memoryview(frame))
    key, v = hdr.api_key, hdr.api_version
    info = APIS[key]
    name = f"{info.request.__name__.rsplit('.', 1)[1].removesuffix('_request')}_v{v}"
    body = bytearray()
    if key == 18:
        _save(name, frame)
        resp_v = v if v <= 4 else 0
        keys = [avr.ApiVersion(api_key=k, min_version=lo, max_version=hi) for k, (lo, hi) in ADVERTISED.items()]
        avr.encode(body, avr.ApiVersionsResponse(error_code=0, api_keys=keys), resp_v)
    elif key == 3:
        _save(name, frame)
        broker = mdr.MetadataResponseBroker(node_id=0, host="127.0.0.1", port=State.port)
        part = mdr.MetadataResponsePartition(
            partition_index=0, leader_id=0, leader_epoch=0, replica_nodes=[0], isr_nodes=[0], offline_replicas=[]
        )
        topic = mdr.MetadataResponseTopic(name=TOPIC, partitions=[part])
        resp = mdr.MetadataResponse(brokers=[broker], cluster_id="golden", controller_id=0, topics=[topic])
        mdr.encode(body, resp, v)
    elif key == 0:
        req = prq.decode(Reader(memoryview(frame), off), v)
        rec = req.topic_data[0].partition_data[0].records
        attrs = struct.unpack_from(">h", bytes(rec or b""), 21)[0] if rec and len(rec) > 23 else 0
        _save(f"{name}_{CODECS[attrs & 7]}", frame)
        parts = [
            prr.PartitionProduceResponse(index=p.index, base_offset=0, log_append_time_ms=-1)
            for t in req.topic_data
            for p in t.partition_data
        ]
        resp_p = prr.ProduceResponse(responses=[prr.TopicProduceResponse(name=TOPIC, partition_responses=parts)])
        if req.acks == 0:
            return None
        prr.encode(body, resp_p, v)
    else:
        _save(name, frame)
        return None
    w = bytearray()
    encode_response_header(w, hdr.correlation_id, response_header_version(key, v))
    w += body
    return struct.pack(">i", len(w)) + bytes(w)


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(20)
        buf = b""
        try:
            while True:
                while len(buf) < 4 or len(buf) < 4 + struct.unpack_from(">i", buf)[0]:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                n = struct.unpack_from(">i", buf)[0]
                frame, buf = buf[4 : 4 + n], buf[4 + n :]
                out = _respond(frame)
                if out:
                    sock.sendall(out)
        except (OSError, TimeoutError):
            return


def run_confluent(bootstrap: str) -> None:
    from confluent_kafka import Producer

    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        p = Producer(
            {"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 0, "client.id": "golden-rdkafka"}
        )
        p.produce(TOPIC, key=b"k", value=b"value-" + codec.encode() * 20)
        p.flush(10)


def run_kcat(bootstrap: str) -> None:
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        subprocess.run(
            ["kcat", "-P", "-b", bootstrap, "-t", TOPIC, "-z", codec, "-X", "client.id=golden-kcat"],
            input=b"value-" + codec.encode() * 20 + b"\n",
            timeout=30,
            check=False,
        )


def run_kafka_python(bootstrap: str) -> None:
    from kafka import KafkaProducer

    for codec in (None, "gzip", "snappy", "lz4", "zstd"):
        p = KafkaProducer(
            bootstrap_servers=bootstrap,
            compression_type=codec,
            client_id="golden-kafka-python",
            enable_idempotence=False,
            acks=1,
        )
        p.send(TOPIC, key=b"k", value=b"value-" + str(codec).encode() * 20).get(timeout=10)
        p.close(timeout=5)


def run_aiokafka(bootstrap: str) -> None:
    from aiokafka import AIOKafkaProducer

    async def go() -> None:
        for codec in (None, "gzip", "snappy", "lz4", "zstd"):
            p = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, client_id="golden-aiokafka")
            await p.start()
            try:
                await p.send_and_wait(TOPIC, key=b"k", value=b"value-" + str(codec).encode() * 20)
            finally:
                await p.stop()

    asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/golden")
    ap.add_argument("--clients", default="librdkafka,kcat,kafka-python,aiokafka")
    args = ap.parse_args()
    State.out = Path(args.out)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    State.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bootstrap = f"127.0.0.1:{State.port}"
    runners: dict[str, Any] = {
        "librdkafka": run_confluent,
        "kcat": run_kcat,
        "kafka-python": run_kafka_python,
        "aiokafka": run_aiokafka,
    }
    for client in args.clients.split(","):
        State.client = client
        with contextlib.suppress(Exception):
            runners[client](bootstrap)
        print(client, sorted(p.name for p in (State.out / client).glob("*.bin")))
    server.shutdown()


if __name__ == "__main__":
    main()
