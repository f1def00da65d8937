"""KIP-618 exactly-once source support end to end: a distributed worker (its own process) against a real broker.

A FileStreamSource reads a file of LINES numbered lines (`batch.size` 100: one transaction per poll with
`transaction.boundary=poll`) into a one-partition topic. The worker is SIGKILLed mid-stream (while records are still
being written) and started again, three times; each time it resumes from the offsets committed with the records.

- `exactly.once.source.support=enabled`, with `transaction.boundary` poll and interval (0.5 s of records per
  transaction, so a kill nearly always lands in an open transaction whose records were delivered): the topic read
  with isolation.level=read_committed holds every line exactly once, in order (no duplicate, no gap);
  read_uncommitted may show more (the aborted transactions of the killed tasks, aborted when their successor's
  init_transactions fences them). The offsets topic read back by the worker is read committed too, so offsets of an
  aborted transaction are never used.
- `disabled` (the contrast): every line arrives (at least once); duplicates are possible (offsets are written after
  delivery, every offset.flush.interval.ms) and counted, not asserted.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from connect_support import DistributedConnectProcess
from it_support import BrokerProcess, ck_create_topic, unique_topic, wait_for

LINES = 120000
BATCH = 100
KILL_AFTER = 3000  # records made visible (read_committed) since the last restart before each SIGKILL
KILLS = 3
INTERVAL_MS = 500  # transaction.boundary=interval: the records of 0.5 s (thousands) in each transaction
RUN_WAIT_S = 180.0
GROUP_WAIT_S = 60.0
QUIET_S = 3.0  # after the expected count, keep reading this long for late duplicates


def _consumer(bootstrap: str, isolation: str) -> Any:
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"it-eos-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "isolation.level": isolation,
        }
    )


def _stable_end(bootstrap: str, topic: str) -> int:
    """The partition's last stable offset (ListOffsets with read_committed): records + markers committed so far."""
    from confluent_kafka import TopicPartition

    consumer = _consumer(bootstrap, "read_committed")
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        return int(high)
    finally:
        consumer.close()


def _read_all(bootstrap: str, topic: str, isolation: str, expect: int, timeout_s: float) -> list[str]:
    """Values of partition 0 from the start: until `expect` values and then QUIET_S without a new one (bounded)."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    consumer = _consumer(bootstrap, isolation)
    out: list[str] = []
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                if len(out) >= expect and time.monotonic() - last_new >= QUIET_S:
                    break
                continue
            if msg.error() is not None:
                raise AssertionError(f"consumer error: {msg.error()}")
            out.append(msg.value().decode())
            last_new = time.monotonic()
    finally:
        consumer.close()
    return out


def _run(
    tmp_path: Path, broker: BrokerProcess, support: str, boundary: str = "poll"
) -> tuple[list[str], list[str], int]:
    """(read_committed values, read_uncommitted values, stable end at the last kill) of a run with KILLS
    kill-and-restart rounds (each catches a commit that is not atomic with some chance: the kill must land between
    the two writes)."""
    topic = unique_topic("eos-out")
    ck_create_topic(broker.bootstrap, topic, 1)
    source = tmp_path / "input.txt"
    source.write_text("".join(f"{i:08d}\n" for i in range(LINES)), encoding="utf-8")
    worker = DistributedConnectProcess(
        tmp_path / "worker",
        broker.bootstrap,
        unique_topic("connect-eos"),
        {"exactly.once.source.support": support, "scheduled.rebalance.max.delay.ms": "2000"},
    )
    try:
        worker.start()
        config = {
            "connector.class": "FileStreamSource",
            "file": str(source),
            "topic": topic,
            "batch.size": str(BATCH),
            "tasks.max": "1",
        }
        if support == "enabled":
            config["exactly.once.support"] = "required"
            config["transaction.boundary"] = boundary
            if boundary == "interval":
                config["transaction.boundary.interval.ms"] = str(INTERVAL_MS)
        # 409 until the worker has joined its group and knows the leader (itself)
        created = wait_for(
            lambda: worker.rest("PUT", "/connectors/src/config", config)[0] in (200, 201),
            timeout=GROUP_WAIT_S,
            interval=0.5,
        )
        assert created
        at_kill = 0
        for _ in range(KILLS):
            progress = at_kill + KILL_AFTER  # at least one more commit since the last restart
            wait_for(
                lambda progress=progress: _stable_end(broker.bootstrap, topic) >= progress,
                timeout=RUN_WAIT_S,
                interval=0.1,
            )
            worker.kill()
            at_kill = _stable_end(broker.bootstrap, topic)
            worker.start()
        committed = _read_all(broker.bootstrap, topic, "read_committed", LINES, RUN_WAIT_S)
        uncommitted = _read_all(broker.bootstrap, topic, "read_uncommitted", len(committed), 30.0)
        return committed, uncommitted, at_kill
    finally:
        worker.cleanup()


# The default boundary (poll) by default; the interval boundary, whose timing the unit tests cover on a clock, in
# the slow set (`make slow`, about 35 s).
@pytest.mark.parametrize("boundary", ["poll", pytest.param("interval", marks=pytest.mark.slow)])
def test_exactly_once_source_killed_and_restarted_has_no_duplicate_and_no_gap(
    tmp_path: Path, broker: BrokerProcess, boundary: str
) -> None:
    expected = [f"{i:08d}" for i in range(LINES)]
    committed, uncommitted, at_kill = _run(tmp_path, broker, "enabled", boundary)
    print(
        f"exactly once ({boundary}): last killed at stable end {at_kill}; read_committed {len(committed)} records, "
        f"read_uncommitted {len(uncommitted)} (aborted ones included)"
    )
    assert at_kill < LINES, "the worker was killed after the whole file was written: nothing was tested"
    assert len(committed) == len(expected), (len(committed), len(set(committed)))
    assert committed == expected
    assert set(uncommitted) == set(expected)


@pytest.mark.slow
def test_at_least_once_source_killed_and_restarted_loses_nothing(tmp_path: Path, broker: BrokerProcess) -> None:
    """The contrast: without exactly once, nothing is lost; duplicates are possible and only reported."""
    committed, _uncommitted, at_kill = _run(tmp_path, broker, "disabled")
    duplicates = len(committed) - len(set(committed))
    print(f"at least once: killed at end {at_kill}; {len(committed)} records, {duplicates} duplicates")
    assert set(committed) == {f"{i:08d}" for i in range(LINES)}
