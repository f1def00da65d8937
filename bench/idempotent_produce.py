#!/usr/bin/env python3
"""Idempotent produce vs plain produce (issue 9, section 4): W1-style, one confluent-kafka producer.

    python bench/idempotent_produce.py            # 3 rounds x 1,000,000 records of 100 B per variant
    python bench/idempotent_produce.py --quick    # 2 rounds x 200,000 records
    python bench/idempotent_produce.py --baseline /tmp/base   # also a broker from another tree, rounds alternating

The script starts a broker (bench/run.py's `broker_process`: a free 127.0.0.1 port, a temp log dir) and, in each
round, produces the same number of 100-byte records to a fresh one-partition topic once per variant, with
run.py's `produce_workload` (acks=all, default batching, time until every record is acknowledged): plain
(`enable.idempotence=false`, librdkafka's default) and idempotent (`enable.idempotence=true`: InitProducerId,
then sequence numbers checked by the broker's producer state per batch, at most 5 requests in flight). The order of
the variants alternates between rounds so none always runs on a warmer broker. A third variant, plain with
`max.in.flight.requests.per.connection=5` (the cap librdkafka puts on idempotent producers), shows how much of a
gap is the client's pipelining rather than the broker. Printed: each run's records/s and the broker's CPU
seconds per million records, the median of each variant, and the ratios idempotent / plain (target >= 0.9) and
idempotent / plain-inflight5. A JSON goes to bench/out/.

Each run's clock starts once the producer has had one record acknowledged (`produce_workload(warm_up=True)`; the
time to that first acknowledgement is printed as "startup"): librdkafka's idempotent producer spends about 500 ms
of its start waiting for its PID state machine's retry timer, whatever the broker, which a 1,000,000-record run
would otherwise count as produce time (bench/RESULTS.md). `--include-startup` measures as before (the clock from
the first produce() call), to show that cost.

`--baseline DIR` (a tree with a broker/ directory, e.g. `git archive main broker | tar -x -C /tmp/base`): every
round runs the variants on a fresh broker from DIR and on one from this tree, the trees' order reversed every other
round, and prints the medians per tree and the ratios this tree / baseline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import HERE, REPO, alternating_rounds, median_rates, produce_workload, tree_medians, tree_rounds, write_result

VARIANTS = {
    "plain": {"enable.idempotence": False},
    "idempotent": {"enable.idempotence": True},
    # librdkafka caps an idempotent producer at 5 requests in flight per connection (plain: 1,000,000): this
    # variant separates what the cap costs from what the broker's producer-state checks cost.
    "plain-inflight5": {"enable.idempotence": False, "max.in.flight.requests.per.connection": 5},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 200,000 records")
    parser.add_argument("--records", type=int, help="records per run (default 1,000,000; quick 200,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; quick 2)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="directory for the JSON result")
    parser.add_argument("--include-startup", action="store_true", help="clock from the first produce() call")
    parser.add_argument("--baseline", type=Path, help="another tree (with broker/) measured in alternating rounds")
    args = parser.parse_args(argv)
    records = args.records or (200_000 if args.quick else 1_000_000)
    rounds = args.rounds or (2 if args.quick else 3)
    warm_up = not args.include_startup

    def workload(name: str, bootstrap: str, topic: str) -> dict[str, Any]:
        return produce_workload(bootstrap, topic, records, 100, VARIANTS[name], warm_up=warm_up)

    def describe(result: dict[str, Any]) -> str:
        return f", startup {result['startup_s'] * 1000:.0f} ms" if "startup_s" in result else ""

    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve(), "this tree": REPO}
        runs = tree_rounds(trees, list(VARIANTS), rounds, records, "bench-idem", workload, describe)
        rates = tree_medians(runs, list(VARIANTS), "records_per_s")
        for tree, medians in rates.items():
            for name, median in medians.items():
                print(f"median {tree:>9} {name:>15} {median:>12,.0f} records/s")
            print(f"ratio {tree:>9} idempotent / plain = {medians['idempotent'] / medians['plain']:.3f}")
        for name in VARIANTS:
            print(f"ratio this tree / baseline {name:>15}: {rates['this tree'][name] / rates['baseline'][name]:.3f}")
        result: dict[str, Any] = {"records": records, "warm_up": warm_up, "runs": runs, "medians": rates}
        write_result(args.out, "idempotent-produce-baseline", result)
        return 0
    runs = alternating_rounds(list(VARIANTS), rounds, records, "bench-idem", workload, describe)
    medians = median_rates(runs, list(VARIANTS))
    ratio = medians["idempotent"] / medians["plain"]
    print(f"ratio idempotent / plain = {ratio:.3f} (target >= 0.9: {'yes' if ratio >= 0.9 else 'NO'})")
    print(f"ratio idempotent / plain-inflight5 = {medians['idempotent'] / medians['plain-inflight5']:.3f}")
    result = {"records": records, "warm_up": warm_up, "runs": runs, "medians": medians, "ratio": ratio}
    write_result(args.out, "idempotent-produce", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
