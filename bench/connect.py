#!/usr/bin/env python3
"""Connect throughput (issue 13): FileStream and S3 sinks beside a plain consumer, FileStream source beside a plain
producer, and the REST API's latency while the tasks run at full speed.

    python bench/connect.py                 # 2 rounds, 1,000,000 records of 100 B (about 10 minutes)
    python bench/connect.py --quick         # 1 round of 100,000 records
    python bench/connect.py --profile DIR   # also py-spy the worker in the first round (raw stacks in DIR)
    python bench/connect.py --base-tree /tmp/main-checkout   # each Connect variant also with that tree's code
    python bench/connect.py --switch-interval 0.001          # the workers' GIL switch interval (default theirs, 1 ms)

One broker (bench/run.py's `broker_process`) and one moto S3 server (tests/s3_support.py, its own process) for the
whole run. A 4-partition input topic is filled once with `--records` values of 100 bytes (a JSON object of ASCII
text, so every converter reads it). Per round, in alternating order:

  consumer         a plain confluent-kafka consumer: assign the 4 partitions from the start, consume(500) in a loop
                   (the sink task's batch), count and len() every value, until all records are read
  file-1, file-4   FileStreamSink with tasks.max 1 / 4 (StringConverter), all tasks appending to one file
  s3-1, s3-4       S3 sink with tasks.max 1 / 4: JsonConverter (schemas.enable=false), JsonFormat,
                   flush.size 10,000 (100 objects of about 1 MB)
  producer         a plain confluent-kafka producer with the source task's producer settings (acks=all,
                   max.in.flight 1, linger.ms 5) reading the source file line by line, until all acked
  file-source      FileStreamSource of a file of the same records, one line each (one task), into a fresh topic

Every Connect variant gets a fresh `connect-standalone` worker (offset.flush.interval.ms 1000, metrics.port on), the
connector created with POST /connectors. Its rate runs from the first scrape of the worker's /metrics that shows
records (sink_record_read_total / source_record_poll_total > 0) to the scrape that shows all of them sent
(sink_record_send_total: put() returned, for S3 after the last upload; source_record_write_total: acked by the
broker), scraped every 100 ms; the worker's CPU (cores) over the same window. Meanwhile a thread sends GET
/connectors/<name>/status every 20 ms: p50/p99 of those answered inside the window. CPU per record (us): the
worker process's over the window, or this process's (with librdkafka's threads) for the plain loops: under a
loaded machine it says more than the rates, which follow the CPU share a process gets. Printed: each figure, the
median per variant, and the ratios to the plain loops (targets: one sink task >= 0.7 x consumer, one source task
>= 0.7 x producer, REST p99 < 50 ms). A JSON goes to bench/out/. MB is MiB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # s3_support: the tests' moto server

import run
from confluent_kafka import Consumer, Producer, TopicPartition
from odradek.connect.runtime.clients import CONSUMER_FETCH_DEFAULTS
from odradek.connect.runtime.sink_task import MAX_BATCH
from odradek.connect.runtime.source_task import PRODUCER_DEFAULTS
from run import HERE, MIB, broker_process, create_topic, free_port, own_cpu_s, process_cpu_s, settle, write_result
from s3_support import MotoServer
from worker_support import (
    LatencyProbe,
    Profiler,
    Progress,
    RuntimeProcess,
    http,
    scrape,
    switch_interval_site,
    write_properties,
)

SIZE = 100
PARTITIONS = 4
S3_FLUSH_SIZE = 10_000
SINKS = ("file-1", "file-4", "s3-1", "s3-4")
VARIANTS = ("consumer", *SINKS, "producer", "file-source")
BASE = "@base"  # variant suffix: the same run with --base-tree's packages


def payload(i: int) -> bytes:
    """A 100-byte JSON object of ASCII text, distinct per record."""
    head = f'{{"id":{i},"pad":"'.encode()
    return head + b"x" * (SIZE - len(head) - 2) + b'"}'


def fill_topic(bootstrap: str, topic: str, records: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0, "acks": "all", "linger.ms": 20})
    for i in range(records):
        while True:
            try:
                producer.produce(topic, payload(i), partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.005)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("the input topic was not filled")


def plain_consumer(bootstrap: str, topic: str, records: int) -> dict[str, float]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "log_level": 0,
            "group.id": f"bench-plain-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            # The tasks' fetch settings: with librdkafka's 1 s fetch.queue.backoff.ms the plain loop itself idled
            # whenever it drained slower than the fetches filled its queue (171,000 records/s in some runs, 1.5 M in
            # others).
            **CONSUMER_FETCH_DEFAULTS,
        }
    )
    consumer.list_topics(topic, timeout=30)
    count = size = 0
    cpu0 = own_cpu_s()
    start = time.perf_counter()
    consumer.assign([TopicPartition(topic, p, -2) for p in range(PARTITIONS)])
    last = time.monotonic()
    while count < records and time.monotonic() - last < 30:
        batch = consumer.consume(num_messages=MAX_BATCH, timeout=0.5)
        if batch:
            last = time.monotonic()
        for msg in batch:
            if msg.error() is None:
                count += 1
                size += len(msg.value() or b"")
    elapsed = time.perf_counter() - start
    cpu = own_cpu_s() - cpu0
    consumer.close()
    if count < records:
        raise RuntimeError(f"plain consumer read {count} of {records}")
    return {"records_per_s": count / elapsed, "mb_per_s": size / MIB / elapsed, "seconds": elapsed,
            "cpu_us_per_record": cpu / count * 1e6}  # fmt: skip


def plain_producer(bootstrap: str, topic: str, source: Path, records: int) -> dict[str, float]:
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0, **PRODUCER_DEFAULTS})
    produce, poll = producer.produce, producer.poll
    producer.list_topics(topic, timeout=30)
    cpu0 = own_cpu_s()
    start = time.perf_counter()
    with open(source, "rb") as lines:
        for n, line in enumerate(lines):
            while True:
                try:
                    produce(topic, line.rstrip(b"\n"), on_delivery=delivered)
                    break
                except BufferError:
                    poll(0.005)
            if n % 1000 == 0:
                poll(0)
    if producer.flush(300) != 0 or failures:
        raise RuntimeError(f"plain producer: {len(failures)} failed, {len(producer)} pending")
    elapsed = time.perf_counter() - start
    cpu = own_cpu_s() - cpu0
    return {"records_per_s": records / elapsed, "mb_per_s": records * SIZE / MIB / elapsed, "seconds": elapsed,
            "cpu_us_per_record": cpu / records * 1e6}  # fmt: skip


class Bench:
    def __init__(
        self,
        work: Path,
        bootstrap: str,
        moto: MotoServer,
        records: int,
        profile: Path | None,
        base_tree: Path | None = None,
        site: Path | None = None,
    ) -> None:
        self.work, self.bootstrap, self.moto, self.records, self.profile = work, bootstrap, moto, records, profile
        self.base_tree, self.site = base_tree, site
        self.input = "bench-connect-input"
        self.source_file = work / "source.txt"
        self.runs = 0

    def prepare(self) -> None:
        create_topic(self.bootstrap, self.input, partitions=PARTITIONS)
        fill_topic(self.bootstrap, self.input, self.records)
        with open(self.source_file, "wb") as out:
            for i in range(self.records):
                out.write(payload(i) + b"\n")
        self.moto.client().create_bucket(Bucket="bench")

    def connector_config(self, variant: str, name: str, run_dir: Path) -> dict[str, str]:
        variant = variant.removesuffix(BASE)
        if variant == "file-source":
            topic = f"bench-connect-source-{self.runs}"
            create_topic(self.bootstrap, topic)
            return {"connector.class": "FileStreamSource", "file": str(self.source_file), "topic": topic}
        kind, tasks = variant.split("-")
        config = {"topics": self.input, "tasks.max": tasks}
        if kind == "file":
            return {**config, "connector.class": "FileStreamSink", "file": str(run_dir / "sink.txt")}
        return {
            **config,
            "connector.class": "io.confluent.connect.s3.S3SinkConnector",
            "format.class": "io.confluent.connect.s3.format.json.JsonFormat",
            "flush.size": str(S3_FLUSH_SIZE),
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "topics.dir": name,
            **self.moto.connector_settings("bench"),
        }

    def connect_run(self, variant: str, round_no: int) -> dict[str, Any]:
        self.runs += 1
        name = f"bench-{variant.removesuffix(BASE)}-{self.runs}"
        run_dir = self.work / name
        run_dir.mkdir()
        rest_port, metrics_port = free_port(), free_port()
        worker_props = write_properties(
            run_dir / "worker.properties",
            {
                "bootstrap.servers": self.bootstrap,
                "offset.storage.file.filename": str(run_dir / "offsets"),
                "offset.flush.interval.ms": "1000",
                "listeners": f"http://127.0.0.1:{rest_port}",
                "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                "value.converter": "org.apache.kafka.connect.storage.StringConverter",
                "metrics.port": str(metrics_port),
                "metrics.host": "127.0.0.1",
            },
        )
        repo = self.base_tree if variant.endswith(BASE) and self.base_tree else run.REPO
        worker = RuntimeProcess(
            run_dir, "worker", "connect-standalone", [worker_props], "Kafka Connect started", repo, self.site
        )
        worker.start()
        rest, metrics = f"http://127.0.0.1:{rest_port}", f"http://127.0.0.1:{metrics_port}/metrics"
        profiler: Profiler | None = None
        try:
            config = self.connector_config(variant, name, run_dir)
            settle()
            status, body = http("POST", rest + "/connectors", {"name": name, "config": config})
            if status != 201:
                raise RuntimeError(f"POST /connectors: {status} {body}")
            source = variant.removesuffix(BASE) == "file-source"
            started, done = (
                ("kafka_connect_source_task_metrics_source_record_poll_total", "kafka_connect_source_task_metrics_"
                 "source_record_write_total") if source else
                ("kafka_connect_sink_task_metrics_sink_record_read_total", "kafka_connect_sink_task_metrics_"
                 "sink_record_send_total")
            )  # fmt: skip
            probe = LatencyProbe(lambda: http("GET", f"{rest}/connectors/{name}/status", timeout_s=30)).start()
            cpu: dict[str, float] = {}

            def on_start() -> None:
                nonlocal profiler
                cpu["start"] = process_cpu_s(worker.pid)
                if self.profile is not None and round_no == 0:
                    self.profile.mkdir(parents=True, exist_ok=True)
                    profiler = Profiler(worker.pid, self.profile / f"connect-{variant.replace('@', '-')}.txt")

            def count() -> int:
                figures = scrape(metrics)
                return int(figures.get(done, 0)) if figures.get(started, 0) > 0 else 0

            progress = Progress(count, self.records).run(on_start)
            worker_cpu = process_cpu_s(worker.pid) - cpu["start"]
            probe.stop()
            if profiler is not None:
                profiler.stop()
            seconds = progress["t1"] - progress["t0"]
            rest_figures = probe.between(progress["t0"], progress["t1"])
            _, state = http("GET", f"{rest}/connectors/{name}/status")
            failed = [t for t in (state or {}).get("tasks", []) if t.get("state") != "RUNNING"]
            if failed:
                raise RuntimeError(f"{name}: tasks not running: {failed}")
            return {
                "records_per_s": progress["records_per_s"],
                "mb_per_s": progress["records_per_s"] * SIZE / MIB,
                "seconds": seconds,
                "worker_cores": worker_cpu / seconds,
                "cpu_us_per_record": worker_cpu / (self.records - progress["n0"]) * 1e6,
                "rest": rest_figures,
            }
        finally:
            if profiler is not None:
                profiler.stop()
            worker.stop()
            shutil.rmtree(run_dir / "sink.txt", ignore_errors=True)
            (run_dir / "sink.txt").unlink(missing_ok=True)

    def run(self, variant: str, round_no: int) -> dict[str, Any]:
        if variant == "consumer":
            settle()
            return plain_consumer(self.bootstrap, self.input, self.records)
        if variant == "producer":
            self.runs += 1
            topic = f"bench-connect-plain-{self.runs}"
            create_topic(self.bootstrap, topic)
            settle()
            return plain_producer(self.bootstrap, topic, self.source_file, self.records)
        return self.connect_run(variant, round_no)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 round of 100,000 records")
    parser.add_argument("--records", type=int, help="records (default 1,000,000; quick 100,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 2; quick 1)")
    parser.add_argument("--variants", help="comma-separated subset of " + ",".join(VARIANTS))
    parser.add_argument("--profile", type=Path, help="py-spy the worker of each first-round run into this directory")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="directory for the JSON result")
    parser.add_argument(
        "--base-tree",
        type=Path,
        help="another checkout (e.g. a git worktree of main): each Connect variant also runs as <variant>@base "
        "with that tree's packages, in the same rounds",
    )
    parser.add_argument(
        "--switch-interval", type=float, help="sys.setswitchinterval(S) in the workers (a sitecustomize.py)"
    )
    args = parser.parse_args(argv)
    records = args.records or (100_000 if args.quick else 1_000_000)
    rounds = args.rounds or (1 if args.quick else 2)
    variants = [v for v in (args.variants.split(",") if args.variants else VARIANTS) if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    if args.base_tree:
        variants = [w for v in variants for w in ((v, v + BASE) if v not in ("consumer", "producer") else (v,))]

    work = Path(tempfile.mkdtemp(prefix="odradek-bench-connect-"))
    moto = MotoServer(work / "moto")
    runs: list[dict[str, Any]] = []
    try:
        moto.start()
        with broker_process(work / "logs", work / "broker.log") as (bootstrap, broker_pid):
            site = switch_interval_site(work / "site", args.switch_interval) if args.switch_interval else None
            bench = Bench(work, bootstrap, moto, records, args.profile, args.base_tree, site)
            print(f"filling {bench.input} with {records:,} records of {SIZE} B in {PARTITIONS} partitions", flush=True)
            bench.prepare()
            for round_no in range(rounds):
                for variant in variants if round_no % 2 == 0 else list(reversed(variants)):
                    broker0 = process_cpu_s(broker_pid)
                    result = bench.run(variant, round_no)
                    broker_cpu = process_cpu_s(broker_pid) - broker0
                    runs.append({"variant": variant, "round": round_no, **result, "broker_cpu_s": broker_cpu})
                    extra = ""
                    if "worker_cores" in result:
                        r = result["rest"]
                        extra = (
                            f", worker {result['worker_cores']:.2f} cores, REST p50 {r['p50_ms']:.1f} ms "
                            f"p99 {r['p99_ms']:.1f} ms max {r['max_ms']:.1f} ms ({r['probes']} probes)"
                        )
                    print(
                        f"round {round_no} {variant:>12}: {result['records_per_s']:>10,.0f} records/s "
                        f"{result['mb_per_s']:6.1f} MB/s, CPU {result['cpu_us_per_record']:.1f} us/record{extra}",
                        flush=True,
                    )
                    time.sleep(0.5)
    finally:
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)

    medians: dict[str, float] = {}
    for variant in variants:
        rates = [r["records_per_s"] for r in runs if r["variant"] == variant]
        medians[variant] = statistics.median(rates)
        print(f"median {variant:>12} {medians[variant]:>10,.0f} records/s {medians[variant] * SIZE / MIB:6.1f} MB/s")
    ratios: dict[str, float] = {}
    for variant in variants:
        base = "producer" if variant.removesuffix(BASE) == "file-source" else "consumer"
        if variant in ("consumer", "producer") or base not in medians:
            continue
        ratios[variant] = medians[variant] / medians[base]
        target = variant.removesuffix(BASE) in ("file-1", "s3-1", "file-source")
        verdict = f" (target >= 0.7: {'yes' if ratios[variant] >= 0.7 else 'NO'})" if target else ""
        print(f"ratio {variant} / {base} = {ratios[variant]:.3f}{verdict}")
    for variant in variants:
        mine, theirs = [r for r in runs if r["variant"] == variant], [r for r in runs if r["variant"] == variant + BASE]
        if theirs:
            cpu = statistics.median(r["cpu_us_per_record"] for r in mine)
            cpu_base = statistics.median(r["cpu_us_per_record"] for r in theirs)
            print(
                f"{variant}: {medians[variant] / medians[variant + BASE]:.2f} x the rate of {variant + BASE}, "
                f"CPU {cpu:.1f} vs {cpu_base:.1f} us/record"
            )
    rest_p99 = max((r["rest"]["p99_ms"] for r in runs if "rest" in r), default=float("nan"))
    if runs and any("rest" in r for r in runs):
        print(f"REST p99, worst run: {rest_p99:.1f} ms (target < 50 ms: {'yes' if rest_p99 < 50 else 'NO'})")
    write_result(
        args.out,
        "connect",
        {"records": records, "size": SIZE, "partitions": PARTITIONS, "runs": runs, "medians": medians,
         "ratios": ratios, "rest_p99_worst_ms": rest_p99},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
