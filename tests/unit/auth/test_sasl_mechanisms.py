"""SASL mechanism servers: SCRAM-SHA-256 against RFC 7677's test vector and SCRAM-SHA-512 against a client built
from RFC 5802's formulas; the checks that matter (nonce, authzid, proof, channel binding, malformed messages,
unknown users indistinguishable from wrong passwords); PLAIN's; the JAAS parser; the bootstrap credentials format."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from odradek.broker.auth.jaas import parse_jaas_config, plain_users
from odradek.broker.auth.plain import PlainSaslServer
from odradek.broker.auth.sasl import SaslAuthenticationError
from odradek.broker.auth.scram import (
    SHA_256,
    SHA_512,
    ScramCredential,
    ScramMechanism,
    ScramSaslServer,
    ScramState,
    parse_bootstrap_credentials,
    server_nonce,
)
from odradek.broker.config.definitions import ConfigError

# RFC 7677 section 3
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def rfc_server(users: dict[str, ScramCredential] | None = None) -> ScramSaslServer:
    if users is None:
        users = {"user": ScramCredential.from_password(SHA_256, "pencil", 4096, RFC_SALT)}
    return ScramSaslServer(SHA_256, users.get, b"secret", nonce=lambda: RFC_SERVER_NONCE)


def test_scram_sha_256_matches_rfc_7677() -> None:
    server = rfc_server()
    assert server.evaluate(RFC_CLIENT_FIRST) == RFC_SERVER_FIRST
    assert server.evaluate(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL
    assert server.complete and server.authorization_id == "user"
    with pytest.raises(SaslAuthenticationError):
        server.evaluate(RFC_CLIENT_FINAL)  # nothing more once complete


def client_final(mechanism: ScramMechanism, password: str, first_bare: str, server_first: str, nonce: str) -> str:
    """RFC 5802 section 3, the client's side."""
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    salted = mechanism.salted_password(password, base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = mechanism.hmac(salted, b"Client Key")
    without_proof = f"c=biws,r={nonce}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = mechanism.hmac(mechanism.hash(client_key), auth_message)
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return f"{without_proof},p={base64.b64encode(proof).decode()}"


def exchange(server: ScramSaslServer, user: str, password: str, tamper: str = "") -> bytes:
    first_bare = f"n={user},r=clientnonce123"
    server_first = server.evaluate(f"n,,{first_bare}".encode()).decode()
    nonce = server_first.split(",")[0][2:]
    if tamper == "nonce":
        nonce = nonce + "x"
    if tamper == "client-nonce-only":
        nonce = "clientnonce123"
    final = client_final(server._mechanism, password, first_bare, server_first, nonce)
    return server.evaluate(final.encode())


def test_scram_sha_512_full_exchange_and_server_signature() -> None:
    credential = ScramCredential.from_password(SHA_512, "s3cret", 8192)
    server = ScramSaslServer(SHA_512, {"alice": credential}.get, b"k")
    answer = exchange(server, "alice", "s3cret")
    assert server.complete and answer.startswith(b"v=")
    assert len(base64.b64decode(answer[2:])) == hashlib.sha512().digest_size


@pytest.mark.parametrize(
    ("user", "password", "tamper", "message"),
    [
        ("alice", "wrong", "", "Invalid user credentials"),
        ("mallory", "s3cret", "", "Invalid user credentials"),  # unknown user: the same failure, at the same step
        ("alice", "s3cret", "nonce", "Invalid client nonce"),  # CVE-2024-56128
        ("alice", "s3cret", "client-nonce-only", "Invalid client nonce"),  # replay without the server's part
    ],
)
def test_scram_failures(user: str, password: str, tamper: str, message: str) -> None:
    credential = ScramCredential.from_password(SHA_256, "s3cret")
    server = ScramSaslServer(SHA_256, {"alice": credential}.get, b"k")
    with pytest.raises(SaslAuthenticationError, match=message):
        exchange(server, user, password, tamper)
    assert server.state is ScramState.FAILED and not server.complete


def test_unknown_users_get_a_stable_salt_indistinguishable_from_a_real_one() -> None:
    firsts = [rfc_server({}).evaluate(b"n,,n=ghost,r=abc").decode() for _ in range(2)]
    salts = {f.split(",")[1] for f in firsts}
    assert len(salts) == 1 and len(base64.b64decode(salts.pop()[2:])) == 32
    assert firsts[0].endswith(",i=4096")


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (b"n,a=admin,n=user,r=abc", "authorization id that is different"),  # CVE-2017-12610
        (b"p=tls-unique,,n=user,r=abc", "channel binding is not supported"),
        (b"y", "format"),
        (b"n,,r=abc,n=user", "format"),
        (b"n,,n=us=er,r=abc", "user name encoding"),
        (b"n,,n=user,r=", "format"),
        (b"\xff\xfe", "not UTF-8"),
        (b"n,,n=user,r=abc,tokenauth=true", "delegation tokens are not supported"),  # KIP-48, not served
    ],
)
def test_malformed_or_foreign_client_first_messages(first: bytes, message: str) -> None:
    with pytest.raises(SaslAuthenticationError, match=message):
        rfc_server().evaluate(first)


def test_extensions_other_than_tokenauth_are_ignored() -> None:
    assert rfc_server().evaluate(RFC_CLIENT_FIRST + b",foo=bar") == RFC_SERVER_FIRST


def test_authzid_equal_to_the_user_and_escaped_names() -> None:
    server = rfc_server({"a,b=c": ScramCredential.from_password(SHA_256, "pw", 4096, RFC_SALT)})
    assert server.evaluate(b"n,a=a=2Cb=3Dc,n=a=2Cb=3Dc,r=abc").startswith(b"r=abc")


def test_client_final_checks_channel_binding_and_format() -> None:
    server = rfc_server()
    server.evaluate(RFC_CLIENT_FIRST)
    with pytest.raises(SaslAuthenticationError, match="channel binding"):
        server.evaluate(RFC_CLIENT_FINAL.replace(b"c=biws", b"c=" + base64.b64encode(b"n,a=x,")))
    server = rfc_server()
    server.evaluate(RFC_CLIENT_FIRST)
    with pytest.raises(SaslAuthenticationError):
        server.evaluate(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")  # no proof


def test_stored_credentials_hold_no_password() -> None:
    credential = ScramCredential.from_password(SHA_256, "pencil", 4096, RFC_SALT)
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", RFC_SALT, 4096)
    assert credential.server_key == hmac.new(salted, b"Server Key", "sha256").digest()
    assert credential.stored_key == hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    assert "pencil" not in repr(credential) and set(server_nonce()) <= set("0123456789abcdefghijklmnopqrstuvwxyz")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (b"\0alice\0alice-secret", None),
        (b"alice\0alice\0alice-secret", None),
        (b"admin\0alice\0alice-secret", "authorization id that is different from username"),
        (b"\0alice\0wrong", "Invalid username or password"),
        (b"\0bob\0alice-secret", "Invalid username or password"),
        (b"\0\0alice-secret", "username not specified"),
        (b"\0alice\0", "password not specified"),
        (b"alice\0alice-secret", "expected 3 tokens, got 2"),
        (b"\0a\0b\0c", "expected 3 tokens, got 4"),
    ],
)
def test_plain(token: bytes, message: str | None) -> None:
    server = PlainSaslServer({"alice": "alice-secret"})
    if message is None:
        assert server.evaluate(token) == b"" and server.complete and server.authorization_id == "alice"
    else:
        with pytest.raises(SaslAuthenticationError, match=message):
            server.evaluate(token)
        assert not server.complete


def test_jaas_plain_users() -> None:
    text = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required\n"
        '  username="admin" password="admin-secret"\n'
        '  user_admin="admin-secret" user_alice="al\\"ice;=" user_bob=bare;'
    )
    assert plain_users(parse_jaas_config(text)) == {"admin": "admin-secret", "alice": 'al"ice;=', "bob": "bare"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("com.sun.security.auth.module.JndiLoginModule required;", "not accepted"),
        ("org.apache.kafka.common.security.plain.PlainLoginModule mandatory;", "control flag"),
        ('org.apache.kafka.common.security.plain.PlainLoginModule required user_a="x"', "must end with"),
        ('org.apache.kafka.common.security.plain.PlainLoginModule required user_a="x;', "unterminated"),
        ("", "no login module"),
    ],
)
def test_jaas_refusals(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_jaas_config(text)


def test_bootstrap_credentials() -> None:
    parsed = parse_bootstrap_credentials(
        'SCRAM-SHA-256=[name=alice,password=alice-secret];SCRAM-SHA-512=[name=bob,password="a,b]c",iterations=8192]'
    )
    assert [(c.mechanism.name, c.user, c.password, c.iterations) for c in parsed] == [
        ("SCRAM-SHA-256", "alice", "alice-secret", 4096),
        ("SCRAM-SHA-512", "bob", "a,b]c", 8192),
    ]
    for bad, message in [
        ("SCRAM-SHA-1=[name=a,password=b]", "unknown SCRAM mechanism"),
        ("SCRAM-SHA-256=[name=a]", "needs name= and password="),
        ("SCRAM-SHA-256=[name=a,password=b,iterations=100]", "Too few iterations"),
        ("SCRAM-SHA-256=name=a", "expected SCRAM-SHA-256="),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_bootstrap_credentials(bad)
