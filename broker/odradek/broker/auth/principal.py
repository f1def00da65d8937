"""Kafka's KafkaPrincipal and DefaultKafkaPrincipalBuilder.

A principal is `type:name`; Kafka's only built-in type is `User`. The principal builder turns what the channel
learned while authenticating into a principal: a PLAINTEXT connection is `User:ANONYMOUS`; an SSL one would be
named from the client certificate's subject (`ssl.principal.mapping.rules`), a SASL one `User:<authorization id>`.
Only PLAINTEXT exists so far: the security issue adds the other two contexts.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """What the principal builder sees of a connection once it is authenticated (Kafka's
    PlaintextAuthenticationContext; SSL and SASL contexts add the session and the SASL server's identity)."""

    security_protocol: SecurityProtocol
    client_address: str
    listener_name: str


class DefaultKafkaPrincipalBuilder:
    def build(self, context: AuthenticationContext) -> KafkaPrincipal:
        if context.security_protocol is SecurityProtocol.PLAINTEXT:
            return ANONYMOUS
        raise NotImplementedError(f"principals for {context.security_protocol.name} come with the security issue")
