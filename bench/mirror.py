#!/usr/bin/env python3
"""Mirror throughput and replication latency (issue 14) beside a plain consume-then-produce loop.

    python bench/mirror.py                  # 2 rounds, 1,000,000 records of 100 B; latency 10 s at 10,000/s
    python bench/mirror.py --quick          # 1 round of 100,000 records; latency 3 s
    python bench/mirror.py --profile DIR    # also py-spy the mirror-maker process in the first round
    python bench/mirror.py --base-tree DIR  # mirror and mirror-lat also as mirror@base with that checkout's code

Two brokers (bench/run.py's `broker_process`): cluster A (source) and B (target). Per round, in alternating order:

  plain        a confluent-kafka consumer on A (assign from the start; poll() for one record, then consume(499,
               timeout=0) for what was already fetched) and a producer on B with the
               Connect source task's producer settings (acks=all, max.in.flight 1, linger.ms 5), each record produced
               with its key, value, headers, timestamp and partition; in this process; until all are acked
  mirror       `odradek mirror-maker` (A->B, this topic only, tasks.max 1, offset.flush.interval.ms 1000) copying the
               same kind of topic to `A.<topic>` on B
  plain-lat    the plain loop in a child process while this process produces 10,000 records/s to A and reads them
  mirror-lat   back from B; latency = time read on B - time produced to A (`time.time_ns()` in the value), p50/p99

Each throughput run copies a fresh 1-partition topic filled with `--records` values of 100 B beforehand. The plain
loop's rate runs from assign() to the last ack; the mirror's from the first 100 ms poll of B's high watermark that
shows records to the one that shows all (mirror-maker's start-up, connector and topic creation, not counted), with
the mirror process's CPU (cores) over that window. The latency runs start the copier first and wait until it
copies, then produce at a steady rate for `--latency-seconds` and drop the first second. Printed: each figure, the
median per variant, and the ratio mirror / plain (targets: >= 0.7; p99 < 100 ms at 10,000 records/s). A JSON goes
to bench/out/. MB is MiB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import struct
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run
from confluent_kafka import Consumer, Producer, TopicPartition
from odradek.connect.runtime.clients import CONSUMER_FETCH_DEFAULTS
from odradek.connect.runtime.source_task import PRODUCER_DEFAULTS
from run import HERE, MIB, broker_process, create_topic, process_cpu_s, quantiles, settle, write_result
from worker_support import Profiler, Progress, RuntimeProcess, write_properties

SIZE = 100
BATCH = 500
RATE = 10_000
VARIANTS = ("plain", "mirror", "plain-lat", "mirror-lat")
BASE = "@base"  # variant suffix: the same run with --base-tree's packages


def stamped(i: int) -> bytes:
    """100 bytes: the produce time (`time.time_ns()`, 8 bytes big-endian), the record number, padding."""
    head = struct.pack(">qq", time.time_ns(), i)
    return head + b"x" * (SIZE - len(head))


def fill(bootstrap: str, topic: str, records: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0, "acks": "all", "linger.ms": 20})
    for i in range(records):
        while True:
            try:
                producer.produce(topic, stamped(i), key=b"k%d" % (i % 100), headers=[("h", b"v")])
                break
            except BufferError:
                producer.poll(0.005)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError(f"{topic} was not filled")


def copy_loop(source: str, target: str, topic: str, remote: str, records: int, stop: Any = None) -> dict[str, float]:
    """The plain consume-then-produce loop: `records` records (or, with `stop`, until it is set)."""
    consumer = Consumer(
        {
            "bootstrap.servers": source,
            "log_level": 0,
            "group.id": f"bench-copy-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            **CONSUMER_FETCH_DEFAULTS,  # the mirror task's fetch settings (bench/connect.py's plain consumer says why)
        }
    )
    producer = Producer({"bootstrap.servers": target, "log_level": 0, **PRODUCER_DEFAULTS})
    acked = [0]
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is None:
            acked[0] += 1
        else:
            failures.append(str(err))

    consumer.list_topics(topic, timeout=30)
    producer.list_topics(remote, timeout=30)
    produce, poll = producer.produce, producer.poll
    copied = 0
    start = time.perf_counter()
    consumer.assign([TopicPartition(topic, 0, -2)])
    last = time.monotonic()
    while (copied < records if stop is None else not stop.is_set()) and time.monotonic() - last < 30:
        # As soon as one record is there, with what else was fetched (Kafka's Consumer.poll); consume(n, timeout)
        # alone would wait for all n records.
        first = consumer.poll(0.1 if stop is not None else 0.5)
        batch = [first, *consumer.consume(num_messages=BATCH - 1, timeout=0)] if first is not None else []
        if batch:
            last = time.monotonic()
        for msg in batch:
            if msg.error() is not None:
                continue
            ts_type, ts = msg.timestamp()
            while True:
                try:
                    produce(
                        remote,
                        msg.value(),
                        key=msg.key(),
                        headers=msg.headers(),
                        partition=msg.partition(),
                        timestamp=ts if ts_type else 0,
                        on_delivery=delivered,
                    )
                    break
                except BufferError:
                    poll(0.005)
            copied += 1
        poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - start
    consumer.close()
    if failures or (stop is None and acked[0] < records):
        raise RuntimeError(f"plain copy: {acked[0]} of {records} acked, {len(failures)} failed {failures[:1]}")
    return {"records_per_s": acked[0] / elapsed, "mb_per_s": acked[0] * SIZE / MIB / elapsed, "seconds": elapsed}


def _copy_child(args: tuple[str, str, str, str], stop: Any, ready: Any) -> None:
    ready.set()
    copy_loop(*args, records=0, stop=stop)


def high_watermark(consumer: Consumer, topic: str) -> int:
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5, cached=False)[1])
    except Exception:
        return 0  # the remote topic does not exist yet


def latency_run(source: str, target: str, topic: str, remote: str, seconds: float) -> dict[str, float]:
    """Produce RATE records/s to `topic` on A for `seconds` while reading `remote` on B; latencies in ms."""
    reader = Consumer(
        {
            "bootstrap.servers": target,
            "log_level": 0,
            "group.id": f"bench-lat-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    reader.assign([TopicPartition(remote, 0, high_watermark(reader, remote))])
    producer = Producer({"bootstrap.servers": source, "log_level": 0, "acks": "all", "linger.ms": 1})
    total = int(RATE * seconds)
    warmup = RATE  # the first second's records are not counted
    samples: list[float] = []
    done = threading.Event()

    def produce() -> None:
        begin = time.perf_counter()
        for i in range(total):
            due = begin + i / RATE
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            producer.produce(topic, stamped(i), key=b"k%d" % (i % 100))
            producer.poll(0)
        producer.flush(60)
        done.set()

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    seen = 0
    deadline = time.monotonic() + seconds + 60
    while seen < total and time.monotonic() < deadline:
        for msg in reader.consume(num_messages=1000, timeout=0.05):
            if msg.error() is not None:
                continue
            now = time.time_ns()
            sent, number = struct.unpack(">qq", (msg.value() or b"")[:16])
            seen += 1
            if number >= warmup:
                samples.append((now - sent) / 1e6)
    thread.join(timeout=30)
    reader.close()
    if seen < total:
        raise RuntimeError(f"latency run: {seen} of {total} records arrived on the target")
    p50, p99, p999 = quantiles(samples, 0.5, 0.99, 0.999)
    return {"records_per_s": RATE, "samples": len(samples), "p50_ms": p50, "p99_ms": p99, "p999_ms": p999,
            "max_ms": max(samples)}  # fmt: skip


class Bench:
    def __init__(
        self,
        work: Path,
        a: str,
        b: str,
        records: int,
        seconds: float,
        profile: Path | None,
        base_tree: Path | None = None,
    ) -> None:
        self.work, self.a, self.b, self.records, self.seconds, self.profile = work, a, b, records, seconds, profile
        self.base_tree = base_tree
        self.runs = 0

    def mirror_process(self, topic: str, base: bool = False) -> RuntimeProcess:
        run_dir = self.work / f"mirror-{self.runs}"
        run_dir.mkdir()
        props = write_properties(
            run_dir / "mm2.properties",
            {
                "clusters": "A, B",
                "A.bootstrap.servers": self.a,
                "B.bootstrap.servers": self.b,
                "A->B.enabled": "true",
                "A->B.topics": topic,
                "replication.factor": "1",
                "offset-syncs.topic.replication.factor": "1",
                "checkpoints.topic.replication.factor": "1",
                "heartbeats.topic.replication.factor": "1",
                "offset.flush.interval.ms": "1000",
                "refresh.topics.interval.seconds": "5",
            },
        )
        repo = self.base_tree if base and self.base_tree else run.REPO
        return RuntimeProcess(run_dir, "mirror", "mirror-maker", [props], "Kafka MirrorMaker started", repo).start()

    def run(self, variant: str, round_no: int) -> dict[str, Any]:
        self.runs += 1
        base = variant.endswith(BASE)
        variant = variant.removesuffix(BASE)
        topic = f"bench-mirror-{variant}-{self.runs}"
        create_topic(self.a, topic)
        if variant == "plain":
            fill(self.a, topic, self.records)
            create_topic(self.b, "copy." + topic)
            settle()
            return copy_loop(self.a, self.b, topic, "copy." + topic, self.records)
        if variant == "mirror":
            fill(self.a, topic, self.records)
            settle()
            return self.mirror_throughput(topic, round_no, base)
        if variant == "plain-lat":
            create_topic(self.b, "copy." + topic)
            return self.plain_latency(topic)
        return self.mirror_latency(topic, round_no, base)

    def mirror_throughput(self, topic: str, round_no: int, base: bool = False) -> dict[str, Any]:
        probe = Consumer({"bootstrap.servers": self.b, "log_level": 0, "group.id": "bench-probe"})
        mirror = self.mirror_process(topic, base)
        profiler: Profiler | None = None
        cpu: dict[str, float] = {}

        def on_start() -> None:
            nonlocal profiler
            cpu["start"] = process_cpu_s(mirror.pid)
            if self.profile is not None and round_no == 0:
                self.profile.mkdir(parents=True, exist_ok=True)
                profiler = Profiler(mirror.pid, self.profile / ("mirror-base.txt" if base else "mirror.txt"))

        try:
            progress = Progress(lambda: high_watermark(probe, "A." + topic), self.records).run(on_start)
            mirror_cpu = process_cpu_s(mirror.pid) - cpu["start"]
        finally:
            if profiler is not None:
                profiler.stop()
            mirror.stop()
            probe.close()
        seconds = progress["t1"] - progress["t0"]
        return {
            "records_per_s": progress["records_per_s"],
            "mb_per_s": progress["records_per_s"] * SIZE / MIB,
            "seconds": seconds,
            "mirror_cores": mirror_cpu / seconds,
        }

    def plain_latency(self, topic: str) -> dict[str, Any]:
        ctx = multiprocessing.get_context("spawn")
        stop, ready = ctx.Event(), ctx.Event()
        child = ctx.Process(target=_copy_child, args=((self.a, self.b, topic, "copy." + topic), stop, ready))
        child.start()
        try:
            ready.wait(60)
            time.sleep(3)  # connected and assigned
            return latency_run(self.a, self.b, topic, "copy." + topic, self.seconds)
        finally:
            stop.set()
            child.join(timeout=60)
            if child.is_alive():
                child.kill()

    def mirror_latency(self, topic: str, round_no: int, base: bool = False) -> dict[str, Any]:
        # A first record, so the mirror creates the remote topic and is copying before the clock starts.
        fill(self.a, topic, 1)
        mirror = self.mirror_process(topic, base)
        probe = Consumer({"bootstrap.servers": self.b, "log_level": 0, "group.id": "bench-probe"})
        try:
            deadline = time.monotonic() + 60
            while high_watermark(probe, "A." + topic) < 1:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mirror-maker did not copy {topic} within 60 s")
                time.sleep(0.1)
            return latency_run(self.a, self.b, topic, "A." + topic, self.seconds)
        finally:
            probe.close()
            mirror.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 round of 100,000 records, latency 3 s")
    parser.add_argument("--records", type=int, help="records per throughput run (default 1,000,000; quick 100,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 2; quick 1)")
    parser.add_argument("--latency-seconds", type=float, help="latency run length (default 10; quick 3)")
    parser.add_argument("--variants", help="comma-separated subset of " + ",".join(VARIANTS))
    parser.add_argument("--profile", type=Path, help="py-spy the mirror process in the first round into this dir")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="directory for the JSON result")
    parser.add_argument(
        "--base-tree",
        type=Path,
        help="another checkout (e.g. a git worktree of main): mirror and mirror-lat also run as <variant>@base with "
        "that tree's packages, in the same rounds",
    )
    args = parser.parse_args(argv)
    records = args.records or (100_000 if args.quick else 1_000_000)
    rounds = args.rounds or (1 if args.quick else 2)
    seconds = args.latency_seconds or (3.0 if args.quick else 10.0)
    variants = [v for v in (args.variants.split(",") if args.variants else VARIANTS) if v]
    if set(variants) - set(VARIANTS):
        parser.error(f"unknown variants {sorted(set(variants) - set(VARIANTS))}")
    if args.base_tree:
        variants = [w for v in variants for w in ((v, v + BASE) if v.startswith("mirror") else (v,))]

    work = Path(tempfile.mkdtemp(prefix="odradek-bench-mirror-"))
    runs: list[dict[str, Any]] = []
    try:
        with (
            broker_process(work / "a", work / "a.log") as (a, _a_pid),
            broker_process(work / "b", work / "b.log") as (b, _b_pid),
        ):
            bench = Bench(work, a, b, records, seconds, args.profile, args.base_tree)
            for round_no in range(rounds):
                for variant in variants if round_no % 2 == 0 else list(reversed(variants)):
                    result = bench.run(variant, round_no)
                    runs.append({"variant": variant, "round": round_no, **result})
                    if variant.removesuffix(BASE).endswith("-lat"):
                        print(
                            f"round {round_no} {variant:>10}: {RATE:,} records/s, latency p50 {result['p50_ms']:.1f}"
                            f" ms p99 {result['p99_ms']:.1f} ms p99.9 {result['p999_ms']:.1f} ms max "
                            f"{result['max_ms']:.1f} ms ({result['samples']:,} records)",
                            flush=True,
                        )
                    else:
                        cores = f", mirror {result['mirror_cores']:.2f} cores" if "mirror_cores" in result else ""
                        print(
                            f"round {round_no} {variant:>10}: {result['records_per_s']:>10,.0f} records/s "
                            f"{result['mb_per_s']:6.1f} MB/s{cores}",
                            flush=True,
                        )
                    time.sleep(0.5)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians: dict[str, Any] = {}
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant]
        if variant.removesuffix(BASE).endswith("-lat"):
            medians[variant] = {k: statistics.median(r[k] for r in mine) for k in ("p50_ms", "p99_ms")}
            m = medians[variant]
            target = f" (target < 100 ms: {'yes' if m['p99_ms'] < 100 else 'NO'})" if variant == "mirror-lat" else ""
            print(f"median {variant:>10} latency p50 {m['p50_ms']:.1f} ms p99 {m['p99_ms']:.1f} ms{target}")
        else:
            medians[variant] = statistics.median(r["records_per_s"] for r in mine)
            rate = medians[variant]
            print(f"median {variant:>10} {rate:>10,.0f} records/s {rate * SIZE / MIB:6.1f} MB/s")
    ratio = None
    if "plain" in medians and "mirror" in medians:
        ratio = medians["mirror"] / medians["plain"]
        print(f"ratio mirror / plain = {ratio:.3f} (target >= 0.7: {'yes' if ratio >= 0.7 else 'NO'})")
    if "plain" in medians and "mirror" + BASE in medians:
        base_ratio = medians["mirror" + BASE] / medians["plain"]
        print(f"ratio mirror{BASE} / plain = {base_ratio:.3f}")
        cpu = {v: statistics.median(r["mirror_cores"] / r["records_per_s"] * 1e6 for r in runs if r["variant"] == v)
               for v in ("mirror", "mirror" + BASE)}  # fmt: skip
        print(f"mirror CPU {cpu['mirror']:.1f} us/record, mirror{BASE} {cpu['mirror' + BASE]:.1f} us/record")
    write_result(args.out, "mirror", {"records": records, "size": SIZE, "latency_rate": RATE, "runs": runs,
                                      "medians": medians, "ratio": ratio})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
