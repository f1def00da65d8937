"""SASL clients for the broker's own connections to other brokers (Kafka's SaslClientAuthenticator with the
PlainSaslClient and ScramSaslClient mechanisms): sans-I/O, one token in, one token out.

`evaluate(challenge)` is called first with None (the initial response), then with each server answer; it returns
the next token to send, or None once the exchange is complete (nothing more to send). Every failure, including a
server whose signature does not verify, is `SaslAuthenticationError`.

PLAIN (RFC 4616): one token `NUL username NUL password` (empty authzid, as Kafka's client sends), then done.

SCRAM-SHA-256/512 (RFC 5802, RFC 7677) as a state table (`ScramSaslClient._STEPS`, state -> step):

    SEND_CLIENT_FIRST_MESSAGE     None                                  -> "n,,n=user,r=cnonce"
    RECEIVE_SERVER_FIRST_MESSAGE  "r=cnonce+snonce,s=salt,i=iterations" -> "c=biws,r=nonce,p=proof"
    RECEIVE_SERVER_FINAL_MESSAGE  "v=ServerSignature" (or "e=error")    -> None   then COMPLETE

Checks on the server's messages: the combined nonce starts with ours and is longer; the iteration count is at least
4096 (a server offering fewer would make the password cheap to brute-force from the exchange) and at most 16384
(Kafka's and Odradek's limit for stored credentials: a larger one would only stall this broker); the server
signature equals `HMAC(ServerKey, AuthMessage)`, compared in constant time. The primitives (PBKDF2, the keys, the
signatures) and the messages' formats and parsers are the server's, in `scram.py`.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Callable, Mapping
from typing import Protocol

from odradek.broker.auth.sasl import PLAIN, SaslAuthenticationError
from odradek.broker.auth.scram import (
    MAX_ITERATIONS,
    MECHANISMS,
    MIN_ITERATIONS,
    ClientFinalMessage,
    ClientFirstMessage,
    ScramCredential,
    ScramMechanism,
    ServerFirstMessage,
    auth_message_of,
    parse_server_final_message,
    server_nonce,
    xor,
)


class SaslClient(Protocol):
    @property
    def mechanism(self) -> str: ...

    @property
    def complete(self) -> bool: ...

    def evaluate(self, challenge: bytes | None) -> bytes | None:
        """None first, then each server answer; the next token, or None when complete."""
        ...


class PlainSaslClient:
    mechanism = PLAIN

    def __init__(self, username: str, password: str) -> None:
        self._token = f"\0{username}\0{password}".encode()
        self._sent = False
        self._complete = False

    @property
    def complete(self) -> bool:
        return self._complete

    def evaluate(self, challenge: bytes | None) -> bytes | None:
        if not self._sent:
            self._sent = True
            return self._token
        self._complete = True  # the server's empty answer to a successful SaslAuthenticate
        return None


class ScramClientState(enum.Enum):
    SEND_CLIENT_FIRST_MESSAGE = "send client first message"
    RECEIVE_SERVER_FIRST_MESSAGE = "receive server first message"
    RECEIVE_SERVER_FINAL_MESSAGE = "receive server final message"
    COMPLETE = "complete"
    FAILED = "failed"


class ScramSaslClient:
    """One SCRAM exchange as `username` with `password`; `nonce` makes the client's nonce (random by default)."""

    def __init__(
        self,
        mechanism: ScramMechanism,
        username: str,
        password: str,
        nonce: Callable[[], str] = lambda: server_nonce(),
    ) -> None:
        self._mechanism = mechanism
        self._username = username
        self._password = password
        self._nonce = nonce
        self.state = ScramClientState.SEND_CLIENT_FIRST_MESSAGE
        self._first: ClientFirstMessage | None = None  # the message sent
        self._expected_server_signature = b""

    _STEPS: Mapping[ScramClientState, Callable[[ScramSaslClient, str], str | None]]

    @property
    def mechanism(self) -> str:
        return self._mechanism.name

    @property
    def complete(self) -> bool:
        return self.state is ScramClientState.COMPLETE

    def evaluate(self, challenge: bytes | None) -> bytes | None:
        step = self._STEPS.get(self.state)
        if step is None:
            raise SaslAuthenticationError(f"SCRAM client exchange is {self.state.value}")
        try:
            answer = step(self, "" if challenge is None else bytes(challenge).decode("utf-8"))
        except UnicodeDecodeError:
            self.state = ScramClientState.FAILED
            raise SaslAuthenticationError("Invalid SCRAM server message: not UTF-8") from None
        except SaslAuthenticationError:
            self.state = ScramClientState.FAILED
            raise
        return None if answer is None else answer.encode("utf-8")

    def _client_first(self, _text: str) -> str:
        self._first = ClientFirstMessage.of(self._username, self._nonce())
        self.state = ScramClientState.RECEIVE_SERVER_FIRST_MESSAGE
        return self._first.format()

    def _server_first(self, text: str) -> str:
        assert self._first is not None
        server_first = ServerFirstMessage.parse(text)
        ours, nonce, iterations = self._first.nonce, server_first.nonce, server_first.iterations
        if not nonce.startswith(ours) or len(nonce) == len(ours):
            raise SaslAuthenticationError("Invalid server nonce: does not start with the client nonce")
        if iterations < MIN_ITERATIONS:
            raise SaslAuthenticationError(f"Requested iterations {iterations} is less than the minimum 4096")
        if iterations > MAX_ITERATIONS:  # no credential holds more; a huge count would stall this broker in PBKDF2
            raise SaslAuthenticationError(f"Requested iterations {iterations} is more than the maximum 16384")
        mechanism, salt = self._mechanism, server_first.salt
        salted = mechanism.salted_password(self._password, salt, iterations)
        credential = ScramCredential.from_salted_password(mechanism, salt, salted, iterations)
        without_proof = ClientFinalMessage.without_proof_of(self._first.gs2_header, nonce)
        auth_message = auth_message_of(self._first.bare, text, without_proof)
        signature = mechanism.client_signature(credential.stored_key, auth_message)
        proof = xor(mechanism.client_key(salted), signature)
        self._expected_server_signature = mechanism.server_signature(credential.server_key, auth_message)
        self.state = ScramClientState.RECEIVE_SERVER_FINAL_MESSAGE
        return ClientFinalMessage(without_proof, self._first.gs2_header.encode(), nonce, proof).format()

    def _server_final(self, text: str) -> None:
        if not hmac.compare_digest(parse_server_final_message(text), self._expected_server_signature):
            raise SaslAuthenticationError("Invalid server signature in the SCRAM server final message")
        self.state = ScramClientState.COMPLETE
        return None


ScramSaslClient._STEPS = {
    ScramClientState.SEND_CLIENT_FIRST_MESSAGE: ScramSaslClient._client_first,
    ScramClientState.RECEIVE_SERVER_FIRST_MESSAGE: ScramSaslClient._server_first,
    ScramClientState.RECEIVE_SERVER_FINAL_MESSAGE: ScramSaslClient._server_final,
}


def sasl_client(mechanism: str, username: str, password: str) -> SaslClient:
    """A new client for `mechanism` (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)."""
    if mechanism == PLAIN:
        return PlainSaslClient(username, password)
    return ScramSaslClient(MECHANISMS[mechanism], username, password)
