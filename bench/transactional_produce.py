#!/usr/bin/env python3
"""Transactional produce vs the idempotent producer (issue 9, section 4): W1-style, one confluent-kafka producer.

    python bench/transactional_produce.py            # 3 rounds x 200,000 records of 100 B per variant
    python bench/transactional_produce.py --quick    # 2 rounds x 50,000 records

The script starts a broker (bench/run.py's `broker_process`) and, in each round, produces the same number of
100-byte records to a fresh one-partition topic once per variant: idempotent (`enable.idempotence=true`, run.py's
`produce_workload`) and transactional with transactions of 100 and of 1,000 records (`transactional.id`: begin,
produce N records, commit; the time runs from InitProducerId, as the idempotent run's time includes its
InitProducerId, until the last commit returned, so it includes every EndTxn and its markers). Variants alternate
their order between rounds. Printed: each run's records/s, the EndTxn (commit_transaction) latency p50/p99 of the
transactional runs, the median of each variant and the ratios transactional / idempotent (issue 9's target for
1,000-record transactions: >= 0.7). A JSON goes to bench/out/.
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
from run import HERE, alternating_rounds, median_rates, produce_workload, write_result

SIZE = 100
TRANSACTION_SIZES = (100, 1000)
VARIANTS = ("idempotent", *(f"txn-{n}" for n in TRANSACTION_SIZES))


def transactional_workload(bootstrap: str, topic: str, records: int, per_transaction: int) -> dict[str, Any]:
    """Produce `records` 100-byte values in transactions of `per_transaction` records; records/s until the last
    commit returned, and the commit_transaction latencies (ms)."""
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
    # From before InitProducerId, as produce_workload's clock includes the idempotent producer's InitProducerId.
    start = time.perf_counter()
    producer.init_transactions(30)
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
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 50,000 records")
    parser.add_argument("--records", type=int, help="records per run (default 200,000; quick 50,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; quick 2)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="directory for the JSON result")
    args = parser.parse_args(argv)
    records = args.records or (50_000 if args.quick else 200_000)
    rounds = args.rounds or (2 if args.quick else 3)

    def workload(name: str, bootstrap: str, topic: str) -> dict[str, Any]:
        if name == "idempotent":
            return produce_workload(bootstrap, topic, records, SIZE, {"enable.idempotence": True})
        return transactional_workload(bootstrap, topic, records, int(name.split("-")[1]))

    def describe(result: dict[str, Any]) -> str:
        if "commit_ms_p50" not in result:
            return ""
        return f", EndTxn p50 {result['commit_ms_p50']:.1f} ms p99 {result['commit_ms_p99']:.1f} ms"

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
