"""A connection's authentication: its state, its principal once authenticated, and the gate before that.

As in Kafka (SaslServerAuthenticator, KIP-152), a connection that is not authenticated yet may send only
ApiVersions, SaslHandshake and SaslAuthenticate; anything else closes it (Kafka answers ILLEGAL_SASL_STATE to
SaslHandshake's peers and drops the connection). A PLAINTEXT connection is authenticated at once, as
`User:ANONYMOUS`. The SASL authenticator of the security issue starts in AUTHENTICATING and moves to
AUTHENTICATED (or FAILED) from the SaslHandshake/SaslAuthenticate handlers; `TRANSITIONS` is the whole state
machine, (state, event) -> state, and any other move is an error.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from odradek.broker.auth.principal import ANONYMOUS, AuthenticationContext, DefaultKafkaPrincipalBuilder, KafkaPrincipal
from odradek.broker.config.broker import SecurityProtocol

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
PRE_AUTHENTICATION_APIS = frozenset({API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE})


class AuthenticationState(enum.Enum):
    AUTHENTICATING = "authenticating"
    AUTHENTICATED = "authenticated"
    FAILED = "failed"


class AuthenticationEvent(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


TRANSITIONS: Mapping[tuple[AuthenticationState, AuthenticationEvent], AuthenticationState] = {
    (AuthenticationState.AUTHENTICATING, AuthenticationEvent.SUCCEEDED): AuthenticationState.AUTHENTICATED,
    (AuthenticationState.AUTHENTICATING, AuthenticationEvent.FAILED): AuthenticationState.FAILED,
}


class IllegalAuthenticationTransition(Exception):
    pass


@dataclass(slots=True)
class Authenticator:
    """One connection's authentication; `principal` is ANONYMOUS until `succeeded` names another."""

    security_protocol: SecurityProtocol
    state: AuthenticationState = AuthenticationState.AUTHENTICATING
    principal: KafkaPrincipal = field(default=ANONYMOUS)

    @property
    def complete(self) -> bool:
        return self.state is AuthenticationState.AUTHENTICATED

    def allows(self, api_key: int) -> bool:
        """Whether a request of this API may be handled now (the authentication gate)."""
        return self.complete or (
            self.state is AuthenticationState.AUTHENTICATING and api_key in PRE_AUTHENTICATION_APIS
        )

    def succeeded(self, principal: KafkaPrincipal) -> None:
        self._move(AuthenticationEvent.SUCCEEDED)
        self.principal = principal

    def failed(self) -> None:
        self._move(AuthenticationEvent.FAILED)

    def _move(self, event: AuthenticationEvent) -> None:
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise IllegalAuthenticationTransition(f"{event.value} while {self.state.value}")
        self.state = target


def plaintext_authenticator(client_address: str, listener_name: str) -> Authenticator:
    """Kafka's PlaintextAuthenticator: nothing to exchange, authenticated at once, principal from the builder."""
    authenticator = Authenticator(SecurityProtocol.PLAINTEXT)
    context = AuthenticationContext(SecurityProtocol.PLAINTEXT, client_address, listener_name)
    authenticator.succeeded(DefaultKafkaPrincipalBuilder().build(context))
    return authenticator
