"""The connectors' configuration (Kafka's MirrorConnectorConfig, MirrorSourceConfig, MirrorCheckpointConfig,
MirrorHeartbeatConfig): Kafka's keys and defaults, declared once in `MIRROR_KEYS`.

Clients: a connector reaches the source and target clusters with its own confluent-kafka clients, configured as
Kafka's MirrorConnectorConfig does, later winning: `<side>.cluster.bootstrap.servers`, the other
`<side>.cluster.*` keys (security settings shared by every client of that side), then
`<side>.cluster.<kind>.*` and `<side>.<kind>.*` for a `<kind>` (consumer, producer, admin) client; `<side>` is
`source` or `target`. Record copies,
checkpoints and heartbeats go through the Connect worker's producer, so the worker's cluster must be the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odradek.connect.config.configdef import ConfigDef, ConfigType, Importance, Range, ValidString
from odradek.mirror.filters import (
    CONFIG_PROPERTIES_EXCLUDE_DEFAULT,
    GROUPS_DEFAULT,
    GROUPS_EXCLUDE_DEFAULT,
    TOPICS_DEFAULT,
    TOPICS_EXCLUDE_DEFAULT,
    NameFilter,
    config_property_filter,
    group_filter,
    topic_filter,
)
from odradek.mirror.policy import DefaultReplicationPolicy, replication_policy

_S, _I, _L, _B = ConfigType.STRING, ConfigType.INT, ConfigType.LONG, ConfigType.BOOLEAN
MIRROR_KEYS: tuple[tuple[str, ConfigType, Any, str], ...] = (
    ("source.cluster.alias", _S, None, "Alias of the source cluster."),
    ("target.cluster.alias", _S, "target", "Alias of the target cluster."),
    ("source.cluster.bootstrap.servers", _S, "", "Bootstrap servers of the source cluster."),
    ("target.cluster.bootstrap.servers", _S, "", "Bootstrap servers of the target cluster."),
    ("replication.policy.class", _S, "org.apache.kafka.connect.mirror.DefaultReplicationPolicy", "Naming policy."),
    ("replication.policy.separator", _S, ".", "Separator between the source alias and the topic name."),
    ("replication.policy.internal.topic.separator.enabled", _B, True, "Use the separator in internal topics too."),
    ("topics", _S, TOPICS_DEFAULT, "Topics to replicate: a comma-separated list of regexes."),
    ("topics.exclude", _S, TOPICS_EXCLUDE_DEFAULT, "Topics not to replicate: regexes."),
    ("groups", _S, GROUPS_DEFAULT, "Consumer groups to checkpoint: regexes."),
    ("groups.exclude", _S, GROUPS_EXCLUDE_DEFAULT, "Consumer groups not to checkpoint: regexes."),
    ("config.properties.exclude", _S, CONFIG_PROPERTIES_EXCLUDE_DEFAULT, "Topic configs not synced: regexes."),
    ("refresh.topics.enabled", _B, True, "Look for new topics and partitions periodically."),
    ("refresh.topics.interval.seconds", _L, 600, "How often to look for new topics and partitions."),
    ("refresh.groups.enabled", _B, True, "Look for new consumer groups periodically."),
    ("refresh.groups.interval.seconds", _L, 600, "How often to look for new consumer groups."),
    ("sync.topic.configs.enabled", _B, True, "Copy topic configs to the remote topics."),
    ("sync.topic.configs.interval.seconds", _L, 600, "How often to copy topic configs."),
    ("sync.topic.acls.enabled", _B, False, "Copy topic ACLs (not implemented: see docs/mirror.md)."),
    ("replication.factor", _I, 2, "Replication factor of the remote topics created on the target."),
    ("offset-syncs.topic.replication.factor", _I, 3, "Replication factor of the offset syncs topic."),
    ("checkpoints.topic.replication.factor", _I, 3, "Replication factor of the checkpoints topic."),
    ("heartbeats.topic.replication.factor", _I, 3, "Replication factor of the heartbeats topic."),
    ("offset.lag.max", _L, 100, "How far the downstream offset may run past the last offset sync."),
    ("emit.offset-syncs.enabled", _B, True, "Emit offset syncs (needed by checkpoints)."),
    ("offset-syncs.topic.location", _S, "source", "Cluster (source or target) that holds the offset syncs topic."),
    ("emit.checkpoints.enabled", _B, True, "Emit consumer group checkpoints to the target."),
    ("emit.checkpoints.interval.seconds", _L, 60, "How often to emit checkpoints."),
    ("sync.group.offsets.enabled", _B, False, "Write translated offsets into EMPTY target groups."),
    ("sync.group.offsets.interval.seconds", _L, 60, "How often to write translated group offsets."),
    ("emit.heartbeats.enabled", _B, True, "Emit heartbeats to the target."),
    ("emit.heartbeats.interval.seconds", _L, 1, "How often to emit heartbeats."),
    ("consumer.poll.timeout.ms", _L, 1000, "How long a source task's poll waits for records."),
)
_VALIDATORS = {"offset-syncs.topic.location": ValidString.in_("source", "target")}

TASK_ASSIGNED_PARTITIONS = "task.assigned.partitions"
TASK_ASSIGNED_GROUPS = "task.assigned.groups"


def mirror_config_def() -> ConfigDef:
    out = ConfigDef()
    for name, type_, default, doc in MIRROR_KEYS:
        validator = _VALIDATORS.get(name) or (Range.at_least(0) if type_ in (_I, _L) else None)
        out = out.define(name, type_, default, validator, Importance.HIGH, doc)
    return out


_CLIENT_KINDS = ("consumer", "producer", "admin")


@dataclass(frozen=True, slots=True)
class MirrorConfig:
    """One connector's (or task's) parsed settings plus its raw properties (for client settings)."""

    values: Mapping[str, Any]
    raw: Mapping[str, str]

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> MirrorConfig:
        values = mirror_config_def().parse({k: v for k, v in props.items() if k in _KEY_NAMES})
        if not values["source.cluster.alias"]:
            values["source.cluster.alias"] = "source"
        return cls(values, dict(props))

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def source(self) -> str:
        return str(self.values["source.cluster.alias"])

    @property
    def target(self) -> str:
        return str(self.values["target.cluster.alias"])

    def policy(self) -> DefaultReplicationPolicy:
        props = {k: str(v) for k, v in self.raw.items()}
        props.setdefault("source.cluster.alias", self.source)
        return replication_policy(props)

    def topic_filter(self) -> NameFilter:
        return topic_filter(self.raw)

    def group_filter(self) -> NameFilter:
        return group_filter(self.raw)

    def config_property_filter(self) -> NameFilter:
        return config_property_filter(self.raw)

    def offset_syncs_topic(self) -> str:
        """Named after the other cluster (Kafka's MirrorConnectorConfig.offsetSyncsTopic): on the source it is
        `mm2-offset-syncs.<target>.internal`, on the target `mm2-offset-syncs.<source>.internal`."""
        other = self.target if self.offset_syncs_side() == "source" else self.source
        return self.policy().offset_syncs_topic(other)

    def offset_syncs_side(self) -> str:
        return str(self.values["offset-syncs.topic.location"])

    def client(self, side: str, kind: str) -> dict[str, Any]:
        """confluent-kafka settings of a `kind` client ("consumer", "producer", "admin") of `side` (source/target)."""
        out: dict[str, Any] = {}
        cluster = f"{side}.cluster."
        for key, value in self.raw.items():
            if key.startswith(cluster) and key != cluster + "alias":
                rest = key[len(cluster) :]
                if not rest.startswith(tuple(f"{k}." for k in _CLIENT_KINDS)):
                    out[rest] = value
        for prefix in (f"{cluster}{kind}.", f"{side}.{kind}."):
            out.update({k[len(prefix) :]: v for k, v in self.raw.items() if k.startswith(prefix)})
        if not out.get("bootstrap.servers"):
            raise ValueError(f"{side}.cluster.bootstrap.servers is not set")
        return out


_KEY_NAMES = frozenset(name for name, *_ in MIRROR_KEYS)


def encode_partitions(partitions: list[tuple[str, int]]) -> str:
    """Task assignment as Kafka writes it: `topic-partition` items, comma-separated."""
    return ",".join(f"{topic}-{partition}" for topic, partition in partitions)


def decode_partitions(value: str) -> list[tuple[str, int]]:
    out = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        topic, _, partition = item.rpartition("-")
        out.append((topic, int(partition)))
    return out


def round_robin(items: list[Any], max_tasks: int) -> list[list[Any]]:
    """Items dealt to at most `max_tasks` non-empty groups in turn (Kafka's KAFKA-9352 assignment)."""
    count = max(1, min(max_tasks, len(items)))
    groups: list[list[Any]] = [[] for _ in range(count)]
    for i, item in enumerate(items):
        groups[i % count].append(item)
    return [g for g in groups if g]
