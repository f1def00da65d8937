"""Fuzz harness: one OAUTHBEARER client token through the broker's mechanism server, then `\\x01` (the answer to
an error challenge), as broker/odradek/broker/auth/oauthbearer.py's OAuthBearerSaslServer sees them, with both
validators behind it (the unsecured one, and the JWKS one holding one RSA key).

Oracle:
- only `SaslAuthenticationError` escapes (the mechanism's declared failure); anything else is a crash;
- an exchange that completes names the principal of a token that really validates (a JWKS exchange never completes:
  nobody here holds the private key, so a completion would be a forged signature);
- a parsed initial response re-encodes (to_bytes) to one that parses to the same value.

    python tests/fuzz/fuzz_oauthbearer.py -runs=20000 [-max_total_time=60] [CORPUS_DIR] [--pure]

Seeds: well-formed initial responses with unsecured and RS256-shaped tokens, extensions and authzids.
"""

from __future__ import annotations

import base64
import json
import sys

from fuzz_support import instrumented, run_harness

with instrumented(__name__):
    from odradek.broker.auth.oauthbearer import OAuthBearerClientInitialResponse, OAuthBearerSaslServer
    from odradek.broker.auth.oauthbearer_validators import (
        JwksVerificationKeyResolver,
        JwtValidatorConfig,
        OAuthBearerJwksValidator,
        OAuthBearerUnsecuredValidator,
        jwks_keys,
    )
    from odradek.broker.auth.sasl import SaslAuthenticationError

NOW_MS = 1_800_000_000_000
# A fixed public key (no private key anywhere): n is a 2048-bit odd number, e = 65537.
_N = (1 << 2047) | 0x1D3F
_JWKS = json.dumps(
    {
        "keys": [
            {"kty": "RSA", "kid": "k1", "e": "AQAB", "n": base64.urlsafe_b64encode(_N.to_bytes(256, "big")).decode()}
        ]
    }
).encode()


def _jwks_validator() -> OAuthBearerJwksValidator:
    resolver = JwksVerificationKeyResolver("file:/none", 3_600_000, 100, now_ms=lambda: NOW_MS, fetch=lambda _: _JWKS)
    resolver.keys, resolver.fetched_ms = jwks_keys(_JWKS), NOW_MS
    return OAuthBearerJwksValidator(JwtValidatorConfig(), resolver, now_ms=lambda: NOW_MS)


UNSECURED = OAuthBearerUnsecuredValidator({"unsecuredValidatorRequiredScope": "a"}, now_ms=lambda: NOW_MS)
JWKS = _jwks_validator()


def _exchange(validator: object, data: bytes) -> str | None:
    server = OAuthBearerSaslServer(validator, now_ms=lambda: NOW_MS)  # type: ignore[arg-type]
    try:
        server.evaluate(data)
        if not server.complete:
            server.evaluate(b"\x01")
    except SaslAuthenticationError:
        return None
    assert server.complete, "a failed validation must end in SaslAuthenticationError after the \\x01"
    return server.authorization_id


def check(data: bytes) -> None:
    try:
        parsed = OAuthBearerClientInitialResponse.parse(data)
    except SaslAuthenticationError:
        parsed = None
    if parsed is not None:
        assert OAuthBearerClientInitialResponse.parse(parsed.to_bytes()) == parsed
    principal = _exchange(UNSECURED, data)
    if principal is not None:
        assert parsed is not None
        assert UNSECURED.validate(parsed.token_value).principal_name == principal
    assert _exchange(JWKS, data) is None, "a JWKS exchange completed without the private key"


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def seeds() -> list[bytes]:
    claims = {"sub": "alice", "exp": NOW_MS // 1000 + 60, "scope": "a b"}
    tokens = [
        f"{_b64({'alg': 'none'})}.{_b64(claims)}.",
        f"{_b64({'alg': 'RS256', 'kid': 'k1'})}.{_b64(claims)}.{'A' * 342}",
        f"{_b64({'alg': 'none'})}.{_b64({**claims, 'exp': 1})}.",
    ]
    out = [OAuthBearerClientInitialResponse(token).to_bytes() for token in tokens]
    out.append(OAuthBearerClientInitialResponse(tokens[0], "alice", {"traceId": "1"}).to_bytes())
    out.append(b"n,a=a=2Cb,\x01auth=Bearer x\x01\x01")
    return out


if __name__ == "__main__":
    sys.exit(run_harness("oauthbearer", check, seeds()))
