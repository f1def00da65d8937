"""SASL/PLAIN (RFC 4616) on the server, as Kafka's PlainSaslServer: one token `authzid NUL authcid NUL password`.

The token must split into exactly three parts; the user name and the password must not be empty; the password is
compared in constant time (`hmac.compare_digest`: CVE-2021-38153 was a timing leak) with the one configured for the
user; an authorization id other than empty or the user name is refused (CVE-2017-12610). Messages are Kafka's.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from odradek.broker.auth.sasl import FOREIGN_AUTHZID, PLAIN, SaslAuthenticationError

# Compared against when the user is unknown, so an unknown user costs the same as a wrong password.
_NO_PASSWORD = b"\x00" * 32


class PlainSaslServer:
    """`passwords` maps user names to their passwords (from the listener's PlainLoginModule `user_<name>` options)."""

    mechanism = PLAIN
    credential_lifetime_ms: int | None = None

    def __init__(self, passwords: Mapping[str, str]) -> None:
        self._passwords = passwords
        self._complete = False
        self._authorization_id = ""

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def authorization_id(self) -> str:
        return self._authorization_id

    def evaluate(self, token: bytes) -> bytes:
        if self._complete:
            raise SaslAuthenticationError("Authentication failed: SASL/PLAIN exchange is already complete")
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslAuthenticationError("Invalid SASL/PLAIN response: not UTF-8") from None
        parts = text.split("\x00")
        if len(parts) != 3:
            raise SaslAuthenticationError(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(parts)}")
        authzid, username, password = parts
        if not username:
            raise SaslAuthenticationError("Authentication failed: username not specified")
        if not password:
            raise SaslAuthenticationError("Authentication failed: password not specified")
        expected = self._passwords.get(username)
        given = password.encode("utf-8")
        matches = hmac.compare_digest(given, expected.encode("utf-8") if expected is not None else _NO_PASSWORD)
        if expected is None or not matches:
            raise SaslAuthenticationError("Authentication failed: Invalid username or password")
        if authzid and authzid != username:
            raise SaslAuthenticationError(FOREIGN_AUTHZID)
        self._authorization_id = username
        self._complete = True
        return b""
