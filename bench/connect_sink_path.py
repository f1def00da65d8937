#!/usr/bin/env python3
"""The sink task's per-record path in one thread, without the worker: what bench/connect.py's FileStreamSink rate
would be if the task thread were alone in its process (issue 13, bench/RESULTS.md "Connect sink: lazily converted
SinkRecords").

    python bench/connect_sink_path.py                    # 1,000,000 records, each path twice, alternating
    python bench/connect_sink_path.py --records 300000 --repeat 1

One broker (bench/run.py's `broker_process`), a 4-partition topic of 100-byte JSON values (bench/connect.py's
payload). Each path reads the whole topic with its own consumer (`assign()` from the start, the sink tasks' fetch
settings, `consume(500, 0.5)`) and, per batch:

  plain        `error()` and `len(value())` per message (bench/connect.py's plain consumer)
  lazy-null    `WorkerSinkTask._convert_batch` + `_deliver` into a FileStreamSinkTask whose file is a null writer
  lazy-file    the same into a real file, flushed (and fsynced) every second as the worker's commits do
  eager-file   the same with the eager conversion (`WorkerSinkTask.lazy` off: the path before LazySinkRecord)

Printed: records/s and this process's CPU per record (librdkafka's threads included), and the batch sizes seen.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from confluent_kafka import Consumer, TopicPartition
from odradek.connect.connectors.file import FileStreamSinkTask
from odradek.connect.converters.simple import SimpleHeaderConverter, StringConverter
from odradek.connect.runtime.clients import CONSUMER_FETCH_DEFAULTS
from odradek.connect.runtime.errors import RetryWithToleranceOperator
from odradek.connect.runtime.sink_task import MAX_BATCH, WorkerSinkTask
from odradek.connect.runtime.states import ConnectorTaskId, TargetState
from odradek.connect.runtime.worker_task import TaskSetup
from odradek.connect.transforms.base import TransformationChain
from run import broker_process, create_topic, own_cpu_s

from connect import PARTITIONS, fill_topic

PATHS = ("plain", "lazy-null", "lazy-file", "eager-file")
TOPIC = "bench-sink-path"


class NullWriter:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def sink_task(path: str, work: Path) -> tuple[WorkerSinkTask, FileStreamSinkTask]:
    setup = TaskSetup(
        ConnectorTaskId("bench", 0),
        {"topics": TOPIC},
        {},
        StringConverter(),
        StringConverter(),
        SimpleHeaderConverter(),
        TransformationChain(),
        RetryWithToleranceOperator(0, 100, False, []),
        {},
        60_000,
        1000,
        lambda *args: None,
        set[str]().add,
    )
    sink = FileStreamSinkTask()
    if path.endswith("file"):
        sink.start({"file": str(work / f"{path}-{uuid.uuid4().hex[:6]}.txt")})
    else:
        sink.start({})  # standard output, not owned: then the null writer in its place
        sink.out = NullWriter()  # type: ignore[assignment]
    task = WorkerSinkTask(setup, TargetState.STARTED, sink)
    task.assigned = {(TOPIC, p) for p in range(PARTITIONS)}
    if path.startswith("eager"):
        task.lazy = lambda: False  # type: ignore[method-assign]
    return task, sink


def run_path(bootstrap: str, path: str, records: int, work: Path) -> dict[str, Any]:
    task, sink = sink_task(path, work)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-sink-path-{uuid.uuid4().hex[:6]}",
            "log_level": 0,
            "enable.auto.commit": False,
            **CONSUMER_FETCH_DEFAULTS,
        }
    )
    consumer.assign([TopicPartition(TOPIC, p, -2) for p in range(PARTITIONS)])
    sizes: collections.Counter[int] = collections.Counter()
    messages = consumer.consume(MAX_BATCH, 10)  # the first fetch is not timed
    count, cpu0, start = 0, own_cpu_s(), time.perf_counter()
    last_flush = start
    while count < records and time.perf_counter() - start < 120:
        if path == "plain":
            for msg in messages:
                if msg.error() is None:
                    len(msg.value() or b"")
        else:
            task._deliver(task._convert_batch(messages))
            if path.endswith("file") and time.perf_counter() - last_flush >= 1:
                sink.flush({})
                last_flush = time.perf_counter()
        count += len(messages)
        messages = consumer.consume(MAX_BATCH, 0.5)
        if not messages and count >= records:
            break
        sizes[len(messages) // 100 * 100] += 1
    elapsed, cpu = time.perf_counter() - start, own_cpu_s() - cpu0
    consumer.close()
    sink.stop()
    return {"records_per_s": count / elapsed, "cpu_us_per_record": cpu / count * 1e6, "sizes": dict(sizes)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="odradek-bench-sink-path-"))
    with broker_process(work / "logs", work / "broker.log") as (bootstrap, _pid):
        create_topic(bootstrap, TOPIC, partitions=PARTITIONS)
        fill_topic(bootstrap, TOPIC, args.records)
        for round_no in range(args.repeat):
            for path in PATHS if round_no % 2 == 0 else tuple(reversed(PATHS)):
                result = run_path(bootstrap, path, args.records, work)
                print(
                    f"{path:>10}: {result['records_per_s']:>10,.0f} records/s, "
                    f"CPU {result['cpu_us_per_record']:.2f} us/record, batch sizes {sorted(result['sizes'].items())}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
