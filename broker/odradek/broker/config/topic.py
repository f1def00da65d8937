"""Effective topic and broker configuration, as DescribeConfigs shows it, and the LogConfig a partition uses.

A topic key's value comes from, highest precedence first: the topic's own override (source TOPIC_CONFIG), then
the broker key that is its synonym, from this broker's dynamic config (DYNAMIC_BROKER_CONFIG), the cluster-wide
dynamic default (DYNAMIC_DEFAULT_BROKER_CONFIG) or server.properties and overrides (STATIC_BROKER_CONFIG), then
the built-in default (DEFAULT_CONFIG). DescribeConfigs lists those synonyms in that order, as Kafka's ConfigHelper:
for each source in turn, the synonyms set there.

A broker key is described the same way over its own synonyms (`log.retention.ms`, `.minutes`, `.hours`), with the
leading entries of other names dropped (Kafka's `dropWhile`). The cluster-wide default resource ("") lists only
the keys set there, each with its DYNAMIC_DEFAULT_BROKER_CONFIG synonyms alone.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from odradek.broker.config.broker import BrokerConfig
from odradek.broker.config.definitions import (
    BROKER_BY_NAME,
    BROKER_KEYS,
    TOPIC_BY_NAME,
    TOPIC_KEYS,
    TOPIC_SYNONYMS,
    ConfigError,
    ConfigKey,
    ConfigType,
    ConfigValue,
    broker_synonyms,
    render,
)
from odradek.broker.log.config import LogConfig

THROTTLED_REPLICAS_KEYS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")


class ConfigSource(enum.IntEnum):
    """Kafka's DescribeConfigs `ConfigSource` codes."""

    UNKNOWN = 0
    TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5


@dataclass(frozen=True, slots=True)
class ConfigSynonym:
    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    name: str
    value: str | None
    source: ConfigSource
    read_only: bool
    sensitive: bool
    type: ConfigType
    documentation: str
    synonyms: tuple[ConfigSynonym, ...]

    @property
    def is_default(self) -> bool:
        return self.source is ConfigSource.DEFAULT_CONFIG


def parse_topic_configs(raw: Mapping[str, str | None]) -> dict[str, ConfigValue]:
    """Validate topic overrides (CreateTopics, AlterConfigs); raises ConfigError naming the bad key."""
    parsed: dict[str, ConfigValue] = {}
    for name, text in raw.items():
        key = TOPIC_BY_NAME.get(name)
        if key is None:
            raise ConfigError(f"Unknown topic config name: {name}")
        if text is None:
            raise ConfigError(f"Null value not supported for topic config {name}")
        parsed[name] = key.parse(text)
    return parsed


def _topic_value(name: str, overrides: Mapping[str, str], broker: BrokerConfig) -> ConfigValue:
    if name in overrides:
        return TOPIC_BY_NAME[name].parse(overrides[name])
    return broker.topic_default(name)[0]


def log_config(overrides: Mapping[str, str], broker: BrokerConfig) -> LogConfig:
    values = {key.name: _topic_value(key.name, overrides, broker) for key in TOPIC_KEYS}
    policy = values.pop("cleanup.policy")
    for name in THROTTLED_REPLICAS_KEYS:  # replication throttles (quota/), not the log's
        values.pop(name)
    assert isinstance(policy, list)
    fields = {name.replace(".", "_"): value for name, value in values.items()}
    return LogConfig(cleanup_policy=tuple(policy), **fields)  # type: ignore[arg-type]


def _layers(broker: BrokerConfig) -> tuple[tuple[Mapping[str, ConfigValue], ConfigSource], ...]:
    return (
        (broker.dynamic_broker, ConfigSource.DYNAMIC_BROKER_CONFIG),
        (broker.dynamic_default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        (broker.explicit, ConfigSource.STATIC_BROKER_CONFIG),
    )


def _set_synonyms(names: Sequence[str], broker: BrokerConfig) -> list[ConfigSynonym]:
    """The broker keys among `names` set in some layer, highest layer first (each layer in the order of `names`)."""
    return [
        ConfigSynonym(name, render(layer[name]), source)
        for layer, source in _layers(broker)
        for name in names
        if name in layer
    ]


def _broker_synonyms(topic_key: str, broker: BrokerConfig) -> list[ConfigSynonym]:
    if not TOPIC_SYNONYMS[topic_key]:
        return []  # a topic-only key (the replication throttle lists): no broker default
    result = _set_synonyms(TOPIC_SYNONYMS[topic_key], broker)
    primary = TOPIC_SYNONYMS[topic_key][0]
    result.append(ConfigSynonym(primary, render(BROKER_BY_NAME[primary].default), ConfigSource.DEFAULT_CONFIG))
    return result


def describe_topic(overrides: Mapping[str, str], broker: BrokerConfig) -> list[ConfigEntry]:
    entries = []
    for key in TOPIC_KEYS:
        synonyms = _broker_synonyms(key.name, broker)
        if key.name in overrides:
            synonyms.insert(0, ConfigSynonym(key.name, overrides[key.name], ConfigSource.TOPIC_CONFIG))
        value = render(_topic_value(key.name, overrides, broker))
        source = synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG
        entries.append(ConfigEntry(key.name, value, source, False, False, key.type, key.doc, tuple(synonyms)))
    return entries


def _from_own_name(name: str, synonyms: list[ConfigSynonym]) -> tuple[ConfigSynonym, ...]:
    """Kafka's `dropWhile(_.name != name)`: a synonym of higher precedence set elsewhere is not this key's own."""
    first = next((i for i, synonym in enumerate(synonyms) if synonym.name == name), len(synonyms))
    return tuple(synonyms[first:])


def _broker_entry(key: ConfigKey, value: ConfigValue, synonyms: tuple[ConfigSynonym, ...]) -> ConfigEntry:
    source = synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG
    sensitive = key.type is ConfigType.PASSWORD  # Kafka never returns a password's value, nor its synonyms'
    text = None if value is None or sensitive else render(value)
    if sensitive:
        synonyms = tuple(ConfigSynonym(s.name, None, s.source) for s in synonyms)
    return ConfigEntry(key.name, text, source, not key.dynamic, sensitive, key.type, key.doc, synonyms)


def describe_broker(broker: BrokerConfig) -> list[ConfigEntry]:
    """This broker's resource ("<id>"): every key, with its value in force and where it comes from."""
    entries = []
    for key in BROKER_KEYS:
        names = broker_synonyms(key.name)
        found = _set_synonyms(names, broker)
        found += [
            ConfigSynonym(name, render(BROKER_BY_NAME[name].default), ConfigSource.DEFAULT_CONFIG)
            for name in names
            if BROKER_BY_NAME[name].default is not None
        ]
        entries.append(_broker_entry(key, broker.get(key.name), _from_own_name(key.name, found)))
    return entries


def describe_broker_default(broker: BrokerConfig) -> list[ConfigEntry]:
    """The cluster-wide default resource (""): only the keys set there, as Kafka describes it."""
    layer = broker.dynamic_default
    entries = []
    for key in BROKER_KEYS:
        if key.name in layer:
            found = [
                ConfigSynonym(name, render(layer[name]), ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
                for name in broker_synonyms(key.name)
                if name in layer
            ]
            entries.append(_broker_entry(key, layer[key.name], _from_own_name(key.name, found)))
    return entries


__all__ = [
    "ConfigEntry",
    "ConfigError",
    "ConfigSource",
    "ConfigSynonym",
    "describe_broker",
    "describe_broker_default",
    "describe_topic",
    "log_config",
    "parse_topic_configs",
]
