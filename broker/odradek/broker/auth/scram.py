"""SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server, as Kafka's ScramSaslServer.

Stored per user and mechanism (Kafka's ScramCredential): `salt`, `stored_key = H(ClientKey)`, `server_key =
HMAC(SaltedPassword, "Server Key")` and `iterations`, never the password; `SaltedPassword = PBKDF2(password, salt,
iterations)` over the UTF-8 password (Kafka's ScramFormatter.normalize does no SASLprep), `ClientKey =
HMAC(SaltedPassword, "Client Key")`. Iterations are 4096..16384 (Kafka's ScramMechanism limits).

The exchange, as a state table (`ScramSaslServer._STEPS`, state -> step):

    RECEIVE_CLIENT_FIRST_MESSAGE  "n,[a=authzid],n=user,r=cnonce[,ext]"  -> "r=cnonce+snonce,s=salt,i=iterations"
    RECEIVE_CLIENT_FINAL_MESSAGE  "c=b64(gs2 header),r=nonce,p=proof"    -> "v=ServerSignature"   then COMPLETE

Checks: only the `n` GS2 flag (no channel binding); an authorization id equal to the user (CVE-2017-12610); the final
nonce equal to the server's, which starts with the client's (CVE-2024-56128); the channel binding equal to the
header of the first message; the proof verified as `H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey` with
`hmac.compare_digest` (CVE-2021-38153). An unknown user gets a salt derived from a per-server secret and fails at
the proof, like a wrong password, so user names cannot be probed. Every failure is `SaslAuthenticationError`.

The four messages are formatted and parsed here once (`ClientFirstMessage`, `ServerFirstMessage`,
`ClientFinalMessage`, `server_final_message`/`parse_server_final_message`), with the keys, signatures and
`auth_message_of`, for this server and for the broker's own client (`sasl_client.ScramSaslClient`).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from odradek.broker.auth.sasl import FOREIGN_AUTHZID, SCRAM_SHA_256, SCRAM_SHA_512, SaslAuthenticationError
from odradek.broker.config.definitions import ConfigError

MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
INVALID_CREDENTIALS = "Authentication failed: Invalid user credentials"
GS2_HEADER = "n,,"  # no channel binding, no authorization id (what Kafka's ScramSaslClient sends)


@dataclass(frozen=True, slots=True)
class ScramMechanism:
    """A SCRAM mechanism: its SASL name, Kafka's type code (AlterUserScramCredentials) and hash."""

    name: str
    type_code: int
    hash_name: str

    def hmac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, self.hash_name).digest()

    def hash(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_name, data).digest()

    def salted_password(self, password: str, salt: bytes, iterations: int) -> bytes:
        return hashlib.pbkdf2_hmac(self.hash_name, password.encode("utf-8"), salt, iterations)

    def client_key(self, salted_password: bytes) -> bytes:
        return self.hmac(salted_password, b"Client Key")

    def server_key(self, salted_password: bytes) -> bytes:
        return self.hmac(salted_password, b"Server Key")

    def client_signature(self, stored_key: bytes, auth_message: bytes) -> bytes:
        return self.hmac(stored_key, auth_message)

    def server_signature(self, server_key: bytes, auth_message: bytes) -> bytes:
        return self.hmac(server_key, auth_message)


def auth_message_of(client_first_bare: str, server_first: str, client_final_without_proof: str) -> bytes:
    """RFC 5802's AuthMessage, which the proof and the server signature sign: the three texts as sent."""
    return f"{client_first_bare},{server_first},{client_final_without_proof}".encode()


def xor(left: bytes, right: bytes) -> bytes:
    """ClientProof = ClientKey XOR ClientSignature, and back (equal lengths: one hash's digest size)."""
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


SHA_256 = ScramMechanism(SCRAM_SHA_256, 1, "sha256")
SHA_512 = ScramMechanism(SCRAM_SHA_512, 2, "sha512")
MECHANISMS: Mapping[str, ScramMechanism] = {m.name: m for m in (SHA_256, SHA_512)}
MECHANISMS_BY_TYPE: Mapping[int, ScramMechanism] = {m.type_code: m for m in (SHA_256, SHA_512)}


@dataclass(frozen=True, slots=True)
class ScramCredential:
    """What is stored for one user and mechanism (Kafka's ScramCredential)."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def __repr__(self) -> str:  # never print key material
        return f"ScramCredential(iterations={self.iterations})"

    @classmethod
    def from_salted_password(
        cls, mechanism: ScramMechanism, salt: bytes, salted_password: bytes, iterations: int
    ) -> ScramCredential:
        """From what AlterUserScramCredentials carries (the client salts the password; Kafka's finishUpsertion)."""
        stored_key = mechanism.hash(mechanism.client_key(salted_password))
        return cls(salt, stored_key, mechanism.server_key(salted_password), iterations)

    @classmethod
    def from_password(
        cls, mechanism: ScramMechanism, password: str, iterations: int = MIN_ITERATIONS, salt: bytes | None = None
    ) -> ScramCredential:
        salt = secrets.token_bytes(32) if salt is None else salt
        return cls.from_salted_password(
            mechanism, salt, mechanism.salted_password(password, salt, iterations), iterations
        )


def check_iterations(iterations: int) -> str | None:
    """Kafka's ScramControlManager messages for an unacceptable iteration count, None if acceptable."""
    if iterations < MIN_ITERATIONS:
        return "Too few iterations"
    if iterations > MAX_ITERATIONS:
        return "Too many iterations"
    return None


class ScramState(enum.Enum):
    RECEIVE_CLIENT_FIRST_MESSAGE = "receive client first message"
    RECEIVE_CLIENT_FINAL_MESSAGE = "receive client final message"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ClientFirstMessage:
    gs2_header: str
    authorization_id: str
    username: str
    nonce: str
    bare: str

    @classmethod
    def parse(cls, text: str) -> ClientFirstMessage:
        flag, sep1, rest = text.partition(",")
        authzid_field, sep2, bare = rest.partition(",")
        if not sep1 or not sep2:
            raise SaslAuthenticationError("Invalid SCRAM client first message format")
        if flag != "n":
            raise SaslAuthenticationError("Invalid SCRAM client first message: channel binding is not supported")
        if authzid_field and not authzid_field.startswith("a="):
            raise SaslAuthenticationError("Invalid SCRAM client first message format")
        attributes = attributes_of(bare)
        if list(attributes)[:2] != ["n", "r"] or not attributes["r"]:
            raise SaslAuthenticationError("Invalid SCRAM client first message format")
        if attributes.get("tokenauth", "").lower() == "true":
            raise SaslAuthenticationError("Authentication failed: delegation tokens are not supported")
        return cls(
            f"{flag},{authzid_field},",
            sasl_name(authzid_field[2:]),
            sasl_name(attributes["n"]),
            attributes["r"],
            bare,
        )

    @classmethod
    def of(cls, username: str, nonce: str) -> ClientFirstMessage:
        """What Kafka's client sends: no channel binding, no authorization id, no extensions."""
        return cls(GS2_HEADER, "", username, nonce, f"n={encode_sasl_name(username)},r={nonce}")

    def format(self) -> str:
        return self.gs2_header + self.bare


@dataclass(frozen=True, slots=True)
class ServerFirstMessage:
    """`r=<client nonce + server nonce>,s=<base64 salt>,i=<iterations>[,ext]`; an `e=<error>` parses as the
    server's refusal (SaslAuthenticationError)."""

    nonce: str
    salt: bytes
    iterations: int

    @classmethod
    def parse(cls, text: str) -> ServerFirstMessage:
        attributes = _server_attributes(text)
        if list(attributes)[:3] != ["r", "s", "i"]:
            raise SaslAuthenticationError("Invalid SCRAM server first message format")
        try:
            iterations = int(attributes["i"])
        except ValueError:
            raise SaslAuthenticationError("Invalid SCRAM server first message: iterations not a number") from None
        return cls(attributes["r"], b64decode(attributes["s"]), iterations)

    def format(self) -> str:
        return f"r={self.nonce},s={b64encode(self.salt)},i={self.iterations}"


@dataclass(frozen=True, slots=True)
class ClientFinalMessage:
    """`c=<base64 GS2 header>,r=<nonce>[,ext],p=<base64 proof>`. `without_proof` is the text before `,p=` as
    sent: it is the last part of the AuthMessage both sides sign."""

    without_proof: str
    channel_binding: bytes
    nonce: str
    proof: bytes

    @staticmethod
    def without_proof_of(gs2_header: str, nonce: str) -> str:
        return f"c={b64encode(gs2_header.encode())},r={nonce}"

    @classmethod
    def parse(cls, text: str) -> ClientFinalMessage:
        without_proof, sep, proof = text.rpartition(",p=")
        if not sep:
            raise SaslAuthenticationError("Invalid SCRAM client final message format")
        attributes = attributes_of(without_proof)
        if list(attributes)[:2] != ["c", "r"]:
            raise SaslAuthenticationError("Invalid SCRAM client final message format")
        return cls(without_proof, b64decode(attributes["c"]), attributes["r"], b64decode(proof))

    def format(self) -> str:
        return f"{self.without_proof},p={b64encode(self.proof)}"


def server_final_message(server_signature: bytes) -> str:
    return "v=" + b64encode(server_signature)


def parse_server_final_message(text: str) -> bytes:
    """The ServerSignature of `v=<base64>`; `e=<error>` is the server's refusal (SaslAuthenticationError)."""
    attributes = _server_attributes(text)
    if "v" not in attributes:
        raise SaslAuthenticationError("Invalid SCRAM server final message format")
    return b64decode(attributes["v"])


def _server_attributes(text: str) -> dict[str, str]:
    attributes = attributes_of(text)
    if "e" in attributes:
        raise SaslAuthenticationError(f"SCRAM server error: {attributes['e']}")
    return attributes


def attributes_of(text: str) -> dict[str, str]:
    """`k=v` pairs separated by commas, in order; a key is letters (RFC 5802's are one letter, Kafka's KIP-84
    extensions such as `tokenauth` longer) and appears once."""
    result: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        if not eq or not key.isascii() or not key.isalpha() or key in result:
            raise SaslAuthenticationError("Invalid SCRAM message format")
        result[key] = value
    return result


def sasl_name(text: str) -> str:
    """RFC 5802 saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is malformed."""
    if "=" in text.replace("=2C", "").replace("=3D", ""):
        raise SaslAuthenticationError("Invalid SCRAM user name encoding")
    return text.replace("=2C", ",").replace("=3D", "=")


def encode_sasl_name(name: str) -> str:
    """The inverse of `sasl_name`: `=` as `=3D` (first), `,` as `=2C`."""
    return name.replace("=", "=3D").replace(",", "=2C")


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SaslAuthenticationError("Invalid SCRAM message: bad base64") from None


CredentialLookup = Callable[[str], ScramCredential | None]

_NONCE_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def server_nonce() -> str:
    """The server's part of the nonce: 130 random bits in base 36, as Kafka's ScramFormatter.secureRandomString
    (letters and digits only: librdkafka 2.0 mishandles some other printable characters)."""
    value = secrets.randbits(130)
    digits = []
    while value:
        value, digit = divmod(value, 36)
        digits.append(_NONCE_ALPHABET[digit])
    return "".join(reversed(digits)) or "0"


class ScramSaslServer:
    """One SCRAM exchange. `credentials(user)` returns the stored credential of this mechanism or None;
    `fake_secret` derives the salts shown for unknown users; `nonce` makes the server's nonce part."""

    def __init__(
        self,
        mechanism: ScramMechanism,
        credentials: CredentialLookup,
        fake_secret: bytes,
        nonce: Callable[[], str] = lambda: server_nonce(),
    ) -> None:
        self._mechanism = mechanism
        self._credentials = credentials
        self._fake_secret = fake_secret
        self._nonce = nonce
        self.state = ScramState.RECEIVE_CLIENT_FIRST_MESSAGE
        self._first: ClientFirstMessage | None = None
        self._server_first: ServerFirstMessage | None = None
        self._credential: ScramCredential | None = None
        self._authorization_id = ""

    _STEPS: Mapping[ScramState, Callable[[ScramSaslServer, str], str]]

    credential_lifetime_ms: int | None = None

    @property
    def mechanism(self) -> str:
        return self._mechanism.name

    @property
    def complete(self) -> bool:
        return self.state is ScramState.COMPLETE

    @property
    def authorization_id(self) -> str:
        return self._authorization_id

    def evaluate(self, token: bytes) -> bytes:
        step = self._STEPS.get(self.state)
        if step is None:
            raise SaslAuthenticationError(f"Authentication failed: SCRAM exchange is {self.state.value}")
        try:
            text = token.decode("utf-8")
            answer = step(self, text)
        except UnicodeDecodeError:
            self.state = ScramState.FAILED
            raise SaslAuthenticationError("Invalid SCRAM message: not UTF-8") from None
        except SaslAuthenticationError:
            self.state = ScramState.FAILED
            raise
        return answer.encode("utf-8")

    def _client_first(self, text: str) -> str:
        first = ClientFirstMessage.parse(text)
        if first.authorization_id and first.authorization_id != first.username:
            raise SaslAuthenticationError(FOREIGN_AUTHZID)
        credential = self._credentials(first.username)
        if credential is None:
            credential = self._fake_credential(first.username)
        self._first, self._credential = first, credential
        self._server_first = ServerFirstMessage(first.nonce + self._nonce(), credential.salt, credential.iterations)
        self.state = ScramState.RECEIVE_CLIENT_FINAL_MESSAGE
        return self._server_first.format()

    def _client_final(self, text: str) -> str:
        assert self._first is not None and self._server_first is not None and self._credential is not None
        final = ClientFinalMessage.parse(text)
        if not hmac.compare_digest(final.nonce.encode(), self._server_first.nonce.encode()):
            raise SaslAuthenticationError("Invalid client nonce in the final client message.")
        if final.channel_binding != self._first.gs2_header.encode("utf-8"):
            raise SaslAuthenticationError("Invalid SCRAM channel binding in the final client message.")
        proof = final.proof
        mechanism, credential = self._mechanism, self._credential
        auth_message = auth_message_of(self._first.bare, self._server_first.format(), final.without_proof)
        signature = mechanism.client_signature(credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise SaslAuthenticationError(INVALID_CREDENTIALS)
        client_key = xor(proof, signature)
        if not hmac.compare_digest(mechanism.hash(client_key), credential.stored_key):
            raise SaslAuthenticationError(INVALID_CREDENTIALS)
        self._authorization_id = self._first.username
        self.state = ScramState.COMPLETE
        return server_final_message(mechanism.server_signature(credential.server_key, auth_message))

    def _fake_credential(self, username: str) -> ScramCredential:
        """A credential no password matches, with a salt stable per user name (no enumeration by salt)."""
        salt = hmac.new(self._fake_secret, f"{self.mechanism}\0{username}".encode(), "sha256").digest()
        impossible = secrets.token_bytes(len(self._mechanism.hash(b"")))
        return ScramCredential(salt, impossible, impossible, MIN_ITERATIONS)


ScramSaslServer._STEPS = {
    ScramState.RECEIVE_CLIENT_FIRST_MESSAGE: ScramSaslServer._client_first,
    ScramState.RECEIVE_CLIENT_FINAL_MESSAGE: ScramSaslServer._client_final,
}


@dataclass(frozen=True, slots=True)
class BootstrapCredential:
    mechanism: ScramMechanism
    user: str
    password: str = field(repr=False)
    iterations: int = MIN_ITERATIONS


def parse_bootstrap_credentials(text: str | None) -> list[BootstrapCredential]:
    """`sasl.scram.bootstrap.credentials`: `MECHANISM=[name=<user>,password=<password>[,iterations=<n>]]` entries
    separated by `;` (the argument of Kafka's `kafka-storage format --add-scram`; a password may be quoted with
    `"` to hold `,` or `]`). ConfigError naming the problem."""
    key = "sasl.scram.bootstrap.credentials"
    result: list[BootstrapCredential] = []
    for entry in (part.strip() for part in (text or "").split(";")):
        if not entry:
            continue
        name, eq, body = entry.partition("=")
        mechanism = MECHANISMS.get(name.strip())
        if mechanism is None:
            raise ConfigError(f"Invalid {key}: unknown SCRAM mechanism {name.strip()!r}")
        body = body.strip()
        if not eq or not body.startswith("[") or not body.endswith("]"):
            raise ConfigError(f"Invalid {key}: expected {name.strip()}=[name=...,password=...]")
        fields: dict[str, str] = {}
        for item in _bracket_items(body[1:-1]):
            field_name, field_eq, value = item.partition("=")
            if not field_eq:
                raise ConfigError(f"Invalid {key}: expected key=value, got {item!r}")
            fields[field_name.strip()] = value.strip().removeprefix('"').removesuffix('"')
        unknown = set(fields) - {"name", "password", "iterations"}
        if unknown or not fields.get("name") or "password" not in fields:
            raise ConfigError(f"Invalid {key}: an entry needs name= and password= (and optionally iterations=)")
        try:
            iterations = int(fields.get("iterations", MIN_ITERATIONS))
        except ValueError:
            raise ConfigError(f"Invalid {key}: iterations must be a number") from None
        problem = check_iterations(iterations)
        if problem:
            raise ConfigError(
                f"Invalid {key}: {problem} for user {fields['name']} ({MIN_ITERATIONS}..{MAX_ITERATIONS})"
            )
        result.append(BootstrapCredential(mechanism, fields["name"], fields["password"], iterations))
    return result


def _bracket_items(text: str) -> list[str]:
    """Split on commas outside double quotes."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [item for item in items if item.strip()]
