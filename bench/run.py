#!/usr/bin/env python3
"""Odradek benchmark (issue 2, section 11): one command measures the floors and the broker workloads.

    python bench/run.py            # full run (W1 1,000,000 x 100 B; W2 2 GiB of 1 MiB records; LAT 10 s)
    python bench/run.py --quick    # scaled-down smoke run
    python bench/run.py --floors-only

Floors (no broker involved):
  client ceiling   Producer.produce() calls/s of 100 B records into a producer whose bootstrap port has
                   no listener (nothing is ever sent: only the produce() call path of librdkafka).
  loopback TCP     a sender thread sendall()s 1 MiB buffers to a receiver thread recv_into()ing a 1 MiB
                   buffer over 127.0.0.1; MiB/s.
  loopback RTT     100 B ping-pong over one loopback TCP connection (TCP_NODELAY); p50/p99 round trip.
  write+fdatasync  1 MiB write()s to a new file in the data directory, fdatasync() every 64 MiB and at
                   the end; MiB/s over the whole run including the last fdatasync.
Workloads (confluent-kafka against a broker this script starts on a free port, log.dirs in a temp dir):
  W1   records of 100 B, acks=all, default batching, produced then consumed (assign mode, from the start).
  W2   records of 1 MiB (message.max.bytes raised on producer, topic max.message.bytes raised), same shape.
  LAT  1,000 records/s of 100 B with linger.ms=0, acks=all; latency from produce() to the delivery callback,
       polling tightly between sends.
Each figure is printed with its ratio to its floor and its target; a JSON goes to bench/out/.
MB here is MiB (1024 * 1024 bytes), as in Kafka's perf tools.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

MIB = 1024 * 1024
HERE = Path(__file__).resolve().parent
BROKER_START_TIMEOUT_S = 30.0
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    w1_records: int
    w2_bytes: int
    lat_seconds: float
    ceiling_records: int
    tcp_bytes: int
    rtt_rounds: int
    disk_bytes: int


FULL = Sizes(1_000_000, 2 * 1024 * MIB, 10.0, 1_000_000, 4 * 1024 * MIB, 20_000, 2 * 1024 * MIB)
QUICK = Sizes(100_000, 128 * MIB, 2.0, 200_000, 512 * MIB, 5_000, 256 * MIB)


# ---------------------------------------------------------------- floors


def floor_client_ceiling(records: int) -> dict[str, float]:
    """produce() calls/s with nowhere to send: the Python + librdkafka cost of the call alone."""
    with closed_port() as port:
        producer = Producer(
            {
                "bootstrap.servers": f"127.0.0.1:{port}",
                "log_level": 0,
                "queue.buffering.max.messages": max(records * 2, 100_000),
                "queue.buffering.max.kbytes": 2_000_000,
                "message.timeout.ms": 600_000,
            }
        )
        payload = b"x" * 100
        produce = producer.produce
        start = time.perf_counter()
        for _ in range(records):
            produce("ceiling", payload)
        elapsed = time.perf_counter() - start
        producer.purge()
        producer.flush(0)
    return {"records": records, "seconds": elapsed, "records_per_s": records / elapsed}


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port with no listener (bound, not listening, so no one else takes it meanwhile)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def floor_loopback_tcp(total: int) -> dict[str, float]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received = [0]

    def receive() -> None:
        conn, _ = server.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
        buf = bytearray(MIB)
        view = memoryview(buf)
        while True:
            n = conn.recv_into(view)
            if n == 0:
                break
            received[0] += n
        conn.close()

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MIB)
    chunk = os.urandom(MIB)
    start = time.perf_counter()
    for _ in range(total // MIB):
        client.sendall(chunk)
    client.shutdown(socket.SHUT_WR)
    thread.join(timeout=120)
    elapsed = time.perf_counter() - start
    client.close()
    server.close()
    return {"bytes": received[0], "seconds": elapsed, "mb_per_s": received[0] / MIB / elapsed}


def floor_loopback_rtt(rounds: int) -> dict[str, float]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def echo() -> None:
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.close()

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = b"p" * 100
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        client.sendall(payload)
        got = 0
        while got < len(payload):
            got += len(client.recv(65536))
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    client.close()
    thread.join(timeout=10)
    server.close()
    p50, p99 = quantiles(samples, 0.50, 0.99)
    return {"rounds": rounds, "p50_ms": p50, "p99_ms": p99}


def floor_write_fdatasync(directory: Path, total: int, sync_every: int = 64 * MIB) -> dict[str, float]:
    path = directory / "fdatasync-floor.bin"
    chunk = os.urandom(MIB)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.perf_counter()
        unsynced = 0
        for _ in range(total // MIB):
            os.write(fd, chunk)
            unsynced += MIB
            if unsynced >= sync_every:
                os.fdatasync(fd)
                unsynced = 0
        os.fdatasync(fd)
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return {"bytes": total, "seconds": elapsed, "mb_per_s": total / MIB / elapsed, "sync_every_mib": 64}


def quantiles(samples: list[float], *points: float) -> list[float]:
    ordered = sorted(samples)
    return [ordered[min(int(p * len(ordered)), len(ordered) - 1)] for p in points] if ordered else [0.0] * len(points)


# ---------------------------------------------------------------- raw Kafka frames (probes without a client)


def request_frame(
    api_key: int, version: int, correlation_id: int, body: bytes = b"", client_id: bytes = b"bench"
) -> bytes:
    """int32 size, request header v1 (api key, version, correlation id, client id), body."""
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    return struct.pack(">i", len(header) + len(body)) + header + body


def read_frame(sock: socket.socket) -> bytes:
    """One size-prefixed response frame, without its size: correlation id first."""
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def recv_exact(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed by the broker")
        data += chunk
    return bytes(data)


# ---------------------------------------------------------------- broker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"broker did not listen on port {port} within {timeout_s:.0f} s")


@contextlib.contextmanager
def broker_process(
    data_dir: Path,
    log_path: Path,
    *,
    checkout: Path = REPO,
    overrides: Sequence[str] = (),
    stop_timeout_s: float = 15.0,
    extra_listeners: Sequence[str] = (),
    program: Sequence[str] = ("-m", "odradek.broker"),
    env_overrides: dict[str, str] | None = None,
) -> Iterator[tuple[str, int]]:
    """A broker from `checkout`'s sources (its broker/ first on PYTHONPATH, whatever `pip install -e` points at) on
    a free port, with extra `key=value` overrides and `NAME://host:port` listeners after the PLAINTEXT one; yields
    (bootstrap of the PLAINTEXT listener, pid) and stops it (SIGTERM) at the end. `program`: what the interpreter
    runs, given the broker's arguments (bench/memory_probe.py wraps the broker); `env_overrides`: extra environment
    variables of the broker process (MALLOC_ARENA_MAX, PYTHONTRACEMALLOC)."""
    port = free_port()
    listeners = ",".join([f"PLAINTEXT://127.0.0.1:{port}", *extra_listeners])
    cmd = [
        sys.executable, *program,
        "--override", f"log.dirs={data_dir}",
        "--override", f"listeners={listeners}",
        "--override", "metrics.port=0",
    ]  # fmt: skip
    for override in overrides:
        cmd += ["--override", override]
    env = {**os.environ, **(env_overrides or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout / "broker"), env.get("PYTHONPATH")]))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_port(port, proc, BROKER_START_TIMEOUT_S)
            yield f"127.0.0.1:{port}", proc.pid
        finally:
            stop(proc, stop_timeout_s)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if the broker has not exited after `timeout_s`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def create_topic(
    bootstrap: str,
    name: str,
    config: dict[str, str] | None = None,
    partitions: int = 1,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=config or {})],
        request_timeout=timeout_s,
    )
    futures[name].result(timeout=timeout_s)


# ---------------------------------------------------------------- workloads


def produce_workload(
    bootstrap: str, topic: str, records: int, size: int, extra: dict[str, Any], *, warm_up: bool = False
) -> dict[str, float]:
    """Produce `records` values of `size` bytes as fast as the producer accepts them; time until all acked.

    `warm_up`: first produce one record and wait for its acknowledgement, outside the clock (its time is returned
    as `startup_s`), so the rate is the steady state. An idempotent librdkafka producer (2.10 and later) asks for its
    producer id before any broker connection is up (the bootstrap connection is dropped once the cluster's brokers
    are known), and its PID state machine then retries only on a 500 ms timer: with the warm-up inside the clock,
    a 1,000,000-record run at 1.4 M records/s spends a third of its time waiting for that timer (bench/RESULTS.md,
    "Idempotent produce (issue 9)")."""
    failures: list[str] = []

    def on_error(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "log_level": 0,
            "acks": "all",
            "delivery.report.only.error": True,
            "on_delivery": on_error,
            **extra,
        }
    )
    payload = os.urandom(size)
    produce, poll = producer.produce, producer.poll
    startup_s = 0.0
    if warm_up:
        started = time.perf_counter()
        produce(topic, payload)
        producer.flush(60)
        startup_s = time.perf_counter() - started
        if failures or len(producer):
            raise RuntimeError(f"warm-up record to {topic}: {failures[:1]}, {len(producer)} pending")
    start = time.perf_counter()
    for i in range(records):
        while True:
            try:
                produce(topic, payload)
                break
            except BufferError:
                poll(0.005)
        if i % 10_000 == 0:
            poll(0)
    deadline = time.monotonic() + 600
    while len(producer) and time.monotonic() < deadline:
        producer.flush(1.0)
    elapsed = time.perf_counter() - start
    if failures or len(producer):
        raise RuntimeError(f"produce to {topic}: {len(failures)} failed ({failures[:1]}), {len(producer)} pending")
    return {
        "records": records,
        "seconds": elapsed,
        "records_per_s": records / elapsed,
        "mb_per_s": records * size / MIB / elapsed,
        **({"startup_s": startup_s} if warm_up else {}),
    }


def settle() -> None:
    """Write back the previous workload's dirty pages first, so a workload does not pay for the one before it."""
    os.sync()


FAST_FETCH = {"fetch.queue.backoff.ms": 10}
# W2 consumer settings: fetch up to 8 MiB per partition per Fetch (8 x 1 MiB records) and accept big responses.
LARGE_FETCH = {
    "max.partition.fetch.bytes": 8 * MIB,
    "fetch.max.bytes": 64 * MIB,
    "receive.message.max.bytes": 100 * MIB,
}

# glibc malloc settings for the consumer process (read by glibc when the process starts): one arena, blocks up to
# 32 MiB from the heap instead of fresh mmap()s, and freed memory kept rather than returned to the kernel. With the
# defaults, each fetched MiB is received into, and copied out to, freshly mapped pages that are then unmapped again:
# the consumer spends most of its CPU in page faults (see bench/RESULTS.md).
MALLOC_TUNED = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_THRESHOLD_": str(32 * MIB),
    "MALLOC_TRIM_THRESHOLD_": str(1024 * MIB),
}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alternating_rounds(
    variants: Sequence[str],
    rounds: int,
    records: int,
    prefix: str,
    workload: Callable[[str, str, str], dict[str, Any]],
    describe: Callable[[dict[str, Any]], str] = lambda result: "",
    *,
    checkout: Path = REPO,
    first_round: int = 0,
    label: str = "",
) -> list[dict[str, Any]]:
    """Every variant once per round on one broker process (from `checkout`'s sources), in reversed order every
    other round (so neither the warm broker nor the page cache favours one): a fresh topic each run, `settle()`
    before it, and the broker's CPU time around it. `workload(variant, bootstrap, topic)` returns the run's figures
    (with `records_per_s`); `describe` adds to the progress line, `label` (a tree's name) goes before it. Rounds are
    numbered from `first_round`. Returns the runs: variant, round, the figures, broker_cpu_s."""
    runs: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix=f"odradek-{prefix}-"))
    try:
        with broker_process(work / "logs", work / "broker.log", checkout=checkout) as (bootstrap, pid):
            for round_no in range(first_round, first_round + rounds):
                for name in list(variants) if round_no % 2 == 0 else list(reversed(variants)):
                    topic = f"{prefix}-{name}-{round_no}"
                    create_topic(bootstrap, topic)
                    settle()
                    cpu_before = process_cpu_s(pid)
                    result = workload(name, bootstrap, topic)
                    broker_cpu = process_cpu_s(pid) - cpu_before
                    runs.append({"variant": name, "round": round_no, **result, "broker_cpu_s": broker_cpu})
                    print(
                        f"{label}round {round_no} {name:>15}: {result['records_per_s']:>12,.0f} records/s, broker CPU "
                        f"{broker_cpu / records * 1e6:.2f} s per million records{describe(result)}",
                        flush=True,
                    )
                    time.sleep(0.5)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return runs


def tree_rounds(
    trees: dict[str, Path],
    variants: Sequence[str],
    rounds: int,
    records: int,
    prefix: str,
    workload: Callable[[str, str, str], dict[str, Any]],
    describe: Callable[[dict[str, Any]], str] = lambda result: "",
) -> list[dict[str, Any]]:
    """`alternating_rounds` on a fresh broker from each tree (name -> checkout) per round, the trees' order
    reversed every other round, so a comparison of two trees (a `--baseline` checkout and this one) is measured
    side by side under the same load. Returns the runs, each with its `tree`."""
    runs: list[dict[str, Any]] = []
    names = list(trees)
    for round_no in range(rounds):
        for tree in names if round_no % 2 == 0 else list(reversed(names)):
            for run in alternating_rounds(
                variants,
                1,
                records,
                prefix,
                workload,
                describe,
                checkout=trees[tree],
                first_round=round_no,
                label=f"{tree:>9} ",
            ):
                runs.append({"tree": tree, **run})
    return runs


def tree_medians(runs: list[dict[str, Any]], variants: Sequence[str], key: str) -> dict[str, dict[str, float]]:
    """The median of `key` per tree and variant (runs from `tree_rounds`)."""
    import statistics

    return {
        tree: {
            name: statistics.median(r[key] for r in runs if r["tree"] == tree and r["variant"] == name)
            for name in variants
        }
        for tree in dict.fromkeys(r["tree"] for r in runs)
    }


def median_rates(runs: list[dict[str, Any]], variants: Sequence[str]) -> dict[str, float]:
    """The median records/s of each variant, printed."""
    import statistics

    medians = {name: statistics.median(r["records_per_s"] for r in runs if r["variant"] == name) for name in variants}
    for name, median in medians.items():
        print(f"median {name:>15} {median:>12,.0f} records/s")
    return medians


def write_result(out_dir: Path, name: str, result: dict[str, Any]) -> Path:
    """`result` as JSON in `out_dir`/<name>-<timestamp>.json (printed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return out


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def own_sys_s_and_faults() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_stime, usage.ru_minflt


def consume_records(
    bootstrap: str,
    topic: str,
    partition: int,
    records: int,
    extra: dict[str, Any],
    go: Any = None,
    gc_off: bool = False,
) -> dict[str, float]:
    """Consume `records` records of one partition from the start (assign mode); rate and this process's CPU.

    The consumer connects first; the clock starts at assign(), before which nothing is fetched. With `go` (a
    multiprocessing Event) the clock starts when `go` is set, so that parallel consumers start together. `gc_off`
    turns Python's cyclic garbage collector off meanwhile: every `Message` is a tracked object, and the
    collections that 10,000 of them per `consume()` trigger cost the main thread about a fifth of its time."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "log_level": 0,
            "group.id": "odradek-bench",
            "enable.auto.commit": False,
            "check.crcs": False,
            **extra,
        }
    )
    consumer.list_topics(topic, timeout=30)  # connected before the clock starts; nothing fetched yet
    if records < 0:  # this partition's share: everything in it now
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        records = high - low
    if go is not None:
        go.wait(60)
    count = size = 0
    if gc_off:
        gc.disable()
    cpu0 = own_cpu_s()
    sys0, faults0 = own_sys_s_and_faults()
    start = time.perf_counter()
    consumer.assign([TopicPartition(topic, partition, -2)])
    last = time.monotonic()
    while count < records and time.monotonic() - last < 30:
        batch = consumer.consume(num_messages=min(10_000, records - count), timeout=0.5)
        if batch:
            last = time.monotonic()
        for msg in batch:
            if msg.error() is not None:
                continue
            count += 1
            size += len(msg.value() or b"")
    end = time.perf_counter()
    cpu = own_cpu_s() - cpu0
    sys1, faults1 = own_sys_s_and_faults()
    gc.enable()
    consumer.close()
    if count < records:
        raise RuntimeError(f"consume {topic}/{partition}: got {count} of {records} records (30 s without data)")
    return {
        "records": count,
        "bytes": size,
        "start": start,
        "end": end,
        "client_cpu_s": cpu,
        "client_sys_s": sys1 - sys0,
        "client_page_faults": faults1 - faults0,
    }


def _consume_child(args: tuple[str, str, int, int, dict[str, Any], bool], go: Any, results: Any) -> None:
    bootstrap, topic, partition, records, extra, gc_off = args
    try:
        results.put(consume_records(bootstrap, topic, partition, records, extra, go=go, gc_off=gc_off))
    except Exception as exc:  # reported to the parent, which raises
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def consume_workload(
    bootstrap: str,
    topic: str,
    records: int,
    extra: dict[str, Any],
    consumers: int = 1,
    broker_pid: int | None = None,
    tuned: bool = False,
) -> dict[str, float]:
    """Consume `records` records from a topic with `consumers` partitions, one consumer process per partition
    (in this process when there is one and not `tuned`), all from the start; with several, each reads its
    partition to its high watermark and the total must be `records`. `tuned` runs the consumer process(es) with
    the client-side tuning of `MALLOC_TUNED` and `gc_off` (see there). Rate over the
    whole run, with the CPU the consumers and the broker used in it (in cores: 1.0 is one core busy the whole
    time)."""
    settle()
    broker0 = process_cpu_s(broker_pid) if broker_pid else 0.0
    if consumers == 1 and not tuned:
        parts = [consume_records(bootstrap, topic, 0, records, extra)]
    else:
        ctx = multiprocessing.get_context("spawn")
        go, results = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_consume_child, args=((bootstrap, topic, p, -1, extra, tuned), go, results))
            for p in range(consumers)
        ]
        saved = dict(os.environ)
        os.environ.update(MALLOC_TUNED if tuned else {})
        try:
            for proc in procs:
                proc.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        time.sleep(3)  # let every child connect before the clock starts
        broker0 = process_cpu_s(broker_pid) if broker_pid else 0.0
        go.set()
        parts = [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
        errors = [str(part["error"]) for part in parts if "error" in part]
        if errors:
            raise RuntimeError(f"consume {topic}: {'; '.join(errors)}")
        if sum(int(p["records"]) for p in parts) != records:
            raise RuntimeError(f"consume {topic}: the partitions held {[p['records'] for p in parts]}, not {records}")
    broker_cpu = process_cpu_s(broker_pid) - broker0 if broker_pid else float("nan")
    elapsed = max(float(p["end"]) for p in parts) - min(float(p["start"]) for p in parts)
    count = sum(int(p["records"]) for p in parts)
    size = sum(int(p["bytes"]) for p in parts)
    return {
        "records": count,
        "consumers": consumers,
        "seconds": elapsed,
        "records_per_s": count / elapsed,
        "mb_per_s": size / MIB / elapsed,
        "client_cores": sum(float(p["client_cpu_s"]) for p in parts) / elapsed,
        "client_sys_cores": sum(float(p["client_sys_s"]) for p in parts) / elapsed,
        "client_page_faults_per_mib": sum(int(p["client_page_faults"]) for p in parts) / max(size / MIB, 1e-9),
        "broker_cores": broker_cpu / elapsed,
    }


def latency_samples(
    bootstrap: str,
    topic: str,
    seconds: float,
    rate: int = 1000,
    extra: dict[str, Any] | None = None,
    *,
    poll_thread: bool = False,
    before_close: Callable[[], None] | None = None,
) -> list[tuple[int, float]]:
    """Open loop: `rate` records/s of 100 B for `seconds`, each sent at its due time whatever the acks before it
    (acks=all, linger.ms=0, plus `extra` producer settings). Returns per record (send time as
    `time.perf_counter_ns()`, publish-to-ack latency in ms: produce() to the delivery callback).

    Two client shapes: by default one thread sends and polls tightly between sends (poll(0) in a loop when the next
    send is under 1 ms away: at 1,000 records/s that thread keeps a core busy); with `poll_thread` a second thread
    blocks in poll() (librdkafka wakes it when a delivery report arrives) and the sender sleeps until each due time,
    so the client burns no core of its own. `before_close` runs once the last record is acked, while the producer
    and its threads still exist."""
    samples: list[tuple[int, float]] = []
    sent_at: dict[int, int] = {}
    failures: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        now = time.perf_counter_ns()
        if err is not None:
            failures.append(str(err))
            return
        key = int(msg.key())
        sent = sent_at.pop(key)
        samples.append((sent, (now - sent) / 1e6))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "log_level": 0,
            "acks": "all",
            "linger.ms": 0,
            "on_delivery": on_delivery,
            **(extra or {}),
        }
    )
    # Warm up the connection and metadata so the first sample is not a connect.
    producer.produce(topic, b"warmup", key=b"-1")
    sent_at[-1] = time.perf_counter_ns()
    producer.flush(10)
    samples.clear()
    payload = b"l" * 100
    total = int(seconds * rate)
    done = threading.Event()
    poller = threading.Thread(target=lambda: [producer.poll(0.1) for _ in iter(done.is_set, True)], daemon=True)
    if poll_thread:
        poller.start()
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        while (ahead := due - time.perf_counter()) > 0:
            if poll_thread:
                time.sleep(ahead)
            else:
                producer.poll(ahead if ahead > 0.001 else 0)
        sent_at[i] = time.perf_counter_ns()
        producer.produce(topic, payload, key=str(i).encode())
        if not poll_thread:
            producer.poll(0)
    deadline = time.monotonic() + 30
    while len(samples) + len(failures) < total and time.monotonic() < deadline:
        if poll_thread:
            time.sleep(0.01)
        else:
            producer.poll(0.01)
    if before_close is not None:
        before_close()
    done.set()
    if poll_thread:
        poller.join(10)
    producer.flush(30)
    if failures:
        raise RuntimeError(f"latency run: {len(failures)} failures ({failures[0]})")
    return samples


def latency_workload(bootstrap: str, topic: str, seconds: float, rate: int = 1000) -> dict[str, float]:
    samples = [ms for _, ms in latency_samples(bootstrap, topic, seconds, rate)]
    p50, p99, p999 = quantiles(samples, 0.50, 0.99, 0.999)
    return {"records": len(samples), "p50_ms": p50, "p99_ms": p99, "p999_ms": p999, "max_ms": max(samples)}


# ---------------------------------------------------------------- reporting


def report(name: str, value: float, unit: str, floor: float | None, floor_name: str, target: str = "") -> None:
    ratio = f"{value / floor:7.3f} x {floor_name}" if floor else ""
    print(f"  {name:<22} {value:14.3f} {unit:<11} {ratio}  {target}", flush=True)


def machine() -> dict[str, Any]:
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "uname": " ".join(os.uname()),
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def run_floors(sizes: Sizes, data_dir: Path) -> dict[str, Any]:
    print("Floors", flush=True)
    floors: dict[str, Any] = {}
    floors["client_ceiling"] = floor_client_ceiling(sizes.ceiling_records)
    report("client ceiling", floors["client_ceiling"]["records_per_s"], "records/s", None, "")
    floors["loopback_tcp"] = floor_loopback_tcp(sizes.tcp_bytes)
    report("loopback TCP", floors["loopback_tcp"]["mb_per_s"], "MiB/s", None, "")
    floors["loopback_rtt"] = floor_loopback_rtt(sizes.rtt_rounds)
    report("loopback RTT p50", floors["loopback_rtt"]["p50_ms"], "ms", None, "")
    report("loopback RTT p99", floors["loopback_rtt"]["p99_ms"], "ms", None, "")
    floors["write_fdatasync"] = floor_write_fdatasync(data_dir, sizes.disk_bytes)
    report("write+fdatasync", floors["write_fdatasync"]["mb_per_s"], "MiB/s", None, "")
    return floors


def report_consume(name: str, result: dict[str, float], unit: str, floor: float, floor_name: str, target: str) -> None:
    value = result["records_per_s"] if unit == "records/s" else result["mb_per_s"]
    report(name, value, unit, floor, floor_name, target)
    print(
        f"    {result['consumers']:.0f} consumer process(es): {result['client_cores']:.2f} cores "
        f"({result['client_sys_cores']:.2f} in the kernel, {result['client_page_faults_per_mib']:.0f} page faults per "
        f"MiB); broker {result['broker_cores']:.2f} cores",
        flush=True,
    )


def run_workloads(sizes: Sizes, bootstrap: str, floors: dict[str, Any], broker_pid: int | None) -> dict[str, Any]:
    ceiling = floors["client_ceiling"]["records_per_s"]
    tcp = floors["loopback_tcp"]["mb_per_s"]
    disk = floors["write_fdatasync"]["mb_per_s"]
    rtt99 = floors["loopback_rtt"]["p99_ms"]
    results: dict[str, Any] = {}
    print("Workloads", flush=True)
    create_topic(bootstrap, "bench-w1")
    w1p = results["w1_produce"] = produce_workload(bootstrap, "bench-w1", sizes.w1_records, 100, {})
    report("W1 produce", w1p["records_per_s"], "records/s", ceiling, "client ceiling", "target >= 600000")
    w1_target = f"target >= {1.5 * w1p['records_per_s']:.0f} (1.5 x produce)"
    # librdkafka pauses fetching for fetch.queue.backoff.ms (default 1000) whenever its prefetch queue is over
    # queued.max.messages.kbytes / queued.min.messages: a client-side stall, measured once with the defaults
    # and once with a 10 ms backoff (the figure the targets are judged on; all variants are recorded).
    w1d = results["w1_consume_default_client"] = consume_workload(
        bootstrap, "bench-w1", sizes.w1_records, {}, broker_pid=broker_pid
    )
    report_consume("W1 consume (client defaults)", w1d, "records/s", ceiling, "client ceiling", "")
    w1c = results["w1_consume"] = consume_workload(
        bootstrap, "bench-w1", sizes.w1_records, FAST_FETCH, broker_pid=broker_pid
    )
    report_consume("W1 consume", w1c, "records/s", ceiling, "client ceiling", w1_target)
    w1t = results["w1_consume_client_tuned"] = consume_workload(
        bootstrap, "bench-w1", sizes.w1_records, FAST_FETCH, broker_pid=broker_pid, tuned=True
    )
    report_consume("W1 consume (client tuned)", w1t, "records/s", ceiling, "client ceiling", w1_target)
    # The same records in a 2-partition topic read by two consumer processes at once: how far the broker
    # goes when one Python consumer process is not the limit.
    settle()
    create_topic(bootstrap, "bench-w1x2", partitions=2)
    w1p2 = results["w1x2_produce"] = produce_workload(bootstrap, "bench-w1x2", sizes.w1_records, 100, {})
    report("W1 produce (2 partitions)", w1p2["records_per_s"], "records/s", ceiling, "client ceiling", "")
    w1c2 = results["w1x2_consume"] = consume_workload(
        bootstrap, "bench-w1x2", sizes.w1_records, FAST_FETCH, consumers=2, broker_pid=broker_pid
    )
    report_consume("W1 consume (2 partitions, 2 consumers)", w1c2, "records/s", ceiling, "client ceiling", w1_target)
    w1t2 = results["w1x2_consume_client_tuned"] = consume_workload(
        bootstrap, "bench-w1x2", sizes.w1_records, FAST_FETCH, consumers=2, broker_pid=broker_pid, tuned=True
    )
    report_consume("W1 consume (2 x 2, client tuned)", w1t2, "records/s", ceiling, "client ceiling", w1_target)
    big = 8 * MIB
    w2_records = sizes.w2_bytes // MIB
    w2_producer = {"message.max.bytes": big, "batch.size": big}
    settle()
    create_topic(bootstrap, "bench-w2", {"max.message.bytes": str(big)})
    w2p = results["w2_produce"] = produce_workload(bootstrap, "bench-w2", w2_records, MIB, w2_producer)
    report("W2 produce", w2p["mb_per_s"], "MiB/s", disk, "write+fdatasync",
           f"target >= {0.5 * disk:.0f} (50% of write+fdatasync)")  # fmt: skip
    w2d = results["w2_consume_default_client"] = consume_workload(
        bootstrap, "bench-w2", w2_records, LARGE_FETCH, broker_pid=broker_pid
    )
    report_consume("W2 consume (client defaults)", w2d, "MiB/s", tcp, "loopback TCP", "")
    w2c = results["w2_consume"] = consume_workload(
        bootstrap, "bench-w2", w2_records, {**LARGE_FETCH, **FAST_FETCH}, broker_pid=broker_pid
    )
    report_consume("W2 consume", w2c, "MiB/s", tcp, "loopback TCP", "target >= 1000")
    w2m = results["w2_consume_client_tuned"] = consume_workload(
        bootstrap, "bench-w2", w2_records, {**LARGE_FETCH, **FAST_FETCH}, broker_pid=broker_pid, tuned=True
    )
    report_consume("W2 consume (client tuned)", w2m, "MiB/s", tcp, "loopback TCP", "target >= 1000")
    settle()
    create_topic(bootstrap, "bench-w2x2", {"max.message.bytes": str(big)}, partitions=2)
    w2p2 = results["w2x2_produce"] = produce_workload(bootstrap, "bench-w2x2", w2_records, MIB, w2_producer)
    report("W2 produce (2 partitions)", w2p2["mb_per_s"], "MiB/s", disk, "write+fdatasync", "")
    w2c2 = results["w2x2_consume"] = consume_workload(
        bootstrap, "bench-w2x2", w2_records, {**LARGE_FETCH, **FAST_FETCH}, consumers=2, broker_pid=broker_pid
    )
    report_consume("W2 consume (2 partitions, 2 consumers)", w2c2, "MiB/s", tcp, "loopback TCP", "target >= 1000")
    w2m2 = results["w2x2_consume_client_tuned"] = consume_workload(
        bootstrap, "bench-w2x2", w2_records, {**LARGE_FETCH, **FAST_FETCH}, 2, broker_pid, tuned=True
    )
    report_consume("W2 consume (2 x 2, client tuned)", w2m2, "MiB/s", tcp, "loopback TCP", "target >= 1000")
    settle()
    create_topic(bootstrap, "bench-lat")
    lat = results["lat"] = latency_workload(bootstrap, "bench-lat", sizes.lat_seconds)
    report("LAT p50", lat["p50_ms"], "ms", floors["loopback_rtt"]["p50_ms"], "loopback RTT p50")
    report("LAT p99", lat["p99_ms"], "ms", rtt99, "loopback RTT p99", "target < 2 ms")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes for a smoke run")
    parser.add_argument("--floors-only", action="store_true", help="measure only the floors (no broker)")
    parser.add_argument("--bootstrap-server", help="use this running broker instead of starting one")
    parser.add_argument("--data-dir", type=Path, help="parent of the temp dir for broker logs and the disk floor")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="directory for the JSON result")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="odradek-bench-", dir=args.data_dir))
    result: dict[str, Any] = {
        "machine": machine(),
        "mode": "quick" if args.quick else "full",
        "sizes": vars(sizes),
    }
    print(json.dumps(result["machine"]), flush=True)
    try:
        result["floors"] = run_floors(sizes, work)
        if not args.floors_only:
            if args.bootstrap_server:
                result["workloads"] = run_workloads(sizes, args.bootstrap_server, result["floors"], None)
            else:
                with broker_process(work / "logs", work / "broker.log") as (bootstrap, pid):
                    result["workloads"] = run_workloads(sizes, bootstrap, result["floors"], pid)
    except (RuntimeError, KafkaException, OSError) as exc:
        result["error"] = str(exc)
        print(f"bench failed: {exc}", file=sys.stderr)
        log = work / "broker.log"
        if log.exists():
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out / f"bench-{result['mode']}-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
