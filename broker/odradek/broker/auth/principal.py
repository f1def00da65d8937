"""Kafka's KafkaPrincipal and DefaultKafkaPrincipalBuilder.

A principal is `type:name`; Kafka's only built-in type is `User`. The principal builder turns what the channel
learned while authenticating into a principal, as Kafka's DefaultKafkaPrincipalBuilder:

- PLAINTEXT: `User:ANONYMOUS`.
- SSL: the client certificate's subject (RFC 2253) through `ssl.principal.mapping.rules`; `User:ANONYMOUS` when
  the client sent no certificate (`ssl.client.auth` none or requested).
- SASL_PLAINTEXT and SASL_SSL: `User:<authorization id>` of the SASL exchange (a certificate does not count).
"""

from __future__ import annotations

from dataclasses import dataclass

from odradek.broker.auth.ssl_principal import SslPrincipalMapper
from odradek.broker.config.broker import SecurityProtocol

USER_TYPE = "User"


@dataclass(frozen=True, slots=True)
class KafkaPrincipal:
    principal_type: str
    name: str

    def __str__(self) -> str:
        return f"{self.principal_type}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> KafkaPrincipal:
        """`User:alice` (Kafka's SecurityUtils.parseKafkaPrincipal: the type is what comes before the first colon)."""
        principal_type, colon, name = text.partition(":")
        if not colon or not principal_type or not name:
            raise ValueError(f"expected a string in format principalType:principalName but got {text}")
        return cls(principal_type, name)


ANONYMOUS = KafkaPrincipal(USER_TYPE, "ANONYMOUS")


@dataclass(frozen=True, slots=True)
class AuthenticationContext:
    """What the principal builder sees of an authenticated connection (Kafka's Plaintext-, Ssl- and
    SaslAuthenticationContext): `ssl_subject` is the verified client certificate's subject in RFC 2253 (None: no
    certificate), `sasl_authorization_id` the SASL exchange's user."""

    security_protocol: SecurityProtocol
    client_address: str
    listener_name: str
    ssl_subject: str | None = None
    sasl_authorization_id: str | None = None


class DefaultKafkaPrincipalBuilder:
    def __init__(self, ssl_mapper: SslPrincipalMapper | None = None) -> None:
        self._ssl_mapper = ssl_mapper or SslPrincipalMapper(None)

    def build(self, context: AuthenticationContext) -> KafkaPrincipal:
        """Raises `ssl_principal.NoMatchingRule` when no mapping rule applies to a certificate's subject."""
        if context.security_protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL):
            if context.sasl_authorization_id is None:
                raise ValueError("a SASL connection is authenticated only by its SASL exchange")
            return KafkaPrincipal(USER_TYPE, context.sasl_authorization_id)
        if context.security_protocol is SecurityProtocol.SSL and context.ssl_subject is not None:
            return KafkaPrincipal(USER_TYPE, self._ssl_mapper.name(context.ssl_subject))
        return ANONYMOUS
