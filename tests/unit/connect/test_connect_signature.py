"""KIP-507 request signatures: Kafka's headers, HMAC over the exact body, base64."""

from __future__ import annotations

import pytest
from odradek.connect.rest.signature import SIGNATURE_ALGORITHM_HEADER, SIGNATURE_HEADER, InternalRequestSignature, sign


def test_hmac_sha256_matches_rfc_4231_test_case_2() -> None:
    signature = sign("HmacSHA256", b"Jefe", b"what do ya want for nothing?")
    assert signature.headers() == {
        "X-Connect-Authorization": "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=",
        "X-Connect-Request-Signature-Algorithm": "HmacSHA256",
    }
    assert signature.is_valid(b"Jefe")
    assert not signature.is_valid(b"other key")


def test_from_headers_and_tampering() -> None:
    body = b'[{"a":"b"}]'
    signed = sign("HmacSHA512", b"k" * 32, body)
    read = InternalRequestSignature.from_headers(signed.headers(), body)
    assert read == signed and read is not None and read.is_valid(b"k" * 32)
    tampered = InternalRequestSignature.from_headers(signed.headers(), body + b" ")
    assert tampered is not None and not tampered.is_valid(b"k" * 32)
    assert InternalRequestSignature.from_headers({SIGNATURE_HEADER: "x"}, body) is None
    assert InternalRequestSignature.from_headers({SIGNATURE_ALGORITHM_HEADER: "HmacSHA256"}, body) is None
    assert not InternalRequestSignature("HmacSHA256", "not base64!", body).is_valid(b"k")
    with pytest.raises(ValueError):
        sign("HmacMD4", b"k", body)
