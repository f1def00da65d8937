"""A real standalone Connect worker's /metrics (metrics.port) against a real broker: Kafka Connect's metric names
(as the JMX exporter writes them) with counts that match what the connectors moved, read with prometheus_client's
own text parser."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from connect_support import ConnectProcess, write_properties
from it_support import BrokerProcess, ck_create_topic, free_port, unique_topic, wait_for
from prometheus_client.parser import text_string_to_metric_families

RECORDS = 25


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_worker_metrics_count_what_the_connectors_moved(broker: BrokerProcess, tmp_path: Path) -> None:
    topic = unique_topic("metered")
    ck_create_topic(broker.bootstrap, topic)
    source_file, sink_file = tmp_path / "in.txt", tmp_path / "out.txt"
    source_file.write_text("".join(f"line {i}\n" for i in range(RECORDS)), encoding="utf-8")
    files = [
        write_properties(
            tmp_path / "source.properties",
            {"name": "src", "connector.class": "FileStreamSource", "file": str(source_file), "topic": topic},
        ),
        write_properties(
            tmp_path / "sink.properties",
            {"name": "sink", "connector.class": "FileStreamSink", "file": str(sink_file), "topics": topic},
        ),
    ]
    port = free_port()
    worker = ConnectProcess(tmp_path / "connect", broker.bootstrap, {"metrics.port": str(port)})
    worker.workdir.mkdir(parents=True)
    try:
        worker.start(files)
        task = (("connector", "sink"), ("task", "0"))
        wait_for(
            lambda: scrape(port).get(("kafka_connect_sink_task_metrics_sink_record_send_total", task), 0) >= RECORDS,
            timeout=30,
            what="the sink to put every record",
        )
        m = scrape(port)
    finally:
        worker.stop()
        worker.cleanup()
    src = (("connector", "src"), ("task", "0"))
    assert m[("kafka_connect_connect_worker_metrics_connector_count", ())] == 2
    assert m[("kafka_connect_connect_worker_metrics_task_count", ())] == 2
    assert m[("kafka_connect_connect_worker_metrics_connector_startup_attempts_total", ())] == 2
    assert m[("kafka_connect_connect_worker_metrics_task_startup_success_total", ())] == 2
    assert m[("kafka_connect_connect_worker_metrics_task_startup_failure_total", ())] == 0
    assert m[("kafka_connect_source_task_metrics_source_record_poll_total", src)] == RECORDS
    assert m[("kafka_connect_source_task_metrics_source_record_write_total", src)] == RECORDS
    assert m[("kafka_connect_sink_task_metrics_sink_record_read_total", task)] == RECORDS
    assert m[("kafka_connect_sink_task_metrics_sink_record_send_total", task)] == RECORDS
    assert m[("kafka_connect_sink_task_metrics_partition_count", task)] == 1
    assert m[("kafka_connect_task_error_metrics_total_record_failures", task)] == 0
    assert m[("kafka_connect_connector_status", (("connector", "sink"), ("status", "running")))] == 1
    assert m[("kafka_connect_connector_task_status", (("connector", "src"), ("status", "running"), ("task", "0")))] == 1
