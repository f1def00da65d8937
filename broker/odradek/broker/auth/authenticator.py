"""A connection's authentication: its state, its principal once authenticated, and the gate before that.

PLAINTEXT and SSL connections are authenticated by their transport (at once, or by the TLS handshake) and start
AUTHENTICATED. A SASL connection follows Kafka's SaslServerAuthenticator (KIP-43, KIP-152), and `TRANSITIONS` is
that whole state machine, (state, event) -> state; any other move is an error:

    AUTHENTICATING  --ApiVersions-->          HANDSHAKE
    AUTHENTICATING / HANDSHAKE --SaslHandshake v1--> AUTHENTICATE         (tokens in SaslAuthenticate requests)
    AUTHENTICATING / HANDSHAKE --SaslHandshake v0--> AUTHENTICATE_UNFRAMED (tokens as bare size-prefixed frames)
    AUTHENTICATE / AUTHENTICATE_UNFRAMED --mechanism complete--> AUTHENTICATED
    AUTHENTICATED --SaslHandshake v1 (re-authentication)--> AUTHENTICATE
    AUTHENTICATED --SaslHandshake v0 (re-authentication)--> AUTHENTICATE_UNFRAMED
    any state but AUTHENTICATED --failure--> FAILED (the connection is closed)

`ALLOWED_APIS` says which requests each state serves: before authentication only ApiVersions, SaslHandshake and
SaslAuthenticate, each in its own state; anything else closes the connection (Kafka's IllegalSaslStateException).
While AUTHENTICATE_UNFRAMED, frames are not Kafka requests at all: the dispatcher hands them to `evaluate`.

Re-authentication (KIP-368, Kafka's ReauthInfo): a SASL exchange completed with a positive session lifetime
(`connections.max.reauth.ms` of its mechanism) gives the session an expiry on the monotonic clock. Until then, and
after it too, a SaslHandshake on the AUTHENTICATED connection starts a new exchange with the same mechanism (at most
one start per `MIN_REAUTH_INTERVAL_MS`; otherwise, or without an expiry, it is answered ILLEGAL_SASL_STATE as
Kafka's KafkaApis answers it) through the same states as the first one; while it runs only SaslAuthenticate is
served. It must end with the principal of the first exchange ("Cannot change principals during
re-authentication"), and against the credentials in force then: a deleted or changed SCRAM credential fails it,
and a failed re-authentication closes the connection like a failed authentication. Any other request after the
expiry closes the connection (`session_expired`; Kafka's Processor does it at the next request, not on a timer).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from odradek.broker.auth.principal import ANONYMOUS, AuthenticationContext, DefaultKafkaPrincipalBuilder, KafkaPrincipal
from odradek.broker.auth.sasl import SaslAuthenticationError, SaslServer
from odradek.broker.config.broker import SecurityProtocol

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
MIN_REAUTH_INTERVAL_MS = 1000  # Kafka's KafkaChannel.MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS
PRE_AUTHENTICATION_APIS = frozenset({API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE})
SASL_PROTOCOLS = frozenset({SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL})


class AuthenticationState(enum.Enum):
    AUTHENTICATING = "authenticating"  # Kafka's HANDSHAKE_OR_VERSIONS_REQUEST
    HANDSHAKE = "handshake"  # HANDSHAKE_REQUEST: ApiVersions was answered
    AUTHENTICATE = "authenticate"
    AUTHENTICATE_UNFRAMED = "authenticate (unframed tokens)"
    AUTHENTICATED = "authenticated"
    FAILED = "failed"


class AuthenticationEvent(enum.Enum):
    API_VERSIONS = "api versions"
    HANDSHAKE_V0 = "sasl handshake v0"
    HANDSHAKE_V1 = "sasl handshake v1"
    SASL_SUCCEEDED = "sasl succeeded"
    TRANSPORT_AUTHENTICATED = "transport authenticated"
    REAUTHENTICATION_V0 = "sasl handshake v0 on an authenticated connection"
    REAUTHENTICATION_V1 = "sasl handshake v1 on an authenticated connection"
    FAILED = "failed"


S, E = AuthenticationState, AuthenticationEvent
TRANSITIONS: Mapping[tuple[AuthenticationState, AuthenticationEvent], AuthenticationState] = {
    (S.AUTHENTICATING, E.API_VERSIONS): S.HANDSHAKE,
    (S.AUTHENTICATING, E.HANDSHAKE_V0): S.AUTHENTICATE_UNFRAMED,
    (S.AUTHENTICATING, E.HANDSHAKE_V1): S.AUTHENTICATE,
    (S.HANDSHAKE, E.HANDSHAKE_V0): S.AUTHENTICATE_UNFRAMED,
    (S.HANDSHAKE, E.HANDSHAKE_V1): S.AUTHENTICATE,
    (S.AUTHENTICATE, E.SASL_SUCCEEDED): S.AUTHENTICATED,
    (S.AUTHENTICATE_UNFRAMED, E.SASL_SUCCEEDED): S.AUTHENTICATED,
    (S.AUTHENTICATING, E.TRANSPORT_AUTHENTICATED): S.AUTHENTICATED,
    (S.AUTHENTICATED, E.REAUTHENTICATION_V0): S.AUTHENTICATE_UNFRAMED,
    (S.AUTHENTICATED, E.REAUTHENTICATION_V1): S.AUTHENTICATE,
    (S.AUTHENTICATING, E.FAILED): S.FAILED,
    (S.HANDSHAKE, E.FAILED): S.FAILED,
    (S.AUTHENTICATE, E.FAILED): S.FAILED,
    (S.AUTHENTICATE_UNFRAMED, E.FAILED): S.FAILED,
}

ALLOWED_APIS: Mapping[AuthenticationState, frozenset[int]] = {
    S.AUTHENTICATING: frozenset({API_VERSIONS, SASL_HANDSHAKE}),
    S.HANDSHAKE: frozenset({SASL_HANDSHAKE}),
    S.AUTHENTICATE: frozenset({SASL_AUTHENTICATE}),
    S.AUTHENTICATE_UNFRAMED: frozenset(),
    S.FAILED: frozenset(),
}
del S, E


class IllegalAuthenticationTransition(Exception):
    pass


@dataclass(slots=True)
class Authenticator:
    """One connection's authentication; `principal` is ANONYMOUS until `succeeded` names another. During a SASL
    exchange `sasl_server` is the mechanism's server (set by SaslHandshake) and `max_reauth_ms` its mechanism's
    connections.max.reauth.ms (>= 0; 0: no limit); `session_lifetime_ms` is what the last completed exchange
    gave the session (that bounded by the credential's lifetime, an OAUTHBEARER token's exp), which
    SaslAuthenticate v1+ answers. `mechanism` is the one the session authenticated with (a re-authentication must
    use it too). Times
    are the injected clock's monotonic milliseconds: `session_expiration_ms` is when the SASL session ends (None:
    never), `reauthentication_started_ms` when the last re-authentication began; `previous_principal` is set while
    a re-authentication runs."""

    security_protocol: SecurityProtocol
    state: AuthenticationState = AuthenticationState.AUTHENTICATING
    principal: KafkaPrincipal = field(default=ANONYMOUS)
    sasl_server: SaslServer | None = None
    mechanism: str = ""
    max_reauth_ms: int = 0
    session_lifetime_ms: int = 0
    session_expiration_ms: float | None = None
    reauthentication_started_ms: float | None = None
    previous_principal: KafkaPrincipal | None = None

    @property
    def complete(self) -> bool:
        return self.state is AuthenticationState.AUTHENTICATED

    @property
    def unframed(self) -> bool:
        """Frames are bare SASL tokens (after SaslHandshake v0), not Kafka requests."""
        return self.state is AuthenticationState.AUTHENTICATE_UNFRAMED

    def allows(self, api_key: int) -> bool:
        """Whether a request of this API may be handled now (the authentication gate)."""
        return self.complete or api_key in ALLOWED_APIS[self.state]

    def api_versions(self) -> None:
        if self.security_protocol in SASL_PROTOCOLS and self.state is AuthenticationState.AUTHENTICATING:
            self._move(AuthenticationEvent.API_VERSIONS)

    def handshake(self, version: int, server: SaslServer | None, max_reauth_ms: int = 0) -> None:
        """SaslHandshake answered: `server` is the mechanism's (None: unsupported mechanism, which Kafka answers
        and then fails the connection), `max_reauth_ms` its session lifetime."""
        if server is None:
            self.failed()
            return
        self._move(AuthenticationEvent.HANDSHAKE_V0 if version == 0 else AuthenticationEvent.HANDSHAKE_V1)
        self.mechanism = server.mechanism
        self.sasl_server, self.max_reauth_ms = server, max_reauth_ms

    def may_reauthenticate(self, now_ms: float) -> bool:
        """Whether a SaslHandshake now starts a re-authentication (Kafka's maybeBeginServerReauthentication): the
        connection is authenticated, its session has an expiry, and no re-authentication began in the last
        MIN_REAUTH_INTERVAL_MS."""
        started = self.reauthentication_started_ms
        return (
            self.complete
            and self.session_expiration_ms is not None
            and (started is None or now_ms - started >= MIN_REAUTH_INTERVAL_MS)
        )

    def reauthenticate(self, version: int, server: SaslServer | None, max_reauth_ms: int, now_ms: float) -> None:
        """A SaslHandshake that `may_reauthenticate` let through: a new exchange on the authenticated connection.
        An unsupported mechanism fails the connection at once; another supported one than the session's fails it
        at the first token (Kafka's REAUTH_BAD_MECHANISM, in `evaluate`)."""
        self.reauthentication_started_ms = now_ms
        if server is None:
            self.failed()
            return
        event = AuthenticationEvent.REAUTHENTICATION_V0 if version == 0 else AuthenticationEvent.REAUTHENTICATION_V1
        self._move(event)
        self.previous_principal = self.principal
        self.sasl_server, self.max_reauth_ms = server, max_reauth_ms

    def session_expired(self, now_ms: float) -> bool:
        """The SASL session ended without re-authentication: the connection is to be closed."""
        return self.session_expiration_ms is not None and now_ms > self.session_expiration_ms

    def evaluate(self, token: bytes, client_address: str, listener: str, now_ms: float = 0.0) -> bytes:
        """One SASL token through the mechanism's server; on completion the connection is authenticated as
        `User:<authorization id>` and its session lasts `max_reauth_ms` from `now_ms`. A `SaslAuthenticationError`
        fails the connection and propagates."""
        server = self.sasl_server
        if server is None or self.state not in (
            AuthenticationState.AUTHENTICATE,
            AuthenticationState.AUTHENTICATE_UNFRAMED,
        ):
            raise IllegalAuthenticationTransition(f"a SASL token while {self.state.value}")
        try:
            if self.previous_principal is not None and server.mechanism != self.mechanism:
                raise SaslAuthenticationError(
                    f"SASL mechanism '{server.mechanism}' requested by client is not supported for "
                    f"re-authentication of mechanism '{self.mechanism}'"
                )
            answer = server.evaluate(token)
            principal = self._principal(server, client_address, listener) if server.complete else None
        except SaslAuthenticationError:
            self.failed()
            raise
        if principal is not None:
            self.succeeded(principal)
            self._start_session(now_ms, server.credential_lifetime_ms)
        return answer

    def _principal(self, server: SaslServer, client_address: str, listener: str) -> KafkaPrincipal:
        """The completed exchange's principal; on re-authentication it must be the session's (Kafka's
        ReauthInfo.ensurePrincipalUnchanged)."""
        context = AuthenticationContext(
            self.security_protocol, client_address, listener, sasl_authorization_id=server.authorization_id
        )
        principal = DefaultKafkaPrincipalBuilder().build(context)
        previous = self.previous_principal
        if previous is not None and principal != previous:
            raise SaslAuthenticationError(
                f"Cannot change principals during re-authentication from {previous.principal_type}."
                f"{previous.name}: {principal.principal_type}.{principal.name}"
            )
        return principal

    def succeeded(self, principal: KafkaPrincipal) -> None:
        sasl = self.security_protocol in SASL_PROTOCOLS
        self._move(AuthenticationEvent.SASL_SUCCEEDED if sasl else AuthenticationEvent.TRANSPORT_AUTHENTICATED)
        self.principal = principal
        self.sasl_server = None
        self.previous_principal = None

    def failed(self) -> None:
        self._move(AuthenticationEvent.FAILED)
        self.sasl_server = None

    def _start_session(self, now_ms: float, credential_lifetime_ms: int | None) -> None:
        """Kafka's calcCompletionTimesAndReturnSessionLifetimeMs: the session lasts connections.max.reauth.ms, or
        the credential's remaining lifetime, whichever is shorter (never less than 0); neither set: forever."""
        limits = [limit for limit in (credential_lifetime_ms,) if limit is not None]
        if self.max_reauth_ms > 0:
            limits.append(self.max_reauth_ms)
        if not limits:
            self.session_lifetime_ms, self.session_expiration_ms = 0, None
            return
        self.session_lifetime_ms = max(0, min(limits))
        self.session_expiration_ms = now_ms + self.session_lifetime_ms

    def _move(self, event: AuthenticationEvent) -> None:
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise IllegalAuthenticationTransition(f"{event.value} while {self.state.value}")
        self.state = target


def plaintext_authenticator(client_address: str, listener_name: str) -> Authenticator:
    """Kafka's PlaintextAuthenticator: nothing to exchange, authenticated at once, principal from the builder."""
    return transport_authenticator(SecurityProtocol.PLAINTEXT, client_address, listener_name)


def transport_authenticator(
    protocol: SecurityProtocol,
    client_address: str,
    listener_name: str,
    ssl_subject: str | None = None,
    builder: DefaultKafkaPrincipalBuilder | None = None,
) -> Authenticator:
    """PLAINTEXT, or SSL once the TLS handshake verified (or did not ask for) the client's certificate."""
    authenticator = Authenticator(protocol)
    context = AuthenticationContext(protocol, client_address, listener_name, ssl_subject)
    authenticator.succeeded((builder or DefaultKafkaPrincipalBuilder()).build(context))
    return authenticator
