"""Support for the Mirror integration tests: an `odradek mirror-maker` process and small client helpers.

`MirrorProcess(workdir, props)` writes `mm2.properties`, runs `python -m odradek.cli mirror-maker mm2.properties`
with this repository's `broker/`, `connect/` and `mirror/` first on PYTHONPATH (offset files in the workdir), and
waits (bounded) for "Kafka MirrorMaker started" in `<workdir>/mirror.out`. `stop()` sends SIGTERM and waits;
`cleanup()` kills whatever is left. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from it_support import REPO, broker_env

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 45.0


def mirror_env() -> dict[str, str]:
    env = broker_env()
    paths = [str(REPO / "broker"), str(REPO / "connect"), str(REPO / "mirror"), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return env


class MirrorProcess:
    def __init__(self, workdir: Path, props: dict[str, str]) -> None:
        self.workdir = workdir
        self.props = props
        self.out_path = workdir / "mirror.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self, args: tuple[str, ...] = ()) -> MirrorProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "mm2.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.props.items()), encoding="utf-8")
        self._offset = self.out_path.stat().st_size if self.out_path.exists() else 0
        with open(self.out_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "odradek.cli", "mirror-maker", str(config), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=mirror_env(),
                cwd=self.workdir,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.output()[self._offset :]
            if "Kafka MirrorMaker started" in text:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"mirror-maker exited with {self.proc.returncode}:\n{text[-4000:]}")
            time.sleep(0.1)
        self.cleanup()
        raise RuntimeError(f"mirror-maker not started after {START_TIMEOUT_S} s:\n{self.output()[-4000:]}")

    def output(self) -> str:
        try:
            return self.out_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.cleanup()
            raise AssertionError(f"mirror-maker did not stop in {STOP_TIMEOUT_S} s:\n{self.output()[-3000:]}") from None

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


def produce_records(bootstrap: str, topic: str, records: list[dict[str, Any]]) -> None:
    """Produce records given as dicts (partition, key, value, headers, timestamp), acknowledged in order."""
    from confluent_kafka import Producer

    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": False})
    for r in records:
        producer.produce(
            topic,
            key=r["key"],
            value=r["value"],
            partition=r["partition"],
            headers=r["headers"],
            timestamp=r["timestamp"],
            on_delivery=lambda err, _msg: errors.append(err) if err is not None else None,
        )
        producer.poll(0)
    assert producer.flush(15.0) == 0
    assert not errors, errors


def read_partition(bootstrap: str, topic: str, partition: int, timeout: float = 10.0) -> list[Any]:
    """Every record of one partition up to its high watermark at the time of the call."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"it-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    out: list[Any] = []
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        consumer.assign([TopicPartition(topic, partition, low)])
        deadline = time.monotonic() + timeout
        while (not out or out[-1].offset() + 1 < high) and high > low and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                out.append(msg)
    finally:
        consumer.close()
    return out


def topic_names(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def source_records(partitions: int, per_partition: int, start: int = 0) -> list[dict[str, Any]]:
    base_ts = 1_700_000_000_000
    return [
        {
            "partition": p,
            "key": f"k{p}-{i}".encode(),
            "value": f"v{p}-{i}".encode(),
            "headers": [("h", f"x{i}".encode()), ("h", b"again"), ("trace", None)],
            "timestamp": base_ts + i * 1000 + p,
        }
        for p in range(partitions)
        for i in range(start, start + per_partition)
    ]


def as_tuples(messages: list[Any]) -> list[tuple[Any, ...]]:
    return [(m.key(), m.value(), m.headers(), m.timestamp()[1]) for m in messages]


def expected_tuples(records: list[dict[str, Any]], partition: int) -> list[tuple[Any, ...]]:
    return [(r["key"], r["value"], r["headers"], r["timestamp"]) for r in records if r["partition"] == partition]
