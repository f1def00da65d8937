"""Property tests of the pre-authentication surface: whatever bytes arrive, the SASL mechanism servers, the JAAS
parser and the dispatcher's gate fail only with their clean errors (CVE-2022-34917's class: nothing unbounded,
nothing but a refusal)."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odradek.broker.auth.authenticator import Authenticator
from odradek.broker.auth.jaas import parse_jaas_config
from odradek.broker.auth.plain import PlainSaslServer
from odradek.broker.auth.sasl import SaslAuthenticationError
from odradek.broker.auth.sasl_client import ScramSaslClient
from odradek.broker.auth.scram import SHA_256, SHA_512, ScramCredential, ScramSaslServer
from odradek.broker.config.broker import SecurityProtocol
from odradek.broker.config.definitions import ConfigError
from odradek.broker.handlers import all_handlers
from odradek.broker.handlers.dispatch import Dispatcher
from odradek.broker.handlers.registry import Registry
from odradek.broker.protocol.errors import ProtocolError

SETTINGS = settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
CREDENTIAL = ScramCredential.from_password(SHA_256, "pw")

scram_like = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda a, n, r, extra: f"n,{a},n={n},r={r}{extra}".encode(),
        st.sampled_from(["", "a=", "a=alice", "a=x=2C"]),
        st.text(max_size=20),
        st.text(max_size=30),
        st.text(max_size=20),
    ),
)


@SETTINGS
@given(st.lists(scram_like, min_size=1, max_size=3), st.sampled_from([SHA_256, SHA_512]))
def test_scram_server_fails_only_cleanly(tokens: list[bytes], mechanism: object) -> None:
    server = ScramSaslServer(mechanism, {"alice": CREDENTIAL}.get, b"k")  # type: ignore[arg-type]
    for token in tokens:
        try:
            server.evaluate(token)
        except SaslAuthenticationError:
            return
    assert not server.complete  # no proof was ever valid


server_first_like = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda r, salt, i: f"r=NONCE{r},s={salt},i={i}".encode(),
        st.text(max_size=20),
        st.sampled_from(["c2FsdA==", "", "!!", "c2FsdA"]),
        st.one_of(st.integers(4096, 4200), st.integers(), st.text(max_size=5)),
    ),
)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(server_first_like, st.binary(max_size=100), st.sampled_from([SHA_256, SHA_512]))
def test_scram_client_fails_only_cleanly(server_first: bytes, server_final: bytes, mechanism: object) -> None:
    """Whatever another broker answers, the inter-broker SCRAM client refuses it cleanly and never completes."""
    client = ScramSaslClient(mechanism, "broker", "pw", nonce=lambda: "NONCE")  # type: ignore[arg-type]
    client.evaluate(None)
    try:
        client.evaluate(server_first)
        client.evaluate(server_final)
    except SaslAuthenticationError:
        return
    raise AssertionError("a server that never saw the credential completed the exchange")


@SETTINGS
@given(st.binary(max_size=200))
def test_plain_server_fails_only_cleanly(token: bytes) -> None:
    server = PlainSaslServer({"alice": "alice-secret"})
    try:
        server.evaluate(token)
    except SaslAuthenticationError:
        return
    assert token in (b"\0alice\0alice-secret", b"alice\0alice\0alice-secret")


@SETTINGS
@given(st.text(max_size=200))
def test_jaas_parser_fails_only_with_config_errors(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_jaas_config("org.apache.kafka.common.security.plain.PlainLoginModule required " + text)


def spied_dispatcher() -> tuple[Dispatcher, list[int]]:
    """The real dispatcher with every handler replaced by a spy recording the API key it was asked to handle."""
    from test_auth_seams import RecordingMetrics

    registry = Registry(all_handlers())
    handled: list[int] = []
    for spec in registry:

        async def spy(request: Any, ctx: Any, key: int = spec.api_key) -> None:
            handled.append(key)

        object.__setattr__(spec, "handle", spy)
    services: Any = SimpleNamespace(registry=registry, metrics=RecordingMetrics())
    return Dispatcher(registry, services), handled


@SETTINGS
@given(st.binary(min_size=8, max_size=200), st.sampled_from([b"", b"\x00\x03", b"\x00\x11", b"\x00\x24"]))
def test_the_gate_before_authentication_refuses_cleanly(frame: bytes, key: bytes) -> None:
    from test_auth_seams import FakeConnection

    gate, handled = spied_dispatcher()
    connection = FakeConnection(Authenticator(SecurityProtocol.SASL_SSL))
    with contextlib.suppress(ProtocolError):
        asyncio.run(gate(memoryview(key + frame), connection))
    assert set(handled) <= {17, 18}  # before a handshake: ApiVersions and SaslHandshake only
