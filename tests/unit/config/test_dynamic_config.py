"""Dynamic broker configs in the config layer: precedence, synonyms, DescribeConfigs entries, validation, and that
every key marked dynamic reaches a partition's LogConfig (the live effect)."""

from __future__ import annotations

import dataclasses

import pytest
from odradek.broker.config.broker import BrokerConfig, build
from odradek.broker.config.definitions import (
    BROKER_BY_NAME,
    BROKER_KEYS,
    KAFKA_UPDATE_MODES_NOT_LIVE,
    LONG_MAX,
    NO_EFFECT_NAMES,
    TOPIC_SYNONYMS,
    ConfigError,
    ConfigKey,
    ConfigType,
    ConfigValue,
    UpdateMode,
    render,
)
from odradek.broker.config.dynamic import UnknownConfigError, load_dynamic, validate_dynamic
from odradek.broker.config.topic import (
    ConfigSource,
    describe_broker,
    describe_broker_default,
    describe_topic,
    log_config,
)

S = ConfigSource


def layered(static: dict[str, str], default: dict[str, str], broker: dict[str, str]) -> BrokerConfig:
    parsed_default = validate_dynamic(default, per_broker=False)
    parsed_broker = validate_dynamic(broker, per_broker=True)
    return build([static]).with_dynamic(parsed_default, parsed_broker)


def by_name(entries: list) -> dict:  # type: ignore[type-arg]
    return {e.name: e for e in entries}


def synonyms(entry) -> list[tuple[str, str | None, ConfigSource]]:  # type: ignore[no-untyped-def]
    return [(s.name, s.value, s.source) for s in entry.synonyms]


# -- precedence -------------------------------------------------------------------------------------------------


def test_per_broker_beats_cluster_default_beats_static_beats_default() -> None:
    assert build([]).get("log.segment.bytes") == 1_073_741_824
    static = layered({"log.segment.bytes": "1000"}, {}, {})
    assert static.get("log.segment.bytes") == 1000
    default = layered({"log.segment.bytes": "1000"}, {"log.segment.bytes": "2000"}, {})
    assert default.get("log.segment.bytes") == 2000
    own = layered({"log.segment.bytes": "1000"}, {"log.segment.bytes": "2000"}, {"log.segment.bytes": "3000"})
    assert own.get("log.segment.bytes") == 3000
    assert own.explicit["log.segment.bytes"] == 1000, "the static layer itself is kept"


def test_dynamic_value_hides_static_synonyms() -> None:
    """Kafka's overrideProps: a dynamic log.retention.ms removes a static log.retention.hours."""
    config = layered({"log.retention.hours": "1"}, {"log.retention.ms": "5000"}, {})
    assert config.topic_default("retention.ms") == (5000, "log.retention.ms")
    assert config.get("log.retention.hours") == 168  # back to the built-in default, as in Kafka
    static_only = layered({"log.retention.hours": "1"}, {}, {})
    assert static_only.topic_default("retention.ms") == (3_600_000, "log.retention.hours")


def test_topic_default_follows_dynamic_layers_and_topic_override_wins() -> None:
    config = layered({"log.retention.ms": "1000"}, {"log.retention.ms": "2000"}, {})
    assert log_config({}, config).retention_ms == 2000
    assert log_config({"retention.ms": "77"}, config).retention_ms == 77
    assert log_config({}, config.with_dynamic({}, {})).retention_ms == 1000


# -- DescribeConfigs entries ------------------------------------------------------------------------------------


def test_topic_synonyms_list_every_layer_in_kafkas_order() -> None:
    config = layered(
        {"log.retention.hours": "5", "log.retention.ms": "1000"},
        {"log.retention.ms": "2000"},
        {"log.retention.ms": "3000"},
    )
    retention = by_name(describe_topic({"retention.ms": "42"}, config))["retention.ms"]
    assert retention.value == "42" and retention.source is S.TOPIC_CONFIG
    assert synonyms(retention) == [
        ("retention.ms", "42", S.TOPIC_CONFIG),
        ("log.retention.ms", "3000", S.DYNAMIC_BROKER_CONFIG),
        ("log.retention.ms", "2000", S.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.retention.ms", "1000", S.STATIC_BROKER_CONFIG),
        ("log.retention.hours", "5", S.STATIC_BROKER_CONFIG),
        ("log.retention.ms", "604800000", S.DEFAULT_CONFIG),
    ]
    without_override = by_name(describe_topic({}, config))["retention.ms"]
    assert without_override.value == "3000" and without_override.source is S.DYNAMIC_BROKER_CONFIG


def test_topic_value_from_cluster_default_has_that_source() -> None:
    config = layered({}, {"log.segment.bytes": "1048576"}, {})
    segment = by_name(describe_topic({}, config))["segment.bytes"]
    assert (segment.value, segment.source) == ("1048576", S.DYNAMIC_DEFAULT_BROKER_CONFIG)
    assert synonyms(segment)[0] == ("log.segment.bytes", "1048576", S.DYNAMIC_DEFAULT_BROKER_CONFIG)


def test_broker_entry_sources_synonyms_and_read_only() -> None:
    config = layered({"log.retention.hours": "5"}, {"log.retention.ms": "2000"}, {"log.retention.ms": "3000"})
    entries = by_name(describe_broker(config))
    ms = entries["log.retention.ms"]
    assert (ms.value, ms.source, ms.read_only) == ("3000", S.DYNAMIC_BROKER_CONFIG, False)
    assert synonyms(ms) == [
        ("log.retention.ms", "3000", S.DYNAMIC_BROKER_CONFIG),
        ("log.retention.ms", "2000", S.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.retention.hours", "5", S.STATIC_BROKER_CONFIG),
        ("log.retention.ms", "604800000", S.DEFAULT_CONFIG),
        ("log.retention.hours", "168", S.DEFAULT_CONFIG),
    ]
    hours = entries["log.retention.hours"]  # synonyms of other names in front are dropped (Kafka's dropWhile)
    assert synonyms(hours) == [
        ("log.retention.hours", "5", S.STATIC_BROKER_CONFIG),
        ("log.retention.ms", "604800000", S.DEFAULT_CONFIG),
        ("log.retention.hours", "168", S.DEFAULT_CONFIG),
    ]
    # The dynamic log.retention.ms hid the static hours from the config in force, as in Kafka: value 168.
    assert (hours.value, hours.source, hours.read_only) == ("168", S.STATIC_BROKER_CONFIG, True)
    assert entries["log.dirs"].read_only and entries["log.dirs"].source is S.DEFAULT_CONFIG
    assert entries["num.partitions"].value == "1" and entries["num.partitions"].is_default


def test_cluster_default_resource_lists_only_what_is_set_there() -> None:
    config = layered({"log.segment.bytes": "1000"}, {"log.retention.ms": "2000"}, {"message.max.bytes": "5000"})
    entries = describe_broker_default(config)
    assert [(e.name, e.value, e.source) for e in entries] == [
        ("log.retention.ms", "2000", S.DYNAMIC_DEFAULT_BROKER_CONFIG)
    ]
    assert synonyms(entries[0]) == [("log.retention.ms", "2000", S.DYNAMIC_DEFAULT_BROKER_CONFIG)]
    assert describe_broker_default(build([])) == []


# -- validation -------------------------------------------------------------------------------------------------


def test_read_only_keys_are_refused_with_kafkas_message() -> None:
    with pytest.raises(ConfigError) as info:
        validate_dynamic({"log.dirs": "/x", "log.retention.ms": "1"}, per_broker=True)
    assert str(info.value) == "Cannot update these configs dynamically: Set(log.dirs)"
    both = r"^Cannot update these configs dynamically: Set\(listeners, num.partitions\)$"
    with pytest.raises(ConfigError, match=both):
        validate_dynamic({"num.partitions": "3", "listeners": "PLAINTEXT://h:1"}, per_broker=False)
    # Kafka's DynamicLogConfig takes only the first synonym: the hours/minutes forms need a restart.
    with pytest.raises(ConfigError, match=r"Set\(log.retention.hours\)"):
        validate_dynamic({"log.retention.hours": "1"}, per_broker=True)


def test_unknown_and_invalid_values() -> None:
    with pytest.raises(UnknownConfigError, match=r"^Unknown config name: retention\.ms$"):
        validate_dynamic({"retention.ms": "1"}, per_broker=True)
    with pytest.raises(ConfigError, match=r"log\.retention\.ms: Not a number of type LONG"):
        validate_dynamic({"log.retention.ms": "soon"}, per_broker=True)
    with pytest.raises(ConfigError, match=r"log\.segment\.bytes.*at least 14"):
        validate_dynamic({"log.segment.bytes": "1"}, per_broker=False)
    with pytest.raises(ConfigError, match=r"compression\.type.*one of"):
        validate_dynamic({"compression.type": "brotli"}, per_broker=False)
    assert validate_dynamic({"log.cleanup.policy": "compact,delete"}, per_broker=False) == {
        "log.cleanup.policy": ["compact", "delete"]
    }


def test_per_broker_keys_are_refused_on_the_cluster_default() -> None:
    keys = {"a.b": ConfigKey("a.b", ConfigType.INT, 1, "doc", update_mode=UpdateMode.PER_BROKER)}
    assert validate_dynamic({"a.b": "2"}, per_broker=True, keys=keys) == {"a.b": 2}
    with pytest.raises(ConfigError) as info:
        validate_dynamic({"a.b": "2"}, per_broker=False, keys=keys)
    assert str(info.value) == (
        "Cannot update these configs at default cluster level, broker id must be specified: Set(a.b)"
    )


def test_stored_configs_load_leniently() -> None:
    values, problems = load_dynamic({"log.retention.ms": "5", "log.dirs": "/x", "message.max.bytes": "x"}, False)
    assert values == {"log.retention.ms": 5}
    assert [p.split(":")[0] for p in sorted(problems)] == ["log.dirs", "message.max.bytes"]


# -- the classification and its live effect ---------------------------------------------------------------------


def test_dynamic_keys_are_kafkas_dynamic_log_config() -> None:
    """Exactly the first broker synonym of each topic key is dynamic (cluster-wide), as Kafka's DynamicLogConfig;
    the keys Kafka can alter but Odradek cannot yet are read-only here and listed. (Kafka's keys with no effect
    here keep Kafka's update mode: test_kafka_keys.py.) Besides them, the replication throttles' rates (Kafka's
    DynamicConfig.Broker), applied live by the publisher."""
    dynamic = {k.name: k.update_mode for k in BROKER_KEYS if k.dynamic and k.name not in NO_EFFECT_NAMES}
    expected = {synonyms[0]: UpdateMode.CLUSTER_WIDE for synonyms in TOPIC_SYNONYMS.values() if synonyms}
    expected["leader.replication.throttled.rate"] = UpdateMode.CLUSTER_WIDE
    expected["follower.replication.throttled.rate"] = UpdateMode.CLUSTER_WIDE
    assert dynamic == expected
    assert all(not BROKER_BY_NAME[name].dynamic for name in KAFKA_UPDATE_MODES_NOT_LIVE)


def _other_value(key: ConfigKey) -> ConfigValue:
    special: dict[str, ConfigValue] = {
        "compression.type": "gzip",
        "log.message.timestamp.type": "LogAppendTime",
        "log.cleanup.policy": ["compact"],
        "log.cleaner.min.cleanable.ratio": 0.25,
    }
    if key.name in special:
        return special[key.name]
    if key.type is ConfigType.BOOLEAN:
        return not key.default
    assert isinstance(key.default, int), key.name
    return key.default - 1 if key.default in (LONG_MAX, 2**31 - 1) else key.default + 1


# The replication throttles' rates feed the quota managers (tests/unit/publisher), not a LogConfig.
THROTTLE_RATES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")


@pytest.mark.parametrize(
    "key",
    [k for k in BROKER_KEYS if k.dynamic and k.name not in NO_EFFECT_NAMES and k.name not in THROTTLE_RATES],
    ids=lambda k: k.name,
)
def test_every_dynamic_key_reaches_log_config(key: ConfigKey) -> None:
    """The live effect: app.py recomputes each partition's LogConfig from the layered config on every change."""
    value = _other_value(key)
    before = log_config({}, build([]))
    after = log_config({}, build([]).with_dynamic({key.name: value}, {}))
    changed = {f.name for f in dataclasses.fields(before) if getattr(before, f.name) != getattr(after, f.name)}
    topic_key = next(t for t, s in TOPIC_SYNONYMS.items() if s and s[0] == key.name)
    assert changed == {topic_key.replace(".", "_")}, (key.name, render(value))
