"""Support for the integration tests: a broker process on 127.0.0.1 and small client helpers.

`BrokerProcess` runs `python -m odradek.broker` as a subprocess with its data in a temp dir, on a free
127.0.0.1 port (bind to port 0, close, pass the number; retried when the broker reports the port taken).
Its stdout and stderr go to `<workdir>/broker.out` (appended across restarts); readiness is the line
"odradek broker 1 listening on port(s) N" in that file, waited for with a deadline.

Every wait here is bounded in time (and so in count). Fixtures in conftest.py make sure no process outlives
its test or module.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
KILL_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 5

T = TypeVar("T")


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Test-run switches share the ODRADEK_ prefix from which the broker reads configuration keys (ODRADEK_<KEY>); a broker
# given ODRADEK_SLOW=1 would refuse to start ("Unknown configuration key(s): slow"), so they are not passed on.
TEST_ONLY_ENV = ("ODRADEK_SLOW", "ODRADEK_FUZZ_")


def broker_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(TEST_ONLY_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "broker"), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class BrokerStartError(RuntimeError):
    pass


class BrokerProcess:
    """One broker subprocess; `start`, `stop` (SIGTERM), `kill` (SIGKILL), `restart` (same dir and ports)."""

    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None, metrics: bool = True) -> None:
        self.workdir = workdir
        self.log_dir = workdir / "data"
        self.out_path = workdir / "broker.out"
        self.overrides = dict(overrides or {})
        self.metrics = metrics
        self.port = 0
        self.metrics_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # -- addresses -------------------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.out_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, n: int = 3000) -> str:
        return self.output()[-n:]

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> BrokerProcess:
        """Start on fresh free ports, retrying when a port was taken in between."""
        last = ""
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            self.metrics_port = free_port() if self.metrics else 0
            try:
                self._launch()
                return self
            except BrokerStartError as exc:
                last = str(exc)
                if "address already in use" not in last.lower():
                    raise
        raise BrokerStartError(f"no free port after {PORT_ATTEMPTS} attempts: {last}")

    def restart(self) -> BrokerProcess:
        """Start again on the same log dir and ports (after stop() or kill())."""
        assert not self.alive(), "restart() needs the previous process gone"
        last = ""
        for _ in range(PORT_ATTEMPTS):  # a just-killed listener can linger briefly
            try:
                self._launch()
                return self
            except BrokerStartError as exc:
                last = str(exc)
                if "address already in use" not in last.lower():
                    raise
                time.sleep(0.5)
        raise BrokerStartError(f"restart could not bind port {self.port}: {last}")

    def _command(self) -> list[str]:
        overrides = {
            "log.dirs": str(self.log_dir),
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "metrics.port": str(self.metrics_port),
            **self.overrides,
        }
        cmd = [sys.executable, "-m", "odradek.broker"]
        for key, value in overrides.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    def _launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        offset = self.out_path.stat().st_size if self.out_path.exists() else 0
        with open(self.out_path, "ab") as out:
            out.write(f"\n=== start {self.starts} port {self.port} ===\n".encode())
            out.flush()
            offset = out.tell()
            self.proc = subprocess.Popen(
                self._command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=broker_env(),
                cwd=self.workdir,
            )
        self.starts += 1
        needle = f"listening on port(s) {self.port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self._read_from(offset)
            if needle in text:
                return
            if self.proc.poll() is not None:
                raise BrokerStartError(f"broker exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.05)
        self.kill()
        raise BrokerStartError(
            f"broker not listening after {START_TIMEOUT_S:.0f} s:\n{self._read_from(offset)[-3000:]}"
        )

    def _read_from(self, offset: int) -> str:
        with open(self.out_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait (bounded); SIGKILL if it does not exit in time. Returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=KILL_TIMEOUT_S)
                raise AssertionError(f"broker ignored SIGTERM for {timeout} s; killed") from None
        return self.proc.returncode

    def kill(self) -> int:
        """SIGKILL and reap (bounded)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=KILL_TIMEOUT_S)

    def cleanup(self) -> None:
        """Finalizer: whatever state the process is in, make sure it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=KILL_TIMEOUT_S)

    def partition_dir(self, topic: str, partition: int = 0) -> Path:
        return self.log_dir / f"{topic}-{partition}"


# -- generic waiting -------------------------------------------------------------------------------------


def wait_for(
    condition: Callable[[], T],
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Poll `condition` until it returns a truthy value (returned) or `timeout` s pass (AssertionError). An
    exception of `ignoring` counts as a falsy answer (e.g. a client call against a broker being killed)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = condition()
        except ignoring as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def scrape_samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A Prometheus endpoint's samples on 127.0.0.1:`port`: (name, sorted label pairs) -> value."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def unique_topic(prefix: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in prefix)[:120]
    return f"{safe}-{uuid.uuid4().hex[:8]}"


# -- confluent-kafka helpers ------------------------------------------------------------------------------

CLIENT_TIMEOUT_S = 15.0


def ck_admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def ck_create_topic(bootstrap: str, topic: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
    from confluent_kafka.admin import NewTopic

    admin = ck_admin(bootstrap)
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        request_timeout=CLIENT_TIMEOUT_S,
    )
    futures[topic].result(timeout=CLIENT_TIMEOUT_S)


def ck_produce(
    bootstrap: str, topic: str, values: list[bytes], partition: int = 0, extra: dict[str, Any] | None = None
) -> list[tuple[int, int, bytes]]:
    """Produce `values` to one partition; return (partition, offset, value) of each acknowledged record."""
    from confluent_kafka import Producer

    acked: list[tuple[int, int, bytes]] = []
    errors: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append((msg.partition(), msg.offset(), msg.value()))

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **(extra or {})})
    for value in values:
        producer.produce(topic, value=value, partition=partition, on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(CLIENT_TIMEOUT_S)
    assert remaining == 0, f"{remaining} records not delivered in {CLIENT_TIMEOUT_S} s"
    assert not errors, errors
    return acked


def ck_consume(
    bootstrap: str,
    topic: str,
    count: int,
    partition: int = 0,
    offset: int = 0,
    timeout: float = CLIENT_TIMEOUT_S,
    extra: dict[str, Any] | None = None,
) -> list[Any]:
    """Read `count` records from one partition in assign mode starting at `offset` (bounded by `timeout`)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"it-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            **(extra or {}),
        }
    )
    out: list[Any] = []
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                raise AssertionError(f"consumer error: {msg.error()}")
            out.append(msg)
    finally:
        consumer.close()
    assert len(out) == count, f"read {len(out)} of {count} records from {topic}[{partition}] within {timeout} s"
    return out


def ck_watermarks(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"it-{uuid.uuid4().hex[:8]}"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=CLIENT_TIMEOUT_S)
        return int(low), int(high)
    finally:
        consumer.close()


# -- raw protocol ----------------------------------------------------------------------------------------


def raw_connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly n bytes; b'' prefix short if the peer closes (caller checks the length)."""
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks)


def recv_frame(sock: socket.socket) -> bytes | None:
    """One response frame (without the size prefix), or None if the connection was closed."""
    head = recv_exact(sock, 4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">i", head)
    assert 0 <= size <= 64 * 1024 * 1024, f"implausible response size {size}"
    body = recv_exact(sock, size)
    return body if len(body) == size else None


def is_closed(sock: socket.socket, timeout: float = 10.0) -> bool:
    """True if the peer closes (EOF or reset) within `timeout` s; False if data arrives or nothing happens."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return data == b""


def request_frame(api_key: int, api_version: int, correlation_id: int, body: bytes, flexible: bool = False) -> bytes:
    client_id = b"odradek-it"
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    if flexible:
        header += b"\x00"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def api_versions_roundtrip(port: int, correlation_id: int = 7) -> list[tuple[int, int, int]]:
    """ApiVersions v0 on a fresh connection; returns the (api_key, min, max) list and checks error 0."""
    with raw_connect(port) as sock:
        sock.sendall(request_frame(18, 0, correlation_id, b""))
        frame = recv_frame(sock)
    assert frame is not None, "ApiVersions: connection closed without a response"
    return parse_api_versions_v0(frame, correlation_id, expect_error=0)


def parse_api_versions_v0(frame: bytes, correlation_id: int, expect_error: int) -> list[tuple[int, int, int]]:
    corr, error, n = struct.unpack_from(">ihi", frame, 0)
    assert corr == correlation_id
    assert error == expect_error, f"ApiVersions error {error}, expected {expect_error}"
    assert 0 <= n <= 1000
    apis = [struct.unpack_from(">hhh", frame, 10 + 6 * i) for i in range(n)]
    return [(int(a), int(b), int(c)) for a, b, c in apis]


def raw_call(sock: socket.socket, api_key: int, version: int, message: Any, correlation_id: int = 1) -> Any:
    """Send one request encoded with Odradek's generated codecs and decode the response (None if closed)."""
    from odradek.broker.protocol.apis import request_message, response_message
    from odradek.broker.protocol.headers import (
        RequestHeader,
        encode_request_header,
        request_header_version,
        response_header_version,
    )
    from odradek.broker.protocol.primitives import Reader

    payload = bytearray()
    header = RequestHeader(api_key, version, correlation_id, "odradek-it")
    encode_request_header(payload, header, request_header_version(api_key, version))
    request_message(api_key).encode(payload, message, version)
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    frame = recv_frame(sock)
    if frame is None:
        return None
    reader = Reader(frame)
    (corr,) = struct.unpack_from(">i", frame, 0)
    assert corr == correlation_id, f"correlation id {corr} != {correlation_id}"
    reader.pos = 4
    if response_header_version(api_key, version) >= 1:
        reader.skip_tagged_fields()
    return response_message(api_key).decode(reader, version)
