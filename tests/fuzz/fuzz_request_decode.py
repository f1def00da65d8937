"""Fuzz harness: one request frame (without the int32 size prefix) through the broker's request decode path.

The path is the dispatcher's (broker/odradek/broker/handlers/dispatch.py): `decode_request_header`, then, for an
(api_key, version) the generated codecs know, `request_module.decode(Reader(frame[body_offset:]), version)`.

Oracle:
- only `ProtocolError` (the protocol's declared decode error) escapes; anything else is a crash;
- a frame that decodes re-encodes, the re-encoding decodes to an equal message that consumes it entirely, and
  encoding that message again gives the same bytes;
- Produce: the hand-written fast path (protocol/fast.py), documented as equivalent to the generated codec,
  decodes the frame to the same message or raises ProtocolError too.

    python tests/fuzz/fuzz_request_decode.py -runs=20000 [-max_total_time=60] [CORPUS_DIR] [--pure]

Seeds: the golden frames (tests/golden) and frames built with the generated codecs (fuzz_support.seed_frames).
"""

from __future__ import annotations

import sys

from fuzz_support import instrumented, run_harness, seed_frames

with instrumented(__name__):
    from odradek.broker.protocol import fast
    from odradek.broker.protocol.apis import api_info
    from odradek.broker.protocol.errors import ProtocolError
    from odradek.broker.protocol.headers import decode_request_header
    from odradek.broker.protocol.primitives import Reader

PRODUCE = 0


def check(data: bytes) -> None:
    frame = memoryview(data)
    try:
        header, body_offset = decode_request_header(frame)
    except ProtocolError:
        return
    info = api_info(header.api_key)
    if info is None or not info.min_version <= header.api_version <= info.max_version:
        return  # the dispatcher closes the connection (ApiVersions: answered with UNSUPPORTED_VERSION)
    version = header.api_version
    codec = info.request
    try:
        message = codec.decode(Reader(frame[body_offset:]), version)
    except ProtocolError:
        message = None
    if header.api_key == PRODUCE:
        try:
            fast_message = fast.decode_produce_request(frame, body_offset, version)
        except ProtocolError:
            fast_message = None
        assert fast_message == message, f"Produce v{version}: fast path {fast_message!r} != generated {message!r}"
    if message is None:
        return
    first = bytearray()
    codec.encode(first, message, version)
    reader = Reader(memoryview(bytes(first)))
    again = codec.decode(reader, version)
    assert reader.pos == len(first), f"{info.name} v{version}: re-encoding not consumed ({reader.pos}/{len(first)})"
    # repr() as well: float64 fields (AlterClientQuotas) may hold NaN, which is never == itself
    assert again == message or repr(again) == repr(message), f"{info.name} v{version}: decode(encode(m)) != m"
    second = bytearray()
    codec.encode(second, again, version)
    assert second == first, f"{info.name} v{version}: encoding is not stable"


def seeds() -> list[bytes]:
    return [frame for _, frame in seed_frames()]


if __name__ == "__main__":
    sys.exit(run_harness("request_decode", check, seeds()))
