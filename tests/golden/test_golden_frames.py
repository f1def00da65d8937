"""Golden request frames captured from real clients (tools/capture_golden.py).

Each file is one request frame without the int32 size prefix: header then body. The test decodes it with our
codecs, checks key fields, and re-encodes header and body to the identical bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from odradek.broker.protocol import fast
from odradek.broker.protocol.apis import request_message
from odradek.broker.protocol.headers import decode_request_header, encode_request_header, request_header_version
from odradek.broker.protocol.messages import produce_request
from odradek.broker.protocol.primitives import Reader

HERE = Path(__file__).resolve().parent
FRAMES = sorted(HERE.glob("*/*.bin"))
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CLIENT_IDS = {
    "librdkafka": "golden-rdkafka",
    "kcat": "golden-kcat",
    "kafka-python": "golden-kafka-python",
    "aiokafka": "golden-aiokafka",
}
# (api, version) each client was observed to send (notes/protocol.md 1.2)
EXPECTED = {
    "librdkafka": {"api_versions_v3", "metadata_v13", "produce_v10_none"},
    "kcat": {"api_versions_v3", "metadata_v4", "produce_v7_none"},
    "kafka-python": {"api_versions_v4", "metadata_v13", "produce_v9_none"},
    "aiokafka": {"api_versions_v0", "metadata_v5", "produce_v7_none"},
}


def test_all_clients_captured() -> None:
    for client, names in EXPECTED.items():
        have = {p.stem for p in (HERE / client).glob("*.bin")}
        assert names <= have, client
        assert {f"produce_{n}" for n in CODECS} <= {
            s.rsplit("_", 2)[0] + "_" + s.rsplit("_", 1)[1] for s in have if s.startswith("produce_")
        }, client


@pytest.mark.parametrize("path", FRAMES, ids=[f"{p.parent.name}/{p.stem}" for p in FRAMES])
def test_golden_frame(path: Path) -> None:
    frame = path.read_bytes()
    header, off = decode_request_header(memoryview(frame))
    assert header.client_id == CLIENT_IDS[path.parent.name]
    mod = request_message(header.api_key)
    r = Reader(memoryview(frame), off)
    msg = mod.decode(r, header.api_version)
    assert r.pos == len(frame), "trailing bytes"

    w = bytearray()
    encode_request_header(w, header, request_header_version(header.api_key, header.api_version))
    assert w == frame[:off]
    mod.encode(w, msg, header.api_version)
    assert bytes(w) == frame

    stem = path.stem
    if stem.startswith("api_versions"):
        assert header.api_key == 18
        if header.api_version >= 3:
            assert msg.client_software_name
    elif stem.startswith("metadata"):
        assert header.api_key == 3
        assert msg.topics is None or [t.name for t in msg.topics] in ([], ["golden"])
    elif stem.startswith("produce"):
        assert header.api_key == 0
        assert [t.name for t in msg.topic_data] == ["golden"]
        (part,) = msg.topic_data[0].partition_data
        rec = bytes(part.records)
        assert rec[16] == 2  # magic
        (attrs,) = struct.unpack_from(">h", rec, 21)
        assert attrs & 7 == CODECS[stem.rsplit("_", 1)[1]]
        # the hand-written fast path decodes the same frame to the same message
        assert fast.decode_produce_request(memoryview(frame), off, header.api_version) == msg
        assert isinstance(msg, produce_request.ProduceRequest)
