#!/usr/bin/env python3
"""Replication (issue 10, "Benchmark"): RF=3 acks=all throughput beside single-node, failover times, idle CPU.

    python bench/replication.py                 # W1 3 x 1,000,000; W2 2 x 512 MiB; 20 + 20 failovers; 1,000 idle
    python bench/replication.py --quick         # W1 2 x 100,000; W2 2 x 64 MiB; 3 + 3 failovers; 100 idle, 10 s
    python bench/replication.py --profile DIR   # also py-spy every cluster broker during one more RF=3 W1 run
                                                # and during one more idle sample after the measured one
    python bench/replication.py --skip-throughput / --skip-failover / --skip-idle

Processes: one single-node broker (bench/run.py's `broker_process`: embedded metadata store, free 127.0.0.1 port)
and, at the same time, a three-broker cluster (`odradek.faults.cluster.LocalCluster`, what `odradek cluster up`
and the fault suite run: one etcd member from /usr/bin/etcd, brokers 1-3 with their default configuration) in
one temp folder. Both are stopped at the end.

Throughput: W1 (100 B records) and W2 (1 MiB records, producer `message.max.bytes`/`batch.size` and topic
`max.message.bytes` 8 MiB) as bench/run.py produces them (`produce_workload`: acks=all, default batching, time to
the last acknowledgement), to a fresh one-partition topic per run, in three variants:
  single       replication factor 1 on the single-node broker (issue 2's W1/W2 produce)
  cluster-rf1  replication factor 1 on the cluster (what being a cluster member costs without replication)
  rf3          replication factor 3 on the cluster, acks=all: each batch is acknowledged once both followers
               have fetched it (the high watermark passed it); the topic is created and its ISR waited for first
Every variant runs once per round, in reversed order every other round (as run.py's `alternating_rounds`), so
load from other processes on this shared machine falls on all of them; the judged ratio is the median rf3 over
the median single of the same run. Each run prints the CPU seconds of every broker process per million records
(W2: per GiB).

Failover: a one-partition RF=3 topic; a producer (acks=all, linger.ms=0, retry.backoff.ms 20/max 100 so the client's
backoff adds little) sends a 100 B record every 5 ms and records the time of every successful delivery report
(`poll()` between sends). Each round finds the partition's leader from Metadata, then either SIGKILLs it or sends
it SIGTERM (controlled shutdown: leadership moves before it exits), at t0. Two figures per round:
  first ack    t0 -> the first successful delivery of a record produced after t0 (after SIGKILL only a new
               leader can acknowledge it; after SIGTERM the old leader may, while it still leads)
  outage       the longest time without a successful delivery between t0 and the first success after the old
               leader has exited, counting t0 itself as the start of a gap: the time producers could not write
               (the judged figure; for SIGKILL it equals first ack)
Each round's line also says when the longest gap began (after t0) and the load average. `--signals` picks the
variants (default SIGTERM,SIGKILL; a `-dense` suffix, e.g. SIGTERM-dense, runs the producer with
enable.sparse.connections=false, connected to every broker beforehand); `--client-debug FILE` writes the
producer's librdkafka debug log (broker, topic, metadata, msg) with the signal times marked.
Then the broker is started again and the round waits until the ISR is whole again. The round notes whether the
victim was also the active controller (then the controller must fail over first). p50/p99 are nearest-rank
(with 20 samples the p99 is the largest).

Idle CPU: each broker's CPU (/proc/<pid>/stat utime+stime) over `--idle-seconds` with the cluster as it is (a
handful of partitions), then after creating 1,000 partitions x RF 3 (ten topics of 100: etcd refuses one
CreateTopics of 1,000, see bench/RESULTS.md; every broker holds 1,000 replicas: leads about 333, follows about
667) and waiting until every ISR is whole plus 10 s, over the same time again.
Printed in % of one core per broker, with the difference.

A JSON goes to bench/out/replication-*.json.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from run import (
    HERE,
    MIB,
    REPO,
    broker_process,
    create_topic,
    machine,
    median_rates,
    process_cpu_s,
    produce_workload,
    quantiles,
    settle,
    write_result,
)

sys.path.insert(0, str(REPO / "broker"))

from odradek.faults.cluster import LocalCluster
from odradek.faults.scenario import converged, partition_states

ETCD = "/usr/bin/etcd"
SESSION_TIMEOUT_MS = 9000  # the broker default of broker.session.timeout.ms (the cluster runs with defaults)
W2_CONFIG = {"max.message.bytes": str(8 * MIB)}
W2_PRODUCER = {"message.max.bytes": 8 * MIB, "batch.size": 8 * MIB}
VARIANTS = ("single", "cluster-rf1", "rf3")
PROBE_EVERY_S = 0.005
IDLE_TOPIC_PARTITIONS = 100


@dataclass(frozen=True)
class Sizes:
    w1_records: int
    w1_rounds: int
    w2_bytes: int
    w2_rounds: int
    failovers: int
    idle_partitions: int
    idle_seconds: float


FULL = Sizes(1_000_000, 3, 512 * MIB, 2, 20, 1000, 30.0)
QUICK = Sizes(100_000, 2, 64 * MIB, 2, 3, 100, 10.0)


@dataclass(frozen=True)
class Target:
    """Where a variant runs: the bootstrap servers, the broker processes to account, the replication factor."""

    bootstrap: str
    pids: dict[str, int]
    replication_factor: int


# ---------------------------------------------------------------- cluster


@contextlib.contextmanager
def local_cluster(folder: Path, brokers: int = 3) -> Iterator[LocalCluster]:
    cluster = LocalCluster(folder, etcd=ETCD)
    try:
        cluster.up(brokers)
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.down(timeout_s=20)


def cluster_pids(cluster: LocalCluster) -> dict[str, int]:
    return {f"broker {b.node_id}": b.pid for b in cluster.brokers if b.pid}


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            out[name] = process_cpu_s(pid)
    return out


def wait_whole(cluster: LocalCluster, topic: str, partitions: int, timeout_s: float = 120.0) -> None:
    converged(cluster, topic, partitions, timeout_s)


# ---------------------------------------------------------------- throughput


def throughput(
    workload: str,
    targets: dict[str, Target],
    cluster: LocalCluster,
    rounds: int,
    records: int,
    size: int,
    topic_config: dict[str, str],
    producer_config: dict[str, Any],
    profile: Path | None = None,
) -> list[dict[str, Any]]:
    """`rounds` alternating rounds of every variant (run.py's order rule); returns the runs."""
    runs: list[dict[str, Any]] = []
    all_pids = {n: p for t in targets.values() for n, p in t.pids.items()}
    for round_no in range(rounds):
        for name in list(targets) if round_no % 2 == 0 else list(reversed(targets)):
            runs.append(
                one_run(
                    workload,
                    name,
                    round_no,
                    targets[name],
                    cluster,
                    all_pids,
                    records,
                    size,
                    topic_config,
                    producer_config,
                )
            )
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        with py_spy(targets["rf3"].pids, profile, workload):
            run = one_run(
                workload, "rf3", rounds, targets["rf3"], cluster, all_pids, records, size, topic_config, producer_config
            )
        run["profiled"] = True
        runs.append(run)
    return runs


def one_run(
    workload: str,
    name: str,
    round_no: int,
    target: Target,
    cluster: LocalCluster,
    all_pids: dict[str, int],
    records: int,
    size: int,
    topic_config: dict[str, str],
    producer_config: dict[str, Any],
) -> dict[str, Any]:
    topic = f"{workload}-{name}-{round_no}"
    create_topic(target.bootstrap, topic, topic_config, replication_factor=target.replication_factor, timeout_s=60)
    leader = -1
    if name != "single":
        wait_whole(cluster, topic, 1)
        leader = partition_states(cluster, topic)[0][0]
    settle()
    before = cpu_of(all_pids)
    result = produce_workload(target.bootstrap, topic, records, size, producer_config)
    after = cpu_of(all_pids)
    cpu = {n: after[n] - before[n] for n in after if n in before}
    own = sum(cpu[n] for n in target.pids if n in cpu)
    # CPU per million records (W1) or per GiB (W2, whose records are 1 MiB each).
    per_m, per_unit = (1e6 / records, "million records") if size < MIB else (1024 / records, "GiB")
    split = ", ".join(f"{n} {cpu[n] * per_m:.2f}" for n in target.pids if n in cpu)
    unit = f"{result['records_per_s']:>12,.0f} records/s" if size < MIB else f"{result['mb_per_s']:>8,.1f} MiB/s"
    lead = f", leader broker {leader}" if leader >= 0 else ""
    print(
        f"round {round_no} {workload} {name:>11}: {unit}; broker CPU s per {per_unit}: {split} "
        f"(sum {own * per_m:.2f}){lead}; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    time.sleep(0.5)
    return {
        "workload": workload,
        "variant": name,
        "round": round_no,
        "leader": leader,
        **result,
        "broker_cpu_s": cpu,
        "load_average": os.getloadavg()[0],
    }


@contextlib.contextmanager
def py_spy(pids: dict[str, int], folder: Path, label: str) -> Iterator[None]:
    """py-spy record (raw folded stacks, 100 Hz, all threads, idle frames dropped) of each process meanwhile."""
    procs = []
    for name, pid in pids.items():
        out = folder / f"{label}-{name.replace(' ', '-')}.txt"
        cmd = [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
            "--duration",
            "600",
        ]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        print(f"py-spy profiles in {folder}", flush=True)


# ---------------------------------------------------------------- failover


class Probe:
    """A producer that sends one record every PROBE_EVERY_S and keeps (sent_at, acked_at) of every success."""

    def __init__(self, bootstrap: str, topic: str, debug: logging.Logger | None = None, dense: bool = False) -> None:
        self.topic = topic
        self.acks: list[tuple[float, float]] = []
        self.errors: list[str] = []
        tracing: dict[str, Any] = {"debug": "broker,topic,metadata,msg", "logger": debug} if debug else {}
        self.producer = Producer(
            {
                **tracing,
                "bootstrap.servers": bootstrap,
                "log_level": 7 if debug else 0,
                "acks": "all",
                "linger.ms": 0,
                "enable.idempotence": False,
                "retry.backoff.ms": 20,
                "retry.backoff.max.ms": 100,
                "reconnect.backoff.ms": 20,
                "reconnect.backoff.max.ms": 200,
                "message.timeout.ms": 120_000,
                "topic.metadata.refresh.interval.ms": 60_000,
                # librdkafka connects only to the brokers it needs (sparse connections) unless told otherwise.
                "enable.sparse.connections": not dense,
            }
        )
        self.next_due = time.perf_counter()

    def _send(self) -> None:
        sent = time.perf_counter()

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is None:
                self.acks.append((sent, time.perf_counter()))
            else:
                self.errors.append(str(err))

        self.producer.produce(self.topic, b"f" * 100, on_delivery=on_delivery)

    def run_for(self, seconds: float) -> None:
        self.run_until(lambda: False, seconds)

    def run_until(self, done: Any, timeout_s: float) -> bool:
        """Send on schedule and poll until `done()` (checked every pass) or `timeout_s`; True if done."""
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            now = time.perf_counter()
            if now >= self.next_due:
                self._send()
                self.next_due = max(self.next_due + PROBE_EVERY_S, now - PROBE_EVERY_S)
            self.producer.poll(max(0.0, min(0.001, self.next_due - time.perf_counter())))
            if done():
                return True
        return False

    def close(self) -> None:
        self.producer.flush(30)


def failover_round(
    cluster: LocalCluster, topic: str, how: str, round_no: int, debug: logging.Logger | None = None
) -> dict[str, Any]:
    wait_whole(cluster, topic, 1, timeout_s=180)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 0})
    metadata = admin.list_topics(topic, timeout=10)
    leader = metadata.topics[topic].partitions[0].leader
    controller = metadata.controller_id
    signal_name, _, client = how.partition("-")
    probe = Probe(cluster.bootstrap, topic, debug, dense=client == "dense")
    try:
        probe.run_for(2.0)  # connected, metadata known, acks flowing
        if not probe.acks:
            raise RuntimeError(f"failover round {round_no}: no acknowledgement before the fault")
        victim = cluster.broker(leader)
        process = victim.process
        t0 = time.perf_counter()
        if debug:
            debug.info("bench: %s of broker %s (round %s)", how, leader, round_no)
        if signal_name == "SIGKILL":
            cluster.kill_broker(leader)
        else:
            cluster.signal_broker(leader, signal.SIGTERM)
        exited: list[float] = []

        def done() -> bool:
            if not exited and not process.alive():
                exited.append(time.perf_counter())
            return bool(exited) and any(acked > exited[0] for _, acked in probe.acks)

        if not probe.run_until(done, timeout_s=90):
            raise RuntimeError(f"failover round {round_no} ({how}): no acknowledgement within 90 s")
        probe.run_for(0.2)
    finally:
        probe.close()
    if signal_name == "SIGTERM":
        cluster.stop_broker(leader)  # reaped; records the broker as stopped
    acked = sorted(a for _, a in probe.acks if a >= t0)
    first_ack = min(a for s, a in probe.acks if s >= t0) - t0
    end = next(a for a in acked if a > exited[0])
    points = [t0, *(a for a in acked if a <= end)]
    outage, gap_start = max((b - a, a) for a, b in itertools.pairwise(points))
    cluster.start_broker(leader, timeout_s=120)
    result = {
        "how": how,
        "round": round_no,
        "leader": leader,
        "leader_was_controller": leader == controller,
        "first_ack_s": first_ack,
        "outage_s": outage,
        "outage_from_s": gap_start - t0,
        "exit_s": exited[0] - t0,
        "errors": len(probe.errors),
        "load_average": os.getloadavg()[0],
    }
    print(
        f"failover {how} round {round_no}: leader {leader}{' (controller)' if leader == controller else ''}: "
        f"outage {outage * 1000:,.0f} ms (from t0+{(gap_start - t0) * 1000:,.0f} ms), first ack after t0 "
        f"{first_ack * 1000:,.0f} ms, exited after "
        f"{(exited[0] - t0) * 1000:,.0f} ms, {len(probe.errors)} delivery errors",
        flush=True,
    )
    return result


def failovers(
    cluster: LocalCluster, rounds: int, signals: Sequence[str], debug_file: Path | None
) -> list[dict[str, Any]]:
    topic = "failover"
    create_topic(cluster.bootstrap, topic, replication_factor=3, timeout_s=60)
    debug = None
    if debug_file is not None:
        debug = logging.getLogger("bench.probe")
        handler = logging.FileHandler(debug_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        debug.addHandler(handler)
        debug.setLevel(logging.DEBUG)
    out = []
    for how in signals:
        for round_no in range(rounds):
            out.append(failover_round(cluster, topic, how, round_no, debug))
    return out


# ---------------------------------------------------------------- idle


def sample_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """% of one core each process used over `seconds`."""
    before = cpu_of(pids)
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    after = cpu_of(pids)
    return {n: 100 * (after[n] - before[n]) / elapsed for n in after if n in before}


def idle_cpu(cluster: LocalCluster, partitions: int, seconds: float, profile: Path | None = None) -> dict[str, Any]:
    pids = {**cluster_pids(cluster), "etcd": cluster.etcd.pid}
    time.sleep(5)
    base = sample_cpu(pids, seconds)
    load = [os.getloadavg()[0]]
    print(
        "idle, a few partitions: " + ", ".join(f"{n} {v:.2f}%" for n, v in base.items()) + f"; load {load[0]:.1f}",
        flush=True,
    )
    # Topics of at most IDLE_TOPIC_PARTITIONS: a CreateTopics of 1,000 partitions is refused by etcd (one
    # transaction of more than its 128 operations; bench/RESULTS.md, "Replication").
    sizes = [min(IDLE_TOPIC_PARTITIONS, partitions - start) for start in range(0, partitions, IDLE_TOPIC_PARTITIONS)]
    t0 = time.monotonic()
    for index, count in enumerate(sizes):
        create_topic(cluster.bootstrap, f"idle-{index}", partitions=count, replication_factor=3, timeout_s=300)
    created = time.monotonic() - t0
    for index, count in enumerate(sizes):
        wait_whole(cluster, f"idle-{index}", count, timeout_s=600)
    whole = time.monotonic() - t0
    print(
        f"created {partitions} x RF 3 ({len(sizes)} topics) in {created:.1f} s, every ISR whole after {whole:.1f} s",
        flush=True,
    )
    time.sleep(10)
    loaded = sample_cpu(pids, seconds)
    load.append(os.getloadavg()[0])
    print(
        f"idle, {partitions} more RF=3 partitions: "
        + ", ".join(f"{n} {v:.2f}% (+{v - base.get(n, 0):.2f})" for n, v in loaded.items())
        + f"; load {load[1]:.1f}",
        flush=True,
    )
    if profile is not None:  # after the measured sample, so that py-spy's own cost is not in it
        profile.mkdir(parents=True, exist_ok=True)
        with py_spy(cluster_pids(cluster), profile, "idle"):
            time.sleep(seconds)
    return {
        "partitions": partitions,
        "seconds": seconds,
        "baseline_pct": base,
        "loaded_pct": loaded,
        "create_s": created,
        "whole_s": whole,
        "load_average": load,
    }


# ---------------------------------------------------------------- report


def nearest_rank(samples: Sequence[float], *points: float) -> list[float]:
    return quantiles(list(samples), *points)


def report(results: dict[str, Any], sizes: Sizes) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}

    def line(name: str, value: str, target: str, ok: bool) -> None:
        print(f"  {name:<38} {value:<34} {target}  {'met' if ok else 'MISSED'}", flush=True)
        verdicts[name] = ok

    print("Summary", flush=True)
    for workload, size in (("W1", 100), ("W2", MIB)):
        runs = [r for r in results.get("throughput", []) if r["workload"] == workload and not r.get("profiled")]
        if not runs:
            continue
        medians = median_rates(runs, VARIANTS)
        results.setdefault("medians", {})[workload] = medians
        ratio = medians["rf3"] / medians["single"]
        cluster_ratio = medians["rf3"] / medians["cluster-rf1"]
        mb = size / MIB
        if workload == "W1":
            line("W1 RF=3 acks=all", f"{medians['rf3']:,.0f} records/s", "target >= 500,000", medians["rf3"] >= 5e5)
            line("W1 RF=3 / single-node", f"{ratio:.3f}", "target >= 0.5", ratio >= 0.5)
        else:
            line("W2 RF=3 acks=all", f"{medians['rf3'] * mb:,.1f} MiB/s", "(no target)", True)
            line("W2 RF=3 / single-node", f"{ratio:.3f}", "(no target)", True)
        print(
            f"  {workload} RF=3 / cluster RF=1 = {cluster_ratio:.3f}; cluster RF=1 / single-node = "
            f"{medians['cluster-rf1'] / medians['single']:.3f}",
            flush=True,
        )
    fo = results.get("failover", [])
    limits = {"SIGTERM": 1.0, "SIGKILL": SESSION_TIMEOUT_MS / 1000 + 1.0}
    for how in dict.fromkeys(r["how"] for r in fo):
        limit = limits[how.partition("-")[0]]
        rounds = [r for r in fo if r["how"] == how]
        if not rounds:
            continue
        p50, p99 = nearest_rank([r["outage_s"] for r in rounds], 0.5, 0.99)
        f50, f99 = nearest_rank([r["first_ack_s"] for r in rounds], 0.5, 0.99)
        ctrl = [r["outage_s"] for r in rounds if r["leader_was_controller"]]
        other = [r["outage_s"] for r in rounds if not r["leader_was_controller"]]
        line(
            f"failover {how} outage p50 / p99 ({len(rounds)})",
            f"{p50:.3f} s / {p99:.3f} s",
            f"target p99 < {limit:g} s (ratio {p99 / limit:.2f})",
            p99 < limit,
        )
        print(
            f"    first ack after t0 p50 / p99 {f50:.3f} s / {f99:.3f} s; outage median when the leader was the "
            f"controller {statistics.median(ctrl) if ctrl else float('nan'):.3f} s ({len(ctrl)} rounds), "
            f"otherwise {statistics.median(other) if other else float('nan'):.3f} s ({len(other)})",
            flush=True,
        )
        results.setdefault("failover_summary", {})[how] = {
            "outage_p50_s": p50,
            "outage_p99_s": p99,
            "first_ack_p50_s": f50,
            "first_ack_p99_s": f99,
        }
    idle = results.get("idle")
    if idle:
        worst = max(v for n, v in idle["loaded_pct"].items() if n.startswith("broker"))
        line(
            f"idle CPU, {idle['partitions']} RF=3 partitions, worst broker",
            f"{worst:.2f}% of a core",
            f"target < 5% (ratio {worst / 5:.2f})",
            worst < 5.0,
        )
        if idle["partitions"] != 1000:
            print("    (not the target's 1,000 partitions: --quick)", flush=True)
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-w2", action="store_true", help="throughput: W1 only")
    parser.add_argument("--skip-failover", action="store_true")
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--failovers", type=int, help="rounds per signal (default 20; quick 3)")
    parser.add_argument(
        "--signals",
        default="SIGTERM,SIGKILL",
        help="failover variants, in order: SIGTERM or SIGKILL, -dense for a producer connected to every broker "
        "(enable.sparse.connections=false) (default SIGTERM,SIGKILL)",
    )
    parser.add_argument("--client-debug", type=Path, help="librdkafka debug log of the failover producer to FILE")
    parser.add_argument("--idle-partitions", type=int, help="partitions of the idle topic (default 1000)")
    parser.add_argument("--idle-seconds", type=float, help="seconds per idle CPU sample (default 30)")
    parser.add_argument(
        "--producer",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a librdkafka setting for the W1/W2 producers of every variant (repeat it)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the cluster brokers during one more RF=3 run and one more idle sample into DIR",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (broker logs) at the end")
    parser.add_argument("--data-dir", type=Path, help="parent of the temp folder (broker logs, the cluster)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="directory for the JSON result")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        base.w1_records,
        base.w1_rounds,
        base.w2_bytes,
        base.w2_rounds,
        args.failovers or base.failovers,
        args.idle_partitions or base.idle_partitions,
        args.idle_seconds or base.idle_seconds,
    )
    work = Path(tempfile.mkdtemp(prefix="odradek-repl-", dir=args.data_dir))
    results: dict[str, Any] = {"machine": machine(), "mode": "quick" if args.quick else "full", "sizes": vars(sizes)}
    print(results["machine"], flush=True)
    try:
        with (
            broker_process(work / "single", work / "single.log") as (single_bootstrap, single_pid),
            local_cluster(work / "cluster") as cluster,
        ):
            if not args.skip_throughput:
                pids = cluster_pids(cluster)
                targets = {
                    "single": Target(single_bootstrap, {"single": single_pid}, 1),
                    "cluster-rf1": Target(cluster.bootstrap, pids, 1),
                    "rf3": Target(cluster.bootstrap, pids, 3),
                }
                extra = dict(item.split("=", 1) for item in args.producer)
                results["producer_settings"] = extra
                results["throughput"] = throughput(
                    "W1", targets, cluster, sizes.w1_rounds, sizes.w1_records, 100, {}, extra, args.profile
                )
                results["throughput"] += (
                    []
                    if args.skip_w2
                    else throughput(
                        "W2",
                        targets,
                        cluster,
                        sizes.w2_rounds,
                        sizes.w2_bytes // MIB,
                        MIB,
                        W2_CONFIG,
                        {**W2_PRODUCER, **extra},
                    )
                )
            if not args.skip_failover:
                signals = [name.strip() for name in args.signals.split(",") if name.strip()]
                results["failover"] = failovers(cluster, sizes.failovers, signals, args.client_debug)
            if not args.skip_idle:
                try:
                    results["idle"] = idle_cpu(cluster, sizes.idle_partitions, sizes.idle_seconds, args.profile)
                except Exception as exc:  # recorded and reported: the figures measured before it still count
                    results["idle_error"] = f"{type(exc).__name__}: {exc}"
                    print(f"idle CPU failed: {results['idle_error']}", file=sys.stderr, flush=True)
            results["verdicts"] = report(results, sizes)
    finally:
        write_result(args.out, "replication", results)
        if args.keep:
            print(f"kept {work} (the cluster's folder, logs and data)", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
