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
- `kafka_server_replicamanager_{partitioncount,leadercount,underreplicatedpartitions,underminisrpartitioncount,
  atminisrpartitioncount,offlinereplicacount}`, `kafka_log_log_{size,logstartoffset,logendoffset}{topic,partition}`:
  gauges read at scrape time from the partitions (`PartitionStats` supplied by the broker). As in Kafka's
  ReplicaManager, the under-replicated, under-min-ISR and at-min-ISR counts cover only the partitions this broker
  leads, so that summing a cluster's brokers counts each partition once.
- `kafka_server_replicamanager_{isrshrinks,isrexpands,failedisrupdates}_total`: counters (Kafka's IsrShrinksPerSec,
  IsrExpandsPerSec and FailedIsrUpdatesPerSec meters, exported by Strimzi's rules as `_total`), fed by the
  partition leaders through `isr_shrink`, `isr_expand` and `isr_update_failed`.
- `kafka_server_replicafetchermanager_maxlag{clientId="Replica"}`: the largest lag in messages of any partition
  this broker follows (the leader's high watermark minus the follower's fetch offset), fed by the replica fetchers
  through `fetcher_lag` / `fetcher_lag_removed`.
- `kafka_server_fetchsessioncache_{numincrementalfetchsessions,numincrementalfetchpartitionscached}`: gauges of
  the fetch session cache (KIP-227; Kafka's FetchSessionCache NumIncrementalFetchSessions and
  NumIncrementalFetchPartitionsCached), read at scrape time (`watch_fetch_sessions`), and
  `kafka_server_fetchsessioncache_incrementalfetchsessionevictions_total` (IncrementalFetchSessionEvictionsPerSec),
  fed through `fetch_session_evicted`.
- `kafka_server_socket_server_metrics_connection_count{listener}`.
- Re-authentication (KIP-368), Kafka's socket-server-metrics as Strimzi's rules name them:
  `kafka_server_socket_server_metrics_{successful,failed}_reauthentication_total{listener}` (counters, Kafka's
  successful-reauthentication-total and failed-reauthentication-total) and
  `kafka_server_socket_server_metrics_expired_connections_killed_count{listener}` (Kafka's
  expired-connections-killed-count: connections closed because their SASL session ended without
  re-authentication); fed by the SASL handlers and the dispatcher (`reauthenticated`, `expired_connection_killed`).
- Transactions: `kafka_server_replicamanager_{produceridcount,partitionswithlatetransactionscount}`,
  `kafka_cluster_partition_laststableoffsetlag{topic,partition}` (from the partitions), and the transaction
  coordinator's series of `transactions.TransactionCoordinatorCollector` (`watch_transactions`).
- Client quotas, Kafka's sensors `kafka.server:type={Produce,Fetch,Request},user=..,client-id=..` as the JMX
  exporter names them: `kafka_server_produce_byte_rate`, `kafka_server_fetch_byte_rate` (bytes/s),
  `kafka_server_request_request_time` (percent of one second), and `kafka_server_{produce,fetch,request}_throttle_time`
  (mean ms over the quota window), labelled `user` and `client_id` ("" for the side a quota is not kept per); only
  while a quota of that type exists (`watch_quotas`).
- Replication throttles, Kafka's `kafka.server:type=LeaderReplication,name=byte-rate` and
  `kafka.server:type=FollowerReplication,name=byte-rate`: `kafka_server_leaderreplication_byte_rate` and
  `kafka_server_followerreplication_byte_rate` (bytes/s of the throttled replicas' traffic, served as leader and
  fetched as follower; `watch_replication_quotas`).
- kafka_exporter's `kafka_topic_*` (from the partitions, with `watch_partitions`) and `kafka_consumergroup_*`
  (from the group coordinator, with `watch_groups`) series: see `consumer_lag`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from odradek.broker.metrics.consumer_lag import ConsumerGroupCollector, GroupOffsets, TopicOffsetsCollector
from odradek.broker.metrics.transactions import TransactionCoordinatorCollector, TransactionCoordinatorStats
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
    size_bytes: int
    log_start_offset: int
    log_end_offset: int
    high_watermark: int
    last_stable_offset: int = -1  # -1: not known (then no LastStableOffsetLag row)
    producer_ids: int = 0
    late_transaction: bool = False  # an open transaction older than transaction.max.timeout.ms + 5 min
    # The replication view (defaults: a single replica in sync, as before replication): the assigned replicas,
    # the ISR's size, the topic's min.insync.replicas, and whether this replica is offline (its log dir failed).
    replicas: int = 1
    isr: int = 1
    min_insync_replicas: int = 1
    offline: bool = False

    @property
    def under_replicated(self) -> bool:
        """Fewer replicas in sync than assigned (Kafka's Partition.isUnderReplicated)."""
        return self.isr < self.replicas

    @property
    def effective_min_isr(self) -> int:
        """Kafka's Partition.effectiveMinIsr: min.insync.replicas capped at the replication factor."""
        return min(self.min_insync_replicas, self.replicas)

    @property
    def under_min_isr(self) -> bool:
        """A led partition whose ISR is smaller than its effective min.insync.replicas (acks=all refused)."""
        return self.is_leader and self.isr < self.effective_min_isr

    @property
    def at_min_isr(self) -> bool:
        """A led partition whose ISR is exactly its effective min.insync.replicas (one more loss refuses acks=all)."""
        return self.is_leader and self.isr == self.effective_min_isr


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
        lso_lag = GaugeMetricFamily(
            "kafka_cluster_partition_laststableoffsetlag", "High watermark - last stable offset", labels=labels
        )
        for s in stats:
            if s.last_stable_offset >= 0:
                lso_lag.add_metric([s.topic, str(s.partition)], max(s.high_watermark - s.last_stable_offset, 0))
        yield size
        yield start
        yield end
        yield lso_lag
        yield GaugeMetricFamily(
            "kafka_server_replicamanager_produceridcount",
            "Producer ids in the logs",
            value=sum(s.producer_ids for s in stats),
        )
        yield GaugeMetricFamily(
            "kafka_server_replicamanager_partitionswithlatetransactionscount",
            "Partitions with a transaction open past transaction.max.timeout.ms",
            value=sum(s.late_transaction for s in stats),
        )
        yield GaugeMetricFamily("kafka_server_replicamanager_partitioncount", "Partitions", value=len(stats))
        yield GaugeMetricFamily(
            "kafka_server_replicamanager_leadercount", "Leaders", value=sum(s.is_leader for s in stats)
        )
        yield GaugeMetricFamily(
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Led partitions whose ISR is smaller than their replica set",
            value=sum(s.is_leader and s.under_replicated for s in stats),
        )
        yield GaugeMetricFamily(
            "kafka_server_replicamanager_underminisrpartitioncount",
            "Led partitions whose ISR is below min.insync.replicas",
            value=sum(s.under_min_isr for s in stats),
        )
        yield GaugeMetricFamily(
            "kafka_server_replicamanager_atminisrpartitioncount",
            "Led partitions whose ISR is exactly min.insync.replicas",
            value=sum(s.at_min_isr for s in stats),
        )
        yield GaugeMetricFamily(
            "kafka_server_replicamanager_offlinereplicacount",
            "Replicas of this broker that are offline (failed log dir)",
            value=sum(s.offline for s in stats),
        )


class _FetchSessionCacheCollector(Collector):
    """Kafka's FetchSessionCache gauges (the JMX exporter's names): sessions held and partitions cached."""

    def __init__(self) -> None:
        self.sessions: Callable[[], int] = lambda: 0
        self.partitions: Callable[[], int] = lambda: 0

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "kafka_server_fetchsessioncache_numincrementalfetchsessions",
            "Incremental fetch sessions in the fetch session cache",
            value=self.sessions(),
        )
        yield GaugeMetricFamily(
            "kafka_server_fetchsessioncache_numincrementalfetchpartitionscached",
            "Partitions cached over all incremental fetch sessions",
            value=self.partitions(),
        )


class _FetcherLagCollector(Collector):
    """Kafka's ReplicaFetcherManager MaxLag: the largest per-partition lag the fetchers last reported.

    Reported and read from different threads (the event loop, the metrics thread): the dict is replaced, never
    mutated in place, so a scrape always sees one consistent snapshot."""

    def __init__(self) -> None:
        self.lags: dict[tuple[str, int], int] = {}

    def set(self, topic: str, partition: int, lag: int) -> None:
        key, value = (topic, partition), max(0, lag)
        if self.lags.get(key) != value:  # the copy only on a change: an idle follower reports the same lag each fetch
            self.lags = {**self.lags, key: value}

    def remove(self, topic: str, partition: int) -> None:
        if (topic, partition) in self.lags:
            self.lags = {key: lag for key, lag in self.lags.items() if key != (topic, partition)}

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "kafka_server_replicafetchermanager_maxlag",
            "Largest lag in messages of a followed partition behind its leader",
            labels=["clientId"],
        )
        family.add_metric(["Replica"], max(self.lags.values(), default=0))
        yield family


class QuotaStats(Protocol):
    """One quota sensor (quota.manager.QuotaSensorStats)."""

    @property
    def group(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def rate(self) -> float: ...
    @property
    def throttle_time_ms(self) -> float: ...


class _QuotaCollector(Collector):
    def __init__(self, source: Callable[[], Iterable[QuotaStats]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}

        def family(name: str, doc: str) -> GaugeMetricFamily:
            if name not in families:
                families[name] = GaugeMetricFamily(name, doc, labels=["user", "client_id"])
            return families[name]

        for s in self.source():
            prefix = f"kafka_server_{s.group.lower()}_"
            labels = [s.user, s.client_id]
            family(prefix + s.metric.replace("-", "_"), f"{s.group} quota rate").add_metric(labels, s.rate)
            family(prefix + "throttle_time", f"{s.group} quota throttle time (ms)").add_metric(
                labels, s.throttle_time_ms
            )
        yield from families.values()


class _ReplicationQuotaCollector(Collector):
    def __init__(self, source: Callable[[], Iterable[tuple[str, float]]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        for group, rate in self.source():
            family = GaugeMetricFamily(
                f"kafka_server_{group.lower()}_byte_rate", f"{group} throttled replication bytes/s"
            )
            family.add_metric([], rate)
            yield family


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
        self.successful_reauthentication = Counter(
            "kafka_server_socket_server_metrics_successful_reauthentication",
            "Re-authentications that succeeded (KIP-368)",
            ["listener"],
            registry=r,
        )
        self.failed_reauthentication = Counter(
            "kafka_server_socket_server_metrics_failed_reauthentication",
            "Re-authentications that failed (the connection is closed)",
            ["listener"],
            registry=r,
        )
        self.expired_connections_killed = Gauge(
            "kafka_server_socket_server_metrics_expired_connections_killed_count",
            "Connections closed because their SASL session ended without re-authentication",
            ["listener"],
            registry=r,
        )
        self._latency = _LatencyCollector()
        r.register(self._latency)
        self.isr_shrinks = Counter("kafka_server_replicamanager_isrshrinks", "ISR shrinks", registry=r)
        self.isr_expands = Counter("kafka_server_replicamanager_isrexpands", "ISR expansions", registry=r)
        self.failed_isr_updates = Counter(
            "kafka_server_replicamanager_failedisrupdates", "ISR changes the metadata store refused", registry=r
        )
        self._fetcher_lag = _FetcherLagCollector()
        r.register(self._fetcher_lag)
        self.fetch_session_evictions = Counter(
            "kafka_server_fetchsessioncache_incrementalfetchsessionevictions",
            "Fetch sessions evicted from the fetch session cache",
            registry=r,
        )
        self._fetch_sessions = _FetchSessionCacheCollector()
        r.register(self._fetch_sessions)
        self._partitions: Callable[[], Iterable[PartitionStats]] = lambda: ()
        # The labelled children of the per-request and per-append counters, looked up once per label set:
        # `labels()` costs more than the increment, and these are counted for every request and every append.
        self._request_counters: dict[tuple[str, int], Any] = {}
        self._produce_counters: dict[str, tuple[tuple[Any, Any, Any], ...]] = {}

    def watch_partitions(self, source: Callable[[], Iterable[PartitionStats]]) -> None:
        """Report the partitions `source` yields (called at every scrape, from the metrics thread)."""
        self._partitions = source
        self.registry.register(_PartitionCollector(source))
        self.registry.register(TopicOffsetsCollector(source))

    def watch_groups(self, source: Callable[[], Iterable[GroupOffsets]]) -> None:
        """Report consumer-group offsets and lag for the groups `source` yields (called at every scrape, from the
        metrics thread, so it must return a snapshot), against the partitions given to `watch_partitions`."""
        self.registry.register(ConsumerGroupCollector(lambda: self._partitions(), source))

    def watch_transactions(self, source: Callable[[], TransactionCoordinatorStats]) -> None:
        """Report the transaction coordinator's `source` (called at every scrape, from the metrics thread)."""
        self.registry.register(TransactionCoordinatorCollector(source))

    def watch_quotas(self, source: Callable[[], Iterable[QuotaStats]]) -> None:
        """Report the client quota sensors `source` yields (called at every scrape, from the metrics thread)."""
        self.registry.register(_QuotaCollector(source))

    def watch_replication_quotas(self, source: Callable[[], Iterable[tuple[str, float]]]) -> None:
        """Report the replication throttles' byte rates `source` yields as (group, bytes/s), at every scrape."""
        self.registry.register(_ReplicationQuotaCollector(source))

    # ---- replication (called by the partition leaders and the replica fetchers) ----------------------------

    def isr_shrink(self, partitions: int = 1) -> None:
        """A leader removed lagging followers from the ISR of `partitions` partitions (the change committed)."""
        self.isr_shrinks.inc(partitions)

    def isr_expand(self, partitions: int = 1) -> None:
        """A leader added caught-up followers to the ISR of `partitions` partitions (the change committed)."""
        self.isr_expands.inc(partitions)

    def isr_update_failed(self) -> None:
        """An ISR change (AlterPartition) was refused: a stale leader epoch or partition epoch."""
        self.failed_isr_updates.inc()

    def fetcher_lag(self, topic: str, partition: int, lag: int) -> None:
        """A replica fetcher's latest lag of one followed partition: the leader's high watermark in the last fetch
        response minus the follower's next fetch offset (negative values count as 0)."""
        self._fetcher_lag.set(topic, partition, lag)

    def watch_fetch_sessions(self, sessions: Callable[[], int], partitions: Callable[[], int]) -> None:
        """The fetch session cache's size and cached partitions, read at scrape time."""
        self._fetch_sessions.sessions, self._fetch_sessions.partitions = sessions, partitions

    def fetch_session_evicted(self) -> None:
        self.fetch_session_evictions.inc()

    def fetcher_lag_removed(self, topic: str, partition: int) -> None:
        """The partition is no longer followed here (became leader, deleted, moved away)."""
        self._fetcher_lag.remove(topic, partition)

    def request_done(self, request: str, ms: float, version: int = -1) -> None:
        self._latency.observe(request, ms)
        if version >= 0:
            counter = self._request_counters.get((request, version))
            if counter is None:
                counter = self._request_counters[(request, version)] = self.requests.labels(request, str(version))
            counter.inc()

    def request_failed(self, request: str) -> None:
        self.errors.labels(request).inc()

    def reauthenticated(self, listener: str, succeeded: bool) -> None:
        """A re-authentication ended, well or not."""
        (self.successful_reauthentication if succeeded else self.failed_reauthentication).labels(listener).inc()

    def expired_connection_killed(self, listener: str) -> None:
        self.expired_connections_killed.labels(listener).inc()

    def produced(self, topic: str, messages: int, size: int) -> None:
        counters = self._produce_counters.get(topic)
        if counters is None:
            counters = self._produce_counters[topic] = tuple(
                (self.messages_in.labels(label), self.bytes_in.labels(label), self.total_produce.labels(label))
                for label in (topic, "")
            )
        for messages_in, bytes_in, total_produce in counters:
            messages_in.inc(messages)
            bytes_in.inc(size)
            total_produce.inc()

    def produce_failed(self, topic: str) -> None:
        for label in (topic, ""):
            self.total_produce.labels(label).inc()
            self.failed_produce.labels(label).inc()

    def fetched(self, topic: str, size: int, partitions: int = 1) -> None:
        """`partitions` of `topic` were read, `size` bytes in all (a fetch response adds its topics once each:
        per-partition label lookups were most of an idle follower fetch's metrics cost)."""
        for label in (topic, ""):
            self.bytes_out.labels(label).inc(size)
            self.total_fetch.labels(label).inc(partitions)

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
