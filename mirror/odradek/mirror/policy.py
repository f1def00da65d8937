"""Replication policies (Kafka's ReplicationPolicy, DefaultReplicationPolicy, IdentityReplicationPolicy) and the
cycle check of active/active replication (MirrorSourceConnector.isCycle).

DefaultReplicationPolicy names the copy of `topic` from cluster `A` `A<sep>topic` (`replication.policy.separator`,
default `.`). `topic_source` is the text before the first separator (None when there is none); `upstream_topic`
removes that prefix. Internal topics use the separator too unless
`replication.policy.internal.topic.separator.enabled=false`: `mm2-offset-syncs<sep><alias><sep>internal`,
`<alias><sep>checkpoints<sep>internal`; the heartbeats topic is `heartbeats`.

IdentityReplicationPolicy keeps names, except heartbeats (a topic ending in `heartbeats` is treated as by the
default policy); `topic_source` is the configured `source.cluster.alias` and `upstream_topic(t) == t`. Cycles can
then not be detected from names, as Kafka's documentation warns.

Kafka's class names are accepted for `replication.policy.class`, as are the simple names and Python paths.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

SEPARATOR_CONFIG = "replication.policy.separator"
INTERNAL_TOPIC_SEPARATOR_ENABLED_CONFIG = "replication.policy.internal.topic.separator.enabled"
SOURCE_CLUSTER_ALIAS_CONFIG = "source.cluster.alias"
POLICY_CLASS_CONFIG = "replication.policy.class"
HEARTBEATS_TOPIC = "heartbeats"
_KAFKA = "org.apache.kafka.connect.mirror."


class DefaultReplicationPolicy:
    def __init__(self, separator: str = ".", internal_separator_enabled: bool = True) -> None:
        if not separator:
            raise ValueError(f"{SEPARATOR_CONFIG} must not be empty")
        self.separator = separator
        self.internal_separator = separator if internal_separator_enabled else "."

    @classmethod
    def configure(cls, props: Mapping[str, str]) -> DefaultReplicationPolicy:
        return cls(*_separator_settings(props))

    def format_remote_topic(self, source_alias: str, topic: str) -> str:
        return f"{source_alias}{self.separator}{topic}"

    def topic_source(self, topic: str) -> str | None:
        parts = topic.split(self.separator)
        # As Java's String.split: trailing empty strings are dropped, so "A." and "A.." name no source.
        while parts and parts[-1] == "":
            parts.pop()
        return parts[0] if len(parts) >= 2 else None

    def upstream_topic(self, topic: str) -> str | None:
        source = self.topic_source(topic)
        return None if source is None else topic[len(source) + len(self.separator) :]

    def original_topic(self, topic: str) -> str:
        upstream = self.upstream_topic(topic)
        return topic if upstream is None or upstream == topic else self.original_topic(upstream)

    def heartbeats_topic(self) -> str:
        return HEARTBEATS_TOPIC

    def offset_syncs_topic(self, cluster_alias: str) -> str:
        sep = self.internal_separator
        return f"mm2-offset-syncs{sep}{cluster_alias}{sep}internal"

    def checkpoints_topic(self, cluster_alias: str) -> str:
        return f"{cluster_alias}{self._checkpoints_suffix()}"

    def _checkpoints_suffix(self) -> str:
        sep = self.internal_separator
        return f"{sep}checkpoints{sep}internal"

    def is_heartbeats_topic(self, topic: str) -> bool:
        return self.original_topic(topic) == self.heartbeats_topic()

    def is_checkpoints_topic(self, topic: str) -> bool:
        return topic.endswith(self._checkpoints_suffix())

    def is_mm2_internal_topic(self, topic: str) -> bool:
        return topic.endswith(f"{self.internal_separator}internal")

    def is_internal_topic(self, topic: str) -> bool:
        """Never replicated: MM2's own topics, Kafka's (`__*`, `.*`) and Connect's default ones (`*-internal`)."""
        kafka_internal = topic.startswith(("__", "."))
        connect_internal = topic.endswith(("-internal", ".internal"))
        return self.is_mm2_internal_topic(topic) or kafka_internal or connect_internal


class IdentityReplicationPolicy(DefaultReplicationPolicy):
    def __init__(
        self, source_alias: str | None = None, separator: str = ".", internal_separator_enabled: bool = True
    ) -> None:
        super().__init__(separator, internal_separator_enabled)
        self.source_alias = source_alias

    @classmethod
    def configure(cls, props: Mapping[str, str]) -> IdentityReplicationPolicy:
        return cls(props.get(SOURCE_CLUSTER_ALIAS_CONFIG), *_separator_settings(props))

    def _looks_like_heartbeat(self, topic: str) -> bool:
        return topic.endswith(self.heartbeats_topic())

    def format_remote_topic(self, source_alias: str, topic: str) -> str:
        if self._looks_like_heartbeat(topic):
            return super().format_remote_topic(source_alias, topic)
        return topic

    def topic_source(self, topic: str) -> str | None:
        if self._looks_like_heartbeat(topic):
            return super().topic_source(topic)
        return self.source_alias

    def upstream_topic(self, topic: str) -> str | None:
        if self._looks_like_heartbeat(topic):
            return super().upstream_topic(topic)
        return topic


ReplicationPolicy = DefaultReplicationPolicy
"""The interface: every policy is a DefaultReplicationPolicy or overrides its methods (as Kafka's subclasses do)."""

POLICY_CLASSES: dict[str, type[DefaultReplicationPolicy]] = {
    name: cls
    for cls in (DefaultReplicationPolicy, IdentityReplicationPolicy)
    for name in (_KAFKA + cls.__name__, cls.__name__, f"{cls.__module__}.{cls.__name__}")
}


def _separator_settings(props: Mapping[str, str]) -> tuple[str, bool]:
    separator = props.get(SEPARATOR_CONFIG, ".")
    enabled = props.get(INTERNAL_TOPIC_SEPARATOR_ENABLED_CONFIG, "true").strip().lower() != "false"
    return separator, enabled


def policy_class(name: str) -> type[DefaultReplicationPolicy]:
    """The class for a `replication.policy.class` value: Kafka's name, the simple name, or `module.Class`."""
    name = name.strip()
    if name in POLICY_CLASSES:
        return POLICY_CLASSES[name]
    module, _, attr = name.replace(":", ".").rpartition(".")
    try:
        found: Any = getattr(importlib.import_module(module), attr) if module else None
    except ImportError:
        found = None
    if not (isinstance(found, type) and issubclass(found, DefaultReplicationPolicy)):
        raise ValueError(f"Invalid value {name} for configuration {POLICY_CLASS_CONFIG}: class not found")
    return found


def replication_policy(props: Mapping[str, str]) -> DefaultReplicationPolicy:
    """The configured policy (`replication.policy.class`, default DefaultReplicationPolicy)."""
    cls = policy_class(props.get(POLICY_CLASS_CONFIG, "DefaultReplicationPolicy"))
    return cls.configure(props)


def is_cycle(policy: DefaultReplicationPolicy, target_alias: str, topic: str) -> bool:
    """True if `topic` (on the source) came from `target_alias` by any number of hops: copying it there again
    would loop. The walk stops where a policy cannot tell more (`upstream_topic(t)` is None or `t` itself)."""
    source = policy.topic_source(topic)
    if source is None:
        return False
    if source == target_alias:
        return True
    upstream = policy.upstream_topic(topic)
    if upstream is None or upstream == topic:
        return False
    return is_cycle(policy, target_alias, upstream)
