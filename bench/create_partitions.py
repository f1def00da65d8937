"""Partition creation: how fast a broker creates partitions, and how long it stalls other clients meanwhile.

Starts a broker (as bench/run.py does) unless `--bootstrap-server` is given, then, while a prober thread sends
ApiVersions v0 round trips back to back on its own connection (each latency recorded with the time it was sent):

1. CreateTopics of one topic with `--partitions` partitions (confluent-kafka AdminClient);
2. optionally (`--add N`) CreatePartitions adding N more to it;
3. optionally (`--delete`) DeleteTopics of it.

For each step it prints: the time until the response ("acked"), the time until a Metadata request shows every
partition with a leader and no error ("ready"), partitions/s (partitions / ready time), and the probe latencies
over the step (count, p50, p99, max: the max is the longest the event loop kept another client waiting). The
broker (this checkout's `broker/`, whatever `pip install -e` points at) runs with its data in a temp dir, removed
at the end unless `--keep`.

    python bench/create_partitions.py                       # 1,000 partitions
    python bench/create_partitions.py --partitions 3000 --add 1000 --delete
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions, NewTopic
from run import BROKER_START_TIMEOUT_S, broker_process, read_frame, request_frame

REPO = Path(__file__).resolve().parents[1]
STEP_TIMEOUT_S = 300.0
# Between the answer and "ready" (only when the broker answered before every log existed: more than 10 s of
# creation), Metadata is polled this often; describing thousands of partitions costs the broker's loop too.
READY_POLL_S = 0.25


# ---------------------------------------------------------------- the prober


@dataclass
class Prober:
    """ApiVersions v0 round trips back to back on one connection; `samples` holds (send time, latency s)."""

    host: str
    port: int
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self) -> Prober:
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STEP_TIMEOUT_S)

    def _run(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=STEP_TIMEOUT_S) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                correlation_id = 0
                while not self._stop.is_set():
                    correlation_id += 1
                    sent = time.monotonic()
                    sock.sendall(request_frame(18, 0, correlation_id, client_id=b"bench-probe"))
                    body = read_frame(sock)
                    assert struct.unpack_from(">i", body)[0] == correlation_id
                    self.samples.append((sent, time.monotonic() - sent))
                    time.sleep(0.001)
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def window(self, start: float, end: float) -> list[float]:
        """Latencies of the round trips that overlapped [start, end]."""
        return [latency for sent, latency in list(self.samples) if sent <= end and sent + latency >= start]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# ---------------------------------------------------------------- steps


def ready_partitions(admin: AdminClient, topic: str) -> int:
    """Partitions of `topic` that Metadata shows with a leader and no error."""
    try:
        meta = admin.list_topics(topic, timeout=10)
    except Exception:
        return 0
    found = meta.topics.get(topic)
    if found is None or found.error is not None:
        return 0
    return sum(1 for p in found.partitions.values() if p.error is None and p.leader >= 0)


def run_step(admin: AdminClient, prober: Prober, topic: str, total: int, what: str, create: Any) -> dict[str, Any]:
    start = time.monotonic()
    futures = create()
    futures[topic].result(timeout=STEP_TIMEOUT_S)
    acked = time.monotonic() - start
    while ready_partitions(admin, topic) < total:
        if time.monotonic() - start > STEP_TIMEOUT_S:
            raise RuntimeError(f"{what}: not all {total} partitions ready after {STEP_TIMEOUT_S} s")
        time.sleep(READY_POLL_S)
    ready = time.monotonic() - start
    time.sleep(0.2)  # probes sent just before `ready` finish
    return {"step": what, "acked_s": round(acked, 3), "ready_s": round(ready, 3)} | probe_stats(
        prober.window(start, start + ready)
    )


def probe_stats(latencies: list[float]) -> dict[str, Any]:
    return {
        "probes": len(latencies),
        "probe_p50_ms": round(quantile(latencies, 0.5) * 1000, 1),
        "probe_p99_ms": round(quantile(latencies, 0.99) * 1000, 1),
        "probe_max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
    }


def wait_for_registration(admin: AdminClient) -> None:
    deadline = time.monotonic() + BROKER_START_TIMEOUT_S
    while not admin.list_topics(timeout=10).brokers:
        if time.monotonic() > deadline:
            raise RuntimeError("no broker registered")
        time.sleep(0.1)


def measure(bootstrap: str, partitions: int, add: int, delete: bool) -> list[dict[str, Any]]:
    host, port = bootstrap.rsplit(":", 1)
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    topic = f"bench-create-{int(time.time())}"
    wait_for_registration(admin)
    prober = Prober(host, int(port)).start()
    results = []
    try:
        time.sleep(0.5)
        new_topic = NewTopic(topic, num_partitions=partitions, replication_factor=1)
        step = run_step(
            admin,
            prober,
            topic,
            partitions,
            f"CreateTopics {partitions}",
            lambda: admin.create_topics([new_topic], request_timeout=STEP_TIMEOUT_S),
        )
        step["partitions_per_s"] = round(partitions / step["ready_s"])
        results.append(step)
        if add:
            more = NewPartitions(topic, partitions + add)
            step = run_step(
                admin,
                prober,
                topic,
                partitions + add,
                f"CreatePartitions +{add}",
                lambda: admin.create_partitions([more], request_timeout=STEP_TIMEOUT_S),
            )
            step["partitions_per_s"] = round(add / step["ready_s"])
            results.append(step)
        if delete:
            start = time.monotonic()
            admin.delete_topics([topic], request_timeout=STEP_TIMEOUT_S)[topic].result(timeout=STEP_TIMEOUT_S)
            acked = time.monotonic() - start
            time.sleep(0.2)
            total = partitions + add
            step = {"step": f"DeleteTopics {total}", "acked_s": round(acked, 3), "ready_s": round(acked, 3)}
            step |= probe_stats(prober.window(start, start + acked)) | {"partitions_per_s": round(total / acked)}
            results.append(step)
    finally:
        prober.stop()
    if prober.error is not None:
        raise RuntimeError(f"probe connection failed: {prober.error!r}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--add", type=int, default=0, help="then add this many with CreatePartitions")
    parser.add_argument("--delete", action="store_true", help="then delete the topic (DeleteTopics)")
    parser.add_argument("--bootstrap-server", help="use a running broker instead of starting one")
    parser.add_argument("--data-dir", type=Path, help="where the temp dir goes (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (broker log and data)")
    args = parser.parse_args(argv)
    print(f"{platform.node()} {platform.machine()} python {platform.python_version()}", flush=True)
    if args.bootstrap_server:
        results = measure(args.bootstrap_server, args.partitions, args.add, args.delete)
    else:
        work = Path(tempfile.mkdtemp(prefix="bench-create-", dir=args.data_dir))
        try:
            stop_timeout_s = 60  # thousands of partitions take a while to close
            with broker_process(work / "data", work / "broker.log", stop_timeout_s=stop_timeout_s) as (bootstrap, _):
                results = measure(bootstrap, args.partitions, args.add, args.delete)
        finally:
            if args.keep:
                print(f"kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    for step in results:
        print(
            f"{step['step']}: acked {step['acked_s']:.2f} s, ready {step['ready_s']:.2f} s,"
            f" {step['partitions_per_s']:,} partitions/s; concurrent ApiVersions ({step['probes']} round trips):"
            f" p50 {step['probe_p50_ms']} ms, p99 {step['probe_p99_ms']} ms, max stall {step['probe_max_ms']} ms"
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
