"""The security seams: Kafka's principal, authenticator state, Authorizer enums and codes, and the dispatcher's
authentication gate (exercised with a fake connection whose authentication has not completed)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from odradek.broker.auth.authenticator import (
    PRE_AUTHENTICATION_APIS,
    TRANSITIONS,
    AuthenticationEvent,
    AuthenticationState,
    Authenticator,
    IllegalAuthenticationTransition,
    plaintext_authenticator,
)
from odradek.broker.auth.authorizer import (
    SUPPORTED_OPERATIONS,
    AclOperation,
    Action,
    AllowEverythingAuthorizer,
    AuthorizationResult,
    PatternType,
    ResourcePattern,
    ResourceType,
    operations_bit_field,
)
from odradek.broker.auth.plain import PlainSaslServer
from odradek.broker.auth.principal import ANONYMOUS, KafkaPrincipal
from odradek.broker.config.broker import SecurityProtocol
from odradek.broker.handlers import all_handlers
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.dispatch import Dispatcher, IllegalSaslState
from odradek.broker.handlers.registry import Registry
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.frames import FileRegion
from odradek.broker.protocol.headers import RequestHeader, encode_request_header, request_header_version
from odradek.broker.protocol.messages import api_versions_request, metadata_request

API_VERSIONS, METADATA = 18, 3


def test_enums_carry_kafkas_codes() -> None:
    assert [(o.name, int(o)) for o in AclOperation][:13] == [
        ("UNKNOWN", 0),
        ("ANY", 1),
        ("ALL", 2),
        ("READ", 3),
        ("WRITE", 4),
        ("CREATE", 5),
        ("DELETE", 6),
        ("ALTER", 7),
        ("DESCRIBE", 8),
        ("CLUSTER_ACTION", 9),
        ("DESCRIBE_CONFIGS", 10),
        ("ALTER_CONFIGS", 11),
        ("IDEMPOTENT_WRITE", 12),
    ]
    assert (AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS) == (13, 14)
    assert [(r.name, int(r)) for r in ResourceType] == [
        ("UNKNOWN", 0),
        ("ANY", 1),
        ("TOPIC", 2),
        ("GROUP", 3),
        ("CLUSTER", 4),
        ("TRANSACTIONAL_ID", 5),
        ("DELEGATION_TOKEN", 6),
        ("USER", 7),
    ]
    assert [(p.name, int(p)) for p in PatternType] == [
        ("UNKNOWN", 0),
        ("ANY", 1),
        ("MATCH", 2),
        ("LITERAL", 3),
        ("PREFIXED", 4),
    ]


def test_operations_bit_field_as_kafka_builds_it() -> None:
    assert operations_bit_field(SUPPORTED_OPERATIONS[ResourceType.GROUP]) == (1 << 3) | (1 << 6) | (1 << 8)
    assert operations_bit_field([]) == 0
    assert operations_bit_field([AclOperation.READ, AclOperation.READ]) == 1 << 3


def test_allow_everything_answers_one_result_per_action() -> None:
    actions = [Action(op, ResourcePattern(ResourceType.TOPIC, "t")) for op in (AclOperation.READ, AclOperation.WRITE)]
    assert AllowEverythingAuthorizer().authorize(None, actions) == [AuthorizationResult.ALLOWED] * 2  # type: ignore[arg-type]


def test_principal_text_form() -> None:
    assert str(ANONYMOUS) == "User:ANONYMOUS"
    assert KafkaPrincipal.parse("User:CN=a,O=b") == KafkaPrincipal("User", "CN=a,O=b")
    with pytest.raises(ValueError, match="principalType:principalName"):
        KafkaPrincipal.parse("alice")


def test_plaintext_connections_are_authenticated_at_once_as_anonymous() -> None:
    authenticator = plaintext_authenticator("10.0.0.1", "PLAINTEXT")
    assert authenticator.state is AuthenticationState.AUTHENTICATED and authenticator.principal == ANONYMOUS
    assert all(authenticator.allows(key) for key in range(70))


def test_authentication_state_machine_is_its_table() -> None:
    S, E = AuthenticationState, AuthenticationEvent
    assert TRANSITIONS == {
        (S.AUTHENTICATING, E.API_VERSIONS): S.HANDSHAKE,
        (S.AUTHENTICATING, E.HANDSHAKE_V0): S.AUTHENTICATE_UNFRAMED,
        (S.AUTHENTICATING, E.HANDSHAKE_V1): S.AUTHENTICATE,
        (S.HANDSHAKE, E.HANDSHAKE_V0): S.AUTHENTICATE_UNFRAMED,
        (S.HANDSHAKE, E.HANDSHAKE_V1): S.AUTHENTICATE,
        (S.AUTHENTICATE, E.SASL_SUCCEEDED): S.AUTHENTICATED,
        (S.AUTHENTICATE_UNFRAMED, E.SASL_SUCCEEDED): S.AUTHENTICATED,
        (S.AUTHENTICATING, E.TRANSPORT_AUTHENTICATED): S.AUTHENTICATED,
        (S.AUTHENTICATED, E.REAUTHENTICATION_V0): S.AUTHENTICATE_UNFRAMED,
        (S.AUTHENTICATED, E.REAUTHENTICATION_V1): S.AUTHENTICATE,
        (S.AUTHENTICATING, E.FAILED): S.FAILED,
        (S.HANDSHAKE, E.FAILED): S.FAILED,
        (S.AUTHENTICATE, E.FAILED): S.FAILED,
        (S.AUTHENTICATE_UNFRAMED, E.FAILED): S.FAILED,
    }
    pending = Authenticator(SecurityProtocol.SASL_PLAINTEXT)
    assert {key for key in range(70) if pending.allows(key)} == {17, 18}
    assert {17, 18, 36} == PRE_AUTHENTICATION_APIS
    with pytest.raises(IllegalAuthenticationTransition):  # a SASL connection succeeds only through its exchange
        pending.succeeded(KafkaPrincipal("User", "alice"))
    pending.api_versions()
    assert {key for key in range(70) if pending.allows(key)} == {17}
    pending.handshake(1, PlainSaslServer({"alice": "pw"}))
    assert {key for key in range(70) if pending.allows(key)} == {36}
    assert pending.evaluate(b"\0alice\0pw", "10.0.0.1", "SASL") == b""
    assert pending.complete and pending.principal == KafkaPrincipal("User", "alice")
    with pytest.raises(IllegalAuthenticationTransition):
        pending.failed()
    failed = Authenticator(SecurityProtocol.SASL_SSL)
    failed.failed()
    assert not any(failed.allows(key) for key in range(70))  # not even ApiVersions once failed


def sasl_authenticated(protocol: SecurityProtocol, user: str) -> Authenticator:
    authenticator = Authenticator(protocol)
    authenticator.handshake(1, PlainSaslServer({user: "pw"}))
    authenticator.evaluate(f"\0{user}\0pw".encode(), "10.0.0.9", "SASL")
    return authenticator


# --- the dispatcher's gate --------------------------------------------------------------------------------------


@dataclass
class FakeConnection:
    authenticator: Authenticator
    connection_id: int = 9
    peer_host: str = "10.0.0.9"
    listener: str = "SASL"


class RecordingMetrics:
    def request_done(self, *args: Any) -> None:
        pass

    def reauthenticated(self, *args: Any, **kwargs: Any) -> None:
        pass

    def expired_connection_killed(self, *args: Any) -> None:
        pass

    def request_failed(self, *args: Any) -> None:
        pass


def frame(api_key: int, version: int, body: bytes) -> memoryview:
    out = bytearray()
    encode_request_header(out, RequestHeader(api_key, version, 42, "c"), request_header_version(api_key, version))
    return memoryview(bytes(out + body))


def api_versions_frame() -> memoryview:
    body = bytearray()
    api_versions_request.encode(body, api_versions_request.ApiVersionsRequest(), 0)
    return frame(API_VERSIONS, 0, bytes(body))


def metadata_frame() -> memoryview:
    body = bytearray()
    metadata_request.encode(body, metadata_request.MetadataRequest(topics=[]), 1)
    return frame(METADATA, 1, bytes(body))


def dispatcher() -> tuple[Dispatcher, list[RequestContext]]:
    registry = Registry(all_handlers())
    seen: list[RequestContext] = []
    services: Any = SimpleNamespace(registry=registry, metrics=RecordingMetrics())
    real = Dispatcher(registry, services)
    spec = registry.get(METADATA)
    assert spec is not None

    async def spy(request: Any, ctx: RequestContext) -> Any:
        seen.append(ctx)
        raise AssertionError("Metadata must not be handled here")

    object.__setattr__(spec, "handle", spy)
    return real, seen


def test_before_authentication_only_the_sasl_apis_are_served() -> None:
    gate, seen = dispatcher()
    connection = FakeConnection(Authenticator(SecurityProtocol.SASL_PLAINTEXT))
    chunks = asyncio.run(gate(api_versions_frame(), connection))
    assert (
        chunks is not None and len(b"".join(bytes(c) for c in chunks if not isinstance(c, FileRegion))) > 10
    )  # ApiVersions answered
    with pytest.raises(IllegalSaslState, match="Unexpected Kafka request of type 3 during SASL handshake") as caught:
        asyncio.run(gate(metadata_frame(), connection))
    assert isinstance(caught.value, ProtocolError)  # the server closes the connection on a ProtocolError
    assert seen == []  # refused before the handler (and before the body is decoded)


def test_the_request_context_carries_the_connections_principal_and_protocol() -> None:
    gate, seen = dispatcher()
    authenticator = sasl_authenticated(SecurityProtocol.SASL_SSL, "alice")
    with pytest.raises(AssertionError):
        asyncio.run(gate(metadata_frame(), FakeConnection(authenticator)))
    (ctx,) = seen
    assert (ctx.principal, ctx.security_protocol, ctx.listener_name, ctx.client_address) == (
        KafkaPrincipal("User", "alice"),
        SecurityProtocol.SASL_SSL,
        "SASL",
        "10.0.0.9",
    )
    assert (ctx.request_type, ctx.request_version, ctx.client_id, ctx.correlation_id) == (3, 1, "c", 42)
