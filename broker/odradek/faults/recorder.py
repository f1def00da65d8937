"""Producers and consumers that record every send, outcome and read in a `History`, through confluent-kafka.

- `ProducerRecorder`: sends unique values `<process>-<id>` (rate-limited, bounded in count and time) and records
  `send`, then `ack` / `unknown` (delivery errors) / `fail` (refused locally before sending).
- `ConsumerRecorder`: reads assigned partitions from the beginning (`read_committed` by default) and records every
  record with the high watermark its client knew after that fetch.
- `final_read`: after healing, reads every partition from its log start to its high watermark and records `read`
  (phase "final") and one `end` per partition; the checker's ground truth.

Each recorder runs in a thread of its own (`start`/`stop`), so that a scenario applies faults meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from odradek.faults.history import History

POLL_S = 0.1
WATERMARK_TIMEOUT_S = 5.0


class _Worker:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=type(self).__name__, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # reported by stop(): a recorder that dies must fail the scenario
            self.error = exc

    def run(self) -> None:
        raise NotImplementedError

    def stop(self, timeout_s: float = 60.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise RuntimeError(f"{type(self).__name__} did not stop within {timeout_s} s")
        if self.error is not None:
            raise RuntimeError(f"{type(self).__name__} failed: {self.error!r}") from self.error

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()


class ProducerRecorder(_Worker):
    """One producer process of the workload. `config` is librdkafka's (acks, enable.idempotence, ...).
    `partitions`: the partitions sent to, round-robin (None: the partitioner picks)."""

    def __init__(
        self,
        history: History,
        process: str,
        bootstrap: str,
        topic: str,
        *,
        config: Mapping[str, Any] | None = None,
        partitions: Sequence[int] | None = None,
        rate_per_s: float = 200.0,
        max_sends: int = 100_000,
        duration_s: float = 600.0,
    ) -> None:
        super().__init__()
        self.history = history
        self.process = process
        self.topic = topic
        self.partitions = list(partitions) if partitions is not None else None
        self.rate_per_s = rate_per_s
        self.max_sends = max_sends
        self.duration_s = duration_s
        self.config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": 30_000,
            "linger.ms": 5,
            "log_level": 0,
            **(config or {}),
        }
        self.idempotent = str(self.config.get("enable.idempotence")).lower() == "true"
        self.transactional = "transactional.id" in self.config
        self.sent = 0
        self.acked = 0

    def run(self) -> None:
        producer = Producer(self.config)
        deadline = time.monotonic() + self.duration_s
        interval = 1.0 / self.rate_per_s if self.rate_per_s > 0 else 0.0
        next_at = time.monotonic()
        while not self.stopping and self.sent < self.max_sends and time.monotonic() < deadline:
            self.send(producer, self.sent)
            self.sent += 1
            next_at += interval
            producer.poll(max(0.0, next_at - time.monotonic()))
        remaining = max(1.0, float(self.config["message.timeout.ms"]) / 1000.0 + 5.0)
        producer.flush(remaining)

    def send(self, producer: Any, send_id: int) -> None:
        value = f"{self.process}-{send_id}"
        partition = None if self.partitions is None else self.partitions[send_id % len(self.partitions)]
        self.history.record(
            "send",
            self.process,
            id=send_id,
            topic=self.topic,
            partition=partition,
            value=value,
            idempotent=self.idempotent,
            transactional=self.transactional,
        )

        def delivered(error: KafkaError | None, message: Any) -> None:
            if error is None:
                self.acked += 1
                self.history.record(
                    "ack", self.process, id=send_id, partition=message.partition(), offset=message.offset()
                )
            else:
                self.history.record("unknown", self.process, id=send_id, error=error.name())

        extra = {} if partition is None else {"partition": partition}
        for _ in range(100):  # a full local queue: wait for room (bounded), the record is not sent yet
            try:
                producer.produce(self.topic, value.encode(), on_delivery=delivered, **extra)
                return
            except BufferError:
                producer.poll(0.1)
            except Exception as exc:
                self.history.record("fail", self.process, id=send_id, error=repr(exc))
                return
        self.history.record("fail", self.process, id=send_id, error="local queue full")


class ConsumerRecorder(_Worker):
    """A consumer of `partitions` of `topic` from their beginning (assign, no group offsets)."""

    def __init__(
        self,
        history: History,
        process: str,
        bootstrap: str,
        topic: str,
        partitions: Sequence[int],
        *,
        isolation: str = "read_committed",
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.history = history
        self.process = process
        self.topic = topic
        self.partitions = list(partitions)
        self.isolation = isolation
        self.config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "group.id": f"odradek-faults-{process}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "fetch.wait.max.ms": 100,
            "log_level": 0,
            **(config or {}),
        }
        self.reads = 0

    def run(self) -> None:
        consumer = Consumer(self.config)
        try:
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self.partitions])
            while not self.stopping:
                self.poll_once(consumer, "live")
        finally:
            consumer.close()

    def poll_once(self, consumer: Any, phase: str) -> int:
        messages = consumer.consume(500, POLL_S)
        for message in messages:
            if message.error() is not None:
                continue  # partition EOF, transport errors: the client retries on its own
            partition = message.partition()
            _, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), cached=True)
            self.reads += 1
            self.history.record(
                "read",
                self.process,
                topic=self.topic,
                partition=partition,
                offset=message.offset(),
                value=(message.value() or b"").decode(errors="replace"),
                hw=high if high is not None and high >= 0 else -1,
                isolation=self.isolation,
                phase=phase,
            )
        return len(messages)


def final_read(
    history: History,
    bootstrap: str,
    topic: str,
    partitions: Sequence[int],
    *,
    isolation: str = "read_uncommitted",
    process: str = "final",
    timeout_s: float = 60.0,
) -> dict[int, int]:
    """Read each partition from its log start to its high watermark (asked once, at the start), recording every
    record and one `end` event per partition. Returns {partition: high watermark}. Raises TimeoutError when a
    partition cannot be read to its high watermark within `timeout_s`."""
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": f"odradek-faults-{process}-{isolation}",
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "enable.partition.eof": True,
        "log_level": 0,
    }
    consumer = Consumer(config)
    reader = ConsumerRecorder(history, process, bootstrap, topic, partitions, isolation=isolation)
    deadline = time.monotonic() + timeout_s
    try:
        ends: dict[int, tuple[int, int]] = {}
        for p in partitions:
            low, high = _watermarks(consumer, topic, p, deadline)
            ends[p] = (low, high)
        pending = {p for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        while pending and time.monotonic() < deadline:
            reader.poll_once(consumer, "final")
            for p in list(pending):
                position = consumer.position([TopicPartition(topic, p)])[0].offset
                if position >= ends[p][1]:
                    pending.discard(p)
        if pending:
            raise TimeoutError(f"final read of {topic} partitions {sorted(pending)} not done in {timeout_s} s")
        for p, (low, high) in ends.items():
            history.record("end", process, topic=topic, partition=p, log_start=low, hw=high, isolation=isolation)
        return {p: high for p, (_, high) in ends.items()}
    finally:
        consumer.close()


def _watermarks(consumer: Any, topic: str, partition: int, deadline: float) -> tuple[int, int]:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=WATERMARK_TIMEOUT_S)
            return int(low), int(high)
        except Exception as exc:  # the leader is moving or not elected yet: ask again until the deadline
            last = exc
            time.sleep(0.2)
    raise TimeoutError(f"no watermarks for {topic}-{partition}: {last!r}")
