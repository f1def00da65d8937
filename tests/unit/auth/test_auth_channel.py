"""The server's channel seam: a listener's channel builder decides how its connections are set up, and file
regions go out with sendfile only on plaintext transports; any other transport (TLS) gets the region's bytes
written through it, in bounded chunks."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
from pathlib import Path
from typing import Any

import pytest
from odradek.broker import server as server_module
from odradek.broker.auth.authenticator import Authenticator
from odradek.broker.auth.principal import ANONYMOUS
from odradek.broker.config.broker import SecurityProtocol
from odradek.broker.protocol.frames import FileRegion
from odradek.broker.server import KafkaServer, ServerLimits, write_region

DATA = bytes(range(256)) * 4100 + b"tail"  # 1,049,604 bytes: four full chunks and a short one


def region(tmp_path: Path, position: int = 3) -> FileRegion:
    path = tmp_path / "segment.log"
    path.write_bytes(b"xyz" + DATA + b"after")
    fd = os.open(path, os.O_RDONLY)
    try:
        return FileRegion.from_fd(fd, position, len(DATA))
    finally:
        os.close(fd)


class FakeTransport:
    def get_write_buffer_size(self) -> int:
        return 0


class FakeWriter:
    """A StreamWriter over a transport that is not the raw socket (what a TLS transport looks like to us)."""

    def __init__(self, extra: dict[str, Any]) -> None:
        self.extra = extra
        self.writes: list[bytes] = []
        self.transport = FakeTransport()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    async def drain(self) -> None:
        pass


@pytest.fixture
def no_sendfile(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def refuse(*args: Any) -> int:
        calls.append(1)
        raise AssertionError("sendfile on a non-plaintext transport")

    monkeypatch.setattr(os, "sendfile", refuse)
    return calls


def test_write_region_reads_in_bounded_chunks(tmp_path: Path) -> None:
    writer = FakeWriter({})
    file_region = region(tmp_path)
    try:
        asyncio.run(write_region(writer, file_region, chunk_bytes=256 * 1024))  # type: ignore[arg-type]
    finally:
        file_region.close()
    assert b"".join(writer.writes) == DATA
    assert max(len(w) for w in writer.writes) == 256 * 1024 and len(writer.writes) == 5


@pytest.mark.parametrize(
    ("zero_copy", "names"),
    [
        (False, ("socket",)),  # the channel says the transport is not plaintext
        (True, ("socket", "ssl_object")),  # a TLS transport, whatever the channel says
        (True, ()),  # no socket to send to
    ],
)
def test_regions_on_other_transports_go_through_the_transport(
    tmp_path: Path, no_sendfile: list[int], zero_copy: bool, names: tuple[str, ...]
) -> None:
    extra: dict[str, Any] = {name: socket.socket() if name == "socket" else object() for name in names}
    writer = FakeWriter(extra)
    file_region = region(tmp_path)
    server = KafkaServer(lambda frame, info: None, ServerLimits())  # type: ignore[arg-type, return-value]
    try:
        asyncio.run(server._send_region(writer, file_region, zero_copy))  # type: ignore[arg-type]
    finally:
        file_region.close()
        if "socket" in extra:
            extra["socket"].close()
    assert b"".join(writer.writes) == DATA and not no_sendfile
    assert max(len(w) for w in writer.writes) <= server_module.REGION_CHUNK_BYTES


class NotPlaintextChannel:
    """A channel builder whose transport is not the raw socket (as TLS will be), on a plain socket for the test."""

    security_protocol = SecurityProtocol.SSL
    zero_copy = False

    def ssl_context(self) -> ssl.SSLContext | None:
        return None

    def authenticator(self, peer_host: str, listener: str) -> Authenticator:
        authenticator = Authenticator(SecurityProtocol.SSL)
        authenticator.succeeded(ANONYMOUS)
        return authenticator


async def _exchange(tmp_path: Path, channel: Any) -> tuple[bytes, list[Any]]:
    seen: list[Any] = []

    async def dispatch(frame: memoryview, info: Any) -> list[Any]:
        seen.append(info)
        return [b"head", region(tmp_path)]

    server = KafkaServer(dispatch, ServerLimits(), "CLIENT", channel)
    port = await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(struct.pack(">i", 8) + bytes(8))
        size = struct.unpack(">i", await reader.readexactly(4))[0]
        body = await reader.readexactly(size)
        writer.close()
        await writer.wait_closed()
    finally:
        await server.stop(1.0)
    return body, seen


def test_a_non_plaintext_channel_never_uses_sendfile(tmp_path: Path, no_sendfile: list[int]) -> None:
    body, seen = asyncio.run(asyncio.wait_for(_exchange(tmp_path, NotPlaintextChannel()), 20))
    assert body == b"head" + DATA and not no_sendfile
    assert (seen[0].listener, seen[0].zero_copy, seen[0].security_protocol) == (
        "CLIENT",
        False,
        SecurityProtocol.SSL,
    )


def test_the_plaintext_channel_uses_sendfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    real = os.sendfile

    def spy(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        n = real(out_fd, in_fd, offset, count)
        sent.append(n)
        return n

    monkeypatch.setattr(os, "sendfile", spy)
    body, seen = asyncio.run(asyncio.wait_for(_exchange(tmp_path, None), 20))
    assert body == b"head" + DATA and sum(sent) == len(DATA)
    assert seen[0].zero_copy and seen[0].authenticator.principal.name == "ANONYMOUS"
