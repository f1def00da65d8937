"""SaslHandshake (key 17), v0-1: choose the SASL mechanism of a connection (KIP-43).

On a SASL listener, before authentication: a mechanism the listener enables starts its server on the connection
and answers NONE with the enabled mechanisms; after v1 the tokens come in SaslAuthenticate requests, after v0 as
bare frames. An unsupported mechanism answers UNSUPPORTED_SASL_MECHANISM with the enabled ones, after
`connection.failed.authentication.delay.ms`, and the connection is closed (Kafka's UnsupportedSaslMechanism-
Exception).

On an authenticated SASL connection whose session has an expiry (`connections.max.reauth.ms`), at most once a
second: a re-authentication (KIP-368), answered the same way and followed by SaslAuthenticate. On any other
connection already authenticated (any PLAINTEXT or SSL one, or a SASL one without session expiry or re-authenticating
again within the second): ILLEGAL_SASL_STATE, as KafkaApis answers.
"""

from __future__ import annotations

from odradek.broker.handlers.context import RequestContext, log_authentication_failure
from odradek.broker.handlers.security import scram_credentials
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.sasl_handshake_request import SaslHandshakeRequest
from odradek.broker.protocol.messages.sasl_handshake_response import SaslHandshakeResponse

API_KEY = 17
VERSIONS = (0, 1)


async def handle(request: SaslHandshakeRequest, ctx: RequestContext) -> SaslHandshakeResponse:
    authenticator = ctx.authenticator
    sasl = ctx.services.sasl.get(ctx.listener)
    if authenticator is None or sasl is None:
        return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=[])
    now_ms = ctx.services.time.monotonic_ms()
    reauthentication = authenticator.may_reauthenticate(now_ms)
    if authenticator.complete and not reauthentication:
        return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=[])
    server = sasl.server(request.mechanism, scram_credentials(ctx.services))
    lifetime_ms = sasl.session_lifetime_ms(request.mechanism)
    if reauthentication:
        authenticator.reauthenticate(ctx.version, server, lifetime_ms, now_ms)
    else:
        authenticator.handshake(ctx.version, server, lifetime_ms)
    if server is None:
        log_authentication_failure(
            ctx.client_host, ctx.connection_id, f"Unsupported SASL mechanism {request.mechanism}"
        )
        await ctx.services.time.sleep(ctx.services.config.get_int("connection.failed.authentication.delay.ms"))
        return SaslHandshakeResponse(error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=list(sasl.enabled))
    return SaslHandshakeResponse(error_code=ErrorCode.NONE, mechanisms=list(sasl.enabled))
