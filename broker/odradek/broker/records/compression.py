"""Compression codecs of RecordBatch v2: the records section is compressed as a whole.

Codec ids (attributes bits 0-2): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. What clients send and we accept:

- gzip: one or more gzip members (RFC 1952). Decoded with stdlib ``zlib`` in streaming mode.
- snappy: either a raw snappy block (librdkafka) or the xerial framing that Java's ``SnappyOutputStream`` and
  kafka-python write::

      magic   8 bytes  b"\\x82SNAPPY\\x00"
      version int32    1
      compat  int32    1
      then until the end: [compressed length int32, raw snappy block] ...

  We write the xerial framing with 32 KiB blocks, as Kafka's Java client and broker do (``SnappyCompression``
  wraps ``SnappyOutputStream``).
- lz4: an LZ4 frame (magic 0x184D2204) with the header checksum fixed by KIP-57. We write independent
  blocks without a content checksum, as Java's ``KafkaLZ4BlockOutputStream`` does.
- zstd: one or more zstd frames; librdkafka and zstd-jni stream them, so the frame header carries no content
  size. One-shot APIs that need the size (``ZstdDecompressor().decompress()``) fail on those; we decode into a
  bounded buffer instead.

Every decoder is capped at ``max_size`` decompressed bytes (decompression bombs, CVE-2023-34455): output past
the cap raises ``InvalidRecordBatch`` before more memory than the cap is allocated.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import cramjam
from odradek.broker.protocol.primitives import I32
from odradek.broker.records.batch import CORRUPT_MESSAGE, INVALID_RECORD, InvalidRecordBatch

NONE = 0
GZIP = 1
SNAPPY = 2
LZ4 = 3
ZSTD = 4

CODEC_NAMES: dict[int, str] = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}
CODEC_IDS: dict[str, int] = {
    "uncompressed": NONE,
    "none": NONE,
    "gzip": GZIP,
    "snappy": SNAPPY,
    "lz4": LZ4,
    "zstd": ZSTD,
}

XERIAL_MAGIC = b"\x82SNAPPY\x00"
XERIAL_HEADER_SIZE = 16
XERIAL_BLOCK_SIZE = 32 * 1024
_XERIAL_HEADER = struct.Struct(">8sii")
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_FIRST_GUESS = 256 * 1024
_TOO_SMALL = "failed to write whole buffer"


def decompress(codec: int, data: bytes | bytearray | memoryview, max_size: int) -> bytes:
    """Decompress a records section; raise InvalidRecordBatch if corrupt or larger than `max_size` bytes."""
    if codec == NONE:
        if len(data) > max_size:
            _raise_too_large(max_size)
        return bytes(data)
    decoder = _DECODERS.get(codec)
    if decoder is None:
        raise InvalidRecordBatch(CORRUPT_MESSAGE, f"unknown compression codec {codec}")
    try:
        return decoder(bytes(data), max_size)
    except InvalidRecordBatch:
        raise
    except Exception as exc:  # cramjam and zlib raise several types for corrupt input
        raise InvalidRecordBatch(CORRUPT_MESSAGE, f"failed to decompress {CODEC_NAMES[codec]} records: {exc}") from exc


def compress(codec: int, data: bytes | bytearray | memoryview, level: int | None = None) -> bytes:
    """Compress a records section the way Kafka's Java client does (snappy: xerial framing)."""
    raw = bytes(data)
    if codec == NONE:
        return raw
    if codec == GZIP:
        return _gzip_compress(raw, 6 if level is None else level)
    if codec == SNAPPY:
        return _xerial_compress(raw)
    if codec == LZ4:
        return _lz4_compress(raw, level)
    if codec == ZSTD:
        return bytes(cramjam.zstd.compress(raw) if level is None else cramjam.zstd.compress(raw, level=level))
    raise ValueError(f"unknown compression codec {codec}")


def _raise_too_large(max_size: int) -> None:
    raise InvalidRecordBatch(INVALID_RECORD, f"decompressed records exceed the limit of {max_size} bytes")


def _gzip_compress(raw: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(raw) + compressor.flush()


def _gzip_decompress(data: bytes, max_size: int) -> bytes:
    """Concatenated gzip members, as GZIPInputStream reads them; at most max_size + 1 bytes are inflated."""
    parts: list[bytes] = []
    total = 0
    while data:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        chunk = inflater.decompress(data, max_size - total + 1)
        total += len(chunk)
        if total > max_size:
            _raise_too_large(max_size)
        if not inflater.eof:
            raise InvalidRecordBatch(CORRUPT_MESSAGE, "gzip records are truncated")
        parts.append(chunk)
        data = inflater.unused_data
    return b"".join(parts)


def _snappy_decompress(data: bytes, max_size: int) -> bytes:
    if data.startswith(XERIAL_MAGIC):
        return _xerial_decompress(data, max_size)
    return _snappy_raw_block(data, max_size, max_size)


def _snappy_raw_block(block: bytes, budget: int, max_size: int) -> bytes:
    """A raw block starts with its uncompressed length (varint): check it before allocating."""
    if int(cramjam.snappy.decompress_raw_len(block)) > budget:
        _raise_too_large(max_size)
    return bytes(cramjam.snappy.decompress_raw(block))


def _xerial_decompress(data: bytes, max_size: int) -> bytes:
    if len(data) < XERIAL_HEADER_SIZE:
        raise InvalidRecordBatch(CORRUPT_MESSAGE, "xerial snappy header truncated")
    parts: list[bytes] = []
    total = 0
    position = XERIAL_HEADER_SIZE
    while position < len(data):
        if len(data) - position < 4:
            raise InvalidRecordBatch(CORRUPT_MESSAGE, "xerial snappy block length truncated")
        (length,) = I32.unpack_from(data, position)
        position += 4
        if length < 0 or position + length > len(data):
            raise InvalidRecordBatch(CORRUPT_MESSAGE, "xerial snappy block overruns the records")
        part = _snappy_raw_block(data[position : position + length], max_size - total, max_size)
        total += len(part)
        parts.append(part)
        position += length
    return b"".join(parts)


def _lz4_compress(raw: bytes, level: int | None) -> bytes:
    """Independent blocks: Kafka's KafkaLZ4BlockInputStream refuses linked ones ("Dependent block stream")."""
    compressor = cramjam.lz4.Compressor(level=level, content_checksum=False, block_linked=False)
    compressor.compress(raw)
    return bytes(compressor.finish())


def _xerial_compress(raw: bytes) -> bytes:
    out = [_XERIAL_HEADER.pack(XERIAL_MAGIC, 1, 1)]
    for start in range(0, len(raw), XERIAL_BLOCK_SIZE):
        block = bytes(cramjam.snappy.compress_raw(raw[start : start + XERIAL_BLOCK_SIZE]))
        out.append(I32.pack(len(block)))
        out.append(block)
    return b"".join(out)


def _bounded(into: Callable[[bytes, bytearray], int]) -> Callable[[bytes, int], bytes]:
    """Decode into a buffer that grows 8x per try up to max_size; a full buffer at the cap means a bomb."""

    def decode(data: bytes, max_size: int) -> bytes:
        size = min(max_size, max(_FIRST_GUESS, 4 * len(data)))
        while True:
            out = bytearray(size)
            try:
                written = int(into(data, out))
            except Exception as exc:
                if _TOO_SMALL not in str(exc):
                    raise
                if size >= max_size:
                    _raise_too_large(max_size)
                size = min(max_size, size * 8)
                continue
            del out[written:]
            return bytes(out)

    return decode


_DECODERS: dict[int, Callable[[bytes, int], bytes]] = {
    GZIP: _gzip_decompress,
    SNAPPY: _snappy_decompress,
    LZ4: _bounded(cramjam.lz4.decompress_into),
    ZSTD: _bounded(cramjam.zstd.decompress_into),
}
