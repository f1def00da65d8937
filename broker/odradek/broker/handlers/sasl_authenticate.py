"""SaslAuthenticate (key 36), v0-2: one SASL token of the exchange SaslHandshake v1 started (KIP-152).

The token goes to the connection's mechanism server; its answer comes back in `auth_bytes`. When the mechanism
completes, the connection is authenticated as `User:<authorization id>`. A failure answers SASL_AUTHENTICATION_FAILED
with the mechanism's message after `connection.failed.authentication.delay.ms`, and the connection is closed.
`session_lifetime_ms` (v1+) is the mechanism's `connections.max.reauth.ms`, bounded by the credential's lifetime (an
OAUTHBEARER token's exp), once the exchange completes (0: the session never ends), the time within which the client
re-authenticates (KIP-368, SaslHandshake then SaslAuthenticate again on the same connection). On a connection already
authenticated and not re-authenticating: ILLEGAL_SASL_STATE, as KafkaApis answers."""

from __future__ import annotations

from odradek.broker.auth.sasl import SaslAuthenticationError
from odradek.broker.handlers.context import RequestContext, log_authentication_failure
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.sasl_authenticate_request import SaslAuthenticateRequest
from odradek.broker.protocol.messages.sasl_authenticate_response import SaslAuthenticateResponse

API_KEY = 36
VERSIONS = (0, 2)


async def handle(request: SaslAuthenticateRequest, ctx: RequestContext) -> SaslAuthenticateResponse:
    authenticator = ctx.authenticator
    if authenticator is None or authenticator.complete:
        return SaslAuthenticateResponse(
            error_code=ErrorCode.ILLEGAL_SASL_STATE,
            error_message="SaslAuthenticate request received after successful authentication",
        )
    reauthentication = authenticator.previous_principal is not None
    try:
        answer = authenticator.evaluate(
            bytes(request.auth_bytes), ctx.client_host, ctx.listener, ctx.services.time.monotonic_ms()
        )
    except SaslAuthenticationError as exc:
        if reauthentication:
            ctx.services.metrics.reauthenticated(ctx.listener, succeeded=False)
        log_authentication_failure(ctx.client_host, ctx.connection_id, str(exc))
        await ctx.services.time.sleep(ctx.services.config.get_int("connection.failed.authentication.delay.ms"))
        return SaslAuthenticateResponse(error_code=ErrorCode.SASL_AUTHENTICATION_FAILED, error_message=str(exc))
    if reauthentication and authenticator.complete:
        ctx.services.metrics.reauthenticated(ctx.listener, succeeded=True)
    lifetime_ms = authenticator.session_lifetime_ms if authenticator.complete else 0
    return SaslAuthenticateResponse(error_code=ErrorCode.NONE, auth_bytes=answer, session_lifetime_ms=lifetime_ms)
