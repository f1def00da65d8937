"""Connect's OpenTelemetry tracing (runtime/tracing.py): W3C trace context in Kafka headers, publish spans that
continue a record's trace and replace its headers, put spans linked to every traced record of a batch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from odradek.connect.runtime import tracing
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)


def test_extract_reads_a_w3c_traceparent_header_and_ignores_garbage() -> None:
    context = tracing.extract([("other", b"x"), ("traceparent", PARENT)])
    assert context is not None
    assert tracing.extract([("traceparent", b"not-a-traceparent")]) is None
    assert tracing.extract([("traceparent", b"\xff\xfe")]) is None
    assert tracing.extract([("traceparent", None)]) is None
    assert tracing.extract([]) is None


def test_a_publish_span_continues_the_records_trace_and_replaces_its_headers(spans: InMemorySpanExporter) -> None:
    headers = [("app", b"1"), ("traceparent", PARENT), ("tracestate", b"k=v")]
    with tracing.publish_span("orders", headers) as sent:
        pass
    (span,) = spans.get_finished_spans()
    assert span.name == "orders publish" and span.kind is SpanKind.PRODUCER
    assert format(span.context.trace_id, "032x") == TRACE_ID, "the record's trace goes on"
    assert span.attributes is not None and span.attributes["messaging.destination.name"] == "orders"
    sent_headers = dict(sent)
    assert sent_headers["app"] == b"1"
    assert sent_headers["traceparent"].startswith(f"00-{TRACE_ID}-{span.context.span_id:016x}-".encode())
    assert [k for k, _ in sent].count("traceparent") == 1


def test_a_record_without_a_trace_starts_one(spans: InMemorySpanExporter) -> None:
    with tracing.publish_span("orders", [("app", b"1")]) as sent:
        pass
    (span,) = spans.get_finished_spans()
    assert span.parent is None
    assert dict(sent)["traceparent"].startswith(f"00-{span.context.trace_id:032x}-".encode())


def test_a_put_span_links_every_traced_record_of_the_batch(spans: InMemorySpanExporter) -> None:
    other = "0af7651916cd43dd8448eb211c80319c"
    batch = [[("traceparent", PARENT)], [], [("traceparent", f"00-{other}-b7ad6b7169203331-01".encode())]]
    with tracing.put_span("sink", 0, "connect-sink", batch):
        pass
    (span,) = spans.get_finished_spans()
    assert span.name == "sink put" and span.kind is SpanKind.CONSUMER
    assert sorted(format(link.context.trace_id, "032x") for link in span.links) == sorted([TRACE_ID, other])
    assert span.attributes is not None and span.attributes["messaging.batch.message_count"] == 3


def test_tracing_off_changes_nothing() -> None:
    tracing.use_provider(None)
    headers = [("traceparent", PARENT)]
    with tracing.publish_span("orders", headers) as sent:
        assert sent is headers
    assert not tracing.enabled()
