"""The broker's socket server: the only module that touches sockets.

Framing: every request and response is a 4-byte big-endian size followed by that many bytes. A size below the
smallest request header or above `socket.request.max.bytes` closes the connection before anything is allocated
(Kafka's `InvalidReceiveException`). The dispatcher turns one request frame into response chunks, or `None` when no
response is due (Produce with acks=0).

Ordering: as in Kafka, a connection's requests are handled one at a time, in arrival order, so appends from one
producer connection land in the order sent and responses go back in request order. The reader keeps reading
ahead (up to `queued.max.requests` frames), so pipelined requests cost no extra round trip. In-memory responses
are written at the end of the loop turn (`_ResponseBuffer`): the responses to pipelined requests handled in one
turn leave in one write; a response with file regions is written at once, after those before it.

Channels (Kafka's ChannelBuilder): each listener has a security protocol (`listener.security.protocol.map`), and
its `ChannelBuilder` decides how a connection is set up: the transport (plaintext, or TLS for SSL and SASL_SSL) and
the connection's `Authenticator` (PLAINTEXT: `User:ANONYMOUS` at once; SSL: the certificate's principal after the
handshake; SASL: authenticated by the SASL exchange). A listener whose settings cannot be used stops the broker at
start-up with a ConfigError. TLS handshakes run per connection, so a failed one is logged with the peer's address;
before authentication frames are capped at `sasl.server.max.receive.size`, and a connection whose authentication
failed is closed once its error response is written.

Zero copy: a response chunk may be a `FileRegion`. On a plaintext transport it goes out with `os.sendfile`
straight from the page cache to the socket; on any other transport (TLS) sendfile would bypass the encryption, so
the region's bytes are read in bounded chunks and written through the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import ssl
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from odradek.broker.auth.authenticator import (
    AuthenticationState,
    Authenticator,
    plaintext_authenticator,
    transport_authenticator,
)
from odradek.broker.auth.mechanisms import listener_sasl
from odradek.broker.auth.principal import DefaultKafkaPrincipalBuilder
from odradek.broker.auth.ssl_factory import server_context
from odradek.broker.auth.ssl_principal import NoMatchingRule, SslPrincipalMapper, rfc2253
from odradek.broker.config.broker import BrokerConfig, Listener, SecurityProtocol
from odradek.broker.config.definitions import ConfigValue
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.frames import Chunk, FileRegion, StreamedRecords
from odradek.broker.quota.connection_quotas import ConnectionQuotas
from odradek.broker.utils.heap import HeapTrimmer
from odradek.broker.utils.time import SystemTime, Time

log = logging.getLogger(__name__)

_SIZE = struct.Struct(">i")
MIN_REQUEST_SIZE = 8  # api_key, api_version, correlation_id
REGION_CHUNK_BYTES = 256 * 1024  # a file region sent through a non-plaintext transport is read this much at a time
# In-memory responses held for one write at most (then written and drained): bounded in bytes, and in count so
# that the first of a run of pipelined responses waits for at most a few requests' handling, not the whole run.
COALESCE_BYTES = 256 * 1024
COALESCE_RESPONSES = 16
# Requests whose handling is a coordinator write (`hold_behind`: the registry's coordinator_writes, OffsetCommit and
# TxnOffsetCommit): answered two loop turns later (the coordinator's write queue is flushed at the end of the turn,
# coordinator/runtime.py), so the responses buffered before such a request, when it was already waiting to be
# handled (pipelined), are held for it instead of leaving one per turn; at most COALESCE_RESPONSES of them and
# HOLD_BEHIND_WRITE_S after the hold began.
HOLD_BEHIND_WRITE_S = 0.010
_API_KEY = struct.Struct(">h")


class ChannelBuilder(Protocol):
    """How the connections of one listener are set up (Kafka's ChannelBuilder)."""

    @property
    def security_protocol(self) -> SecurityProtocol: ...

    @property
    def zero_copy(self) -> bool:
        """Whether the transport is the raw socket, so that file regions may be sent with sendfile."""
        ...

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context a new connection's handshake runs with (None: plaintext)."""
        ...

    def authenticator(self, peer_host: str, listener: str, ssl_subject: str | None = None) -> Authenticator:
        """A new connection's authentication state (`ssl_subject`: its verified certificate's RFC 2253 subject)."""
        ...


class PlaintextChannelBuilder:
    """PLAINTEXT: the socket as it is, no authentication exchange, principal `User:ANONYMOUS`."""

    security_protocol = SecurityProtocol.PLAINTEXT
    zero_copy = True

    def ssl_context(self) -> ssl.SSLContext | None:
        return None

    def authenticator(self, peer_host: str, listener: str, ssl_subject: str | None = None) -> Authenticator:
        return plaintext_authenticator(peer_host, listener)


@dataclass(frozen=True, slots=True)
class SslChannelBuilder:
    """SSL: TLS, then authenticated by the handshake; principal from the client certificate's subject through
    `ssl.principal.mapping.rules` (`User:ANONYMOUS` without a certificate)."""

    context: ssl.SSLContext
    principal_builder: DefaultKafkaPrincipalBuilder
    security_protocol: SecurityProtocol = SecurityProtocol.SSL
    zero_copy: bool = False

    def ssl_context(self) -> ssl.SSLContext | None:
        return self.context

    def authenticator(self, peer_host: str, listener: str, ssl_subject: str | None = None) -> Authenticator:
        return transport_authenticator(SecurityProtocol.SSL, peer_host, listener, ssl_subject, self.principal_builder)


@dataclass(frozen=True, slots=True)
class SaslChannelBuilder:
    """SASL_PLAINTEXT and SASL_SSL: (TLS, then) a SASL exchange before anything else (Kafka's
    SaslChannelBuilder); the mechanisms are the handlers' business (`auth.mechanisms`)."""

    security_protocol: SecurityProtocol
    context: ssl.SSLContext | None = None

    @property
    def zero_copy(self) -> bool:
        return self.context is None

    def ssl_context(self) -> ssl.SSLContext | None:
        return self.context

    def authenticator(self, peer_host: str, listener: str, ssl_subject: str | None = None) -> Authenticator:
        return Authenticator(self.security_protocol)


def channel_builder(listener: Listener, config: BrokerConfig | None = None) -> ChannelBuilder:
    """The channel builder of a listener's security protocol; ConfigError (at start-up, before any I/O) when its
    TLS or SASL settings cannot be used."""
    protocol = listener.security_protocol
    if protocol is SecurityProtocol.PLAINTEXT:
        return PlaintextChannelBuilder()
    config = config or BrokerConfig()

    def get(key: str) -> ConfigValue:
        return config.listener_get(listener.name, key)

    if protocol is SecurityProtocol.SSL:
        rules = get("ssl.principal.mapping.rules")
        mapper = SslPrincipalMapper(rules if isinstance(rules, str) else None)
        return SslChannelBuilder(server_context(listener.name, get), DefaultKafkaPrincipalBuilder(mapper))
    listener_sasl(config, listener.name)  # refuse unusable mechanisms now, not at the first client
    if protocol is SecurityProtocol.SASL_SSL:
        client_auth = config.listener_is_set(listener.name, "ssl.client.auth")  # Kafka: only the prefixed one
        return SaslChannelBuilder(protocol, server_context(listener.name, get, client_auth))
    return SaslChannelBuilder(protocol)


@dataclass(slots=True)
class ConnectionInfo:
    """One connection: where it came from, on which listener, and its authentication (state and principal)."""

    connection_id: int
    peer_host: str
    peer_port: int
    listener: str
    authenticator: Authenticator = field(default_factory=lambda: plaintext_authenticator("?", "PLAINTEXT"))
    zero_copy: bool = True
    opened_monotonic: float = field(default_factory=time.monotonic)
    # Quota throttling (KIP-219): set by the dispatcher for the request being answered; after its response is
    # written the connection reads nothing for that long (`unmuted` is clear meanwhile).
    pending_mute_ms: int = 0
    unmuted: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.unmuted.set()

    @property
    def security_protocol(self) -> SecurityProtocol:
        return self.authenticator.security_protocol

    def mute(self, throttle_ms: int) -> None:
        self.pending_mute_ms = max(self.pending_mute_ms, throttle_ms)


Dispatcher = Callable[[memoryview, ConnectionInfo], Awaitable[Sequence[Chunk] | None]]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_request_bytes: int = 104_857_600
    idle_timeout_s: float = 600.0
    read_ahead: int = 500
    max_unauthenticated_bytes: int = 524_288  # sasl.server.max.receive.size: frames before authentication
    tls_handshake_timeout_s: float = 10.0


class ConnectionClosed(Exception):
    """The peer sent something that ends its connection (bad size, malformed request)."""


class KafkaServer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        limits: ServerLimits,
        listener: str = "PLAINTEXT",
        channel: ChannelBuilder | None = None,
        time: Time | None = None,
        connection_quotas: ConnectionQuotas | None = None,
        heap_trimmer: HeapTrimmer | None = None,
        hold_behind: frozenset[int] = frozenset(),
    ) -> None:
        self._dispatch = dispatcher
        self._hold_behind = hold_behind
        self._time: Time = time or SystemTime()
        # Shared by the servers of every listener (the broker-wide and per-address counts span listeners).
        self._connection_quotas = connection_quotas or ConnectionQuotas()
        # Told of every closed TLS connection: their buffers' freed pages stay in the C heap otherwise (utils.heap).
        self._heap_trimmer = heap_trimmer
        self._limits = limits
        self._listener = listener
        self._channel: ChannelBuilder = channel or PlaintextChannelBuilder()
        self._server: asyncio.Server | None = None
        self._connections: dict[int, asyncio.Task[None]] = {}
        self._busy: set[int] = set()  # connections with a request being handled
        self._handshakes: set[asyncio.Task[None]] = set()  # TLS handshakes under way (held so they are not lost)
        self._admitting: set[asyncio.Task[None]] = set()  # connections waiting for a max.connections slot
        self._next_id = 0
        self._closing = False
        self.on_connection_count: Callable[[int], None] = lambda count: None

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def start(self, host: str, port: int, serve: bool = True) -> int:
        """Bind host:port (port 0 picks a free one) and return the bound port. With ``serve`` false the socket is
        bound but not listening (a client is refused) until ``serve()``: Kafka's broker binds its acceptors early
        and enables request processing only once it may serve."""
        context = self._channel.ssl_context()
        if context is None:
            self._server = await asyncio.start_server(
                self._accept, host, port, reuse_address=True, limit=1 << 20, start_serving=serve
            )
        else:
            # The TLS handshake runs per connection (`_handshake`), not inside start_server(ssl=...), so that a
            # failed one (a plaintext client, an untrusted or expired certificate) is logged with the peer's
            # address, as Kafka logs it; asyncio would drop it silently.
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                lambda: _PendingTls(self, context), host, port, reuse_address=True, start_serving=serve
            )
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1])

    async def serve(self) -> None:
        """Start listening and accepting (after ``start(..., serve=False)``; a no-op if already serving)."""
        if self._server is not None and not self._closing:
            await self._server.start_serving()

    async def stop(self, grace_s: float) -> None:
        """Stop accepting, close idle connections, let the others finish their current request (up to grace_s)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for handshake in list(self._handshakes):  # connections still in their TLS handshake
            handshake.cancel()
        for waiting in list(self._admitting):  # connections waiting for a slot
            waiting.cancel()
        for connection_id, task in list(self._connections.items()):
            if connection_id not in self._busy:
                task.cancel()
        tasks = list(self._connections.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _admit_tracked(self, host: str) -> bool:
        """`_admit`, cancelled by `stop()` while it waits for a slot."""
        task = asyncio.current_task()
        assert task is not None
        self._admitting.add(task)
        try:
            return await self._admit(host)
        except asyncio.CancelledError:
            return False
        finally:
            self._admitting.discard(task)

    async def _admit(self, host: str) -> bool:
        """Waits for a connection slot (max.connections, per listener and broker-wide); False when the address holds
        max.connections.per.ip already: the caller closes the connection (logged, as Kafka's Acceptor does)."""
        if await self._connection_quotas.acquire(self._listener, host):
            return True
        log.info(
            "Rejected connection from /%s on listener %s, address already has the configured maximum of %d "
            "connections (max.connections.per.ip)",
            host,
            self._listener,
            self._connection_quotas.max_for_address(host),
        )
        return False

    async def _accept(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        authenticator: Authenticator | None = None,
        admitted: bool = False,
    ) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        host = str(peer[0])
        if not admitted and (self._closing or not await self._admit_tracked(host)):
            writer.close()
            return
        try:
            await self._serve_connection(reader, writer, host, int(peer[1]), authenticator)
        finally:
            self._connection_quotas.release(self._listener, host)

    async def _serve_connection(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        port: int,
        authenticator: Authenticator | None,
    ) -> None:
        if self._closing:
            writer.close()
            return
        self._next_id += 1
        if authenticator is None:
            authenticator = self._channel.authenticator(host, self._listener)
        info = ConnectionInfo(
            self._next_id, host, port, self._listener, authenticator, zero_copy=self._channel.zero_copy
        )
        task = asyncio.current_task()
        assert task is not None
        self._connections[info.connection_id] = task
        self.on_connection_count(len(self._connections))
        try:
            await self._serve(reader, writer, info)
        except (ConnectionClosed, ConnectionError, asyncio.IncompleteReadError, TimeoutError) as exc:
            log.debug("connection %s from %s closed: %s", info.connection_id, info.peer_host, exc)
        except asyncio.CancelledError:
            pass
        except Exception:  # the boundary: one connection's failure never reaches the others
            log.exception("connection %s from %s failed", info.connection_id, info.peer_host)
        finally:
            self._connections.pop(info.connection_id, None)
            self.on_connection_count(len(self._connections))
            writer.close()
            try:
                await writer.wait_closed()
            except Exception as exc:  # a reset peer: the protocol's closed future keeps the exception, whose
                exc.__traceback__ = None  # traceback would hold this frame and the writer in a cycle (see _serve)

    async def _handshake(self, transport: asyncio.Transport, context: ssl.SSLContext, early: list[bytes]) -> None:
        """The server side of a TLS handshake on a new connection (reading paused until it starts, so no byte of
        the ClientHello is lost), then the connection is served like a plaintext one over the TLS transport. A
        failed handshake, or a certificate subject no mapping rule applies to, is logged and closes it."""
        peer = transport.get_extra_info("peername") or ("?", 0)
        host = str(peer[0])
        if not await self._admit_tracked(host):  # before the handshake: a refused address costs no TLS work
            transport.close()
            return
        try:
            handed_over = await self._handshake_admitted(transport, context, early, host)
        except BaseException:
            self._connection_quotas.release(self._listener, host)
            raise
        finally:
            if self._heap_trimmer is not None:
                self._heap_trimmer.connection_closed()  # served and closed, or failed in its handshake
        if not handed_over:
            self._connection_quotas.release(self._listener, host)

    async def _handshake_admitted(
        self, transport: asyncio.Transport, context: ssl.SSLContext, early: list[bytes], host: str
    ) -> bool:
        """The handshake of an admitted connection; True once the connection was served (and released) by
        `_accept`."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        protocol = asyncio.StreamReaderProtocol(reader)
        starting = loop.create_task(
            loop.start_tls(
                transport,
                protocol,
                context,
                server_side=True,
                ssl_handshake_timeout=self._limits.tls_handshake_timeout_s,
            )
        )
        try:
            await asyncio.sleep(0)  # start_tls has installed its TLS protocol and scheduled its connection_made
            if early:  # bytes that arrived before reading was paused go to the TLS protocol after that
                tls_protocol = transport.get_protocol()
                data = b"".join(early)
                loop.call_soon(_feed, tls_protocol, data)
            tls = await starting
            if tls is None:
                raise ConnectionError("closed during the handshake")
            ssl_object = tls.get_extra_info("ssl_object")
            certificate = ssl_object.getpeercert() if ssl_object is not None else None
            subject = rfc2253(certificate["subject"]) if certificate and "subject" in certificate else None
            authenticator = self._channel.authenticator(host, self._listener, subject)
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            log.info(
                "Failed authentication with /%s on listener %s (SSL handshake failed: %s)", host, self._listener, exc
            )
            exc.__traceback__ = None  # `starting` holds it, and its traceback this frame, which holds `starting`
            transport.close()
            return False
        except NoMatchingRule as exc:
            log.info("Failed authentication with /%s on listener %s (%s)", host, self._listener, exc)
            transport.close()
            return False
        except asyncio.CancelledError:  # the server is stopping
            starting.cancel()
            transport.close()
            raise
        current = asyncio.current_task()
        if current is not None:
            self._handshakes.discard(current)  # a connection now: stop() drains it like any other
        protocol.connection_made(tls)
        writer = asyncio.StreamWriter(tls, protocol, reader, loop)
        await self._accept(reader, writer, authenticator, admitted=True)
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, info: ConnectionInfo) -> None:
        frames: asyncio.Queue[memoryview | None] = asyncio.Queue(self._limits.read_ahead)
        read_task = asyncio.create_task(self._read_frames(reader, frames, info))
        read_task.add_done_callback(lambda task: _close_if_peer_gone(task, writer))
        responses = _ResponseBuffer(writer)
        try:
            while True:
                frame = await frames.get()
                if frame is None:
                    break
                self._busy.add(info.connection_id)
                try:
                    if responses.count and len(frame) >= _API_KEY.size:
                        # A pipelined request (read while earlier responses wait in the buffer).
                        responses.holding = _API_KEY.unpack_from(frame)[0] in self._hold_behind
                    chunks = await self._dispatch(frame, info)
                    if chunks is not None and not writer.is_closing():
                        await self._respond(writer, responses, chunks, info.zero_copy)
                    elif chunks is not None:
                        _close_chunks(chunks)  # not sent: their descriptors are closed all the same
                except ProtocolError as exc:
                    raise ConnectionClosed(f"malformed request: {exc}") from exc
                finally:
                    responses.holding = False
                    self._busy.discard(info.connection_id)
                if info.authenticator.state is AuthenticationState.FAILED:
                    await responses.flush_and_drain()
                    raise ConnectionClosed("authentication failed")  # the error response went out first
                if info.pending_mute_ms > 0:
                    await responses.flush_and_drain()  # the response carrying the throttle time goes out first
                    await self._muted(info)
                if self._closing and frames.empty():
                    break
        finally:
            responses.flush()
            read_task.cancel()
            # Waited for, never awaited: awaiting a failed task raises its exception again, and the traceback then
            # holds this frame, which holds the task, which holds the exception. That cycle kept every closed
            # connection (transport, streams, TLS object and buffers: some 300 KiB with TLS) until the cyclic
            # garbage collector came by (bench/connection_memory.py counts what it finds).
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([read_task])
        error = read_task.exception() if read_task.done() and not read_task.cancelled() else None
        if error is not None:
            raise ConnectionClosed(str(error))

    async def _respond(
        self, writer: asyncio.StreamWriter, responses: _ResponseBuffer, chunks: Sequence[Chunk], zero_copy: bool
    ) -> None:
        """One response, in order after the ones before it: in-memory responses join the connection's buffer,
        written once at the end of the loop turn (pipelined requests handled in one turn share one write); a
        response with file regions or streamed records goes out at once, after the buffer."""
        if any(isinstance(chunk, FileRegion | StreamedRecords) for chunk in chunks):
            responses.flush()
            await self._write(writer, chunks, zero_copy)
            return
        responses.add(chunks)
        if (
            responses.size >= COALESCE_BYTES
            or responses.count >= COALESCE_RESPONSES
            or writer.transport.get_write_buffer_size() > 0
        ):
            # A large batch, or a socket not keeping up: write now and wait for the transport (backpressure).
            await responses.flush_and_drain()

    async def _muted(self, info: ConnectionInfo) -> None:
        """A throttled connection (Kafka's ThrottledChannel): nothing is read or handled until its time is over."""
        mute_ms, info.pending_mute_ms = info.pending_mute_ms, 0
        info.unmuted.clear()
        try:
            await self._time.sleep(mute_ms)
        finally:
            info.unmuted.set()

    async def _read_frames(
        self, reader: asyncio.StreamReader, frames: asyncio.Queue[memoryview | None], info: ConnectionInfo
    ) -> None:
        authenticator = info.authenticator
        idle = _IdleWatch(self._limits.idle_timeout_s)
        try:
            while not self._closing:
                await info.unmuted.wait()
                idle.since = idle.loop.time()  # waiting for the next frame from now on
                head = await reader.readexactly(4)
                idle.since = None
                size = _SIZE.unpack(head)[0]
                # Before authentication the cap is sasl.server.max.receive.size (CVE-2022-34917), and a bare SASL
                # token (after SaslHandshake v0) may be shorter than a request header.
                authenticated = authenticator.complete
                limit = self._limits.max_request_bytes if authenticated else self._limits.max_unauthenticated_bytes
                smallest = 0 if authenticator.unframed else MIN_REQUEST_SIZE
                if size < smallest or size > limit:
                    key = "socket.request.max.bytes" if authenticated else "sasl.server.max.receive.size"
                    raise ConnectionClosed(f"invalid request size {size} (limit {key}={limit})")
                body = await reader.readexactly(size)
                await frames.put(memoryview(body))
        except asyncio.CancelledError:
            if idle.expired:
                raise TimeoutError from None  # connections.max.idle.ms, as asyncio.timeout would raise it
            raise
        finally:
            idle.stop()
            with contextlib.suppress(asyncio.QueueFull):
                frames.put_nowait(None)

    async def _write(self, writer: asyncio.StreamWriter, chunks: Sequence[Chunk], zero_copy: bool = True) -> None:
        total = sum(chunk.size if isinstance(chunk, FileRegion | StreamedRecords) else len(chunk) for chunk in chunks)
        pending: list[bytes | bytearray | memoryview] = [_SIZE.pack(total)]
        try:
            for chunk in chunks:
                if isinstance(chunk, FileRegion | StreamedRecords):
                    if pending:
                        writer.writelines(pending)
                        pending = []
                    if isinstance(chunk, FileRegion):
                        await self._send_region(writer, chunk, zero_copy)
                    else:
                        await _send_streamed(writer, chunk)
                else:
                    pending.append(chunk)
            if pending:
                writer.writelines(pending)
            await writer.drain()
        finally:
            _close_chunks(chunks)

    async def _send_region(self, writer: asyncio.StreamWriter, region: FileRegion, zero_copy: bool) -> None:
        """A file region, after the transport's own buffer so bytes stay in order: sendfile on a plaintext
        transport (the channel says so, and the transport is not TLS), else read and written through the
        transport in chunks of REGION_CHUNK_BYTES, each drained before the next is read."""
        await _flush_transport(writer)
        sock = writer.get_extra_info("socket")
        if zero_copy and sock is not None and writer.get_extra_info("ssl_object") is None:
            await self._send_file(sock.fileno(), region)
        else:
            await write_region(writer, region)

    async def _send_file(self, fd: int, region: FileRegion) -> None:
        """os.sendfile straight from the segment's page cache to the socket.

        The first sendfile call runs on the loop thread (non-blocking: it usually sends everything); a remainder
        left by a full socket buffer is sent from a worker thread that polls the socket for writability, so the
        loop never blocks. uvloop has no `loop.sendfile`, and this works the same on both loops.
        """
        sent = _sendfile_some(fd, region, 0)
        if sent < region.size:
            timeout_ms = int(self._limits.idle_timeout_s * 1000)
            await asyncio.to_thread(_sendfile_rest, fd, region, sent, timeout_ms)


class _IdleWatch:
    """connections.max.idle.ms for one connection's reader task: the task is cancelled (and raises TimeoutError)
    once it has waited `idle_s` for the next frame. One timer per connection, checked every `idle_s` and re-armed
    for what is left, instead of an `asyncio.timeout` (a timer set and cancelled) around every frame's read."""

    __slots__ = ("_handle", "_idle_s", "_task", "expired", "loop", "since")

    def __init__(self, idle_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._idle_s = idle_s
        self.since: float | None = None  # loop time the wait for the next frame began; None while not waiting
        self.expired = False
        self._handle: asyncio.TimerHandle | None = self.loop.call_later(idle_s, self._check)

    def _check(self) -> None:
        since = self.since
        waited = 0.0 if since is None else self.loop.time() - since
        if since is not None and waited >= self._idle_s:
            self._handle = None
            self.expired = True
            if self._task is not None:
                self._task.cancel()
            return
        self._handle = self.loop.call_later(self._idle_s - waited, self._check)

    def stop(self) -> None:
        """Cancel the timer and drop the task: a failed task's traceback holds the frame that holds this watch,
        which must not hold the task back (a cycle only the cyclic collector would free)."""
        self._task = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _feed(protocol: asyncio.BaseProtocol, data: bytes) -> None:
    """Hand received bytes to a protocol, buffered (uvloop's TLS protocol) or not (asyncio's)."""
    if isinstance(protocol, asyncio.BufferedProtocol) or hasattr(protocol, "get_buffer"):
        buffered = cast(asyncio.BufferedProtocol, protocol)
        done = 0
        while done < len(data):
            buffer = memoryview(buffered.get_buffer(len(data) - done))
            count = min(len(buffer), len(data) - done)
            buffer[:count] = data[done : done + count]
            buffered.buffer_updated(count)
            done += count
    else:
        cast(asyncio.Protocol, protocol).data_received(data)


class _PendingTls(asyncio.Protocol):
    """A TLS listener's connection before its handshake: reading paused, the handshake started."""

    def __init__(self, server: KafkaServer, context: ssl.SSLContext) -> None:
        self._server = server
        self._context = context
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._server._closing:
            transport.close()
            return
        stream = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        stream.pause_reading()
        task = asyncio.get_running_loop().create_task(self._server._handshake(stream, self._context, self.early))
        self._server._handshakes.add(task)
        task.add_done_callback(self._server._handshakes.discard)

    def data_received(self, data: bytes) -> None:
        # uvloop may deliver the ClientHello before pause_reading takes effect: keep it for the TLS protocol.
        self.early.append(data)


class _ResponseBuffer:
    """A connection's in-memory responses not written yet, each as its size prefix and chunks, in request order.
    The first `add` of a loop turn schedules `flush` for the end of the turn (`call_soon`), so the responses to
    pipelined requests handled in that turn leave in one `writelines` (one send) instead of one write and drain
    each; a request that waits (a long-poll Fetch) lets the turn end, so earlier responses never wait for it.

    Except behind a pipelined coordinator write (`holding`, set by the serve loop: `hold_behind`): such a
    request is answered a turn or two later, so a run of pipelined OffsetCommits would otherwise leave one response
    per send. While one is handled, the end of the turn does not write; the buffer is written when a request that
    does not hold ends a turn, when COALESCE_RESPONSES are buffered (the serve loop), or HOLD_BEHIND_WRITE_S after
    the hold began (a timer), whichever comes first."""

    __slots__ = ("_chunks", "_hold_timer", "_scheduled", "_writer", "count", "holding", "size")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._chunks: list[bytes | bytearray | memoryview] = []
        self._scheduled: asyncio.Handle | None = None
        self._hold_timer: asyncio.TimerHandle | None = None
        self.size = 0
        self.count = 0
        self.holding = False

    def add(self, chunks: Sequence[Chunk]) -> None:
        total = 0
        for chunk in chunks:
            total += len(cast(bytes, chunk))
        self._chunks.append(_SIZE.pack(total))
        self._chunks.extend(cast(Sequence[bytes], chunks))
        self.size += total + 4
        self.count += 1
        if self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_soon(self._turn_end)

    def _turn_end(self) -> None:
        self._scheduled = None
        if not self.holding:
            self.flush()
        elif self._hold_timer is None:
            self._hold_timer = asyncio.get_running_loop().call_later(HOLD_BEHIND_WRITE_S, self.flush)

    def flush(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        if self._chunks:
            chunks, self._chunks, self.size, self.count = self._chunks, [], 0, 0
            if not self._writer.is_closing():
                self._writer.writelines(chunks)

    async def flush_and_drain(self) -> None:
        self.flush()
        if not self._writer.is_closing():
            await self._writer.drain()


def _close_chunks(chunks: Sequence[Chunk]) -> None:
    for chunk in chunks:
        if isinstance(chunk, FileRegion | StreamedRecords):
            chunk.close()


async def _send_streamed(writer: asyncio.StreamWriter, records: StreamedRecords) -> None:
    """Streamed record data, one piece at a time, each drained before the next is made (bounded memory). A
    source that yields fewer bytes than promised would desynchronise the framing: the connection is closed."""
    sent = 0
    for piece in records.pieces:
        writer.write(piece)
        sent += len(piece)
        await writer.drain()
    if sent != records.size:
        raise ConnectionClosed(f"streamed records sent {sent} bytes of the {records.size} promised")


async def write_region(writer: asyncio.StreamWriter, region: FileRegion, chunk_bytes: int = REGION_CHUNK_BYTES) -> None:
    """A file region's bytes through the transport (TLS encrypts them), never more than `chunk_bytes` in memory
    beyond what the transport buffers: a 100 MB fetch response is not read whole."""
    done = 0
    while done < region.size:
        data = os.pread(region.fd, min(chunk_bytes, region.size - done), region.position + done)
        if not data:
            raise ConnectionClosed(f"file shrank under a fetch: sent {done} of {region.size} bytes")
        writer.write(data)
        await writer.drain()
        done += len(data)


def _close_if_peer_gone(read_task: asyncio.Task[None], writer: asyncio.StreamWriter) -> None:
    """The peer closed or reset: release the socket now, as Kafka's selector does, even if a request is still being
    handled (a long-poll Fetch or a JoinGroup can wait for days); its response is then dropped. Found by fuzzing:
    every client that sent a long-poll Fetch and went away held a descriptor until the wait ended."""
    if read_task.cancelled():
        return
    if isinstance(read_task.exception(), asyncio.IncompleteReadError | ConnectionError):
        writer.close()


async def _flush_transport(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.get_write_buffer_size():
        return
    low, high = transport.get_write_buffer_limits()
    transport.set_write_buffer_limits(high=0, low=0)
    try:
        await writer.drain()
    finally:
        transport.set_write_buffer_limits(high=high, low=low)


def _sendfile_some(fd: int, region: FileRegion, done: int) -> int:
    while done < region.size:
        try:
            n = os.sendfile(fd, region.fd, region.position + done, region.size - done)
        except BlockingIOError:
            return done
        if n == 0:
            raise ConnectionClosed(f"file shrank under a fetch: sent {done} of {region.size} bytes")
        done += n
    return done


def _sendfile_rest(fd: int, region: FileRegion, done: int, timeout_ms: int) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    while done < region.size:
        if not poller.poll(timeout_ms):
            raise ConnectionClosed("peer stopped reading during a fetch response")
        done = _sendfile_some(fd, region, done)
