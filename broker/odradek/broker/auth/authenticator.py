"""A connection's authentication: its state, its principal once authenticated, and the gate before that.

PLAINTEXT and SSL connections are authenticated by their transport (at once, or by the TLS handshake) and start
AUTHENTICATED. A SASL connection follows Kafka's SaslServerAuthenticator (KIP-43, KIP-152), and `TRANSITIONS` is
that whole state machine, (state, event) -> state; any other move is an error:

    AUTHENTICATING  --ApiVersions-->          HANDSHAKE
    AUTHENTICATING / HANDSHAKE --SaslHandshake v1--> AUTHENTICATE         (tokens in SaslAuthenticate requests)
    AUTHENTICATING / HANDSHAKE --SaslHandshake v0--> AUTHENTICATE_UNFRAMED (tokens as bare size-prefixed frames)
    AUTHENTICATE / AUTHENTICATE_UNFRAMED --mechanism complete--> AUTHENTICATED
    any state but AUTHENTICATED --failure--> FAILED (the connection is closed)

`ALLOWED_APIS` says which requests each state serves: before authentication only ApiVersions, SaslHandshake and
SaslAuthenticate, each in its own state; anything else closes the connection (Kafka's IllegalSaslStateException).
While AUTHENTICATE_UNFRAMED, frames are not Kafka requests at all: the dispatcher hands them to `evaluate`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from odradek.broker.auth.principal import ANONYMOUS, AuthenticationContext, DefaultKafkaPrincipalBuilder, KafkaPrincipal
from odradek.broker.auth.sasl import SaslAuthenticationError, SaslServer
from odradek.broker.config.broker import SecurityProtocol

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
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
    exchange `sasl_server` is the mechanism's server (set by SaslHandshake)."""

    security_protocol: SecurityProtocol
    state: AuthenticationState = AuthenticationState.AUTHENTICATING
    principal: KafkaPrincipal = field(default=ANONYMOUS)
    sasl_server: SaslServer | None = None

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

    def handshake(self, version: int, server: SaslServer | None) -> None:
        """SaslHandshake answered: `server` is the mechanism's (None: unsupported mechanism, which Kafka answers
        and then fails the connection)."""
        if server is None:
            self.failed()
            return
        self._move(AuthenticationEvent.HANDSHAKE_V0 if version == 0 else AuthenticationEvent.HANDSHAKE_V1)
        self.sasl_server = server

    def evaluate(self, token: bytes, client_address: str, listener: str) -> bytes:
        """One SASL token through the mechanism's server; on completion the connection is authenticated as
        `User:<authorization id>`. A `SaslAuthenticationError` fails the connection and propagates."""
        server = self.sasl_server
        if server is None or self.state not in (
            AuthenticationState.AUTHENTICATE,
            AuthenticationState.AUTHENTICATE_UNFRAMED,
        ):
            raise IllegalAuthenticationTransition(f"a SASL token while {self.state.value}")
        try:
            answer = server.evaluate(token)
        except SaslAuthenticationError:
            self.failed()
            raise
        if server.complete:
            context = AuthenticationContext(
                self.security_protocol, client_address, listener, sasl_authorization_id=server.authorization_id
            )
            self.succeeded(DefaultKafkaPrincipalBuilder().build(context))
        return answer

    def succeeded(self, principal: KafkaPrincipal) -> None:
        sasl = self.security_protocol in SASL_PROTOCOLS
        self._move(AuthenticationEvent.SASL_SUCCEEDED if sasl else AuthenticationEvent.TRANSPORT_AUTHENTICATED)
        self.principal = principal
        self.sasl_server = None

    def failed(self) -> None:
        self._move(AuthenticationEvent.FAILED)
        self.sasl_server = None

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
