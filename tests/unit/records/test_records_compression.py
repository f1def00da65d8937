"""Codecs: round trips, both snappy framings, zstd frames without a content size, decompression caps."""

from __future__ import annotations

import gzip
import os
import struct

import cramjam
import pytest
from odradek.broker.records import compression
from odradek.broker.records.batch import CORRUPT_MESSAGE, INVALID_RECORD, InvalidRecordBatch

CODECS = [compression.GZIP, compression.SNAPPY, compression.LZ4, compression.ZSTD]
PAYLOAD = os.urandom(3000) + b"kafka " * 20_000


@pytest.mark.parametrize("codec", [compression.NONE, *CODECS])
def test_round_trip(codec: int) -> None:
    packed = compression.compress(codec, PAYLOAD)
    assert compression.decompress(codec, packed, len(PAYLOAD)) == PAYLOAD


@pytest.mark.parametrize("codec", CODECS)
def test_empty_round_trip(codec: int) -> None:
    assert compression.decompress(codec, compression.compress(codec, b""), 10) == b""


@pytest.mark.parametrize("codec", [compression.NONE, *CODECS])
def test_cap_one_byte_below_is_refused(codec: int) -> None:
    packed = compression.compress(codec, PAYLOAD)
    with pytest.raises(InvalidRecordBatch) as info:
        compression.decompress(codec, packed, len(PAYLOAD) - 1)
    assert info.value.error_code == INVALID_RECORD


@pytest.mark.parametrize("codec", CODECS)
def test_bomb_is_refused_without_inflating_it(codec: int) -> None:
    bomb = compression.compress(codec, bytes(64 * 1024 * 1024))
    assert len(bomb) < 4 * 1024 * 1024
    with pytest.raises(InvalidRecordBatch, match="exceed the limit"):
        compression.decompress(codec, bomb, 1024 * 1024)


def test_snappy_compress_writes_xerial_framing_like_java() -> None:
    packed = compression.compress(compression.SNAPPY, PAYLOAD)
    magic, version, compat = struct.unpack_from(">8sii", packed)
    assert (magic, version, compat) == (b"\x82SNAPPY\x00", 1, 1)
    (first_block,) = struct.unpack_from(">i", packed, 16)
    assert bytes(cramjam.snappy.decompress_raw(packed[20 : 20 + first_block])) == PAYLOAD[: 32 * 1024]


def test_snappy_raw_block_as_librdkafka_sends() -> None:
    raw = bytes(cramjam.snappy.compress_raw(PAYLOAD))
    assert compression.decompress(compression.SNAPPY, raw, len(PAYLOAD)) == PAYLOAD


def test_snappy_xerial_hand_framed() -> None:
    blocks = [PAYLOAD[:1000], PAYLOAD[1000:]]
    framed = struct.pack(">8sii", b"\x82SNAPPY\x00", 1, 1)
    for block in blocks:
        packed = bytes(cramjam.snappy.compress_raw(block))
        framed += struct.pack(">i", len(packed)) + packed
    assert compression.decompress(compression.SNAPPY, framed, len(PAYLOAD)) == PAYLOAD
    with pytest.raises(InvalidRecordBatch, match="exceed the limit of 1500 bytes"):
        compression.decompress(compression.SNAPPY, framed, 1500)


def test_snappy_xerial_block_overrun_is_corrupt() -> None:
    framed = struct.pack(">8sii", b"\x82SNAPPY\x00", 1, 1) + struct.pack(">i", 1000) + b"abc"
    with pytest.raises(InvalidRecordBatch) as info:
        compression.decompress(compression.SNAPPY, framed, 10_000)
    assert info.value.error_code == CORRUPT_MESSAGE


def _zstd_frame_without_size(data: bytes) -> bytes:
    compressor = cramjam.zstd.Compressor()
    compressor.compress(data)
    return bytes(compressor.finish())


def test_zstd_frame_without_content_size() -> None:
    frame = _zstd_frame_without_size(PAYLOAD)
    descriptor = frame[4]
    assert descriptor >> 6 == 0 and not descriptor & 0x20  # Frame_Content_Size_flag 0, not single-segment
    assert compression.decompress(compression.ZSTD, frame, len(PAYLOAD)) == PAYLOAD
    with pytest.raises(InvalidRecordBatch, match="exceed the limit"):
        compression.decompress(compression.ZSTD, frame, len(PAYLOAD) - 1)


def test_zstd_concatenated_frames() -> None:
    frames = _zstd_frame_without_size(b"abc" * 10) + _zstd_frame_without_size(b"xyz" * 10)
    assert compression.decompress(compression.ZSTD, frames, 100) == b"abc" * 10 + b"xyz" * 10


def test_gzip_concatenated_members() -> None:
    members = gzip.compress(b"first ") + gzip.compress(b"second")
    assert compression.decompress(compression.GZIP, members, 100) == b"first second"


def test_gzip_truncated_is_corrupt() -> None:
    packed = gzip.compress(PAYLOAD)
    with pytest.raises(InvalidRecordBatch) as info:
        compression.decompress(compression.GZIP, packed[: len(packed) // 2], len(PAYLOAD))
    assert info.value.error_code == CORRUPT_MESSAGE


@pytest.mark.parametrize("codec", [compression.GZIP, compression.LZ4, compression.ZSTD])
def test_garbage_is_corrupt(codec: int) -> None:
    with pytest.raises(InvalidRecordBatch) as info:
        compression.decompress(codec, b"definitely not compressed data", 1000)
    assert info.value.error_code == CORRUPT_MESSAGE


def test_unknown_codec() -> None:
    with pytest.raises(InvalidRecordBatch):
        compression.decompress(5, b"x", 10)
    with pytest.raises(ValueError):
        compression.compress(7, b"x")


def test_lz4_frame_has_independent_blocks() -> None:
    frame = compression.compress(compression.LZ4, PAYLOAD)
    assert frame[:4] == b"\x04\x22\x4d\x18"
    assert frame[4] & 0x20  # FLG.B.Indep: Kafka's KafkaLZ4BlockInputStream needs it
