"""What every SASL mechanism server has in common (Kafka's javax.security.sasl.SaslServer as Kafka uses it).

A mechanism server is sans-I/O: `evaluate(token)` takes one client token and returns the server's answer (possibly
empty), raising `SaslAuthenticationError` with the message the client is shown; once `complete`, the
`authorization_id` names the user (`User:<authorization id>` is the connection's principal) and
`credential_lifetime_ms` bounds the session (KIP-368; None for passwords). A server that raised
is done: the connection is failed and closed.
"""

from __future__ import annotations

from typing import Protocol

PLAIN = "PLAIN"
SCRAM_SHA_256 = "SCRAM-SHA-256"
SCRAM_SHA_512 = "SCRAM-SHA-512"
OAUTHBEARER = "OAUTHBEARER"
SUPPORTED_MECHANISMS = (PLAIN, SCRAM_SHA_256, SCRAM_SHA_512, OAUTHBEARER)

# Kafka's SaslAuthenticationException message when an authorization id differs from the user name
# (CVE-2017-12610: a client must not act as another user).
FOREIGN_AUTHZID = "Authentication failed: Client requested an authorization id that is different from username"


class SaslAuthenticationError(Exception):
    """Authentication failed; the message goes to the client (SASL_AUTHENTICATION_FAILED) and the audit log."""


class SaslServer(Protocol):
    @property
    def mechanism(self) -> str: ...

    @property
    def complete(self) -> bool: ...

    @property
    def credential_lifetime_ms(self) -> int | None:
        """Once complete, how long the credential stays valid (an OAUTHBEARER token's exp - now); None: forever."""
        ...

    @property
    def authorization_id(self) -> str:
        """The authenticated user's name (only once `complete`)."""
        ...

    def evaluate(self, token: bytes) -> bytes:
        """One client token in, the server's answer out; raises SaslAuthenticationError."""
        ...
