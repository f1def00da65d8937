"""Broker metrics under the names Kafka users chart (Strimzi's JMX-exporter rules, lower-cased).

- `kafka_server_brokertopicmetrics_{messagesin,bytesin,bytesout,totalproducerequests,totalfetchrequests,
  failedproducerequests,failedfetchrequests,producemessageconversions,fetchmessageconversions}_total{topic}`:
  counters (the conversions count records, as Kafka's ProduceMessageConversionsPerSec and
  FetchMessageConversionsPerSec do); the row with `topic=""` is the broker-wide
  total (Prometheus treats an empty label as an absent one, which is how the JMX exporter's row without a topic
  label looks to PromQL).
- `kafka_network_requestmetrics_totaltimems{request,quantile}` and `_count`: request latency in ms by API, as
  summary-style quantiles over the last 1024 requests of each API (what a JMX histogram reports).
- `kafka_network_requestmetrics_requests_total{request,version}`, `kafka_network_requestmetrics_errors_total{request}`.
- `kafka_server_replicamanager_{partitioncount,leadercount,underreplicatedpartitions}`,
  `kafka_log_log_{size,logstartoffset,logendoffset}{topic,partition}`: gauges read at scrape time from the
  partitions (`PartitionStats` supplied by the broker).
- `kafka_server_socket_server_metrics_connection_count{listener}`.
- kafka_exporter's `kafka_topic_*` (from the partitions, with `watch_partitions`) and `kafka_consumergroup_*`
  (from the group coordinator, with `watch_groups`) series: see `consumer_lag`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from odradek.broker.metrics.consumer_lag import ConsumerGroupCollector, GroupOffsets, TopicOffsetsCollector
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Kafka's JMX counters have no creation timestamp; neither should ours (no *_created series).
disable_created_metrics()  # type: ignore[no-untyped-call]

QUANTILES = (0.5, 0.75, 0.95, 0.98, 0.99, 0.999)
WINDOW = 1024


@dataclass(frozen=True, slots=True)
class PartitionStats:
    topic: str
    partition: int
    is_leader: bool
    under_replicated: bool
    size_bytes: int
    log_start_offset: int
    log_end_offset: int
    high_watermark: int


class _LatencyCollector(Collector):
    def __init__(self) -> None:
        self.windows: dict[str, deque[float]] = {}
        self.counts: dict[str, int] = {}

    def observe(self, request: str, ms: float) -> None:
        window = self.windows.get(request)
        if window is None:
            window = self.windows[request] = deque(maxlen=WINDOW)
        window.append(ms)
        self.counts[request] = self.counts.get(request, 0) + 1

    def collect(self) -> Iterator[Metric]:
        quantiles = GaugeMetricFamily(
            "kafka_network_requestmetrics_totaltimems",
            "Request total time in ms",
            labels=["request", "quantile"],
        )
        counts = GaugeMetricFamily(
            "kafka_network_requestmetrics_totaltimems_count", "Requests measured", labels=["request"]
        )
        for request, window in sorted(self.windows.items()):
            ordered = sorted(window)
            for q in QUANTILES:
                index = min(len(ordered) - 1, int(q * len(ordered)))
                quantiles.add_metric([request, str(q)], ordered[index])
            counts.add_metric([request], self.counts[request])
        yield quantiles
        yield counts


class _PartitionCollector(Collector):
    def __init__(self, source: Callable[[], Iterable[PartitionStats]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        stats = list(self.source())
        labels = ["topic", "partition"]
        size = GaugeMetricFamily("kafka_log_log_size", "Partition size in bytes", labels=labels)
        start = GaugeMetricFamily("kafka_log_log_logstartoffset", "Log start offset", labels=labels)
        end = GaugeMetricFamily("kafka_log_log_logendoffset", "Log end offset", labels=labels)
        for s in stats:
            key = [s.topic, str(s.partition)]
            size.add_metric(key, s.size_bytes)
            start.add_metric(key, s.log_start_offset)
            end.add_metric(key, s.log_end_offset)
        yield size
        yield start
        yield end
        yield GaugeMetricFamily("kafka_server_replicamanager_partitioncount", "Partitions", value=len(stats))
        yield GaugeMetricFamily(
            "kafka_server_replicamanager_leadercount", "Leaders", value=sum(s.is_leader for s in stats)
        )
        yield GaugeMetricFamily(
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Under-replicated partitions",
            value=sum(s.under_replicated for s in stats),
        )


def _topic_counter(registry: CollectorRegistry, name: str, doc: str) -> Counter:
    return Counter(f"kafka_server_brokertopicmetrics_{name}", doc, ["topic"], registry=registry)


class BrokerMetrics:
    """The broker's metrics registry; handlers and the replica manager report into it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_in = _topic_counter(r, "messagesin", "Messages appended")
        self.bytes_in = _topic_counter(r, "bytesin", "Bytes appended from clients")
        self.bytes_out = _topic_counter(r, "bytesout", "Bytes sent to fetchers")
        self.total_produce = _topic_counter(r, "totalproducerequests", "Produce requests (per topic)")
        self.total_fetch = _topic_counter(r, "totalfetchrequests", "Fetch requests (per topic)")
        self.failed_produce = _topic_counter(r, "failedproducerequests", "Failed produce requests (per topic)")
        self.failed_fetch = _topic_counter(r, "failedfetchrequests", "Failed fetch requests (per topic)")
        self.produce_conversions = _topic_counter(
            r, "producemessageconversions", "Records converted from message format v0/v1 to v2 on produce"
        )
        self.fetch_conversions = _topic_counter(
            r, "fetchmessageconversions", "Records down-converted to message format v0/v1 for old fetchers"
        )
        self.requests = Counter(
            "kafka_network_requestmetrics_requests",
            "Requests by API and version",
            ["request", "version"],
            registry=r,
        )
        self.errors = Counter("kafka_network_requestmetrics_errors", "Requests that raised", ["request"], registry=r)
        self.connections = Gauge(
            "kafka_server_socket_server_metrics_connection_count",
            "Open connections",
            ["listener"],
            registry=r,
        )
        self._latency = _LatencyCollector()
        r.register(self._latency)
        self._partitions: Callable[[], Iterable[PartitionStats]] = lambda: ()

    def watch_partitions(self, source: Callable[[], Iterable[PartitionStats]]) -> None:
        """Report the partitions `source` yields (called at every scrape, from the metrics thread)."""
        self._partitions = source
        self.registry.register(_PartitionCollector(source))
        self.registry.register(TopicOffsetsCollector(source))

    def watch_groups(self, source: Callable[[], Iterable[GroupOffsets]]) -> None:
        """Report consumer-group offsets and lag for the groups `source` yields (called at every scrape, from the
        metrics thread, so it must return a snapshot), against the partitions given to `watch_partitions`."""
        self.registry.register(ConsumerGroupCollector(lambda: self._partitions(), source))

    def request_done(self, request: str, ms: float, version: int = -1) -> None:
        self._latency.observe(request, ms)
        if version >= 0:
            self.requests.labels(request, str(version)).inc()

    def request_failed(self, request: str) -> None:
        self.errors.labels(request).inc()

    def produced(self, topic: str, messages: int, size: int) -> None:
        for label in (topic, ""):
            self.messages_in.labels(label).inc(messages)
            self.bytes_in.labels(label).inc(size)
            self.total_produce.labels(label).inc()

    def produce_failed(self, topic: str) -> None:
        for label in (topic, ""):
            self.total_produce.labels(label).inc()
            self.failed_produce.labels(label).inc()

    def fetched(self, topic: str, size: int) -> None:
        for label in (topic, ""):
            self.bytes_out.labels(label).inc(size)
            self.total_fetch.labels(label).inc()

    def produce_converted(self, topic: str, records: int) -> None:
        for label in (topic, ""):
            self.produce_conversions.labels(label).inc(records)

    def fetch_converted(self, topic: str, records: int) -> None:
        for label in (topic, ""):
            self.fetch_conversions.labels(label).inc(records)

    def fetch_failed(self, topic: str) -> None:
        for label in (topic, ""):
            self.total_fetch.labels(label).inc()
            self.failed_fetch.labels(label).inc()
