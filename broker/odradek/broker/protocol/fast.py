"""Hand-written hot paths: ProduceRequest decode and ProduceResponse encode.

They produce the same objects and bytes as the generated codecs (``messages.produce_request`` /
``messages.produce_response``); tests/unit/protocol/test_protocol_fast.py and tests/golden prove it.

ProduceRequest body (v3-13): transactional_id nullable string | acks int16 | timeout_ms int32 |
[topic: name string (v3-12) or topic_id uuid (v13+) | [partition: index int32 | records nullable bytes]].
Flexible versions (9+) use compact strings/arrays/bytes and a tagged-field section after each struct.
Records stay zero-copy ``memoryview`` slices of the frame.

ProduceResponse encode takes the common shape in one pass (no record errors, no error message, no
current-leader or node-endpoint tags) and falls back to the generated encoder otherwise.

The dispatcher (handlers/dispatch.py) decodes every Produce request and encodes every Produce response with
these. Measured by ``bench/produce_codec.py`` (both codecs timed in alternating rounds in one run, best round,
Python 3.11, this shared 2-core container), generated / fast:

- decode, 1 topic x 1 partition x 16 KiB: v3 6.2 / 3.4 us (1.85x), v7 6.3 / 3.4 (1.87x), v9 12.1 / 7.4 (1.65x),
  v11 11.3 / 6.7 (1.69x); 30 partitions x 1 KiB: v3-v7 1.9-2.0x, v9-v11 1.0-1.05x.
- encode, 1 partition: v3-v7 equal (1.27 us), v9 1.08x, v11 1.36x; 30 partitions: v3-v7 0.9-1.0x (noise),
  v9 1.9x, v11 2.6x.
"""

from __future__ import annotations

import struct
import uuid

from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.messages import produce_request as _pq
from odradek.broker.protocol.messages import produce_response as _pr
from odradek.broker.protocol.messages.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from odradek.broker.protocol.messages.produce_response import ProduceResponse
from odradek.broker.protocol.primitives import Reader, read_uvarint, w_uvarint

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_HI = struct.Struct(">hi")
_HII = struct.Struct(">hii")
_II = struct.Struct(">ii")
_PART = struct.Struct(">ihqq")
_PART5 = struct.Struct(">ihqqq")


def decode_produce_request(buf: memoryview, offset: int, version: int) -> ProduceRequest:
    """Decode a ProduceRequest body starting at ``offset`` of ``buf`` (the whole frame). Versions 0-2 (old
    clients, message format v0/v1) take the generated codec: they are not the hot path."""
    if 0 <= version < 3:
        return _pq.decode(Reader(buf[offset:]), version)
    if not 3 <= version <= 13:
        raise ProtocolError(f"ProduceRequest version {version} not in 3-13")
    if buf.format != "B" or buf.ndim != 1:
        buf = buf.cast("B")
    try:
        if version < 9:
            return _decode_legacy(buf, offset)
        return _decode_flexible(buf, offset, version)
    except (struct.error, IndexError) as exc:
        raise ProtocolError("truncated ProduceRequest") from exc
    except UnicodeDecodeError as exc:
        raise ProtocolError("invalid UTF-8 in ProduceRequest") from exc


def _decode_legacy(buf: memoryview, pos: int) -> ProduceRequest:
    end = len(buf)
    (n,) = _I16.unpack_from(buf, pos)
    pos += 2
    tid: str | None = None
    if n >= 0:
        if pos + n > end:
            raise ProtocolError("string beyond buffer")
        tid = str(buf[pos : pos + n], "utf-8")
        pos += n
    elif n != -1:
        raise ProtocolError("negative string length")
    acks, timeout_ms, ntopics = _HII.unpack_from(buf, pos)
    pos += 10
    if ntopics < 0 or ntopics * 6 > end - pos:
        raise ProtocolError("bad topic count")
    topics = []
    for _ in range(ntopics):
        (n,) = _I16.unpack_from(buf, pos)
        pos += 2
        if n < 0 or pos + n > end:
            raise ProtocolError("bad topic name")
        name = str(buf[pos : pos + n], "utf-8")
        pos += n
        (nparts,) = _I32.unpack_from(buf, pos)
        pos += 4
        if nparts < 0 or nparts * 8 > end - pos:
            raise ProtocolError("bad partition count")
        parts = []
        for _ in range(nparts):
            index, rlen = _II.unpack_from(buf, pos)
            pos += 8
            records = None
            if rlen >= 0:
                if pos + rlen > end:
                    raise ProtocolError("records beyond buffer")
                records = buf[pos : pos + rlen]
                pos += rlen
            elif rlen != -1:
                raise ProtocolError("negative records length")
            parts.append(PartitionProduceData(index=index, records=records))
        topics.append(TopicProduceData(name=name, partition_data=parts))
    return ProduceRequest(transactional_id=tid, acks=acks, timeout_ms=timeout_ms, topic_data=topics)


def _uv(buf: memoryview, pos: int) -> tuple[int, int]:
    """Unsigned varint at ``pos`` (multi-byte case); returns (value, next position)."""
    return read_uvarint(buf, pos, len(buf))


def _skip_tags(buf: memoryview, pos: int) -> int:
    if buf[pos] == 0:
        return pos + 1
    r = Reader(buf, pos)
    r.skip_tagged_fields()
    return r.pos


def _decode_flexible(buf: memoryview, pos: int, version: int) -> ProduceRequest:
    end = len(buf)
    n = buf[pos]
    if n < 0x80:
        pos += 1
    else:
        n, pos = _uv(buf, pos)
    n -= 1
    tid: str | None = None
    if n >= 0:
        if pos + n > end:
            raise ProtocolError("string beyond buffer")
        tid = str(buf[pos : pos + n], "utf-8")
        pos += n
    acks, timeout_ms = _HI.unpack_from(buf, pos)
    pos += 6
    ntopics = buf[pos]
    if ntopics < 0x80:
        pos += 1
    else:
        ntopics, pos = _uv(buf, pos)
    ntopics -= 1
    if ntopics < 0 or ntopics * 3 > end - pos:
        raise ProtocolError("bad topic count")
    topics = []
    for _ in range(ntopics):
        if version < 13:
            n = buf[pos]
            if n < 0x80:
                pos += 1
            else:
                n, pos = _uv(buf, pos)
            n -= 1
            if n < 0 or pos + n > end:
                raise ProtocolError("bad topic name")
            tp = TopicProduceData(name=str(buf[pos : pos + n], "utf-8"))
            pos += n
        else:
            if pos + 16 > end:
                raise ProtocolError("truncated topic id")
            tp = TopicProduceData(topic_id=uuid.UUID(bytes=bytes(buf[pos : pos + 16])))
            pos += 16
        nparts = buf[pos]
        if nparts < 0x80:
            pos += 1
        else:
            nparts, pos = _uv(buf, pos)
        nparts -= 1
        if nparts < 0 or nparts * 6 > end - pos:
            raise ProtocolError("bad partition count")
        parts = tp.partition_data
        for _ in range(nparts):
            (index,) = _I32.unpack_from(buf, pos)
            pos += 4
            n = buf[pos]
            if n < 0x80:
                pos += 1
            else:
                n, pos = _uv(buf, pos)
            n -= 1
            records = None
            if n >= 0:
                if pos + n > end:
                    raise ProtocolError("records beyond buffer")
                records = buf[pos : pos + n]
                pos += n
            pos = pos + 1 if buf[pos] == 0 else _skip_tags(buf, pos)
            parts.append(PartitionProduceData(index=index, records=records))
        pos = pos + 1 if buf[pos] == 0 else _skip_tags(buf, pos)
        topics.append(tp)
    _skip_tags(buf, pos)
    return ProduceRequest(transactional_id=tid, acks=acks, timeout_ms=timeout_ms, topic_data=topics)


def encode_produce_response(w: bytearray, resp: ProduceResponse, version: int) -> None:
    """Append a ProduceResponse body; byte-identical to the generated ``produce_response.encode``."""
    if not 3 <= version <= 13 or resp.node_endpoints:
        _pr.encode(w, resp, version)
        return
    for t in resp.responses:
        for p in t.partition_responses:
            if p.record_errors or p.error_message is not None or p.current_leader is not None:
                _pr.encode(w, resp, version)
                return
    flexible = version >= 9
    with_start = version >= 5
    with_errors = version >= 8
    pack = _PART5.pack if with_start else _PART.pack
    if flexible:
        w_uvarint(w, len(resp.responses) + 1)
    else:
        w += _I32.pack(len(resp.responses))
    for t in resp.responses:
        if version >= 13:
            w += t.topic_id.bytes
        else:
            name = t.name.encode()
            if flexible:
                w_uvarint(w, len(name) + 1)
            else:
                w += _I16.pack(len(name))
            w += name
        parts = t.partition_responses
        if flexible:
            w_uvarint(w, len(parts) + 1)
            for p in parts:
                w += pack(p.index, p.error_code, p.base_offset, p.log_append_time_ms, p.log_start_offset)
                w += b"\x01\x00\x00"  # empty record_errors, null error_message, no tags
            w.append(0)
        else:
            w += _I32.pack(len(parts))
            for p in parts:
                if with_start:
                    w += pack(p.index, p.error_code, p.base_offset, p.log_append_time_ms, p.log_start_offset)
                else:
                    w += pack(p.index, p.error_code, p.base_offset, p.log_append_time_ms)
                if with_errors:
                    w += b"\x00\x00\x00\x00\xff\xff"  # empty record_errors, null error_message
    w += _I32.pack(resp.throttle_time_ms)
    if flexible:
        w.append(0)
