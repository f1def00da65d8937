"""Dynamic broker config updates (Strimzi's KafkaBrokerConfigurationDiff): which keys the operator applies live,
the IncrementalAlterConfigs ops per BROKER resource (cluster-wide default "" or a broker id), removed keys deleted
back to their default, and the generated table of update modes in step with the broker's definitions."""

from __future__ import annotations

from odradek.broker.config.definitions import BROKER_BY_NAME, UpdateMode, render
from odradek.operator import config_diff as diff
from odradek.operator.kafka_admin import BrokerConfigEntry
from odradek.operator.resources.update_modes import CLUSTER_WIDE, DYNAMIC_KEYS, PER_BROKER

# a table with a per-broker key: the broker has none that is live yet (its per-broker keys are read-only here)
MODES = {
    "log.retention.ms": (CLUSTER_WIDE, "604800000"),
    "compression.type": (CLUSTER_WIDE, "producer"),
    "message.max.bytes": (CLUSTER_WIDE, "1048588"),
    "listener.x.tuning": (PER_BROKER, None),
}


def entry(name: str, value: str, source: str) -> BrokerConfigEntry:
    return BrokerConfigEntry(name, value, source)


def default_layer(**values: str) -> dict[str, BrokerConfigEntry]:
    return {k.replace("_", "."): entry(k.replace("_", "."), v, diff.DYNAMIC_DEFAULT) for k, v in values.items()}


def test_the_generated_table_is_the_brokers_update_modes() -> None:
    expected = {
        key.name: (key.update_mode.value, None if key.default is None else render(key.default))
        for key in BROKER_BY_NAME.values()
        if key.update_mode is not UpdateMode.READ_ONLY
    }
    assert dict(DYNAMIC_KEYS) == expected
    assert DYNAMIC_KEYS["log.retention.ms"] == (CLUSTER_WIDE, "604800000")
    for key in ("compression.type", "message.max.bytes", "min.insync.replicas"):
        assert diff.is_dynamic(key)
    for key in ("num.partitions", "auto.create.topics.enable", "log.dirs", "listeners", "default.replication.factor"):
        assert not diff.is_dynamic(key)


def test_static_and_dynamic_keys_split_a_config() -> None:
    config = {"log.retention.ms": "1000", "num.partitions": "3"}
    assert diff.dynamic_keys(config) == {"log.retention.ms": "1000"}
    assert diff.static_keys(config) == {"num.partitions": "3"}


def test_cluster_wide_keys_go_to_the_cluster_default_only_when_they_differ() -> None:
    desired = {"log.retention.ms": "1000", "compression.type": "lz4", "num.partitions": "3"}
    ops = diff.dynamic_updates(desired, default_layer(compression_type="lz4"), {0: {}, 1: {}}, MODES)
    assert ops == [diff.BrokerConfigOps("", {"log.retention.ms": "1000"})]  # read-only num.partitions: not here
    assert (
        diff.dynamic_updates(desired, default_layer(log_retention_ms="1000", compression_type="lz4"), {}, MODES) == []
    )


def test_removed_and_out_of_band_keys_are_deleted_from_the_cluster_default() -> None:
    current = default_layer(log_retention_ms="1000", message_max_bytes="2000000", compression_type="producer")
    ops = diff.dynamic_updates({}, current, {0: {}}, MODES)
    # compression.type already holds its default there: deleting it would bring back a stale static value
    assert ops == [diff.BrokerConfigOps("", {}, ("log.retention.ms", "message.max.bytes"))]


def test_per_broker_keys_go_to_each_broker_and_per_broker_overrides_of_spec_keys_are_deleted() -> None:
    brokers = {
        0: {"log.retention.ms": entry("log.retention.ms", "5", diff.DYNAMIC_BROKER)},
        1: {
            "listener.x.tuning": entry("listener.x.tuning", "old", diff.DYNAMIC_BROKER),
            # a throttle a reassignment tool set on the broker: not the spec's business, left alone
            "leader.replication.throttled.rate": entry("leader.replication.throttled.rate", "10", diff.DYNAMIC_BROKER),
        },
    }
    desired = {"log.retention.ms": "1000", "listener.x.tuning": "new"}
    ops = diff.dynamic_updates(desired, {}, brokers, MODES)
    assert ops == [
        diff.BrokerConfigOps("", {"log.retention.ms": "1000"}),
        diff.BrokerConfigOps("0", {"listener.x.tuning": "new"}, ("log.retention.ms",)),
        diff.BrokerConfigOps("1", {"listener.x.tuning": "new"}),
    ]
    removed = diff.dynamic_updates({}, {}, {1: brokers[1]}, MODES)
    assert removed == [diff.BrokerConfigOps("1", {}, ("listener.x.tuning",))]


def test_a_removed_key_a_broker_still_has_from_its_server_properties_is_set_to_its_default() -> None:
    brokers = {
        0: {"log.retention.ms": entry("log.retention.ms", "1000", diff.STATIC)},  # started while it was in the spec
        1: {"log.retention.ms": entry("log.retention.ms", "604800000", "DEFAULT_CONFIG")},
    }
    assert diff.restore_defaults({}, brokers, MODES) == diff.BrokerConfigOps("", {"log.retention.ms": "604800000"})
    assert not diff.restore_defaults({"log.retention.ms": "1000"}, brokers, MODES)  # still wanted: nothing to do
    assert not diff.restore_defaults({}, {0: {"num.partitions": entry("num.partitions", "3", diff.STATIC)}}, MODES)


def test_ops_are_described_per_resource() -> None:
    ops = [
        diff.BrokerConfigOps("", {"log.retention.ms": "1000"}, ("compression.type",)),
        diff.BrokerConfigOps("2", {"a": "b"}),
    ]
    assert diff.describe_ops(ops) == "cluster-wide default: log.retention.ms=1000, -compression.type; broker 2: a=b"
