"""One asyncio connection from this broker to another, speaking the Kafka protocol with the broker's own generated
codecs (Kafka's BrokerBlockingSender): what the replica fetchers (`leader_end_point.RemoteLeaderEndPoint`) and the
transaction marker channel (`txn_marker_channel_manager.RemoteTxnMarkerSender`) send through.

- connect with a timeout of `socket_timeout_ms`; on any I/O error the connection is closed and the next request
  reconnects (the caller backs off in between);
- ApiVersions v3 once per connection, then each request at the highest version both sides support;
- one request at a time, each answered within `socket_timeout_ms`;
- frames: int32 size, request header (v1, or v2 for flexible versions), body; responses: int32 size, correlation
  id, a tagged-field byte for flexible versions (not for ApiVersions), body.

Only PLAINTEXT inter-broker listeners are supported (docs/not-implemented.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from odradek.broker.protocol.apis import request_message, response_message
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.headers import (
    RequestHeader,
    encode_request_header,
    request_header_version,
    response_header_version,
)
from odradek.broker.protocol.messages.api_versions_request import ApiVersionsRequest
from odradek.broker.protocol.messages.api_versions_response import ApiVersionsResponse
from odradek.broker.protocol.primitives import Reader

API_VERSIONS = 18
API_VERSIONS_VERSION = 3
MAX_RESPONSE_BYTES = 1 << 30
CLOSE_TIMEOUT_S = 1.0  # bound on waiting for a closed connection to report closed


@dataclass(frozen=True, slots=True)
class BrokerEndPoint:
    """Where a broker's inter-broker listener is (from its registration)."""

    broker_id: int
    host: str
    port: int
    security_protocol: str = "PLAINTEXT"


class ConnectionFailed(OSError):
    pass


class BrokerBlockingSender:
    def __init__(self, destination: BrokerEndPoint, socket_timeout_ms: int, client_id: str, software_name: str) -> None:
        self.destination = destination
        self.socket_timeout_s = socket_timeout_ms / 1000.0
        self._client_id = client_id
        self._software_name = software_name
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._correlation_id = 0
        self._versions: dict[int, tuple[int, int]] = {}

    async def _connect(self) -> None:
        if self._writer is not None:
            return
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.destination.host, self.destination.port), self.socket_timeout_s
            )
            answer: ApiVersionsResponse = await self._call(
                API_VERSIONS,
                API_VERSIONS_VERSION,
                ApiVersionsRequest(client_software_name=self._software_name, client_software_version="1"),
            )
        except BaseException:
            await self.close()
            raise
        if answer.error_code != ErrorCode.NONE:
            await self.close()
            raise ConnectionFailed(f"ApiVersions to broker {self.destination.broker_id}: error {answer.error_code}")
        self._versions = {api.api_key: (api.min_version, api.max_version) for api in answer.api_keys}

    def _version(self, api_key: int, ours: tuple[int, int]) -> int:
        theirs = self._versions.get(api_key)
        if theirs is None or theirs[1] < ours[0] or theirs[0] > ours[1]:
            raise ConnectionFailed(f"broker {self.destination.broker_id} supports no common version of API {api_key}")
        return min(ours[1], theirs[1])

    async def _call(self, api_key: int, version: int, message: Any) -> Any:
        assert self._reader is not None and self._writer is not None
        self._correlation_id += 1
        correlation_id = self._correlation_id
        payload = bytearray(4)
        encode_request_header(
            payload,
            RequestHeader(api_key, version, correlation_id, self._client_id),
            request_header_version(api_key, version),
        )
        request_message(api_key).encode(payload, message, version)
        struct.pack_into(">i", payload, 0, len(payload) - 4)
        self._writer.write(payload)
        await asyncio.wait_for(self._writer.drain(), self.socket_timeout_s)
        size_bytes = await asyncio.wait_for(self._reader.readexactly(4), self.socket_timeout_s)
        (size,) = struct.unpack(">i", size_bytes)
        if size < 4 or size > MAX_RESPONSE_BYTES:
            raise ConnectionFailed(f"invalid response size {size} from broker {self.destination.broker_id}")
        frame = await asyncio.wait_for(self._reader.readexactly(size), self.socket_timeout_s)
        (answered,) = struct.unpack_from(">i", frame, 0)
        if answered != correlation_id:
            raise ConnectionFailed(f"correlation id {answered} answered for {correlation_id}")
        reader = Reader(frame)
        reader.pos = 4
        if response_header_version(api_key, version) >= 1:
            reader.skip_tagged_fields()
        return response_message(api_key).decode(reader, version)

    async def request(self, api_key: int, ours: tuple[int, int], build: Callable[[int], Any]) -> tuple[int, Any]:
        """Send `build(version)` at the highest version of `ours` the destination serves: (version, answer).
        Raises OSError (ConnectionFailed), TimeoutError or EOFError (asyncio.IncompleteReadError: closed
        mid-answer) on I/O failure, after closing the connection."""
        await self._connect()
        version = self._version(api_key, ours)
        try:
            return version, await self._call(api_key, version, build(version))
        except BaseException:
            await self.close()  # a half-read answer leaves the stream unusable
            raise

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            # Bounded: a transport closed while the destination is gone (or paused) may never report closed, and a
            # broker's shutdown must not wait on it.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await writer.wait_closed()
