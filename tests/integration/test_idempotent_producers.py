"""Idempotent producers of three clients nobody here wrote, against a broker process (issue 9).

- kafka-python 3's default `KafkaProducer(bootstrap_servers=...)` (idempotent by default) end to end.
- confluent-kafka (`enable.idempotence=true`), aiokafka (`enable_idempotence=True`) and kafka-python, each
  producing a numbered sequence to one partition while the broker is SIGKILLed and restarted (and once stopped
  cleanly and restarted): the partition then holds every acknowledged value exactly once, in order. Small
  segments make the broker roll (and so take producer snapshots) during the run, so the restart loads a snapshot
  and replays the log after it.
- The same three clients through a proxy that, once, lets requests reach the broker but swallows the responses
  and then cuts the connections: the clients retry batches the broker already appended, which must be answered
  as duplicates (the original offsets, nothing appended) rather than written twice.
The check is made from the sequence numbers carried in the values: strictly increasing, no duplicate, every
acknowledged one present.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from it_support import BrokerProcess, ck_consume, ck_create_topic, ck_watermarks, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

TIMEOUT_S = 60.0
COUNT = 3000
SMALL_SEGMENTS = {"log.segment.bytes": "32768"}


def value(i: int) -> bytes:
    return b"seq-%08d-" % i + b"x" * 40


def sequence_of(raw: bytes) -> int:
    return int(raw[4:12])


def read_all(broker: BrokerProcess, topic: str) -> list[int]:
    low, high = ck_watermarks(broker.bootstrap, topic)
    assert low == 0
    return [sequence_of(m.value()) for m in ck_consume(broker.bootstrap, topic, high, timeout=30)]


def check_exactly_once(stored: list[int], acked: set[int]) -> None:
    duplicates = len(stored) - len(set(stored))
    assert duplicates == 0, f"{duplicates} duplicates"
    assert stored == sorted(stored), "reordered"
    missing = acked - set(stored)
    assert not missing, f"{len(missing)} acknowledged values lost, e.g. {sorted(missing)[:5]}"


class ResponseDropper:
    """A TCP proxy in front of the broker (the broker advertises the proxy's port). `drop_once()` starts
    swallowing the broker's responses for `hold_s` seconds, then closes every proxied connection: requests sent
    meanwhile were handled by the broker, their answers lost, so the client retries them."""

    def __init__(self, port: int, hold_s: float = 0.5) -> None:
        self.port, self.hold_s = port, hold_s
        self.target = 0
        self.dropping = threading.Event()
        self.dropped_bytes = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.2)
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, responses: bool) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if responses and self.dropping.is_set():
                    self.dropped_bytes += len(data)
                    continue
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.close()

    def drop_once(self) -> None:
        self.dropping.set()
        time.sleep(self.hold_s)
        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self.dropping.clear()

    def close(self) -> None:
        self._closed.set()
        self.drop_once()
        self._listener.close()


class Bouncer:
    """Kills (or stops) the broker once `after` values are acknowledged and restarts it, in a thread, so the
    producer keeps sending meanwhile."""

    def __init__(
        self,
        broker: BrokerProcess,
        acked: Callable[[], int],
        after: int,
        clean: bool = False,
        fault: Callable[[], None] | None = None,
    ) -> None:
        self.broker, self.acked, self.after, self.clean, self.fault = broker, acked, after, clean, fault
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while self.acked() < self.after:
                if time.monotonic() > deadline:
                    raise AssertionError(f"only {self.acked()} acknowledged before the bounce")
                time.sleep(0.01)
            if self.fault is not None:
                self.fault()
            elif self.clean:
                self.broker.stop()
                time.sleep(0.5)
                self.broker.restart()
            else:
                self.broker.kill()
                time.sleep(0.5)
                self.broker.restart()
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self.done.set()

    def join(self) -> None:
        self.thread.join(TIMEOUT_S)
        assert self.done.is_set(), "the bounce did not finish"
        if self.error is not None:
            raise self.error


def test_kafka_python_default_producer_end_to_end(broker: BrokerProcess, topic: str) -> None:
    from kafka import KafkaProducer

    ck_create_topic(broker.bootstrap, topic)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)  # kafka-python 3: idempotent by default
    try:
        futures = [producer.send(topic, value=value(i), partition=0) for i in range(500)]
        producer.flush(timeout=TIMEOUT_S)
        offsets = [f.get(timeout=TIMEOUT_S).offset for f in futures]
    finally:
        producer.close(timeout=10)
    assert offsets == list(range(500))
    assert read_all(broker, topic) == list(range(500))


Fault = Callable[[Callable[[], int]], "Bouncer"]  # acked count -> the started fault


def confluent_run(broker: BrokerProcess, topic: str, fault: Fault) -> set[int]:
    from confluent_kafka import Producer

    acked: set[int] = set()
    failed: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            acked.add(sequence_of(msg.value()))
        else:
            failed.append(err)

    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "enable.idempotence": True,
            "linger.ms": 2,
            "batch.num.messages": 50,
            "message.timeout.ms": 90_000,
            "reconnect.backoff.max.ms": 200,
        }
    )
    bouncer = fault(lambda: len(acked))
    for i in range(COUNT):
        while True:
            try:
                producer.produce(topic, value=value(i), partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if i % 50 == 0:
            producer.poll(0.02)  # spread the sends over the bounce
    deadline = time.monotonic() + TIMEOUT_S
    while not bouncer.done.is_set() and time.monotonic() < deadline:
        producer.poll(0.05)  # delivery callbacks run in poll()
    bouncer.join()
    assert producer.flush(TIMEOUT_S) == 0
    assert not failed, failed[:3]
    return acked


def aiokafka_run(broker: BrokerProcess, topic: str, fault: Fault) -> set[int]:
    from aiokafka import AIOKafkaProducer

    acked: set[int] = set()

    async def main() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap,
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=10_000,
            retry_backoff_ms=200,
        )
        await asyncio.wait_for(producer.start(), 15)
        bouncer = fault(lambda: len(acked))
        try:
            pending = []
            for i in range(COUNT):
                future = await asyncio.wait_for(producer.send(topic, value=value(i), partition=0), TIMEOUT_S)
                future.add_done_callback(
                    lambda f, i=i: acked.add(i) if not f.cancelled() and f.exception() is None else None
                )
                pending.append(future)
                if i % 50 == 0:
                    await asyncio.sleep(0.02)
            await asyncio.wait_for(asyncio.gather(*pending), TIMEOUT_S)
        finally:
            await asyncio.to_thread(bouncer.join)
            await asyncio.wait_for(producer.stop(), 15)

    asyncio.run(main())
    return acked


def kafka_python_run(broker: BrokerProcess, topic: str, fault: Fault) -> set[int]:
    from kafka import KafkaProducer

    acked: set[int] = set()
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, linger_ms=2, retry_backoff_ms=200, request_timeout_ms=10_000
    )
    bouncer = fault(lambda: len(acked))
    try:
        futures = []
        for i in range(COUNT):
            future = producer.send(topic, value=value(i), partition=0)
            future.add_callback(lambda _meta, i=i: acked.add(i))
            futures.append(future)
            if i % 50 == 0:
                time.sleep(0.02)
        bouncer.join()
        producer.flush(timeout=TIMEOUT_S)
        for future in futures:
            future.get(timeout=TIMEOUT_S)
    finally:
        producer.close(timeout=10)
        gc.collect()  # finalize the sockets it leaked here, under this test's warning filter, not a later test's
    return acked


CLIENTS = {"confluent": confluent_run, "aiokafka": aiokafka_run, "kafka-python": kafka_python_run}


# kafka-python leaves the sockets of connections the broker's death broke to the garbage collector.
LEAKY = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning")


@pytest.mark.parametrize(
    "client", [pytest.param(name, marks=LEAKY) if name == "kafka-python" else name for name in CLIENTS]
)
@pytest.mark.parametrize("clean", [False, True], ids=["sigkill", "clean-stop"])
def test_idempotent_producer_across_a_broker_restart(
    broker_factory: Callable[..., BrokerProcess], topic: str, client: str, clean: bool
) -> None:
    broker = broker_factory(SMALL_SEGMENTS)
    ck_create_topic(broker.bootstrap, topic)
    acked = CLIENTS[client](broker, topic, lambda count: Bouncer(broker, count, COUNT // 3, clean))
    assert broker.starts == 2  # the bounce happened
    assert len(acked) == COUNT
    stored = read_all(broker, topic)
    check_exactly_once(stored, acked)
    assert stored == list(range(COUNT))
    snapshots = sorted(broker.partition_dir(topic).glob("*.snapshot"))
    assert snapshots, "the broker took no producer snapshot"


@pytest.mark.parametrize(
    "client", [pytest.param(name, marks=LEAKY) if name == "kafka-python" else name for name in CLIENTS]
)
def test_retries_of_appended_batches_are_duplicates(
    broker_factory: Callable[..., BrokerProcess], topic: str, client: str
) -> None:
    proxy_port = free_port()
    broker = broker_factory({"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy_port}"})
    proxy = ResponseDropper(proxy_port)
    proxy.target = broker.port
    try:
        ck_create_topic(f"127.0.0.1:{proxy_port}", topic)
        via_proxy = BrokerProcess(broker.workdir)
        via_proxy.port = proxy_port
        acked = CLIENTS[client](
            via_proxy, topic, lambda count: Bouncer(broker, count, COUNT // 3, fault=proxy.drop_once)
        )
        stored = read_all(via_proxy, topic)  # the broker advertises the proxy
    finally:
        proxy.close()
    assert proxy.dropped_bytes > 0, "no response was lost: the test did not test retries"
    assert len(acked) == COUNT
    check_exactly_once(stored, acked)
    assert stored == list(range(COUNT))
