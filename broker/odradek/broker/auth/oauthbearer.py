"""SASL/OAUTHBEARER (RFC 7628) on the server, as Kafka's OAuthBearerSaslServer and OAuthBearerClientInitialResponse.

The client's one token (its initial response) is, with `\\x01` the separator (Kafka's regular expression):

    n,[a=<authzid>],\\x01[<key>=<value>\\x01]*\\x01

`<authzid>` is a SASL name (`=2C` for ',' and `=3D` for '='); keys are letters, values printable ASCII or space,
tab, CR, LF. The `auth` pair is required and reads `Bearer <token>` (scheme case-insensitive, token of
`[-_.a-zA-Z0-9]`); the other pairs are SASL extensions, which no validator shipped with Kafka checks (kept, ignored).

The token goes to the listener's validator (`OAuthBearerValidator`): the unsecured one (`oauthbearer_unsecured`) or
the JWKS one (`oauthbearer_jwks`). A token refused is not yet a failure: as RFC 7628 section 3.2.2 and Kafka do,
the server answers the JSON error `{"status":"invalid_token"[,"scope":"..."]}` as a challenge, the client answers
`\\x01`, and only then does the exchange fail with SASL_AUTHENTICATION_FAILED. An authzid other than the token's
principal fails the exchange. Once complete, `authorization_id` is the token's principal (`User:<principal>`) and
`credential_lifetime_ms` the token's remaining lifetime (KIP-368: it bounds the session).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from odradek.broker.auth.sasl import OAUTHBEARER, SaslAuthenticationError

SEPARATOR = "\x01"
AUTH_KEY = "auth"
_SASLNAME = r"(?:[\x01-\x2b\x2d-\x3c\x3e-\x7f]|=2C|=3D)+"  # [\x01-\x7F] without ',' and '='
_KEY = r"[A-Za-z]+"
_VALUE = r"[\x21-\x7E \t\r\n]+"
_KVPAIRS = f"(?:{_KEY}={_VALUE}{SEPARATOR})*"
CLIENT_INITIAL_RESPONSE = re.compile(f"n,(?:a=(?P<authzid>{_SASLNAME}))?,{SEPARATOR}(?P<kvpairs>{_KVPAIRS}){SEPARATOR}")
AUTH_VALUE = re.compile(r"(?P<scheme>\w+)[ ]+(?P<token>[-_.a-zA-Z0-9]+)")
_INVALID = "Invalid OAUTHBEARER client first message"


@dataclass(frozen=True, slots=True)
class OAuthBearerClientInitialResponse:
    """The parsed client initial response: the bearer token, the authzid ("" if absent), the extensions."""

    token_value: str
    authorization_id: str = ""
    extensions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, response: bytes) -> OAuthBearerClientInitialResponse:
        """Kafka's OAuthBearerClientInitialResponse(byte[]); SaslAuthenticationError if malformed."""
        try:
            text = response.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslAuthenticationError(f"{_INVALID}: not UTF-8") from None
        match = CLIENT_INITIAL_RESPONSE.fullmatch(text)
        if match is None:
            raise SaslAuthenticationError(_INVALID)
        pairs: dict[str, str] = {}
        for pair in match.group("kvpairs").split(SEPARATOR)[:-1]:
            key, _, value = pair.partition("=")
            pairs[key] = value
        auth = pairs.pop(AUTH_KEY, None)
        if auth is None:
            raise SaslAuthenticationError(f"{_INVALID}: 'auth' not specified")
        auth_match = AUTH_VALUE.fullmatch(auth)
        if auth_match is None:
            raise SaslAuthenticationError(f"{_INVALID}: invalid auth value")
        if auth_match.group("scheme").lower() != "bearer":
            raise SaslAuthenticationError(f"{_INVALID}: invalid scheme in auth")
        authzid = (match.group("authzid") or "").replace("=2C", ",").replace("=3D", "=")
        return cls(auth_match.group("token"), authzid, pairs)

    def to_bytes(self) -> bytes:
        """The initial response a client sends (Kafka's toBytes), for tests and the inter-broker client."""
        authzid = "a=" + self.authorization_id.replace("=", "=3D").replace(",", "=2C") if self.authorization_id else ""
        extensions = "".join(f"{key}={value}{SEPARATOR}" for key, value in self.extensions.items())
        text = f"n,{authzid},{SEPARATOR}{AUTH_KEY}=Bearer {self.token_value}{SEPARATOR}{extensions}{SEPARATOR}"
        return text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class OAuthBearerToken:
    """A validated token: its principal, scope, and lifetime and start as wall-clock epoch milliseconds."""

    value: str
    principal_name: str
    scope: frozenset[str]
    lifetime_ms: int
    start_time_ms: int | None = None


class OAuthBearerValidationError(Exception):
    """A token refused: `description` for the log, `scope` the scope that was missing (RFC 6750 error body)."""

    def __init__(self, description: str, scope: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.scope = scope


class OAuthBearerValidator(Protocol):
    def validate(self, token_value: str) -> OAuthBearerToken:
        """The token, validated; raises OAuthBearerValidationError."""
        ...


def json_error_response(status: str, scope: str | None) -> bytes:
    """Kafka's OAuthBearerSaslServer.jsonErrorResponse (no openid-configuration: no validator here sets one)."""
    body: dict[str, str] = {"status": status}
    if scope:
        body["scope"] = scope
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


class OAuthBearerSaslServer:
    """One OAUTHBEARER exchange against `validator`; `now_ms()` is the wall clock in epoch milliseconds."""

    mechanism = OAUTHBEARER

    def __init__(self, validator: OAuthBearerValidator, now_ms: Callable[[], int] | None = None) -> None:
        self._validator = validator
        self._complete = False
        self._authorization_id = ""
        self._error: str | None = None  # set once the JSON error went out, awaiting the client's \x01
        self.credential_lifetime_ms: int | None = None
        self.token: OAuthBearerToken | None = None
        self._now_ms = now_ms or wall_clock_ms

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def authorization_id(self) -> str:
        return self._authorization_id

    def evaluate(self, token: bytes) -> bytes:
        if self._complete:
            raise SaslAuthenticationError("Authentication failed: SASL/OAUTHBEARER exchange is already complete")
        if self._error is not None:
            if token == SEPARATOR.encode():
                raise SaslAuthenticationError(self._error)
            raise SaslAuthenticationError(
                "Authentication failed: expected the client's %x01 response after the server's error"
            )
        response = OAuthBearerClientInitialResponse.parse(token)
        try:
            validated = self._validator.validate(response.token_value)
        except OAuthBearerValidationError as exc:
            self._error = f"Authentication failed: {exc.description}"
            return json_error_response("invalid_token", exc.scope)
        if response.authorization_id and response.authorization_id != validated.principal_name:
            raise SaslAuthenticationError(
                f"Authentication failed: Client requested an authorization id ({response.authorization_id}) that "
                f"is different from the token's principal name ({validated.principal_name})"
            )
        self.token = validated
        self.credential_lifetime_ms = validated.lifetime_ms - self._now_ms()
        self._authorization_id = validated.principal_name
        self._complete = True
        return b""


def wall_clock_ms() -> int:
    """Token times (exp, iat) are wall-clock epoch seconds, so they are compared with the wall clock."""
    return int(time.time() * 1000)
