"""The operator's metrics (Strimzi's names) and reconcile spans (telemetry.py)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest
from odradek.operator import conditions as c
from odradek.operator import telemetry
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode


def value(name: str, kind: str, namespace: str) -> float:
    sample = telemetry.REGISTRY.get_sample_value(name, {"kind": kind, "namespace": namespace})
    return 0.0 if sample is None else sample


def status(*conditions: c.Condition) -> dict[str, object]:
    return c.status({}, list(conditions), now="2026-12-01T00:00:00Z")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_tracer(provider.get_tracer("test"))
    try:
        yield exporter
    finally:
        telemetry.use_tracer(None)


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ((c.ready(),), (False, "ready")),
        ((c.Condition(c.PAUSED, True),), (False, "paused")),
        ((c.not_ready(c.PODS_NOT_READY, "1 of 3"),), (False, "not-ready PodsNotReady")),
        ((c.not_ready(c.KAFKA_ERROR, "boom"),), (True, "not-ready KafkaError")),
    ],
)
def test_outcome_of_a_status(conditions: tuple[c.Condition, ...], expected: tuple[bool, str]) -> None:
    assert telemetry.outcome(status(*conditions)) == expected


def test_reconciles_are_counted_timed_and_managed_resources_tracked(spans: InMemorySpanExporter) -> None:
    ns = "telemetry-a"
    with telemetry.reconciliation("KafkaTopic", ns, "t1") as done:
        done.status = status(c.ready())
    with telemetry.reconciliation("KafkaTopic", ns, "t2") as done:
        done.status = status(c.not_ready(c.KAFKA_ERROR, "boom"))
    with telemetry.reconciliation("KafkaTopic", ns, "t3") as done:
        done.status = status(c.Condition(c.PAUSED, True))
    with pytest.raises(RuntimeError), telemetry.reconciliation("KafkaTopic", ns, "t4"):
        raise RuntimeError("the API went away")
    assert value("strimzi_reconciliations_total", "KafkaTopic", ns) == 4
    assert value("strimzi_reconciliations_successful_total", "KafkaTopic", ns) == 2
    assert value("strimzi_reconciliations_failed_total", "KafkaTopic", ns) == 2
    assert value("strimzi_reconciliations_duration_seconds_count", "KafkaTopic", ns) == 4
    assert value("strimzi_resources", "KafkaTopic", ns) == 3, "the one that raised is not known to be managed"
    assert value("strimzi_resources_paused", "KafkaTopic", ns) == 1
    telemetry.forget("KafkaTopic", ns, "t3")
    assert value("strimzi_resources", "KafkaTopic", ns) == 2
    assert value("strimzi_resources_paused", "KafkaTopic", ns) == 0
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == ["reconcile KafkaTopic"] * 4
    outcomes = [s.attributes["odradek.reconcile.outcome"] for s in finished if s.attributes]
    assert outcomes == ["ready", "not-ready KafkaError", "paused", "error"]
    assert finished[3].status.status_code is StatusCode.ERROR
    assert finished[0].attributes is not None and finished[0].attributes["odradek.resource.name"] == "t1"


def test_metrics_are_served_for_prometheus() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    telemetry.start(port, "127.0.0.1")
    with telemetry.reconciliation("KafkaUser", "telemetry-b", "u") as done:
        done.status = status(c.ready())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'strimzi_reconciliations_total{kind="KafkaUser",namespace="telemetry-b"} 1.0' in text
    assert 'strimzi_resources{kind="KafkaUser",namespace="telemetry-b"} 1.0' in text
