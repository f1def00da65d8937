#!/usr/bin/env python3
"""Transactional produce vs the idempotent producer (issue 9, section 4): W1-style, one confluent-kafka producer.

    python bench/transactional_produce.py            # 3 rounds x 200,000 records of 100 B per variant
    python bench/transactional_produce.py --quick    # 2 rounds x 50,000 records

The script starts a broker (bench/run.py's `broker_process`) and, in each round, produces the same number of
100-byte records to a fresh one-partition topic once per variant: idempotent (`enable.idempotence=true`, run.py's
`produce_workload`) and transactional with transactions of 100, 1,000 and 10,000 records (`transactional.id`: begin,
produce N records, commit; the time runs from the end of InitProducerId until the last commit returned, so it
includes every AddPartitionsToTxn, EndTxn and its markers). The idempotent run's clock likewise starts once its
first record is acknowledged (`produce_workload(warm_up=True)`): both leave out the producer's start, which for the
idempotent producer is about 500 ms of librdkafka's PID retry timer (bench/RESULTS.md, "Idempotent produce");
`--include-startup` puts it back in both clocks. Variants alternate their order between rounds. Printed: each
run's records/s, its start-up time, the EndTxn (commit_transaction) latency p50/p99 of the transactional runs,
the median of each variant and the ratios transactional / idempotent (issue 9's target for 1,000-record
transactions: >= 0.7). A JSON goes to bench/out/.

`--baseline DIR` (a tree with a broker/ directory, e.g. `git archive main broker | tar -x -C /tmp/base`): every
round runs the variants on a fresh broker from DIR and on one from this tree, the trees' order reversed every other
round; printed per tree: the medians, the EndTxn latency and the broker CPU per transaction, and the ratios this
tree / baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from confluent_kafka import Producer
from run import (
    HERE,
    REPO,
    alternating_rounds,
    median_rates,
    produce_workload,
    tree_medians,
    tree_rounds,
    write_result,
)

SIZE = 100
TRANSACTION_SIZES = (100, 1000, 10000)
VARIANTS = ("idempotent", *(f"txn-{n}" for n in TRANSACTION_SIZES))


def transactional_workload(
    bootstrap: str, topic: str, records: int, per_transaction: int, include_startup: bool = False
) -> dict[str, Any]:
    """Produce `records` 100-byte values in transactions of `per_transaction` records; records/s from the end of
    InitProducerId (`include_startup`: from before it) until the last commit returned, the time InitProducerId took
    (`startup_s`) and the commit_transaction latencies (ms)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "log_level": 0,
            "transactional.id": f"bench-{uuid.uuid4().hex[:8]}",
            "linger.ms": 5,
        }
    )
    payload = os.urandom(SIZE)
    produce, poll = producer.produce, producer.poll
    commits: list[float] = []
    started = time.perf_counter()
    producer.init_transactions(30)
    startup_s = time.perf_counter() - started
    start = started if include_startup else time.perf_counter()
    sent = 0
    while sent < records:
        producer.begin_transaction()
        for _ in range(min(per_transaction, records - sent)):
            while True:
                try:
                    produce(topic, payload)
                    break
                except BufferError:
                    poll(0.005)
            sent += 1
        began = time.perf_counter()
        producer.commit_transaction(60)
        commits.append((time.perf_counter() - began) * 1000)
    elapsed = time.perf_counter() - start
    commits.sort()
    return {
        "records": records,
        "seconds": elapsed,
        "records_per_s": records / elapsed,
        "commit_ms_p50": commits[len(commits) // 2],
        "commit_ms_p99": commits[min(len(commits) - 1, int(len(commits) * 0.99))],
        "transactions": len(commits),
        "startup_s": startup_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 50,000 records")
    parser.add_argument("--records", type=int, help="records per run (default 200,000; quick 50,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; quick 2)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="directory for the JSON result")
    parser.add_argument("--include-startup", action="store_true", help="clocks from the producer's start")
    parser.add_argument("--baseline", type=Path, help="another tree (with broker/) measured in alternating rounds")
    args = parser.parse_args(argv)
    records = args.records or (50_000 if args.quick else 200_000)
    rounds = args.rounds or (2 if args.quick else 3)

    def workload(name: str, bootstrap: str, topic: str) -> dict[str, Any]:
        if name == "idempotent":
            conf = {"enable.idempotence": True}
            return produce_workload(bootstrap, topic, records, SIZE, conf, warm_up=not args.include_startup)
        return transactional_workload(bootstrap, topic, records, int(name.split("-")[1]), args.include_startup)

    def describe(result: dict[str, Any]) -> str:
        startup = f", startup {result['startup_s'] * 1000:.0f} ms" if "startup_s" in result else ""
        if "commit_ms_p50" not in result:
            return startup
        return f"{startup}, EndTxn p50 {result['commit_ms_p50']:.1f} ms p99 {result['commit_ms_p99']:.1f} ms"

    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve(), "this tree": REPO}
        runs = tree_rounds(trees, list(VARIANTS), rounds, records, "bench-txn", workload, describe)
        for run in runs:
            run["broker_cpu_s_per_million"] = run["broker_cpu_s"] / records * 1e6
        rates = tree_medians(runs, list(VARIANTS), "records_per_s")
        cpu = tree_medians(runs, list(VARIANTS), "broker_cpu_s_per_million")
        txn_variants = [name for name in VARIANTS if name != "idempotent"]
        p50 = tree_medians(runs, txn_variants, "commit_ms_p50")
        for tree in rates:
            for name in VARIANTS:
                print(
                    f"median {tree:>9} {name:>10} {rates[tree][name]:>10,.0f} records/s, "
                    f"broker CPU {cpu[tree][name]:.2f} s per million records"
                )
            for name in txn_variants:
                per_txn_ms = (cpu[tree][name] - cpu[tree]["idempotent"]) / (1e6 / int(name.split("-")[1])) * 1000
                print(
                    f"{tree:>9} {name}: {rates[tree][name] / rates[tree]['idempotent']:.3f} x idempotent, "
                    f"EndTxn p50 {p50[tree][name]:.2f} ms, broker CPU per transaction {per_txn_ms:.2f} ms"
                )
        for name in VARIANTS:
            print(
                f"ratio this tree / baseline {name:>10}: {rates['this tree'][name] / rates['baseline'][name]:.3f} x "
                f"records/s, {cpu['this tree'][name] / cpu['baseline'][name]:.3f} x broker CPU"
            )
        result = {"records": records, "runs": runs, "medians": rates, "cpu_s_per_million": cpu, "commit_ms_p50": p50}
        write_result(args.out, "transactional-produce-baseline", result)
        return 0
    runs = alternating_rounds(list(VARIANTS), rounds, records, "bench-txn", workload, describe)
    medians = median_rates(runs, list(VARIANTS))
    ratios = {name: medians[name] / medians["idempotent"] for name in VARIANTS if name != "idempotent"}
    for name, ratio in ratios.items():
        target = " (target >= 0.7: " + ("yes)" if ratio >= 0.7 else "NO)") if name == "txn-1000" else ""
        print(f"ratio {name} / idempotent = {ratio:.3f}{target}")
    write_result(
        args.out, "transactional-produce", {"records": records, "runs": runs, "medians": medians, "ratios": ratios}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
