"""A TracerProvider from the standard OpenTelemetry variables, read once at process start.

- `OTEL_TRACES_EXPORTER`: `console` (each span as one JSON object on one line of stdout), `otlp` (needs the
  `opentelemetry-exporter-otlp-proto-http` package, which is not a dependency because it pulls in protobuf;
  `OTEL_EXPORTER_OTLP_ENDPOINT` and the other OTLP variables are read by it), or `none` / unset: no tracing.
- `OTEL_SERVICE_NAME` names the service (else the caller's default); `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_BSP_*`
  are read by the SDK.

An unknown exporter or a missing OTLP package is logged and leaves tracing off: telemetry never stops a process.
"""

from __future__ import annotations

import importlib
import logging
import os

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

__all__ = ["provider_from_environment"]

log = logging.getLogger(__name__)


def _exporter(name: str) -> SpanExporter | None:
    if name == "console":
        return ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + "\n")
    if name == "otlp":
        try:
            otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        except ImportError:
            log.error(
                "OTEL_TRACES_EXPORTER=otlp needs the opentelemetry-exporter-otlp-proto-http package; tracing is off"
            )
            return None
        exporter: SpanExporter = otlp.OTLPSpanExporter()
        return exporter
    if name not in ("", "none"):
        log.error("OTEL_TRACES_EXPORTER=%s is not supported (console, otlp or none); tracing is off", name)
    return None


def provider_from_environment(service_name: str) -> TracerProvider | None:
    """The process's TracerProvider (spans batched to the configured exporter), or None when tracing is off."""
    exporter = _exporter(os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower())
    if exporter is None:
        return None
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
