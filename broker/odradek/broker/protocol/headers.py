"""Request and response headers.

Wire formats (after the int32 frame size, which the server strips):

- request header v0: ``api_key int16 | api_version int16 | correlation_id int32``
  (ControlledShutdown v0 only);
- v1: v0 + ``client_id`` legacy nullable string (int16 length, -1 null);
- v2: v1 + tagged-field section. ``client_id`` stays a legacy string even in v2.
- response header v0: ``correlation_id int32``; v1: v0 + tagged-field section (one 0 byte when empty).

The request header version is v2 if the API version is flexible, else v1. The response header version is 1 if
flexible, else 0, except ApiVersions (key 18), whose response header is always v0 (KIP-511): clients parse it
before they know what the broker supports.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from odradek.broker.protocol.apis import APIS
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.primitives import I32, Reader

API_VERSIONS_KEY = 18
CONTROLLED_SHUTDOWN_KEY = 7
_FIXED = struct.Struct(">hhi")


@dataclass(frozen=True, slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def request_header_version(api_key: int, api_version: int) -> int:
    """2 for a flexible (api, version), 0 for ControlledShutdown v0, else 1 (also unknown keys/versions)."""
    if api_key == CONTROLLED_SHUTDOWN_KEY and api_version == 0:
        return 0
    info = APIS.get(api_key)
    if info is None or not info.min_version <= api_version <= info.max_version:
        return 1
    return 2 if info.is_flexible(api_version) else 1


def decode_request_header(buf: memoryview) -> tuple[RequestHeader, int]:
    """Parse the request header at the start of ``buf`` (one frame, size prefix removed).

    Returns the header and the offset where the body starts. An unknown API key or a version outside
    the spec's range is parsed as header v1 so the caller can still answer (UNSUPPORTED_VERSION) or close.
    Raises ProtocolError on a truncated or malformed header.
    """
    r = Reader(buf)
    api_key, api_version, correlation_id = r.unpack(_FIXED)
    hv = request_header_version(api_key, api_version)
    client_id = None
    if hv >= 1:
        client_id = r.nullable_string()
    if hv >= 2:
        r.skip_tagged_fields()
    return RequestHeader(api_key, api_version, correlation_id, client_id), r.pos


def encode_request_header(w: bytearray, header: RequestHeader, header_version: int) -> None:
    """Append a request header (for clients, tests and broker-to-broker requests)."""
    w += _FIXED.pack(header.api_key, header.api_version, header.correlation_id)
    if header_version >= 1:
        cid = header.client_id
        if cid is None:
            w += b"\xff\xff"
        else:
            b = cid.encode()
            w += struct.pack(">h", len(b))
            w += b
    if header_version >= 2:
        w.append(0)


def response_header_version(api_key: int, api_version: int) -> int:
    """1 if (api, version) is flexible, else 0; always 0 for ApiVersions and for unknown APIs/versions."""
    if api_key == API_VERSIONS_KEY:
        return 0
    info = APIS.get(api_key)
    if info is None or not info.min_version <= api_version <= info.max_version:
        return 0
    return 1 if info.is_flexible(api_version) else 0


def encode_response_header(w: bytearray, correlation_id: int, header_version: int) -> None:
    """Append a response header: correlation id, plus an empty tagged-field section for v1."""
    w += I32.pack(correlation_id)
    if header_version >= 1:
        w.append(0)
    elif header_version != 0:
        raise ProtocolError(f"bad response header version {header_version}")
