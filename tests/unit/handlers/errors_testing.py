"""An in-process broker for the handlers' error-mapping tests, spoken to over a loopback socket.

`app.start` runs on its own event loop in a thread (log dirs under a tmp folder, listener and metrics on port 0),
so tests are plain synchronous code and see only the wire: a request encoded with the generated codecs
(`odradek.broker.protocol.messages.*`) and the request header of protocol/headers.py goes in, the response is
decoded the same way. Nothing here touches the broker's internals, which other work moves around.

`BrokerClient.call(request, version)` returns the decoded response; `send_raw` returns None when the broker
closed the connection instead of answering (what Kafka does for an unsupported version of most APIs).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from odradek.broker import app
from odradek.broker.config.broker import build
from odradek.broker.protocol.apis import APIS
from odradek.broker.protocol.headers import (
    RequestHeader,
    encode_request_header,
    request_header_version,
    response_header_version,
)
from odradek.broker.protocol.primitives import Reader

TIMEOUT_S = 10.0
_SIZE = struct.Struct(">i")

BROKER_CONFIG = {
    "listeners": "PLAINTEXT://127.0.0.1:0",
    "metrics.port": "0",
    "num.partitions": "1",
    "offsets.topic.num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "10",
    "shutdown.timeout.ms": "1000",
    # gc.freeze() is process-wide: right for a broker process, wrong for pytest's, whose objects of earlier tests it
    # would keep forever (tests/unit/utils/test_garbage_collector.py covers the key).
    "gc.freeze.on.start": "false",
}

_API_KEY_BY_MODULE = {info.request.__name__: key for key, info in APIS.items()}


def api_key_of(request: Any) -> int:
    return _API_KEY_BY_MODULE[type(request).__module__]


class InProcessBroker:
    """`app.start` on a private event loop in a daemon thread; `stop()` shuts it down cleanly."""

    def __init__(self, log_dir: Path, overrides: dict[str, str] | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="in-process-broker", daemon=True)
        self._thread.start()
        config = build([{**BROKER_CONFIG, "log.dirs": str(log_dir), **(overrides or {})}])
        try:
            self._broker = self._run(app.start(config))
        except BaseException:
            self._close_loop()
            raise
        self.port: int = self._broker.ports[0]

    def _run(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, 30), self._loop)
        return future.result(timeout=35)

    def stop(self) -> None:
        try:
            self._run(self._broker.stop())
        finally:
            self._close_loop()

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class BrokerClient:
    """One blocking connection; correlation ids count up and are checked on every response."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self._correlation_id = 0

    def close(self) -> None:
        self._sock.close()

    def send_nowait(self, api_key: int, version: int, body: bytes) -> None:
        """Send a request whose answer the test does not wait for (a JoinGroup parked for a rebalance); use this
        connection for nothing else afterwards."""
        self._correlation_id += 1
        frame = bytearray()
        header = RequestHeader(api_key, version, self._correlation_id, "errors-test")
        encode_request_header(frame, header, request_header_version(api_key, version))
        frame += body
        self._sock.sendall(_SIZE.pack(len(frame)) + frame)

    def send_raw(self, api_key: int, version: int, body: bytes) -> bytes | None:
        """One request with an encoded body; the response body after its header, or None if the broker closed
        the connection."""
        self._correlation_id += 1
        frame = bytearray()
        header = RequestHeader(api_key, version, self._correlation_id, "errors-test")
        encode_request_header(frame, header, request_header_version(api_key, version))
        frame += body
        self._sock.sendall(_SIZE.pack(len(frame)) + frame)
        head = self._read(4)
        if head is None:
            return None
        data = self._read(_SIZE.unpack(head)[0])
        assert data is not None
        reader = Reader(data)
        assert reader.int32() == self._correlation_id
        if response_header_version(api_key, version) >= 1:
            reader.skip_tagged_fields()
        return bytes(data[reader.pos :])

    def call(self, request: Any, version: int) -> Any:
        api_key = api_key_of(request)
        body = bytearray()
        APIS[api_key].request.encode(body, request, version)
        response = self.send_raw(api_key, version, bytes(body))
        assert response is not None, f"connection closed by the broker ({APIS[api_key].name} v{version})"
        return APIS[api_key].response.decode(Reader(response), version)

    def _read(self, n: int) -> bytes | None:
        chunks, remaining = [], n
        while remaining:
            try:
                chunk = self._sock.recv(remaining)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


def unique(prefix: str) -> str:
    """A topic or group name no other test in the module uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client_for(broker: InProcessBroker) -> Iterator[BrokerClient]:
    client = BrokerClient(broker.port)
    try:
        yield client
    finally:
        client.close()
