"""Controller metrics under Kafka's names (the JMX exporter's `kafka.controller:type=KafkaController,name=*`,
lower-cased as Strimzi's rules do):

- `kafka_controller_kafkacontroller_activecontrollercount`: 1 on the broker that holds the controller claim, 0 on
  the others (so the sum over a cluster is 1);
- `kafka_controller_kafkacontroller_offlinepartitionscount`: partitions without a leader (leader -1);
- `kafka_controller_kafkacontroller_preferredreplicaimbalancecount`: partitions led by another broker than their
  preferred (first) replica;
- `kafka_controller_kafkacontroller_globalpartitioncount`, `..._globaltopiccount`: partitions and topics.

As in ZooKeeper-era Kafka, the partition gauges are reported by the active controller only (0 elsewhere), read from
its metadata image at scrape time (`ControllerStats`, supplied by the controller).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ControllerCollector", "ControllerStats"]

PREFIX = "kafka_controller_kafkacontroller_"


@dataclass(frozen=True, slots=True)
class ControllerStats:
    active: bool = False
    offline_partitions: int = 0
    preferred_replica_imbalance: int = 0
    global_partitions: int = 0
    global_topics: int = 0


class ControllerCollector(Collector):
    def __init__(self, source: Callable[[], ControllerStats]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        stats = self.source()
        if not stats.active:
            stats = ControllerStats()
        rows = (
            ("activecontrollercount", "1 on the active controller", int(stats.active)),
            ("offlinepartitionscount", "Partitions without a leader", stats.offline_partitions),
            (
                "preferredreplicaimbalancecount",
                "Partitions not led by their preferred replica",
                stats.preferred_replica_imbalance,
            ),
            ("globalpartitioncount", "Partitions in the cluster", stats.global_partitions),
            ("globaltopiccount", "Topics in the cluster", stats.global_topics),
        )
        for name, doc, value in rows:
            yield GaugeMetricFamily(PREFIX + name, doc, value=value)
