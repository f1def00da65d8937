"""OAUTHBEARER: the client initial response parser, the server's error exchange, both validators (table-driven)."""

from __future__ import annotations

import json

import pytest
from jwt_support import EC_KEY, NOW_MS, NOW_S, OTHER_RSA, b64, jwks, part, signed, unsecured
from odradek.broker.auth.authenticator import Authenticator
from odradek.broker.auth.mechanisms import ListenerSasl, listener_sasl
from odradek.broker.auth.oauthbearer import (
    OAuthBearerClientInitialResponse,
    OAuthBearerSaslServer,
    OAuthBearerValidationError,
)
from odradek.broker.auth.oauthbearer_validators import (
    JwksVerificationKeyResolver,
    JwtValidatorConfig,
    OAuthBearerJwksValidator,
    OAuthBearerUnsecuredValidator,
)
from odradek.broker.auth.sasl import SaslAuthenticationError
from odradek.broker.config.broker import SecurityProtocol, build
from odradek.broker.config.definitions import ConfigError

PARSE_CASES = [
    (b"n,,\x01auth=Bearer abc.def.\x01\x01", ("abc.def.", "", {})),
    (b"n,a=alice,\x01auth=Bearer t\x01\x01", ("t", "alice", {})),
    (b"n,a=a=2Cb=3Dc,\x01auth=bearer t\x01\x01", ("t", "a,b=c", {})),
    (b"n,,\x01traceId=123\x01auth=Bearer t\x01logical=x y\x01\x01", ("t", "", {"traceId": "123", "logical": "x y"})),
]
BAD_RESPONSES = [
    b"",
    b"garbage",
    b"n,,\x01\x01",  # no auth
    b"n,,\x01auth=Basic t\x01\x01",  # not a bearer token
    b"n,,\x01auth=Bearer t\x01",  # no final separator
    b"y,,\x01auth=Bearer t\x01\x01",  # channel binding flag
    b"n,,\x01auth=Bearer t!\x01\x01",  # token character
    b"n,,\x01k1=v\x01auth=Bearer t\x01\x01",  # key of letters only
    b"\xff\xfe",
]


@pytest.mark.parametrize(("response", "expected"), PARSE_CASES)
def test_initial_response_parsed(response: bytes, expected: tuple[str, str, dict[str, str]]) -> None:
    parsed = OAuthBearerClientInitialResponse.parse(response)
    assert (parsed.token_value, parsed.authorization_id, dict(parsed.extensions)) == expected
    assert OAuthBearerClientInitialResponse.parse(parsed.to_bytes()) == parsed


@pytest.mark.parametrize("response", BAD_RESPONSES)
def test_malformed_initial_response_refused(response: bytes) -> None:
    with pytest.raises(SaslAuthenticationError, match="Invalid OAUTHBEARER client first message"):
        OAuthBearerClientInitialResponse.parse(response)


GOOD = {"sub": "alice", "iat": NOW_S - 10, "exp": NOW_S + 3600, "scope": "read write"}
UNSECURED_CASES: list[tuple[str, dict[str, str], str, str | None]] = [
    ("valid", {}, unsecured(GOOD), None),
    ("expired", {}, unsecured({**GOOD, "exp": NOW_S - 1}), "expired"),
    (
        "expired within skew",
        {"unsecuredValidatorAllowableClockSkewMs": "5000"},
        unsecured({**GOOD, "exp": NOW_S - 1}),
        None,
    ),
    ("iat in the future", {}, unsecured({**GOOD, "iat": NOW_S + 60}), "future"),
    ("no exp", {}, unsecured({"sub": "alice"}), "exp"),
    ("no sub", {}, unsecured({"exp": NOW_S + 60}), "sub"),
    (
        "other principal claim",
        {"unsecuredValidatorPrincipalClaimName": "user"},
        unsecured({**GOOD, "user": "bob"}),
        None,
    ),
    ("signed alg", {}, unsecured(GOOD, {"alg": "RS256"}), "alg 'none'"),
    ("signature present", {}, unsecured(GOOD) + "c2ln", "alg 'none'"),
    ("scope held", {"unsecuredValidatorRequiredScope": "read"}, unsecured(GOOD), None),
    ("scope missing", {"unsecuredValidatorRequiredScope": "read,admin"}, unsecured(GOOD), "lacks admin"),
    ("scope list", {"unsecuredValidatorRequiredScope": "admin"}, unsecured({**GOOD, "scope": ["admin"]}), None),
    ("two parts", {}, "a.b", "three"),
    ("not json", {}, f"{b64(b'{')}.{b64(b'x')}.", "JSON"),
    ("bad base64", {}, "!!.!!.", "base64url"),
]


@pytest.mark.parametrize(
    ("options", "token", "error"), [case[1:] for case in UNSECURED_CASES], ids=[case[0] for case in UNSECURED_CASES]
)
def test_unsecured_validator(options: dict[str, str], token: str, error: str | None) -> None:
    validator = OAuthBearerUnsecuredValidator(options, now_ms=lambda: NOW_MS)
    if error is None:
        validated = validator.validate(token)
        assert validated.principal_name in ("alice", "bob")
        assert validated.lifetime_ms == (NOW_S + 3600) * 1000 or "exp" in json.dumps(GOOD)
    else:
        with pytest.raises(OAuthBearerValidationError, match=error):
            validator.validate(token)


def jwks_validator(config: JwtValidatorConfig | None = None, document: bytes | None = None) -> OAuthBearerJwksValidator:
    fetched = document if document is not None else jwks()
    resolver = JwksVerificationKeyResolver("file:/x", 3_600_000, 100, now_ms=lambda: NOW_MS, fetch=lambda url: fetched)
    from odradek.broker.auth.oauthbearer_validators import jwks_keys

    resolver.keys, resolver.fetched_ms = jwks_keys(fetched), NOW_MS
    return OAuthBearerJwksValidator(config or JwtValidatorConfig(), resolver, now_ms=lambda: NOW_MS)


AUD = JwtValidatorConfig(expected_audience=frozenset({"kafka"}), expected_issuer="https://idp")
CLAIMS = {**GOOD, "aud": "kafka", "iss": "https://idp"}
JWKS_CASES: list[tuple[str, JwtValidatorConfig, str, str | None]] = [
    ("rs256", AUD, signed(CLAIMS), None),
    ("es256", AUD, signed(CLAIMS, kid="e1", alg="ES256", key=EC_KEY), None),
    ("audience list", AUD, signed({**CLAIMS, "aud": ["x", "kafka"]}), None),
    ("wrong signature", AUD, signed(CLAIMS, key=OTHER_RSA), "signature"),
    (
        "tampered claims",
        AUD,
        signed(CLAIMS).split(".")[0] + "." + part({**CLAIMS, "sub": "root"}) + "." + signed(CLAIMS).split(".")[2],
        "signature",
    ),
    ("unknown kid", AUD, signed(CLAIMS, kid="k9"), "no key with kid 'k9'"),
    ("wrong audience", AUD, signed({**CLAIMS, "aud": "other"}), "audience"),
    ("wrong issuer", AUD, signed({**CLAIMS, "iss": "https://evil"}), "issuer"),
    ("expired", AUD, signed({**CLAIMS, "exp": NOW_S - 31}), "expired"),
    ("expired within 30 s skew", AUD, signed({**CLAIMS, "exp": NOW_S - 29}), None),
    ("no iat", AUD, signed({k: v for k, v in CLAIMS.items() if k != "iat"}), "iat"),
    ("not yet valid", AUD, signed({**CLAIMS, "nbf": NOW_S + 100}), "not valid before"),
    ("unsigned", AUD, unsecured(CLAIMS), "must be signed"),
    ("alg of another key type", AUD, signed(CLAIMS, kid="e1"), "not accepted"),
    ("sub claim name", JwtValidatorConfig(sub_claim_name="client_id"), signed({**CLAIMS, "client_id": "svc"}), None),
]


@pytest.mark.parametrize(
    ("config", "token", "error"), [case[1:] for case in JWKS_CASES], ids=[case[0] for case in JWKS_CASES]
)
def test_jwks_validator(config: JwtValidatorConfig, token: str, error: str | None) -> None:
    validator = jwks_validator(config)
    if error is None:
        assert validator.validate(token).principal_name in ("alice", "svc")
    else:
        with pytest.raises(OAuthBearerValidationError, match=error):
            validator.validate(token)


def test_no_jwks_refuses() -> None:
    validator = jwks_validator(document=b'{"keys": []}')
    with pytest.raises(OAuthBearerValidationError, match="no JWKS"):
        validator.validate(signed(CLAIMS))


async def test_unknown_kid_refreshes_off_the_loop() -> None:
    documents = [b'{"keys": []}', jwks()]
    resolver = JwksVerificationKeyResolver(
        "file:/x", 3_600_000, 0, now_ms=lambda: NOW_MS, fetch=lambda url: documents.pop(0)
    )
    await resolver.start()
    validator = OAuthBearerJwksValidator(JwtValidatorConfig(), resolver, now_ms=lambda: NOW_MS)
    with pytest.raises(OAuthBearerValidationError):
        validator.validate(signed(CLAIMS))
    assert resolver._in_flight is not None
    await resolver._in_flight
    assert validator.validate(signed(CLAIMS)).principal_name == "alice"


async def test_failing_jwks_endpoint_keeps_keys() -> None:
    def fail(url: str) -> bytes:
        raise OSError("connection refused")

    resolver = JwksVerificationKeyResolver("https://127.0.0.1:1/jwks", 3_600_000, 0, fetch=fail)
    await resolver.start()  # logged, no exception
    assert resolver.keys == {}


def server(now_ms: int = NOW_MS) -> OAuthBearerSaslServer:
    return OAuthBearerSaslServer(OAuthBearerUnsecuredValidator({}, now_ms=lambda: now_ms), now_ms=lambda: now_ms)


def initial(token: str, authzid: str = "") -> bytes:
    return OAuthBearerClientInitialResponse(token, authzid).to_bytes()


def test_server_success_and_lifetime() -> None:
    sasl = server()
    assert sasl.evaluate(initial(unsecured(GOOD), "alice")) == b""
    assert sasl.complete and sasl.authorization_id == "alice"
    assert sasl.credential_lifetime_ms == 3_600_000


def test_server_error_exchange() -> None:
    sasl = server()
    challenge = sasl.evaluate(initial(unsecured({**GOOD, "exp": NOW_S - 1})))
    assert json.loads(challenge) == {"status": "invalid_token"}
    assert not sasl.complete
    with pytest.raises(SaslAuthenticationError, match="expired"):
        sasl.evaluate(b"\x01")


def test_server_error_exchange_names_the_scope() -> None:
    sasl = OAuthBearerSaslServer(
        OAuthBearerUnsecuredValidator({"unsecuredValidatorRequiredScope": "admin"}, lambda: NOW_MS)
    )
    assert json.loads(sasl.evaluate(initial(unsecured(GOOD)))) == {"status": "invalid_token", "scope": "admin"}
    with pytest.raises(SaslAuthenticationError, match="expected the client's %x01"):
        sasl.evaluate(b"again")


def test_server_foreign_authzid_refused() -> None:
    with pytest.raises(SaslAuthenticationError, match="different from the token's principal"):
        server().evaluate(initial(unsecured(GOOD), "bob"))


LIFETIME_CASES = [  # (connections.max.reauth.ms, token lifetime s) -> session lifetime ms (Kafka's min rule)
    (0, 3600, 3_600_000),
    (60_000, 3600, 60_000),
    (10_000_000, 3600, 3_600_000),
]


@pytest.mark.parametrize(("max_reauth_ms", "token_s", "expected"), LIFETIME_CASES)
def test_session_lifetime_is_bounded_by_the_token(max_reauth_ms: int, token_s: int, expected: int) -> None:
    authenticator = Authenticator(SecurityProtocol.SASL_PLAINTEXT)
    sasl = server()
    authenticator.handshake(1, sasl, max_reauth_ms)
    authenticator.evaluate(initial(unsecured({**GOOD, "exp": NOW_S + token_s})), "127.0.0.1", "SASL", now_ms=500.0)
    assert authenticator.principal.name == "alice"
    assert authenticator.session_lifetime_ms == expected
    assert authenticator.session_expiration_ms == 500.0 + expected


def test_reauthentication_with_a_new_token_on_the_same_connection() -> None:
    """KIP-368 with OAUTHBEARER: a fresh token for the same principal renews the session (bounded by its exp);
    another principal's token is refused ("Cannot change principals") and fails the connection."""
    authenticator = Authenticator(SecurityProtocol.SASL_PLAINTEXT)
    authenticator.handshake(1, server(), 60_000)
    authenticator.evaluate(initial(unsecured({**GOOD, "exp": NOW_S + 30})), "127.0.0.1", "SASL", now_ms=0.0)
    assert authenticator.session_lifetime_ms == 30_000  # the token ends before connections.max.reauth.ms
    assert authenticator.may_reauthenticate(20_000.0)
    authenticator.reauthenticate(1, server(), 60_000, 20_000.0)
    authenticator.evaluate(initial(unsecured({**GOOD, "exp": NOW_S + 3600})), "127.0.0.1", "SASL", now_ms=20_000.0)
    assert authenticator.complete and authenticator.principal.name == "alice"
    assert authenticator.session_expiration_ms == 80_000.0  # now connections.max.reauth.ms bounds it
    authenticator.reauthenticate(1, server(), 60_000, 40_000.0)
    with pytest.raises(SaslAuthenticationError, match="Cannot change principals"):
        authenticator.evaluate(initial(unsecured({**GOOD, "sub": "bob"})), "127.0.0.1", "SASL", now_ms=40_000.0)
    assert not authenticator.complete


def oauth_listener(overrides: dict[str, str]) -> ListenerSasl:
    base = {
        "listeners": "A://127.0.0.1:1,PLAINTEXT://127.0.0.1:3",
        "listener.security.protocol.map": "A:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "listener.name.a.sasl.enabled.mechanisms": "OAUTHBEARER",
    }
    return listener_sasl(build([{**base, **overrides}]), "A")


HANDLER = "listener.name.a.oauthbearer.sasl.server.callback.handler.class"
SELECTION_CASES: list[tuple[dict[str, str], type | str]] = [
    ({}, OAuthBearerUnsecuredValidator),
    (
        {
            HANDLER: "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
            "listener.name.a.sasl.oauthbearer.jwks.endpoint.url": "file:/etc/jwks.json",
        },
        OAuthBearerJwksValidator,
    ),
    (
        {
            HANDLER: "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
            "sasl.oauthbearer.jwks.endpoint.url": "https://idp/jwks",
        },
        OAuthBearerJwksValidator,
    ),
    ({HANDLER: "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"}, "needs"),
    (
        {
            HANDLER: "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
            "sasl.oauthbearer.jwks.endpoint.url": "http://idp/jwks",
        },
        "needs",
    ),
    ({HANDLER: "com.example.MyHandler"}, "not accepted|accepted: unset"),
    (
        {"listener.name.a.oauthbearer.sasl.jaas.config": "com.sun.security.auth.module.JndiLoginModule required;"},
        "not accepted",
    ),
    (
        {
            "listener.name.a.oauthbearer.sasl.jaas.config": (
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                'unsecuredValidatorAllowableClockSkewMs="soon";'
            )
        },
        "non-negative integer",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), SELECTION_CASES)
def test_validator_chosen_as_kafka_chooses_it(overrides: dict[str, str], expected: type | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ConfigError, match=expected):
            oauth_listener(overrides)
        return
    sasl = oauth_listener(overrides)
    assert isinstance(sasl.oauthbearer, expected)
    assert (sasl.jwks is not None) == (expected is OAuthBearerJwksValidator)
    assert isinstance(sasl.server("OAUTHBEARER", lambda m, u: None), OAuthBearerSaslServer)


def test_unsecured_options_from_the_listener_jaas_entry() -> None:
    jaas = (
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
        'unsecuredValidatorPrincipalClaimName="user" unsecuredValidatorRequiredScope="a,b" '
        'unsecuredValidatorAllowableClockSkewMs="2500";'
    )
    validator = oauth_listener({"listener.name.a.oauthbearer.sasl.jaas.config": jaas}).oauthbearer
    assert isinstance(validator, OAuthBearerUnsecuredValidator)
    assert (validator.principal_claim, validator.required_scope, validator.skew_ms) == ("user", {"a", "b"}, 2500)
