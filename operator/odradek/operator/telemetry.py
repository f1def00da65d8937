"""The operator's metrics (Strimzi's names, so that its operator dashboard works) and one OpenTelemetry span per
reconcile.

Metrics, all labelled `kind` (KafkaCluster, KafkaTopic, KafkaUser) and `namespace`, in the operator's own registry,
served on ODRADEK_OPERATOR_METRICS_PORT (`/metrics`; unset or 0: not served):

| metric | type | meaning |
|---|---|---|
| `strimzi_reconciliations_total` | counter | reconciles started |
| `strimzi_reconciliations_successful_total` | counter | reconciles that ended with the resource Ready (or paused) |
| `strimzi_reconciliations_failed_total` | counter | reconciles that raised, or ended NotReady (not for pods) |
| `strimzi_reconciliations_duration_seconds` | histogram | how long a reconcile took |
| `strimzi_resources` | gauge | resources the operator manages now |
| `strimzi_resources_paused` | gauge | of those, paused by the annotation |

Spans (`OTEL_TRACES_EXPORTER`, odradek.telemetry.tracing; service `odradek-operator`): `reconcile <kind>` with
`k8s.namespace.name`, `odradek.resource.name`, `odradek.reconcile.outcome` (ready, not-ready reason, paused or
error), status ERROR on an exception.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from odradek.operator import conditions as c
from odradek.telemetry.tracing import provider_from_environment
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["REGISTRY", "Reconciliation", "forget", "outcome", "reconciliation", "start"]

REGISTRY = CollectorRegistry()
_LABELS = ("kind", "namespace")
RECONCILIATIONS = Counter("strimzi_reconciliations", "Reconciles started", _LABELS, registry=REGISTRY)
SUCCESSFUL = Counter(
    "strimzi_reconciliations_successful", "Reconciles ending Ready or paused", _LABELS, registry=REGISTRY
)
FAILED = Counter("strimzi_reconciliations_failed", "Reconciles that failed", _LABELS, registry=REGISTRY)
DURATION = Histogram(
    "strimzi_reconciliations_duration_seconds",
    "Reconcile duration",
    _LABELS,
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
RESOURCES = Gauge("strimzi_resources", "Resources the operator manages", _LABELS, registry=REGISTRY)
PAUSED = Gauge("strimzi_resources_paused", "Managed resources with reconciliation paused", _LABELS, registry=REGISTRY)
# Strimzi's name and labels: type is cluster-ca or clients-ca; the value is the CA certificate's notAfter in ms since
# the epoch, set on every reconcile of a KafkaCluster with TLS and removed when the KafkaCluster is deleted.
CERTIFICATE_EXPIRATION = Gauge(
    "strimzi_certificate_expiration_timestamp_ms",
    "When a cluster's CA certificate expires (ms since the epoch)",
    ["cluster", "resource_namespace", "type"],
    registry=REGISTRY,
)
CA_TYPES = ("cluster-ca", "clients-ca")

WAITING_REASONS = frozenset({c.PODS_NOT_READY})  # NotReady while things start is progress, not failure
_managed: dict[tuple[str, str], dict[str, bool]] = {}  # (kind, namespace) -> name -> paused
_tracer: dict[str, trace.Tracer | None] = {"tracer": None}


def start(metrics_port: int | None = None, host: str | None = None) -> None:
    """At operator start: serve /metrics (port and address from the arguments or ODRADEK_OPERATOR_METRICS_PORT and
    ODRADEK_OPERATOR_METRICS_HOST, default every interface: Prometheus scrapes the pod) and set up tracing from
    the OTEL_* variables."""
    port = metrics_port if metrics_port is not None else int(os.environ.get("ODRADEK_OPERATOR_METRICS_PORT") or 0)
    if port:
        addr = host or os.environ.get("ODRADEK_OPERATOR_METRICS_HOST") or "0.0.0.0"
        start_http_server(port, addr=addr, registry=REGISTRY)
    provider = provider_from_environment("odradek-operator")
    _tracer["tracer"] = provider.get_tracer("odradek.operator") if provider is not None else None


def use_tracer(tracer: trace.Tracer | None) -> None:
    """Tests: trace into `tracer` (None: off)."""
    _tracer["tracer"] = tracer


def outcome(status: Mapping[str, Any]) -> tuple[bool, str]:
    """(failed, outcome) of a reconcile from the status it wrote."""
    conditions = {str(cond.get("type")): cond for cond in status.get("conditions") or []}
    if c.PAUSED in conditions and conditions[c.PAUSED].get("status") == "True":
        return False, "paused"
    ready = conditions.get(c.READY)
    if ready is None or ready.get("status") == "True":
        return False, "ready"
    reason = str(ready.get("reason") or "NotReady")
    return reason not in WAITING_REASONS, f"not-ready {reason}"


class Reconciliation:
    """What the handler reports back: the status it computed."""

    def __init__(self) -> None:
        self.status: Mapping[str, Any] = {}


@contextlib.contextmanager
def reconciliation(kind: str, namespace: str, name: str) -> Iterator[Reconciliation]:
    """Around one reconcile: counts it, times it, traces it and records the resource as managed; the handler sets
    `.status` to what it writes."""
    labels = (kind, namespace)
    RECONCILIATIONS.labels(*labels).inc()
    result = Reconciliation()
    started = time.monotonic()
    tracer = _tracer["tracer"]
    span_scope: contextlib.AbstractContextManager[Any] = (
        tracer.start_as_current_span(
            f"reconcile {kind}",
            attributes={"k8s.namespace.name": namespace, "odradek.resource.name": name, "odradek.resource.kind": kind},
        )
        if tracer is not None
        else contextlib.nullcontext()
    )
    with span_scope as span:
        try:
            yield result
        except BaseException:
            FAILED.labels(*labels).inc()
            if span is not None:
                span.set_attribute("odradek.reconcile.outcome", "error")
            raise
        finally:
            DURATION.labels(*labels).observe(time.monotonic() - started)
        failed, what = outcome(result.status)
        (FAILED if failed else SUCCESSFUL).labels(*labels).inc()
        if span is not None:
            span.set_attribute("odradek.reconcile.outcome", what)
        _track(kind, namespace, name, what == "paused")


def _track(kind: str, namespace: str, name: str, paused: bool) -> None:
    names = _managed.setdefault((kind, namespace), {})
    names[name] = paused
    _publish(kind, namespace)


def forget(kind: str, namespace: str, name: str) -> None:
    """The resource is gone (deleted): no longer counted as managed (a KafkaCluster's certificate expiries go too)."""
    _managed.get((kind, namespace), {}).pop(name, None)
    _publish(kind, namespace)
    if kind == "KafkaCluster":
        for ca_type in CA_TYPES:
            with contextlib.suppress(KeyError):  # a cluster without TLS never had the series
                CERTIFICATE_EXPIRATION.remove(name, namespace, ca_type)


def certificate_expiration(namespace: str, cluster: str, ca_type: str, not_after: datetime.datetime) -> None:
    """Publish when the `ca_type` (one of CA_TYPES) CA certificate of `cluster` expires."""
    assert ca_type in CA_TYPES, ca_type
    CERTIFICATE_EXPIRATION.labels(cluster, namespace, ca_type).set(round(not_after.timestamp() * 1000))


def _publish(kind: str, namespace: str) -> None:
    names = _managed.get((kind, namespace), {})
    RESOURCES.labels(kind, namespace).set(len(names))
    PAUSED.labels(kind, namespace).set(sum(names.values()))
