"""Effective topic and broker configuration, as DescribeConfigs shows it, and the LogConfig a partition uses.

A topic key's value comes from, highest precedence first: the topic's own override (source TOPIC_CONFIG), the
broker key that is its synonym when set (STATIC_BROKER_CONFIG, or DYNAMIC_* once dynamic broker configs are
stored), then the built-in default (DEFAULT_CONFIG). DescribeConfigs lists those synonyms in that order.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from odradek.broker.config.broker import BrokerConfig
from odradek.broker.config.definitions import (
    BROKER_BY_NAME,
    BROKER_KEYS,
    TOPIC_BY_NAME,
    TOPIC_KEYS,
    TOPIC_SYNONYMS,
    ConfigError,
    ConfigType,
    ConfigValue,
    render,
)
from odradek.broker.log.config import LogConfig


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
    assert isinstance(policy, list)
    fields = {name.replace(".", "_"): value for name, value in values.items()}
    return LogConfig(cleanup_policy=tuple(policy), **fields)  # type: ignore[arg-type]


def _broker_synonyms(topic_key: str, broker: BrokerConfig) -> list[ConfigSynonym]:
    result = []
    for synonym in TOPIC_SYNONYMS[topic_key]:
        if synonym in broker.explicit:
            result.append(
                ConfigSynonym(synonym, render(broker.explicit[synonym]), ConfigSource.STATIC_BROKER_CONFIG)
            )
    primary = TOPIC_SYNONYMS[topic_key][0]
    result.append(
        ConfigSynonym(primary, render(BROKER_BY_NAME[primary].default), ConfigSource.DEFAULT_CONFIG)
    )
    return result


def describe_topic(overrides: Mapping[str, str], broker: BrokerConfig) -> list[ConfigEntry]:
    entries = []
    for key in TOPIC_KEYS:
        synonyms = _broker_synonyms(key.name, broker)
        if key.name in overrides:
            synonyms.insert(0, ConfigSynonym(key.name, overrides[key.name], ConfigSource.TOPIC_CONFIG))
        value = render(_topic_value(key.name, overrides, broker))
        source = synonyms[0].source
        entries.append(ConfigEntry(key.name, value, source, False, False, key.type, key.doc, tuple(synonyms)))
    return entries


def describe_broker(broker: BrokerConfig) -> list[ConfigEntry]:
    entries = []
    for key in BROKER_KEYS:
        explicit = key.name in broker.explicit
        source = ConfigSource.STATIC_BROKER_CONFIG if explicit else ConfigSource.DEFAULT_CONFIG
        value = render(broker.get(key.name)) if broker.get(key.name) is not None else None
        synonyms = (ConfigSynonym(key.name, value, source),)
        entries.append(
            ConfigEntry(key.name, value, source, not key.dynamic, False, key.type, key.doc, synonyms)
        )
    return entries


__all__ = [
    "ConfigEntry",
    "ConfigError",
    "ConfigSource",
    "ConfigSynonym",
    "describe_broker",
    "describe_topic",
    "log_config",
    "parse_topic_configs",
]
