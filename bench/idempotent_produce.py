#!/usr/bin/env python3
"""Idempotent produce vs plain produce (issue 9, section 4): W1-style, one confluent-kafka producer.

    python bench/idempotent_produce.py            # 3 rounds x 1,000,000 records of 100 B per variant
    python bench/idempotent_produce.py --quick    # 2 rounds x 200,000 records

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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import HERE, alternating_rounds, median_rates, produce_workload, write_result

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
    args = parser.parse_args(argv)
    records = args.records or (200_000 if args.quick else 1_000_000)
    rounds = args.rounds or (2 if args.quick else 3)
    runs = alternating_rounds(
        list(VARIANTS),
        rounds,
        records,
        "bench-idem",
        lambda name, bootstrap, topic: produce_workload(bootstrap, topic, records, 100, VARIANTS[name]),
    )
    medians = median_rates(runs, list(VARIANTS))
    ratio = medians["idempotent"] / medians["plain"]
    print(f"ratio idempotent / plain = {ratio:.3f} (target >= 0.9: {'yes' if ratio >= 0.9 else 'NO'})")
    print(f"ratio idempotent / plain-inflight5 = {medians['idempotent'] / medians['plain-inflight5']:.3f}")
    write_result(args.out, "idempotent-produce", {"records": records, "runs": runs, "medians": medians, "ratio": ratio})
    return 0


if __name__ == "__main__":
    sys.exit(main())
