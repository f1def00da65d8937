"""The brokers' server.properties: what the operator sets, and which of a KafkaCluster's spec.kafka.config keys it
refuses because it owns them.

Owned keys are refused as Strimzi refuses them (KafkaClusterSpec.FORBIDDEN_PREFIXES), by prefix, with the same
exceptions for TLS tuning: the listeners, their security and the authorizer follow from spec.kafka.listeners and
spec.kafka.authorization; node ids, data directories, the metadata store and the metrics endpoint from the pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (prefix, why) in the order they are checked; a key is owned when it equals or starts with a prefix
OWNED_PREFIXES: tuple[tuple[str, str], ...] = (
    ("listeners", "set from spec.kafka.listeners"),
    ("advertised.", "set from spec.kafka.listeners and the pod's address"),
    ("listener.", "set from spec.kafka.listeners"),
    ("inter.broker.listener.name", "the operator's replication listener"),
    ("security.", "set from spec.kafka.listeners"),
    ("ssl.", "set from spec.kafka.listeners[].tls"),
    ("sasl.", "set from spec.kafka.listeners[].authentication"),
    ("authorizer.", "set from spec.kafka.authorization"),
    ("super.user", "set from spec.kafka.authorization.superUsers"),
    ("node.id", "the pod's ordinal"),
    ("broker.id", "the pod's ordinal"),
    ("log.dir", "set from spec.kafka.storage"),
    ("metadata.store.", "set from spec.metadataStore"),
    ("metrics.port", "set from spec.kafka.metricsConfig"),
    ("metrics.host", "set from spec.kafka.metricsConfig"),
    ("broker.rack", "set from spec.kafka.rack"),
    ("process.roles", "brokers only"),
    ("controller.", "brokers only"),
)
# TLS tuning a user may set (Strimzi's FORBIDDEN_PREFIX_EXCEPTIONS)
ALLOWED = frozenset(
    {"ssl.cipher.suites", "ssl.protocol", "ssl.enabled.protocols", "ssl.endpoint.identification.algorithm"}
)


def owned_reason(key: str) -> str | None:
    """Why the operator owns `key`, or None when a user may set it."""
    if key in ALLOWED:
        return None
    for prefix, why in OWNED_PREFIXES:
        if key == prefix or key.startswith(prefix):
            return why
    return None


def refused_keys(config: Mapping[str, Any]) -> list[str]:
    """`key (why)` for each owned key of a spec.kafka.config, sorted."""
    return [f"{key} ({why})" for key in sorted(config) if (why := owned_reason(key)) is not None]


def config_value(value: Any) -> str:
    """A YAML value as a properties value: booleans as Kafka writes them, lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(config_value(v) for v in value)
    return str(value)


def render_properties(entries: Mapping[str, str], header: str) -> str:
    """server.properties text: `# header`, then `key=value` lines sorted by key (so that the text, and the
    hash the pods carry, is the same for the same settings)."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{key}={_escape(value)}" for key, value in sorted(entries.items())]
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    # java.util.Properties: backslash escapes; newlines would start a new key
    return value.replace("\\", "\\\\").replace("\n", "\\n")
