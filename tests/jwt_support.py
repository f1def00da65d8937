"""Tokens for the OAUTHBEARER tests: unsecured JWS and RS256/ES256 tokens signed with keys made at import, and the
JWKS document that names their public halves (kid k1: RSA_KEY, e1: EC_KEY; OTHER_RSA is in no JWKS)."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

NOW_S = 1_800_000_000
NOW_MS = NOW_S * 1000


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def part(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj).encode())


def unsecured(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    return f"{part(header or {'alg': 'none'})}.{part(claims)}."


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed(claims: dict[str, Any], kid: str = "k1", alg: str = "RS256", key: Any = RSA_KEY) -> str:
    signing_input = f"{part({'alg': alg, 'kid': kid, 'typ': 'JWT'})}.{part(claims)}".encode()
    if alg == "RS256":
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode()}.{b64(signature)}"


def jwk_int(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def jwks() -> bytes:
    rsa_numbers = RSA_KEY.public_key().public_numbers()
    ec_numbers = EC_KEY.public_key().public_numbers()
    keys = [
        {"kty": "RSA", "kid": "k1", "n": jwk_int(rsa_numbers.n), "e": jwk_int(rsa_numbers.e)},
        {"kty": "EC", "kid": "e1", "crv": "P-256", "x": jwk_int(ec_numbers.x), "y": jwk_int(ec_numbers.y)},
    ]
    return json.dumps({"keys": keys}).encode()
