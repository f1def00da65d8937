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
