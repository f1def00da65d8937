"""The transaction coordinator's metrics, under the names Kafka's JMX exporter gives Kafka's (lower-cased, `-` as `_`):

- `kafka_server_transaction_coordinator_metrics_partition_load_time_max` and `..._avg`: ms to load a
  `__transaction_state` partition, over the loads of the last 30 s (Kafka's TransactionStateManager sensor in
  group `transaction-coordinator-metrics`; NaN when none, as Kafka's Max and Avg of an empty window).
- `kafka_coordinator_transaction_transactionmarkerchannelmanager_unknowndestinationqueuesize`: markers waiting
  because their partition's leader is not known here (Kafka's TransactionMarkerChannelManager gauge).
- `kafka_coordinator_transaction_transactionmarkerchannelmanager_logappendretryqueuesize`: transactions whose
  markers are written but whose CompleteCommit/CompleteAbort write failed and waits to be retried.
- `odradek_transaction_coordinator_transactional_ids{state}`: transactional ids this broker coordinates, by
  state (Kafka has no such gauge; named for Odradek).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LOAD_TIME_WINDOW_MS = 30_000


@dataclass(frozen=True, slots=True)
class TransactionCoordinatorStats:
    """A snapshot of the transaction coordinator for one scrape."""

    load_times_ms: tuple[float, ...] = ()  # partition loads finished in the last 30 s
    unknown_destination_markers: int = 0
    log_append_retries: int = 0
    transactional_ids: Mapping[str, int] = field(default_factory=dict)  # state name -> count


class TransactionCoordinatorCollector(Collector):
    def __init__(self, source: Callable[[], TransactionCoordinatorStats]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        stats = self.source()
        loads = stats.load_times_ms
        prefix = "kafka_server_transaction_coordinator_metrics_partition_load_time"
        yield GaugeMetricFamily(
            f"{prefix}_max",
            "The max time it took to load the partitions in the last 30sec",
            value=max(loads, default=math.nan),
        )
        yield GaugeMetricFamily(
            f"{prefix}_avg",
            "The avg time it took to load the partitions in the last 30sec",
            value=sum(loads) / len(loads) if loads else math.nan,
        )
        channel = "kafka_coordinator_transaction_transactionmarkerchannelmanager"
        yield GaugeMetricFamily(
            f"{channel}_unknowndestinationqueuesize",
            "Markers waiting for their partition's leader",
            value=stats.unknown_destination_markers,
        )
        yield GaugeMetricFamily(
            f"{channel}_logappendretryqueuesize",
            "Transactions waiting to retry their Complete write",
            value=stats.log_append_retries,
        )
        ids = GaugeMetricFamily(
            "odradek_transaction_coordinator_transactional_ids", "Transactional ids by state", labels=["state"]
        )
        for state, count in sorted(stats.transactional_ids.items()):
            ids.add_metric([state], count)
        yield ids
