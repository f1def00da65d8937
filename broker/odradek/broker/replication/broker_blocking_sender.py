"""One asyncio connection from this broker to another, speaking the Kafka protocol with the broker's own generated
codecs (Kafka's BrokerBlockingSender): what the replica fetchers (`leader_end_point.RemoteLeaderEndPoint`) and the
transaction marker channel (`txn_marker_channel_manager.RemoteTxnMarkerSender`) send through.

- connect with a timeout of `socket_timeout_ms`; on any I/O error the connection is closed and the next request
  reconnects (the caller backs off in between);
- over the inter-broker listener's security protocol (`ChannelSecurity`, built by the app from the broker's own
  listener settings): TLS with the given client SSLContext (the server's host name checked when the context says
  so), then for SASL_PLAINTEXT and SASL_SSL, after ApiVersions, SaslHandshake v1 naming the mechanism and
  SaslAuthenticate (v0..v2) rounds driven by a sans-I/O `SaslClient` until it is complete. A refused handshake or
  authentication raises `AuthenticationFailed` (a ConnectionFailed) with the server's message. A session lifetime the
  server sets (KIP-368) is honoured by reconnecting, and so authenticating afresh, before it ends;
- ApiVersions v3 once per connection, then each request at the highest version both sides support
  (`UnsupportedVersion`, a ConnectionFailed, when there is none);
- one request at a time, each answered within `socket_timeout_ms`;
- frames: int32 size, request header (v1, or v2 for flexible versions), body; responses: int32 size, correlation
  id, a tagged-field byte for flexible versions (not for ApiVersions), body.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

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
from odradek.broker.protocol.messages.sasl_authenticate_request import SaslAuthenticateRequest
from odradek.broker.protocol.messages.sasl_authenticate_response import SaslAuthenticateResponse
from odradek.broker.protocol.messages.sasl_handshake_request import SaslHandshakeRequest
from odradek.broker.protocol.messages.sasl_handshake_response import SaslHandshakeResponse
from odradek.broker.protocol.primitives import Reader
from odradek.broker.utils.time import SystemTime, Time

API_VERSIONS = 18
API_VERSIONS_VERSION = 3
SASL_HANDSHAKE = 17
SASL_HANDSHAKE_VERSION = 1  # v1: the tokens travel in SaslAuthenticate requests
SASL_AUTHENTICATE = 36
SASL_AUTHENTICATE_VERSIONS = (0, 2)
MAX_SASL_ROUNDS = 8  # PLAIN takes one, SCRAM two: a server that keeps asking is broken
REAUTH_MARGIN = 0.85  # reconnect when this share of the session lifetime has passed (Kafka re-authenticates
# between 85% and 95% of it)
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


class UnsupportedVersion(ConnectionFailed):
    """The other broker serves no version of the API in the range asked for (its connection stays usable)."""


class AuthenticationFailed(ConnectionFailed):
    """The other broker refused this broker's SASL handshake or credentials (or, for SCRAM, failed to prove it
    knows them)."""


class SaslClient(Protocol):
    """A sans-I/O SASL client mechanism (`odradek.broker.auth.sasl_client`): `evaluate(None)` is the initial
    response, then each server answer in; the next token out, None once complete. Raises on a bad server answer."""

    @property
    def mechanism(self) -> str: ...

    @property
    def complete(self) -> bool: ...

    def evaluate(self, challenge: bytes | None) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class ChannelSecurity:
    """How this broker connects to the others' inter-broker listener: `security_protocol` as Kafka names it,
    the client SSLContext for SSL and SASL_SSL, and a factory of fresh SASL clients (one per connection) for
    SASL_PLAINTEXT and SASL_SSL. `principal` names who we authenticate as, for log lines."""

    security_protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    sasl_client: Callable[[], SaslClient] | None = None
    principal: str = "User:ANONYMOUS"

    def __post_init__(self) -> None:
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        assert (self.ssl_context is not None) == tls, self.security_protocol
        assert (self.sasl_client is not None) == self.security_protocol.startswith("SASL_"), self.security_protocol


PLAINTEXT = ChannelSecurity()


class BrokerBlockingSender:
    def __init__(
        self,
        destination: BrokerEndPoint,
        socket_timeout_ms: int,
        client_id: str,
        software_name: str,
        security: ChannelSecurity = PLAINTEXT,
        time: Time | None = None,
    ) -> None:
        self.destination = destination
        self.socket_timeout_s = socket_timeout_ms / 1000.0
        self.security = security
        self._client_id = client_id
        self._software_name = software_name
        self._time = time or SystemTime()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._correlation_id = 0
        self._versions: dict[int, tuple[int, int]] = {}
        self._session_ends_ms: float | None = None  # monotonic; None: the session does not expire

    async def _connect(self) -> None:
        if self._writer is not None:
            if self._session_ends_ms is None or self._time.monotonic_ms() < self._session_ends_ms:
                return
            await self.close()  # the SASL session is about to end: a new connection authenticates afresh
        security = self.security
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.destination.host,
                    self.destination.port,
                    ssl=security.ssl_context,
                    server_hostname=self.destination.host if security.ssl_context is not None else None,
                    ssl_handshake_timeout=self.socket_timeout_s if security.ssl_context is not None else None,
                ),
                self.socket_timeout_s,
            )
            answer: ApiVersionsResponse = await self._call(
                API_VERSIONS,
                API_VERSIONS_VERSION,
                ApiVersionsRequest(client_software_name=self._software_name, client_software_version="1"),
            )
            if answer.error_code != ErrorCode.NONE:
                raise ConnectionFailed(f"ApiVersions to broker {self.destination.broker_id}: error {answer.error_code}")
            self._versions = {api.api_key: (api.min_version, api.max_version) for api in answer.api_keys}
            if security.sasl_client is not None:
                await self._authenticate(security.sasl_client())
        except BaseException:
            await self.close()
            raise

    async def _authenticate(self, client: SaslClient) -> None:
        """SaslHandshake v1 then SaslAuthenticate rounds until `client` is complete (Kafka's
        SaslClientAuthenticator); AuthenticationFailed with the server's message on refusal."""
        who = f"broker {self.destination.broker_id} ({self.destination.host}:{self.destination.port})"
        handshake: SaslHandshakeResponse = await self._call(
            SASL_HANDSHAKE, SASL_HANDSHAKE_VERSION, SaslHandshakeRequest(mechanism=client.mechanism)
        )
        if handshake.error_code != ErrorCode.NONE:
            raise AuthenticationFailed(
                f"SASL handshake with {who} failed (error {handshake.error_code}): mechanism {client.mechanism} "
                f"not enabled there (it offers {', '.join(handshake.mechanisms) or 'none'})"
            )
        version = self._version(SASL_AUTHENTICATE, SASL_AUTHENTICATE_VERSIONS)
        try:
            token = client.evaluate(None)
            for _ in range(MAX_SASL_ROUNDS):
                if token is None:
                    break
                answer: SaslAuthenticateResponse = await self._call(
                    SASL_AUTHENTICATE, version, SaslAuthenticateRequest(auth_bytes=token)
                )
                if answer.error_code != ErrorCode.NONE:
                    raise AuthenticationFailed(
                        f"SASL {client.mechanism} authentication as {self.security.principal} to {who} failed "
                        f"(error {answer.error_code}): {answer.error_message or 'no message'}"
                    )
                if answer.session_lifetime_ms > 0:
                    self._session_ends_ms = self._time.monotonic_ms() + answer.session_lifetime_ms * REAUTH_MARGIN
                token = client.evaluate(bytes(answer.auth_bytes))
        except AuthenticationFailed:
            raise
        except Exception as exc:  # the client mechanism refused the server's answer (e.g. a bad server signature)
            if isinstance(exc, OSError | EOFError):
                raise
            raise AuthenticationFailed(f"SASL {client.mechanism} authentication to {who} failed: {exc}") from None
        if not client.complete:
            raise AuthenticationFailed(f"SASL {client.mechanism} exchange with {who} did not complete")

    def _version(self, api_key: int, ours: tuple[int, int]) -> int:
        theirs = self._versions.get(api_key)
        if theirs is None or theirs[1] < ours[0] or theirs[0] > ours[1]:
            raise UnsupportedVersion(f"broker {self.destination.broker_id} supports no common version of API {api_key}")
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
        self._session_ends_ms = None
        if writer is not None:
            writer.close()
            # Bounded: a transport closed while the destination is gone (or paused) may never report closed, and a
            # broker's shutdown must not wait on it.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await writer.wait_closed()
