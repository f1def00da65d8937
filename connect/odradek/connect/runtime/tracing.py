"""OpenTelemetry tracing of Connect tasks, with the W3C trace context carried in record headers.

Enabled by the standard OTEL_* variables, read once when a worker starts (`configure_from_environment`, through
odradek.telemetry.tracing: `OTEL_TRACES_EXPORTER` console / otlp / none, `OTEL_SERVICE_NAME`, default
`odradek-connect`). Off, it costs no per-record work.

What is traced (OpenTelemetry's messaging conventions, `messaging.system=kafka`):

- a source task's every record sent is a PRODUCER span `<topic> publish`, whose parent is the trace context in the
  record's own headers when it has one (MirrorMaker 2 copies the source record's headers, so a trace continues
  from one cluster into the other), and whose context replaces the record's `traceparent` / `tracestate` headers;
- a sink task's every batch given to `put()` is a CONSUMER span `<connector> put`, linked to the trace context of
  each record that carries one (a batch has many parents: links, as the conventions say for batch receivers).

The headers are W3C Trace Context (`traceparent: 00-<trace id>-<span id>-<flags>`), so producers and consumers
instrumented with any OpenTelemetry SDK join the same traces.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from odradek.telemetry.tracing import provider_from_environment
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["TRACE_HEADERS", "configure_from_environment", "enabled", "extract", "publish_span", "put_span"]

TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()
_state: dict[str, Any] = {"tracer": None}

RawHeaders = Iterable[tuple[str, bytes | str | None]]


def configure_from_environment(service_name: str = "odradek-connect") -> bool:
    """Set up the tracer from the OTEL_* variables (odradek.telemetry.tracing); True when tracing is on."""
    provider = provider_from_environment(service_name)
    use_provider(provider)
    return provider is not None


def use_provider(provider: trace.TracerProvider | None) -> None:
    """Trace with `provider` (tests pass one with an in-memory exporter); None turns tracing off."""
    _state["tracer"] = None if provider is None else provider.get_tracer("odradek.connect")


def enabled() -> bool:
    return _state["tracer"] is not None


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return value


def extract(headers: RawHeaders) -> Context | None:
    """The trace context in Kafka record headers, or None when they carry none (or a malformed one)."""
    carrier = {k: t for k, v in headers if k in TRACE_HEADERS and (t := _text(v)) is not None}
    if "traceparent" not in carrier:
        return None
    context = _PROPAGATOR.extract(carrier)
    span_context = trace.get_current_span(context).get_span_context()
    return context if span_context.is_valid else None


@contextlib.contextmanager
def publish_span(topic: str, headers: list[tuple[str, Any]], **attributes: Any) -> Iterator[list[tuple[str, Any]]]:
    """Around one record's send: yields the headers to send (trace headers replaced by this span's)."""
    tracer = _state["tracer"]
    if tracer is None:
        yield headers
        return
    parent = extract(headers)
    with tracer.start_as_current_span(
        f"{topic} publish",
        context=parent,
        kind=trace.SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "publish",
            "messaging.destination.name": topic,
            **attributes,
        },
    ):
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        kept = [(k, v) for k, v in headers if k not in TRACE_HEADERS]
        yield kept + [(k, v.encode("ascii")) for k, v in carrier.items()]


@contextlib.contextmanager
def put_span(connector: str, task: int, group: str, batch: Sequence[RawHeaders]) -> Iterator[None]:
    """Around one put(): a CONSUMER span linked to each record's trace context."""
    tracer = _state["tracer"]
    if tracer is None or not batch:
        yield
        return
    links = []
    for headers in batch:
        context = extract(headers)
        if context is not None:
            links.append(trace.Link(trace.get_current_span(context).get_span_context()))
    with tracer.start_as_current_span(
        f"{connector} put",
        kind=trace.SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.batch.message_count": len(batch),
            "messaging.consumer.group.name": group,
            "connect.connector": connector,
            "connect.task": task,
        },
    ):
        yield
