"""Connect's metrics under the names Kafka Connect users chart: Kafka's Connect MBeans (`kafka.connect:type=...`)
as the Prometheus JMX exporter's generic rule names them (`kafka_<domain>_<type>_<attribute>`, dashes to
underscores, `-total` attributes as counters), plus Strimzi's status rules (`kafka_connect_connector_status`,
`kafka_connect_connector_task_status`: value 1, the state as a label).

Collected when Prometheus scrapes (`ConnectCollector`): the tasks keep plain integer counters on their hot paths,
and nothing else runs per record. Served on the worker's `metrics.port` (`/metrics`; 0, the default, turns it off)
at `metrics.host`.

| metric | labels | from |
|---|---|---|
| `kafka_connect_connect_worker_metrics_connector_count`, `_task_count` | | connectors and tasks on this worker |
| `kafka_connect_connect_worker_metrics_connector_startup_{attempts,success,failure}_total` | | connector starts |
| `kafka_connect_connect_worker_metrics_task_startup_{attempts,success,failure}_total` | | task starts |
| `kafka_connect_connector_status` | connector, status | 1 for the connector's state (running, paused, ...) |
| `kafka_connect_connector_task_status` | connector, task, status | 1 for each task's state |
| `kafka_connect_source_task_metrics_source_record_poll_total` | connector, task | records returned by poll() |
| `kafka_connect_source_task_metrics_source_record_write_total` | connector, task | records acknowledged by Kafka |
| `kafka_connect_sink_task_metrics_sink_record_read_total` | connector, task | records read from Kafka |
| `kafka_connect_sink_task_metrics_sink_record_send_total` | connector, task | records given to put() |
| `kafka_connect_sink_task_metrics_partition_count` | connector, task | assigned partitions |
| `kafka_connect_sink_task_metrics_offset_commit_completion_total` | connector, task | offset commits done |
| `kafka_connect_sink_task_metrics_offset_commit_skip_total` | connector, task | nothing to commit, or failed |
| `kafka_connect_task_error_metrics_total_record_failures` | connector, task | failed operations on records |
| `kafka_connect_task_error_metrics_total_records_skipped` | connector, task | skipped (errors.tolerance=all) |
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ConnectCollector", "StartupCounts", "serve"]

_PREFIX = "kafka_connect_"


@dataclass(slots=True)
class StartupCounts:
    """Kafka's connect-worker-metrics startup counters, for connectors or tasks."""

    attempts: int = 0
    success: int = 0
    failure: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, succeeded: bool) -> None:
        with self._lock:  # the herder starts connectors and tasks from several threads
            self.attempts += 1
            if succeeded:
                self.success += 1
            else:
                self.failure += 1


class WorkerView(Protocol):
    """What the collector reads of the Worker."""

    connectors: dict[str, Any]
    tasks: dict[Any, Any]
    statuses: Any
    connector_startups: StartupCounts
    task_startups: StartupCounts


class ConnectCollector(Collector):
    def __init__(self, worker: WorkerView) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        w = self._worker
        connectors, tasks = dict(w.connectors), dict(w.tasks)  # copies: the herder changes them meanwhile
        worker = f"{_PREFIX}connect_worker_metrics_"
        yield GaugeMetricFamily(worker + "connector_count", "Connectors run in this worker", value=len(connectors))
        yield GaugeMetricFamily(worker + "task_count", "Tasks run in this worker", value=len(tasks))
        for kind, counts in (("connector", w.connector_startups), ("task", w.task_startups)):
            for what in ("attempts", "success", "failure"):
                yield CounterMetricFamily(
                    f"{worker}{kind}_startup_{what}", f"{kind} startup {what}", value=getattr(counts, what)
                )
        yield from self._statuses(connectors, tasks)
        yield from self._task_metrics(tasks)

    def _statuses(self, connectors: dict[str, Any], tasks: dict[Any, Any]) -> Iterator[Metric]:
        statuses = self._worker.statuses
        connector = GaugeMetricFamily(
            f"{_PREFIX}connector_status", "The connector's state (1)", labels=["connector", "status"]
        )
        for name in sorted(connectors):
            status = statuses.connector(name)
            if status is not None:
                connector.add_metric([name, status.state.value.lower()], 1)
        yield connector
        task = GaugeMetricFamily(
            f"{_PREFIX}connector_task_status", "The task's state (1)", labels=["connector", "task", "status"]
        )
        for task_id in sorted(tasks):
            status = statuses.task(task_id)
            if status is not None:
                task.add_metric([task_id.connector, str(task_id.task), status.state.value.lower()], 1)
        yield task

    def _task_metrics(self, tasks: dict[Any, Any]) -> Iterator[Metric]:
        labels = ["connector", "task"]
        source, sink, errors = (
            f"{_PREFIX}source_task_metrics_",
            f"{_PREFIX}sink_task_metrics_",
            f"{_PREFIX}task_error_metrics_",
        )
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "poll": CounterMetricFamily(source + "source_record_poll", "Records polled", labels=labels),
            "write": CounterMetricFamily(source + "source_record_write", "Records written to Kafka", labels=labels),
            "read": CounterMetricFamily(sink + "sink_record_read", "Records read from Kafka", labels=labels),
            "send": CounterMetricFamily(sink + "sink_record_send", "Records put to the task", labels=labels),
            "partitions": GaugeMetricFamily(sink + "partition_count", "Assigned partitions", labels=labels),
            "commits": CounterMetricFamily(sink + "offset_commit_completion", "Offset commits done", labels=labels),
            "skipped_commits": CounterMetricFamily(
                sink + "offset_commit_skip", "Offset commits skipped or failed", labels=labels
            ),
            "failures": GaugeMetricFamily(errors + "total_record_failures", "Record failures", labels=labels),
            "skipped": GaugeMetricFamily(errors + "total_records_skipped", "Records skipped", labels=labels),
        }
        for task_id in sorted(tasks):
            task = tasks[task_id]
            values = [task_id.connector, str(task_id.task)]
            if hasattr(task, "records_sent"):  # a WorkerSourceTask
                families["poll"].add_metric(values, task.records_polled)
                families["write"].add_metric(values, task.records_sent)
            else:
                families["read"].add_metric(values, task.records_read)
                families["send"].add_metric(values, task.records_put)
                families["partitions"].add_metric(values, len(task.assigned))
                families["commits"].add_metric(values, task.commits_completed)
                families["skipped_commits"].add_metric(values, task.commits_skipped)
            operator = task.setup.operator
            families["failures"].add_metric(values, operator.total_failures)
            families["skipped"].add_metric(values, operator.tolerated_failures)
        yield from families.values()


def serve(collector: Collector, port: int, host: str) -> CollectorRegistry | None:
    """Serve `collector` (a worker's ConnectCollector, MirrorMaker's MirrorCollector) on `host:port` (`/metrics`), in
    prometheus_client's HTTP thread; None when `port` is 0."""
    if not port:
        return None
    registry = CollectorRegistry()
    registry.register(collector)
    start_http_server(port, addr=host, registry=registry)
    return registry
