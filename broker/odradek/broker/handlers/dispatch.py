"""From one request frame to response chunks: header, version check, decode, handle, encode.

- Unknown API key, or a version outside what is served: the connection is closed (Kafka does the same), except
  ApiVersions, which answers any version with a v0 body carrying UNSUPPORTED_VERSION and the served ranges, so
  that a client newer than the broker can fall back (KIP-511).
- A request that does not decode raises `ProtocolError`: the server closes that connection only.
- A handler returns a response message, `None` (no response, Produce acks=0) or `Encoded` chunks (Fetch encodes
  into a `RegionWriter`, so that its record data stays file regions, sent with sendfile).
- The response header is v1 for flexible versions, except ApiVersions whose header is always v0.
- Authentication gate: until the connection's authenticator completes, only ApiVersions, SaslHandshake and
  SaslAuthenticate are handled; any other request closes the connection (Kafka's SaslServerAuthenticator raises
  IllegalSaslStateException and drops it), before the body is decoded. PLAINTEXT connections are authenticated
  from the start; on SASL listeners the authenticator's state table says which of the three each state serves.
- After SaslHandshake v0, frames are bare SASL tokens (Kafka's pre-KIP-152 path): they go to the authenticator,
  and the answer goes back as a bare token.
- Session expiry (KIP-368): on an authenticated connection whose SASL session has ended, any request but a
  SaslHandshake that starts a re-authentication closes the connection (`SessionExpired`, logged), as Kafka's
  Processor closes an expired channel at its next request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from odradek.broker.auth.authenticator import Authenticator
from odradek.broker.auth.sasl import SaslAuthenticationError
from odradek.broker.handlers.context import (
    BrokerServices,
    RequestContext,
    RequestThrottle,
    authentication_log,
    log_authentication_failure,
)
from odradek.broker.handlers.quotas import record_request_quota, throttle
from odradek.broker.handlers.registry import Registry
from odradek.broker.protocol import fast
from odradek.broker.protocol.errors import ErrorCode, ProtocolError
from odradek.broker.protocol.frames import Chunk
from odradek.broker.protocol.headers import (
    RequestHeader,
    decode_request_header,
    encode_response_header,
    response_header_version,
)
from odradek.broker.protocol.messages import api_versions_response
from odradek.broker.protocol.primitives import Reader

API_VERSIONS_KEY = 18
SASL_HANDSHAKE_KEY = 17
PRODUCE_KEY = 0

__all__ = ["Chunk", "Dispatcher", "Encoded"]


class Connection(Protocol):
    """What the dispatcher needs of a connection (the server's ConnectionInfo)."""

    @property
    def connection_id(self) -> int: ...
    @property
    def peer_host(self) -> str: ...
    @property
    def listener(self) -> str: ...
    @property
    def authenticator(self) -> Authenticator: ...

    def mute(self, throttle_ms: int) -> None:
        """Read nothing more from the connection for `throttle_ms` once this response is out (KIP-219)."""
        ...


class SessionExpired(ProtocolError):
    """A request on a connection whose SASL session ended without re-authentication: the connection is closed."""


class IllegalSaslState(ProtocolError):
    """A request other than ApiVersions/SaslHandshake/SaslAuthenticate before authentication: the connection is
    closed (Kafka's IllegalSaslStateException)."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """A response body already encoded by its handler (without the response header)."""

    chunks: Sequence[Chunk]


class Dispatcher:
    def __init__(self, registry: Registry, services: BrokerServices) -> None:
        self._registry = registry
        self._services = services

    async def __call__(self, frame: memoryview, connection: Connection) -> Sequence[Chunk] | None:
        started = time.monotonic()
        authenticator = connection.authenticator
        if authenticator.unframed:
            return await self._unframed_token(frame, connection)
        header, body_offset = decode_request_header(frame)
        if authenticator.session_expiration_ms is not None and authenticator.complete:
            self._check_session(header, connection)
        if not authenticator.allows(header.api_key):
            raise IllegalSaslState(
                f"Unexpected Kafka request of type {header.api_key} during SASL handshake "
                f"(connection {connection.connection_id} is {authenticator.state.value})"
            )
        spec = self._registry.get(header.api_key)
        if spec is None:
            raise ProtocolError(f"unknown API key {header.api_key}")
        if not spec.serves(header.api_version):
            if header.api_key == API_VERSIONS_KEY:
                return self._unsupported_api_versions(header)
            raise ProtocolError(f"{spec.name} v{header.api_version} is not supported")
        if header.api_key == PRODUCE_KEY:  # the hot path: protocol/fast.py, measured in bench/produce_codec.py
            request = fast.decode_produce_request(frame, body_offset, header.api_version)
        else:
            request = spec.request_module.decode(Reader(frame[body_offset:]), header.api_version)
        context = RequestContext(
            header,
            connection.peer_host,
            connection.connection_id,
            connection.listener,
            self._services,
            authenticator.security_protocol,
            authenticator.principal,
            authenticator,
            RequestThrottle(started * 1000.0, len(frame) + 4),
        )
        metrics = self._services.metrics
        try:
            response = await spec.handle(request, context)
        except Exception:
            metrics.request_failed(spec.name)
            raise
        finally:
            metrics.request_done(spec.name, (time.monotonic() - started) * 1000.0, header.api_version)
        if header.api_key == API_VERSIONS_KEY:
            authenticator.api_versions()  # on a SASL connection: only SaslHandshake may follow
        self._throttle(context, response, connection)
        if response is None:
            return None
        out = bytearray()
        encode_response_header(out, header.correlation_id, response_header_version(header.api_key, header.api_version))
        if isinstance(response, Encoded):
            return [out, *response.chunks]
        if header.api_key == PRODUCE_KEY:
            fast.encode_produce_response(out, response, header.api_version)
        else:
            spec.response_module.encode(out, response, header.api_version)
        return [out]

    def _check_session(self, header: RequestHeader, connection: Connection) -> None:
        authenticator = connection.authenticator
        now_ms = self._services.time.monotonic_ms()
        if header.api_key == SASL_HANDSHAKE_KEY and authenticator.may_reauthenticate(now_ms):
            return  # a re-authentication may begin after the expiry too, as long as nothing else came first
        if authenticator.session_expired(now_ms):
            expiry = authenticator.session_expiration_ms or 0.0
            authentication_log.info(
                "Closing connection %s from /%s (%s): its SASL session expired %d ms ago without re-authentication",
                connection.connection_id,
                connection.peer_host,
                authenticator.principal,
                now_ms - expiry,
            )
            self._services.metrics.expired_connection_killed(connection.listener)
            raise SessionExpired(f"SASL session of connection {connection.connection_id} expired")

    @staticmethod
    def _throttle(context: RequestContext, response: object, connection: Connection) -> None:
        """The request quota of a request whose handler did not record it (Produce and Fetch do, with their byte
        rates), the response's throttle_time_ms, and the connection muted (KIP-219)."""
        if not context.throttle.request_recorded:
            request_ms = record_request_quota(context)
            if request_ms > 0:
                throttle(context, context.services.quotas.request, request_ms)
                if response is not None and not isinstance(response, Encoded) and hasattr(response, "throttle_time_ms"):
                    response.throttle_time_ms = max(response.throttle_time_ms, request_ms)
        if context.throttle.throttle_ms > 0:
            connection.mute(context.throttle.throttle_ms)

    async def _unframed_token(self, frame: memoryview, connection: Connection) -> Sequence[Chunk] | None:
        """After SaslHandshake v0 a frame is a bare SASL token and so is the answer (no request or response
        header). A failure has no error response to carry it: after the failed-authentication delay the
        connection is closed (the authenticator is FAILED)."""
        authenticator = connection.authenticator
        reauthentication = authenticator.previous_principal is not None
        try:
            now_ms = self._services.time.monotonic_ms()
            answer = authenticator.evaluate(bytes(frame), connection.peer_host, connection.listener, now_ms)
        except SaslAuthenticationError as exc:
            if reauthentication:
                self._services.metrics.reauthenticated(connection.listener, succeeded=False)
            log_authentication_failure(connection.peer_host, connection.connection_id, str(exc))
            await self._services.time.sleep(self._services.config.get_int("connection.failed.authentication.delay.ms"))
            return None
        if reauthentication and authenticator.complete:
            self._services.metrics.reauthenticated(connection.listener, succeeded=True)
        return [answer]

    def _unsupported_api_versions(self, header: RequestHeader) -> Sequence[Chunk]:
        response = api_versions_response.ApiVersionsResponse(
            error_code=ErrorCode.UNSUPPORTED_VERSION,
            api_keys=[
                api_versions_response.ApiVersion(api_key=key, min_version=low, max_version=high)
                for key, low, high in self._registry.advertised()
            ],
        )
        out = bytearray()
        encode_response_header(out, header.correlation_id, 0)
        api_versions_response.encode(out, response, 0)
        return [out]
