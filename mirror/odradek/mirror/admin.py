"""Admin calls shared by the connectors (confluent-kafka's AdminClient): topic creation that tolerates an existing
topic, partition counts, and topic config copies. Every call is bounded by `TIMEOUT_S`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

TIMEOUT_S = 15.0


def admin_module() -> Any:
    """`confluent_kafka.admin` (its names are implicit re-exports that mypy --strict refuses)."""
    import confluent_kafka.admin

    return confluent_kafka.admin


def new_admin(config: Mapping[str, Any]) -> Any:
    return admin_module().AdminClient(dict(config))


def partition_counts(admin: Any) -> dict[str, int]:
    """Topic name -> partition count of every topic the cluster lists."""
    metadata = admin.list_topics(timeout=TIMEOUT_S)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items() if topic.error is None}


def create_topic(
    admin: Any, name: str, partitions: int, replication_factor: int, configs: Mapping[str, str] | None = None
) -> bool:
    """Create `name` unless it exists; True if created. Other failures raise KafkaException."""
    from confluent_kafka import KafkaError

    new = admin_module().NewTopic(name, partitions, replication_factor, config=dict(configs or {}))
    future = admin.create_topics([new], request_timeout=TIMEOUT_S)[name]
    try:
        future.result(timeout=TIMEOUT_S)
    except Exception as exc:
        error = exc.args[0] if exc.args else None
        if getattr(error, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise
    log.info("Created topic %s with %d partitions and replication factor %d", name, partitions, replication_factor)
    return True


def create_compacted_topic(admin: Any, name: str, replication_factor: int) -> None:
    """An internal topic of one partition, compacted (offset syncs, checkpoints, heartbeats)."""
    create_topic(admin, name, 1, replication_factor, {"cleanup.policy": "compact"})


def grow_partitions(admin: Any, name: str, count: int) -> None:
    new = admin_module().NewPartitions(name, count)
    admin.create_partitions([new], request_timeout=TIMEOUT_S)[name].result(timeout=TIMEOUT_S)
    log.info("Increased partitions of %s to %d", name, count)


def dynamic_topic_configs(admin: Any, topics: list[str]) -> dict[str, dict[str, str]]:
    """Per topic, the configs set on the topic itself (not broker or static defaults)."""
    module = admin_module()
    resources = [module.ConfigResource(module.ResourceType.TOPIC, topic) for topic in topics]
    out: dict[str, dict[str, str]] = {}
    if not resources:
        return out
    for resource, future in admin.describe_configs(resources, request_timeout=TIMEOUT_S).items():
        entries = future.result(timeout=TIMEOUT_S)
        dynamic = module.ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        out[resource.name] = {
            name: entry.value
            for name, entry in entries.items()
            if entry.source == dynamic and entry.value is not None and not entry.is_sensitive
        }
    return out


def set_topic_configs(admin: Any, topic: str, configs: Mapping[str, str]) -> None:
    """Set (incrementally) these configs of `topic`, leaving its other configs alone."""
    module = admin_module()
    if not configs:
        return
    entries = [
        module.ConfigEntry(name, value, incremental_operation=module.AlterConfigOpType.SET)
        for name, value in configs.items()
    ]
    resource = module.ConfigResource(module.ResourceType.TOPIC, topic, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource], request_timeout=TIMEOUT_S).values():
        future.result(timeout=TIMEOUT_S)
