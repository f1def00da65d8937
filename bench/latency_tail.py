#!/usr/bin/env python3
"""The publish-to-ack tail after a bulk load, not after an os.sync() (issue 15 item 8).

    python bench/latency_tail.py              # 3 rounds of default, poll-thread, sync-first, gc-default (~5 min)
    python bench/latency_tail.py --quick      # smoke run: 100,000 records, 2 s of LAT, 1 round
    python bench/latency_tail.py --variants probe,probe-gc-default --rounds 2   # where the time goes (see below)
    python bench/latency_tail.py --variants default --py-spy /tmp/spy   # + py-spy raw stacks of the broker in LAT

Each run starts a fresh broker (bench/run.py's `broker_process`, a temp log dir), produces 1,000,000 records of
100 B (acks=all, default batching) and consumes them (assign mode, from the start), and then, with no os.sync()
in between (the writeback of those pages may still be going on, as in the issue's side-by-side run), measures 10 s
of an open-loop producer at 1,000 records/s of 100 B, acks=all, linger.ms=0: publish-to-ack per record, from
produce() to the delivery callback (`run.latency_samples`). p50 / p99 / p99.9 / max are printed with the p99's
ratio to the loopback RTT p99 (`run.floor_loopback_rtt`, measured again before every run), and each variant's
median with its ratio to the first variant's, from alternating rounds (order reversed every other round). Target:
p99 under 1 ms on one node. Per run it also prints the broker's event-loop thread's CPU time, its time runnable
but waiting for a CPU and its preemptions during LAT, and the same for the client's busiest threads
(/proc/<pid>/task/<tid>/schedstat): on a shared machine the tail follows the loop thread's wait for a CPU.

Variants (`--variants`, comma-separated; the first is the reference):
  default       the broker as configured; the client of bench/run.py's LAT (one thread sending and polling in a
                tight loop between sends: at 1,000 records/s it keeps a core busy).
  poll-thread   the same broker; the client sleeps until each send and a second thread blocks in poll().
  sync-first    default, with os.sync() between the bulk and LAT (what bench/run.py does): the writeback share.
  gc-default    `gc.freeze.on.start=false`: the garbage collector as before issue 15 item 8.
  nosync-hw     `replica.high.watermark.checkpoint.interval.ms` an hour (no checkpoint fsync every 5 s in LAT).
  nagle-off     the client with `socket.nagle.disable=true`.
  no-bulk, poll-thread-no-bulk: default and poll-thread with no bulk produce and consume before LAT.
  probe         default under bench/broker_probe.py: every collection, every loop stall over 0.5 ms (with the loop
                thread's CPU time in it: busy running callbacks, or not running), every log append's os.write() over
                0.5 ms, and the loop thread's stack whenever it is 3 ms late are recorded in the broker; the broker's
                Produce quantiles are scraped once a second; each record slower than 1 ms is attributed to what
                overlapped it. The probes cost a little: compare probe rounds with probe rounds.
  probe-gc-default, probe-poll-thread, probe-sync-first, probe-nosync-hw: `probe` with that change.
A JSON with every run goes to bench/out/latency-tail-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from run import (
    FAST_FETCH,
    HERE,
    broker_process,
    consume_records,
    create_topic,
    floor_loopback_rtt,
    free_port,
    latency_samples,
    machine,
    produce_workload,
    quantiles,
    settle,
    write_result,
)

SLOW_MS = 1.0


@dataclass(frozen=True)
class Variant:
    overrides: tuple[str, ...] = ()
    probe: bool = False
    poll_thread: bool = False
    client: tuple[tuple[str, str], ...] = ()
    sync_first: bool = False
    bulk: bool = True


VARIANTS = {
    "default": Variant(),
    "gc-default": Variant(("gc.freeze.on.start=false",)),
    "probe": Variant(probe=True),
    "probe-gc-default": Variant(("gc.freeze.on.start=false",), probe=True),
    "nosync-hw": Variant(("replica.high.watermark.checkpoint.interval.ms=3600000",)),
    "poll-thread": Variant(poll_thread=True),
    "probe-poll-thread": Variant(probe=True, poll_thread=True),
    "nagle-off": Variant(client=(("socket.nagle.disable", "true"),)),
    "sync-first": Variant(sync_first=True),
    "poll-thread-sync-first": Variant(poll_thread=True, sync_first=True),
    "probe-sync-first": Variant(probe=True, sync_first=True),
    "no-bulk": Variant(bulk=False),
    "poll-thread-no-bulk": Variant(poll_thread=True, bulk=False),
    "probe-nosync-hw": Variant(("replica.high.watermark.checkpoint.interval.ms=3600000",), probe=True),
}


@dataclass
class Scraper:
    """The broker's Produce quantiles (`kafka_network_requestmetrics_totaltimems`, over its last 1,024 Produce
    requests: about one second at 1,000 records/s) read once a second from /metrics."""

    port: int
    windows: list[dict[str, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
                text = response.read().decode()
            window = {
                sample.labels["quantile"]: sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "kafka_network_requestmetrics_totaltimems"
                for sample in family.samples
                if sample.labels.get("request") == "Produce" and "quantile" in sample.labels
            }
            self.windows.append(window)


def thread_waits(pid: int) -> dict[str, list[float]]:
    """Per thread of process `pid` (by name, "name/tid"): [ms on CPU, ms runnable but waiting for a CPU,
    involuntary context switches], from /proc/<pid>/task/<tid>/{schedstat,status,comm}."""
    threads: dict[str, list[float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            on_cpu, waiting, _ = (task / "schedstat").read_text().split()
            comm = (task / "comm").read_text().strip()
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        switches = int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        threads[f"{comm}/{task.name}"] = [int(on_cpu) / 1e6, int(waiting) / 1e6, switches]
    return threads


def waits_between(before: dict[str, list[float]], after: dict[str, list[float]]) -> dict[str, list[float]]:
    """The increase per thread over an interval (threads started meanwhile count from zero), busiest first."""
    out = {}
    for name, figures in after.items():
        base = before.get(name, [0.0, 0.0, 0])
        out[name] = [round(a - b, 2) for a, b in zip(figures, base, strict=True)]
    return dict(sorted(out.items(), key=lambda item: -item[1][0]))


def summary(latencies: list[float]) -> dict[str, float]:
    p50, p99, p999 = quantiles(latencies, 0.50, 0.99, 0.999)
    return {"records": len(latencies), "p50_ms": p50, "p99_ms": p99, "p999_ms": p999, "max_ms": max(latencies)}


def attribute(samples: list[tuple[int, float]], probe: dict[str, Any], marks: dict[str, int]) -> dict[str, Any]:
    """Each record slower than SLOW_MS: did a broker collection (which generation) or a loop stall overlap its
    [send, ack] interval? Counts, and the collections' and stalls' own sizes during the LAT run."""
    start = min(sent for sent, _ in samples)
    end = max(sent + int(ms * 1e6) for sent, ms in samples)
    gcs = [g for g in probe["gc"] if start <= g[1] <= end]
    lags = [g for g in probe["lag"] if start <= g[0] <= end]
    slow = [(sent, sent + int(ms * 1e6)) for sent, ms in samples if ms > SLOW_MS]
    writes = [w for w in probe.get("writes", []) if start <= w[0] <= end]
    counts = {"slow": len(slow), "gc0": 0, "gc1": 0, "gc2": 0, "write": 0, "stall": 0, "neither": 0}
    for begin, finish in slow:
        hit = False
        for gen, g_start, g_dur, _ in gcs:
            if g_start < finish and g_start + g_dur > begin:
                counts[f"gc{gen}"] += 1
                hit = True
                break
        for w_start, took, _, _ in writes:
            if w_start < finish and w_start + took > begin:
                counts["write"] += 1
                hit = True
                break
        for l_start, late, _ in lags:
            if l_start + 1_000_000 < finish and l_start + 1_000_000 + late > begin:  # late after its 1 ms sleep
                counts["stall"] += 1
                hit = True
                break
        counts["neither"] += not hit
    by_gen = {gen: [g[2] / 1e6 for g in gcs if g[0] == gen] for gen in (0, 1, 2)}
    whole = {gen: [g[2] / 1e6 for g in probe["gc"] if g[0] == gen] for gen in (0, 1, 2)}

    stall_stacks: dict[str, int] = {}
    for at, lines in probe.get("stacks", []):
        if start <= at <= end:
            key = " < ".join(reversed(lines[-4:]))
            stall_stacks[key] = stall_stacks.get(key, 0) + 1

    def phase(at: int) -> str:
        passed = [name for name, mark in marks.items() if mark <= at]
        return passed[-1] if passed else "start-up"

    return {
        "slow_writes_during_lat": {
            "count": len(writes),
            "total_ms": round(sum(w[1] for w in writes) / 1e6, 1),
            "max_ms": round(max((w[1] / 1e6 for w in writes), default=0.0), 3),
            "cpu_ms": round(sum(w[2] for w in writes) / 1e6, 1),
        },
        "stall_stacks": sorted(([n, k] for k, n in stall_stacks.items()), reverse=True)[:8],
        "gc_gen2": [[phase(g[1]), round(g[2] / 1e6, 3), g[3]] for g in probe["gc"] if g[0] == 2],
        "gc_whole_run": {
            str(gen): {"count": len(ms), "max_ms": round(max(ms, default=0.0), 3), "total_ms": round(sum(ms), 1)}
            for gen, ms in whole.items()
        },
        "slow_records": counts,
        "gc_during_lat": {
            str(gen): {"count": len(ms), "max_ms": max(ms, default=0.0), "total_ms": sum(ms)}
            for gen, ms in by_gen.items()
        },
        "stalls_during_lat": {
            "count": len(lags),
            "max_ms": round(max((late / 1e6 for _, late, _ in lags), default=0.0), 3),
            "over_1ms": sum(1 for _, late, _ in lags if late > 1_000_000),
            # busy: the loop's thread ran for at least half the stall (callbacks); else it was not running
            "busy": sum(1 for _, late, cpu in lags if cpu >= (late + 1_000_000) / 2),
            "busy_ms": round(sum(late for _, late, cpu in lags if cpu >= (late + 1_000_000) / 2) / 1e6, 1),
            "not_running_ms": round(sum(late for _, late, cpu in lags if cpu < (late + 1_000_000) / 2) / 1e6, 1),
            "longest_busy_ms": round(
                max((late / 1e6 for _, late, cpu in lags if cpu >= (late + 1_000_000) / 2), default=0.0), 3
            ),
        },
    }


def one_run(
    name: str, variant: Variant, records: int, lat_seconds: float, rtt_rounds: int, py_spy: Path | None = None
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"odradek-tail-{name}-"))
    metrics_port = free_port()
    probe_out = work / "probe.json"
    program = (str(HERE / "broker_probe.py"), str(probe_out)) if variant.probe else ("-m", "odradek.broker")
    overrides = (f"metrics.port={metrics_port}", *variant.overrides)
    try:
        rtt = floor_loopback_rtt(rtt_rounds)
        with broker_process(work / "logs", work / "broker.log", overrides=overrides, program=program) as (
            bootstrap,
            pid,
        ):
            marks = {"broker up": time.perf_counter_ns()}
            create_topic(bootstrap, "bulk")
            marks["bulk"] = time.perf_counter_ns()
            bulk = records if variant.bulk else 0
            produced = produce_workload(bootstrap, "bulk", bulk, 100, {}) if bulk else {"records_per_s": 0.0}
            consumed = consume_records(bootstrap, "bulk", 0, bulk, FAST_FETCH)
            marks["after bulk"] = time.perf_counter_ns()
            create_topic(bootstrap, "lat")
            if variant.sync_first:  # what bench/run.py does before LAT, and what the issue says not to rely on
                settle()
            scraper = Scraper(metrics_port)
            thread = threading.Thread(target=scraper.run, daemon=True)
            if variant.probe:
                thread.start()
            spy = None
            if py_spy is not None:  # a flame graph of the broker during LAT (py-spy record --threads, collapsed stacks)
                stacks = py_spy.with_name(f"{py_spy.stem}-{name}-{time.strftime('%H%M%S')}.txt")
                spy = subprocess.Popen(
                    ["py-spy", "record", "--threads", "--native", "-r", "200", "-f", "raw",
                     "-p", str(pid), "-o", str(stacks), "-d", str(int(lat_seconds) + 1)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
            broker_before, client_before = thread_waits(pid), thread_waits(os.getpid())
            marks["LAT"] = time.perf_counter_ns()
            after: list[dict[str, dict[str, list[float]]]] = []
            samples = latency_samples(
                bootstrap,
                "lat",
                lat_seconds,
                extra=dict(variant.client),
                poll_thread=variant.poll_thread,
                before_close=lambda: after.append({"broker": thread_waits(pid), "client": thread_waits(os.getpid())}),
            )
            broker_waits = waits_between(broker_before, after[0]["broker"])
            client_waits = waits_between(client_before, after[0]["client"])
            if spy is not None:
                spy.wait(60)
            scraper.stop.set()
            if variant.probe:
                thread.join(10)
        result: dict[str, Any] = {
            "variant": name,
            "rtt": rtt,
            "bulk_produce_records_per_s": produced["records_per_s"],
            "bulk_consume_records": consumed["records"],
            **summary([ms for _, ms in samples]),
            # per thread during LAT: [ms on CPU, ms waiting for a CPU, involuntary switches]
            "broker_threads": broker_waits,
            "client_threads": client_waits,
            # when the slow records were sent (ms after the first send), to see whether they cluster
            "slow_at_ms": [
                [round((sent - samples[0][0]) / 1e6, 1), round(ms, 3)] for sent, ms in samples if ms > SLOW_MS
            ],
        }
        if variant.probe:
            result["attribution"] = attribute(samples, json.loads(probe_out.read_text()), marks)
            result["broker_produce_p99_ms_per_second"] = [w.get("0.99", float("nan")) for w in scraper.windows]
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_run(round_no: int, result: dict[str, Any]) -> None:
    rtt99 = result["rtt"]["p99_ms"]
    print(
        f"round {round_no} {result['variant']:>16}: p50 {result['p50_ms']:.3f}  p99 {result['p99_ms']:.3f}  "
        f"p99.9 {result['p999_ms']:.3f}  max {result['max_ms']:.3f} ms  (p99 = {result['p99_ms'] / rtt99:.1f} x "
        f"loopback RTT p99 {rtt99:.3f} ms; bulk produce {result['bulk_produce_records_per_s']:,.0f} records/s)",
        flush=True,
    )
    main = next(v for k, v in result["broker_threads"].items() if k.startswith("python"))
    print(
        f"    broker loop thread: {main[0]:.0f} ms on CPU, {main[1]:.0f} ms runnable but waiting for a CPU, "
        f"{main[2]:.0f} preemptions; client threads: "
        + ", ".join(f"{k.split('/')[0]} {v[0]:.0f}/{v[1]:.0f}" for k, v in list(result["client_threads"].items())[:4]),
        flush=True,
    )
    if "attribution" in result:
        a = result["attribution"]
        print(f"    records over {SLOW_MS} ms: {a['slow_records']}", flush=True)
        print(f"    broker gc during LAT (ms): {a['gc_during_lat']}", flush=True)
        print(f"    broker gen-2 collections [phase, ms, collected]: {a['gc_gen2']}", flush=True)
        print(f"    broker gc over the whole run (start-up, bulk, LAT; ms): {a['gc_whole_run']}", flush=True)
        print(f"    broker loop stalls > 0.5 ms during LAT: {a['stalls_during_lat']}", flush=True)
        print(f"    log appends' os.write() > 0.5 ms during LAT: {a['slow_writes_during_lat']}", flush=True)
        broker = [round(x, 3) for x in result["broker_produce_p99_ms_per_second"]]
        for count, stack in a["stall_stacks"]:
            print(f"      {count:4d} x loop thread at: {stack}", flush=True)
        print(f"    broker Produce p99 per second (ms, from /metrics): {broker}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 100,000 records, 2 s of LAT, 1 round")
    parser.add_argument("--rounds", type=int, help="default 3 (quick: 1)")
    parser.add_argument(
        "--variants", default="default,poll-thread,sync-first,gc-default", help=f"comma-separated: {sorted(VARIANTS)}"
    )
    parser.add_argument("--records", type=int, help="bulk records before LAT (default 1,000,000; quick: 100,000)")
    parser.add_argument("--seconds", type=float, help="LAT duration (default 10; quick: 2)")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument(
        "--py-spy", type=Path, help="record the broker during LAT with py-spy: FILE-<variant>-*.txt, raw stacks"
    )
    args = parser.parse_args(argv)
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; known: {sorted(VARIANTS)}")
    records, seconds, rounds, rtt_rounds = (100_000, 2.0, 1, 1_000) if args.quick else (1_000_000, 10.0, 3, 5_000)
    records = records if args.records is None else args.records
    seconds = seconds if args.seconds is None else args.seconds
    rounds = rounds if args.rounds is None else args.rounds
    print(json.dumps(machine()), flush=True)
    runs: list[dict[str, Any]] = []
    for round_no in range(rounds):
        for name in names if round_no % 2 == 0 else list(reversed(names)):
            result = one_run(name, VARIANTS[name], records, seconds, rtt_rounds, args.py_spy)
            result["round"] = round_no
            runs.append(result)
            print_run(round_no, result)
    medians = {}
    for name in names:
        mine = [r for r in runs if r["variant"] == name]
        medians[name] = {k: statistics.median(r[k] for r in mine) for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms")}
        medians[name]["rtt_p99_ms"] = statistics.median(r["rtt"]["p99_ms"] for r in mine)
    reference = medians[names[0]]
    for name, m in medians.items():
        print(
            f"median {name:>16}: p50 {m['p50_ms']:.3f}  p99 {m['p99_ms']:.3f}  p99.9 {m['p999_ms']:.3f}  "
            f"max {m['max_ms']:.3f} ms; p99 {m['p99_ms'] / m['rtt_p99_ms']:.1f} x loopback RTT p99; "
            f"p99 {m['p99_ms'] / reference['p99_ms']:.2f} x {names[0]}; target p99 < 1 ms: "
            f"{'met' if m['p99_ms'] < 1.0 else 'missed'}",
            flush=True,
        )
    write_result(args.out, "latency-tail", {"machine": machine(), "runs": runs, "medians": medians})
    return 0


if __name__ == "__main__":
    sys.exit(main())
