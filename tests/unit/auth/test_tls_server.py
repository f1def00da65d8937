"""The socket server's TLS listeners in process, on asyncio's loop and on uvloop (which hands the ClientHello to
the protocol before reading can be paused: the server must pass it on, or every handshake hangs): principals from
client certificates, TLS versions, refused handshakes logged without harming the server; every TLS connection that
ends, served or refused in its handshake, asks the heap trimmer for a trim (utils.heap)."""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
import struct
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from odradek.broker.auth.principal import DefaultKafkaPrincipalBuilder, KafkaPrincipal
from odradek.broker.auth.ssl_factory import server_context
from odradek.broker.auth.ssl_principal import SslPrincipalMapper
from odradek.broker.server import KafkaServer, ServerLimits, SslChannelBuilder
from odradek.broker.utils.heap import HeapTrimmer
from odradek.broker.utils.time import MockTime

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
from security_support import Pki


def run_on(loop_name: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    if loop_name == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        uvloop.run(asyncio.wait_for(main(), 30))
    else:
        asyncio.run(asyncio.wait_for(main(), 30))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def tls_server(pki: Pki, seen: list[Any], heap_trimmer: HeapTrimmer | None = None, **settings: Any) -> KafkaServer:
    values = {
        "ssl.keystore.location": str(pki.keystore),
        "ssl.key.password": pki.key_password,
        "ssl.truststore.location": str(pki.ca_path),
        **settings,
    }
    context = server_context("TLS", values.get)
    builder = DefaultKafkaPrincipalBuilder(SslPrincipalMapper("RULE:^CN=(.*?),O=Odradek$/$1/L"))

    async def dispatch(frame: memoryview, info: Any) -> list[bytes]:
        seen.append(info.authenticator.principal)
        return [b"pong"]

    channel = SslChannelBuilder(context, builder)
    return KafkaServer(dispatch, ServerLimits(tls_handshake_timeout_s=5), "TLS", channel, heap_trimmer=heap_trimmer)


def client_context(pki: Pki, cert: tuple[Path, Path] | None = None, **options: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_path))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    for name, value in options.items():
        setattr(context, name, value)
    return context


async def ping(port: int, context: ssl.SSLContext) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    try:
        writer.write(struct.pack(">i", 8) + bytes(8))
        size = struct.unpack(">i", await reader.readexactly(4))[0]
        return await reader.readexactly(size)
    finally:
        writer.close()


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_mtls_principals_and_repeated_handshakes(pki: Pki, loop_name: str) -> None:
    seen: list[Any] = []

    async def main() -> None:
        server = tls_server(pki, seen, **{"ssl.client.auth": "required"})
        port = await server.start("127.0.0.1", 0)
        try:
            alice = client_context(pki, pki.client("Alice"))
            for _ in range(5):
                assert await ping(port, alice) == b"pong"
        finally:
            await server.stop(1.0)

    run_on(loop_name, main)
    assert seen == [KafkaPrincipal("User", "alice")] * 5


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_refused_handshakes_are_logged_and_the_server_keeps_serving(
    pki: Pki, loop_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="odradek.broker.server")
    seen: list[Any] = []

    async def main() -> None:
        server = tls_server(pki, seen, **{"ssl.client.auth": "required", "ssl.enabled.protocols": ["TLSv1.3"]})
        port = await server.start("127.0.0.1", 0)
        try:
            refused = [
                client_context(pki),  # no certificate
                client_context(pki, pki.client("eve", untrusted=True)),
                client_context(pki, pki.client("old", expired=True)),
                client_context(pki, pki.client("Alice"), maximum_version=ssl.TLSVersion.TLSv1_2),  # TLS 1.3 only
            ]
            for context in refused:
                with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
                    await ping(port, context)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)  # plaintext on the TLS port
            writer.write(struct.pack(">i", 8) + bytes(8))
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed
            writer.close()
            assert await ping(port, client_context(pki, pki.client("Alice"))) == b"pong"
        finally:
            await server.stop(1.0)

    run_on(loop_name, main)
    assert seen == [KafkaPrincipal("User", "alice")]
    assert caplog.text.count("SSL handshake failed") >= 5


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_stop_does_not_wait_for_a_silent_handshake(pki: Pki, loop_name: str) -> None:
    async def main() -> None:
        server = tls_server(pki, [])
        port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # connects, never says hello
        await asyncio.sleep(0.1)
        started = asyncio.get_running_loop().time()
        await server.stop(1.0)
        assert asyncio.get_running_loop().time() - started < 2.0  # not the 5 s handshake timeout
        assert await asyncio.wait_for(reader.read(), 1.5) == b""  # closed by stop, not by the timeout
        writer.close()

    run_on(loop_name, main)


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_every_ended_tls_connection_asks_for_a_heap_trim(pki: Pki, loop_name: str) -> None:
    time, trims, asked = MockTime(), [], []

    class Recording(HeapTrimmer):
        def connection_closed(self) -> None:
            asked.append(1)
            super().connection_closed()

    heap = Recording(time, lambda: trims.append(1), run=lambda trim: trim())

    async def main() -> None:
        server = tls_server(pki, [], heap)
        port = await server.start("127.0.0.1", 0)
        try:
            for _ in range(3):
                assert await ping(port, client_context(pki)) == b"pong"
            reader, writer = await asyncio.open_connection("127.0.0.1", port)  # plaintext: the handshake fails
            writer.write(struct.pack(">i", 8) + bytes(8))
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
            deadline = asyncio.get_running_loop().time() + 10
            while len(asked) < 4 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
        finally:
            await server.stop(1.0)

    run_on(loop_name, main)
    assert len(asked) == 4
    assert heap.pending and trims == []
    time.advance(5_000)
    assert trims == [1] and not heap.pending


@pytest.mark.parametrize("loop_name", ["uvloop"])
def test_refused_handshakes_leave_nothing_for_the_cyclic_collector(pki: Pki, loop_name: str) -> None:
    """A failed handshake's exception stays in the start_tls task; its traceback must not hold the frame that holds
    the task (a cycle that kept the TLS object and its buffers until a collection). On uvloop, the broker's loop on
    Linux: CPython 3.11's own asyncio SSLProtocol keeps a failed handshake in a cycle of its own (its transport,
    futures and handles, measured here), which the collector frees; nothing the server can break."""
    counts: dict[str, int] = {}

    def live_tls_objects() -> int:
        return sum(1 for o in gc.get_objects() if type(o) is ssl.SSLObject)

    async def main() -> None:
        server = tls_server(pki, [])
        port = await server.start("127.0.0.1", 0)
        try:
            counts["before"] = live_tls_objects()
            for _ in range(5):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)  # plaintext on the TLS port
                writer.write(struct.pack(">i", 8) + bytes(8))
                assert await asyncio.wait_for(reader.read(), 10) == b""
                writer.close()
            deadline = asyncio.get_running_loop().time() + 5
            while live_tls_objects() > counts["before"] and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            counts["after"] = live_tls_objects()
        finally:
            await server.stop(1.0)

    gc.collect()
    gc.disable()
    try:
        run_on(loop_name, main)
    finally:
        gc.enable()
        gc.collect()
    assert counts["after"] == counts["before"], counts
