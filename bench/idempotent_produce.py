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
import datetime
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import HERE, broker_process, create_topic, process_cpu_s, produce_workload, settle

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
    work = Path(tempfile.mkdtemp(prefix="odradek-bench-idem-"))
    runs: list[dict[str, Any]] = []
    try:
        with broker_process(work / "logs", work / "broker.log") as (bootstrap, pid):
            for round_no in range(rounds):
                order = list(VARIANTS) if round_no % 2 == 0 else list(reversed(VARIANTS))
                for name in order:
                    topic = f"bench-idem-{name}-{round_no}"
                    create_topic(bootstrap, topic)
                    settle()
                    cpu_before = process_cpu_s(pid)
                    result = produce_workload(bootstrap, topic, records, 100, VARIANTS[name])
                    broker_cpu = process_cpu_s(pid) - cpu_before
                    run = {"variant": name, "round": round_no, **result, "broker_cpu_s": broker_cpu}
                    runs.append(run)
                    print(
                        f"round {round_no} {name:>15}: {result['records_per_s']:>12,.0f} records/s, "
                        f"broker CPU {broker_cpu / records * 1e6:.2f} s per million records",
                        flush=True,
                    )
                    time.sleep(0.5)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: statistics.median(r["records_per_s"] for r in runs if r["variant"] == name) for name in VARIANTS}
    ratio = medians["idempotent"] / medians["plain"]
    for name, median in medians.items():
        print(f"median {name:>15} {median:>12,.0f} records/s")
    print(f"ratio idempotent / plain = {ratio:.3f} (target >= 0.9: {'yes' if ratio >= 0.9 else 'NO'})")
    print(f"ratio idempotent / plain-inflight5 = {medians['idempotent'] / medians['plain-inflight5']:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out / f"idempotent-produce-{stamp}.json"
    out.write_text(json.dumps({"records": records, "runs": runs, "medians": medians, "ratio": ratio}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
