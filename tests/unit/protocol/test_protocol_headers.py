"""Request/response headers, the API table and the generator's --check mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from odradek.broker.protocol.apis import APIS, request_message, response_message
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.headers import (
    RequestHeader,
    decode_request_header,
    encode_request_header,
    encode_response_header,
    request_header_version,
    response_header_version,
)
from odradek.broker.protocol.messages import api_versions_request, produce_request

ROOT = Path(__file__).resolve().parents[3]


def _frame(h: RequestHeader, hv: int, body: bytes = b"") -> memoryview:
    w = bytearray()
    encode_request_header(w, h, hv)
    return memoryview(bytes(w) + body)


@pytest.mark.parametrize(
    ("key", "version", "hv"),
    [
        (18, 0, 1),
        (18, 3, 2),
        (18, 4, 2),
        (18, 99, 1),  # unknown higher ApiVersions: parsed as v1
        (0, 0, 1),  # Produce v0 (old clients, served since issue 15)
        (0, 8, 1),
        (0, 9, 2),
        (1, 12, 2),
        (3, 8, 1),
        (3, 9, 2),
        (7, 0, 0),  # ControlledShutdown v0
        (4242, 0, 1),  # unknown API
    ],
)
def test_request_header_versions(key: int, version: int, hv: int) -> None:
    assert request_header_version(key, version) == hv
    h = RequestHeader(key, version, 12345, "client-1")
    buf = _frame(h, hv, b"BODY")
    got, off = decode_request_header(buf)
    assert got == (h if hv else RequestHeader(key, version, 12345, None))
    assert bytes(buf[off:]) == b"BODY"


def test_null_client_id_and_truncation() -> None:
    buf = _frame(RequestHeader(3, 1, 7, None), 1)
    assert decode_request_header(buf)[0].client_id is None
    with pytest.raises(ProtocolError):
        decode_request_header(buf[:-1])
    with pytest.raises(ProtocolError):
        decode_request_header(memoryview(b"\x00\x03\x00"))


def test_response_header_versions() -> None:
    assert response_header_version(18, 3) == 0  # ApiVersions: always v0
    assert response_header_version(18, 4) == 0
    assert response_header_version(3, 9) == 1
    assert response_header_version(3, 8) == 0
    assert response_header_version(0, 9) == 1
    w = bytearray()
    encode_response_header(w, 7, 1)
    assert w == b"\x00\x00\x00\x07\x00"
    w = bytearray()
    encode_response_header(w, -2, 0)
    assert w == b"\xff\xff\xff\xfe"


def test_api_table() -> None:
    assert len(APIS) >= 50
    assert request_message(0) is produce_request
    assert response_message(18).API_KEY == 18
    assert APIS[0].name == "Produce" and APIS[0].min_version == 0  # Kafka 3.9's floor (tools/gen_protocol.py)
    assert APIS[18].request is api_versions_request
    for key, info in APIS.items():
        assert info.request.API_KEY == key == info.response.API_KEY


def test_protocol_is_sans_io() -> None:
    code = (
        "import sys, odradek.broker.protocol.apis, odradek.broker.protocol.headers;"
        "bad = {'asyncio', 'socket', 'prometheus_client'} & set(sys.modules); print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_generated_modules_up_to_date() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_protocol.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
