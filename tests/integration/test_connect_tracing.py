"""OpenTelemetry tracing of a real standalone Connect worker (OTEL_TRACES_EXPORTER=console) against a real broker:
the trace context in the records' `traceparent` headers is what links a producer, Connect, and a consumer.

- A FileStreamSource's records arrive with a `traceparent` header naming a span the worker exported.
- Records produced with a `traceparent` (by an "upstream" application: confluent-kafka here) are put into a
  FileStreamSink inside a span linked to that trace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer
from connect_support import ConnectProcess, write_properties
from it_support import BrokerProcess, ck_create_topic, ck_produce, unique_topic, wait_for

CLIENT_TIMEOUT_S = 15
UPSTREAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def exported_spans(output: str) -> list[dict[str, Any]]:
    """The console exporter's spans: one JSON object per line among the worker's log lines."""
    spans = []
    for line in output.splitlines():
        if line.startswith("{") and '"trace_id"' in line:
            spans.append(json.loads(line))
    return spans


def test_connect_spans_follow_the_trace_context_in_record_headers(broker: BrokerProcess, tmp_path: Path) -> None:
    source_topic, sink_topic = unique_topic("traced-src"), unique_topic("traced-sink")
    ck_create_topic(broker.bootstrap, source_topic)
    ck_create_topic(broker.bootstrap, sink_topic)
    source_file, sink_file = tmp_path / "in.txt", tmp_path / "out.txt"
    source_file.write_text("".join(f"line {i}\n" for i in range(5)), encoding="utf-8")
    upstream = [("traceparent", f"00-{UPSTREAM_TRACE}-00f067aa0ba902b7-01".encode())]
    ck_produce(broker.bootstrap, sink_topic, [b"a", b"b", b"c"], extra=None)  # untraced
    produce_traced(broker.bootstrap, sink_topic, upstream)
    files = [
        write_properties(
            tmp_path / "source.properties",
            {"name": "src", "connector.class": "FileStreamSource", "file": str(source_file), "topic": source_topic},
        ),
        write_properties(
            tmp_path / "sink.properties",
            {"name": "sink", "connector.class": "FileStreamSink", "file": str(sink_file), "topics": sink_topic},
        ),
    ]
    worker = ConnectProcess(tmp_path / "connect", broker.bootstrap)
    worker.workdir.mkdir(parents=True)
    worker.env = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "connect-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    try:
        worker.start(files)
        wait_for(lambda: len(sink_file.read_text().splitlines()) >= 4 if sink_file.exists() else False, timeout=30)
        records = consume(broker.bootstrap, source_topic, 5)
        worker.stop()
    finally:
        worker.cleanup()
    spans = exported_spans(worker.output())
    publish = {s["context"]["span_id"]: s for s in spans if s["name"] == f"{source_topic} publish"}
    assert len(publish) == 5
    assert all(s["resource"]["attributes"]["service.name"] == "connect-under-test" for s in publish.values())
    for headers in records:
        version, trace_id, span_id, flags = dict(headers)["traceparent"].decode().split("-")
        assert version == "00" and int(flags, 16) & 1, "version 00, sampled"
        assert f"0x{span_id}" in publish and publish[f"0x{span_id}"]["context"]["trace_id"] == f"0x{trace_id}"
    puts = [s for s in spans if s["name"] == "sink put"]
    assert puts, "the sink's put() is traced"
    linked = {link["context"]["trace_id"] for s in puts for link in s["links"]}
    assert linked == {f"0x{UPSTREAM_TRACE}"}, "only the traced record is linked"
    assert sum(s["attributes"]["messaging.batch.message_count"] for s in puts) >= 4


def produce_traced(bootstrap: str, topic: str, headers: list[tuple[str, bytes]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value=b"traced", headers=headers)
    assert producer.flush(CLIENT_TIMEOUT_S) == 0


def consume(bootstrap: str, topic: str, count: int) -> list[list[tuple[str, bytes]]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique_topic("g"), "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    out: list[list[tuple[str, bytes]]] = []
    try:
        for _ in range(200):
            if len(out) >= count:
                break
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                out.append(list(msg.headers() or []))
    finally:
        consumer.close()
    assert len(out) == count, f"read {len(out)} of {count}"
    return out
