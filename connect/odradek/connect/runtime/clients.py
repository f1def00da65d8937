"""Kafka clients of the worker (confluent-kafka), and how their settings are assembled.

A task's client settings are, later winning: Kafka's defaults for that client (set by the caller), the worker's
`bootstrap.servers`, the worker's `producer.*` / `consumer.*` / `admin.*` keys, the connector's
`producer.override.*` / `consumer.override.*` / `admin.override.*` keys (when
`connector.client.config.override.policy=All`). Keys are librdkafka's, which share Kafka's names for the common
settings (`acks`, `linger.ms`, `security.protocol`, `sasl.*`...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odradek.connect.api.errors import ConnectException
from odradek.connect.config.worker import WorkerConfig

# librdkafka stops fetching a partition whose pre-fetch queue is over `queued.min.messages` (100,000) and then waits
# `fetch.queue.backoff.ms` (librdkafka's default 1,000 ms) before it looks again, even when the queue drained long
# before. Kafka's consumer has no such pause: it fetches a partition again as soon as its buffered records are
# handed out. A task draining slower than the broker serves (every Connect task: Python work per record) filled the
# queue within 0.1 s and then sat idle in consume() for most of each second: the FileStreamSink task read about
# 100,000 records/s where a plain consumer loop, draining faster than the fetches fill the queue, read 1.5 M/s
# (bench/RESULTS.md, "the per-record path"). 10 ms keeps the queue bound (memory) and costs a wake-up per 10 ms only
# while the queue is full. The worker's `consumer.*` and the connector's overrides still win.
CONSUMER_FETCH_DEFAULTS: dict[str, Any] = {"fetch.queue.backoff.ms": 10}


def kafka_admin() -> Any:
    """The `confluent_kafka.admin` module (its names are implicit re-exports that mypy --strict refuses)."""
    import confluent_kafka.admin

    return confluent_kafka.admin


def client_config(worker: WorkerConfig, kind: str, connector_config: Mapping[str, str]) -> dict[str, Any]:
    """Settings for a `producer`, `consumer` or `admin` client of one connector (see the module docstring)."""
    out: dict[str, Any] = {"bootstrap.servers": ",".join(worker["bootstrap.servers"])}
    out.update(worker.prefixed(f"{kind}."))
    overrides = {k[len(kind) + 10 :]: v for k, v in connector_config.items() if k.startswith(f"{kind}.override.")}
    if overrides and worker["connector.client.config.override.policy"] == "None":
        keys = ", ".join(sorted(f"{kind}.override.{k}" for k in overrides))
        raise ConnectException(
            f"The following configs are not allowed by the connector.client.config.override.policy None: {keys}"
        )
    out.update(overrides)
    return out
