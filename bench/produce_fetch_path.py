"""Produce and fetch path, side by side: this checkout's broker against a baseline checkout's, in one run.

Issue 8 moved produce and fetch into the ReplicaManager (DelayedProduce/DelayedFetch in purgatories, fetch
records written by the codec as file regions); this measures that the paths are no slower. For each broker, in
alternating order for `--rounds` rounds (so that load from other processes falls on both alike):

  produce   `--records` records of `--size` B, acks=all, default batching (bench/run.py's W1 producer);
  consume   the same records from the start, assign mode, fetch.queue.backoff.ms=10 (run.py's W1 consumer);
  broker CPU per record, for each: the broker process's CPU time over the workload / records, in microseconds
            (less sensitive than rates to other processes taking the cores, which a shared machine has);
  LAT       `--latency-seconds` of 1,000 records/s, linger.ms=0, acks=all: produce-to-ack p50/p99.

Each figure is the best of its rounds (the least disturbed by other load); printed with the ratio
current / baseline (for latencies, lower is better). The baseline is a checkout of another commit, e.g.

    git worktree add /tmp/baseline d439282
    python bench/produce_fetch_path.py --baseline /tmp/baseline
    git worktree remove /tmp/baseline

Each broker runs with PYTHONPATH=<checkout>/broker and its data in its own temp dir.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from run import (
    FAST_FETCH,
    REPO,
    broker_process,
    consume_workload,
    create_topic,
    latency_workload,
    process_cpu_s,
    produce_workload,
    settle,
)

# (label, key, unit, higher is better)
FIGURES = [
    ("produce", "produce_records_per_s", "records/s", True),
    ("produce broker CPU", "produce_broker_us_per_record", "us/record", False),
    ("consume", "consume_records_per_s", "records/s", True),
    ("consume broker CPU", "consume_broker_us_per_record", "us/record", False),
    ("LAT p50", "lat_p50_ms", "ms", False),
    ("LAT p99", "lat_p99_ms", "ms", False),
]


def measure(checkout: Path, work: Path, args: argparse.Namespace, round_no: int) -> dict[str, float]:
    data_dir = work / f"{checkout.name}-{round_no}"
    with broker_process(data_dir, work / f"{checkout.name}-{round_no}.log", checkout=checkout) as (bootstrap, pid):
        create_topic(bootstrap, "path")
        cpu0 = process_cpu_s(pid)
        produced = produce_workload(bootstrap, "path", args.records, args.size, {})
        produce_cpu_s = process_cpu_s(pid) - cpu0
        consumed = consume_workload(bootstrap, "path", args.records, FAST_FETCH, broker_pid=pid)
        settle()
        create_topic(bootstrap, "path-lat")
        latency = latency_workload(bootstrap, "path-lat", args.latency_seconds)
    shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "produce_records_per_s": produced["records_per_s"],
        "produce_broker_us_per_record": produce_cpu_s / args.records * 1e6,
        "consume_records_per_s": consumed["records_per_s"],
        "consume_broker_us_per_record": consumed["broker_cores"] * consumed["seconds"] / args.records * 1e6,
        "lat_p50_ms": latency["p50_ms"],
        "lat_p99_ms": latency["p99_ms"],
    }


def best(runs: list[dict[str, float]], key: str, higher: bool) -> float:
    pick: Callable[[list[float]], float] = max if higher else min
    return pick([run[key] for run in runs])


def report(baseline: list[dict[str, float]], current: list[dict[str, float]], labels: tuple[str, str]) -> None:
    print(f"  {'figure':<20} {labels[0]:>16} {labels[1]:>16}  {'unit':<10} current/baseline", flush=True)
    for label, key, unit, higher in FIGURES:
        old, new = best(baseline, key, higher), best(current, key, higher)
        ratio = new / old if old else float("nan")
        better = "higher is better" if higher else "lower is better"
        print(f"  {label:<20} {old:16.3f} {new:16.3f}  {unit:<10} {ratio:6.3f} ({better})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, default=Path("/tmp/baseline"), help="checkout to compare with")
    parser.add_argument("--current", type=Path, default=REPO, help="checkout measured (default: this one)")
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--latency-seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if not (args.baseline / "broker" / "odradek" / "broker").is_dir():
        parser.error(f"{args.baseline} is not an Odradek checkout (git worktree add {args.baseline} <commit>)")
    runs: dict[Path, list[dict[str, Any]]] = {args.baseline: [], args.current: []}
    with tempfile.TemporaryDirectory(prefix="odradek-path-") as tmp:
        for round_no in range(args.rounds):
            order = [args.baseline, args.current] if round_no % 2 == 0 else [args.current, args.baseline]
            for checkout in order:
                result = measure(checkout, Path(tmp), args, round_no)
                runs[checkout].append(result)
                figures = ", ".join(f"{key} {value:.3f}" for key, value in result.items())
                print(f"round {round_no + 1} {checkout}: {figures}", flush=True)
    print(f"Best of {args.rounds} rounds, {args.records} records of {args.size} B:")
    report(runs[args.baseline], runs[args.current], ("baseline", "current"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
