"""Dynamic broker configs (Kafka's KIP-226) against a broker process, with real clients.

confluent-kafka (librdkafka) alters and describes the per-broker resource ConfigResource(BROKER, "1"). librdkafka
cannot name the cluster-wide default, the BROKER resource "" (it refuses an empty name and routes a BROKER resource
to the broker its name parses as), so that resource goes through kafka-python's request classes, built from
Kafka's own JSON message specs, on kafka-python's connection manager. Each test starts its own broker: dynamic
configs are broker-wide state.

Live effects checked: a dynamic `log.segment.bytes` / `log.retention.ms` default rolls and deletes segments of an
existing topic without overrides (a topic override still wins), `message.max.bytes` changes what Produce accepts,
and everything survives a SIGKILL and restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType
from it_support import (
    CLIENT_TIMEOUT_S,
    REPO,
    BrokerProcess,
    ck_admin,
    ck_create_topic,
    ck_produce,
    ck_watermarks,
    unique_topic,
    wait_for,
)
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType, KafkaAdminClient
from kafka.protocol.admin import AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

T = CLIENT_TIMEOUT_S
BROKER = 4
SET, DELETE, APPEND = 0, 1, 2
Factory = Callable[..., BrokerProcess]


# -- clients ------------------------------------------------------------------------------------------------------


def ck_alter(bootstrap: str, name: str, ops: dict[str, str | None], validate_only: bool = False) -> None:
    """IncrementalAlterConfigs on BROKER `name` through librdkafka: SET for a value, DELETE for None."""
    entries = [
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET if v is not None else AlterConfigOpType.DELETE)
        for k, v in ops.items()
    ]
    resource = ConfigResource(ResourceType.BROKER, name, incremental_configs=entries)
    admin = ck_admin(bootstrap)  # kept referenced until the result: a collected client fails its futures
    futures = admin.incremental_alter_configs([resource], request_timeout=T, validate_only=validate_only)
    futures[resource].result(timeout=T)


def ck_alter_error(bootstrap: str, name: str, ops: dict[str, str | None], validate_only: bool = False) -> Any:
    with pytest.raises(KafkaException) as info:
        ck_alter(bootstrap, name, ops, validate_only)
    return info.value.args[0]


def ck_describe(bootstrap: str, name: str = "1", restype: ResourceType = ResourceType.BROKER) -> dict[str, Any]:
    resource = ConfigResource(restype, name)
    admin = ck_admin(bootstrap)
    configs: dict[str, Any] = admin.describe_configs([resource], request_timeout=T)[resource].result(T)
    return configs


def kp_call(bootstrap: str, request: Any) -> Any:
    """One request through kafka-python's client (to the one broker), for what librdkafka cannot express."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(T * 1000))
    try:

        async def send() -> Any:
            return await admin._manager.send(request)

        return admin._manager.run(send)
    finally:
        admin.close()


def kp_alter(bootstrap: str, name: str, ops: list[tuple[str, int, str | None]], validate_only: bool = False) -> Any:
    request = IncrementalAlterConfigsRequest(resources=[(BROKER, name, ops)], validate_only=validate_only)
    return kp_call(bootstrap, request).responses[0]


def kp_describe(bootstrap: str, name: str) -> dict[str, Any]:
    request = DescribeConfigsRequest(resources=[(BROKER, name, None)], include_synonyms=True, min_version=1)
    result = kp_call(bootstrap, request).results[0]
    assert result.error_code == 0, result
    return {c.name: c for c in result.configs}


def synonyms(entry: Any) -> list[tuple[str, str | None, int]]:
    return [(s.name, s.value, s.source) for s in entry.synonyms]


def produce_error(bootstrap: str, topic: str, value: bytes) -> Any:
    """Produce one record (uncompressed, no retries); the delivery error or None."""
    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": "none", "retries": 0})
    producer.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(T) == 0
    return errors[0]


def segment_files(broker: BrokerProcess, topic: str) -> list[str]:
    return sorted(p.name for p in broker.partition_dir(topic).glob("*.log"))


# -- precedence, sources and synonyms ------------------------------------------------------------------------------


def test_per_broker_over_cluster_default_over_static(broker_factory: Factory) -> None:
    broker = broker_factory({"log.retention.ms": "86400000"})
    topic = unique_topic("dyn-precedence")
    ck_create_topic(broker.bootstrap, topic)
    assert kp_alter(broker.bootstrap, "", [("log.retention.ms", SET, "7200000")]).error_code == 0
    ck_alter(broker.bootstrap, "1", {"log.retention.ms": "3600000"})

    own = ck_describe(broker.bootstrap)["log.retention.ms"]
    assert (own.value, own.source, own.is_read_only) == ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value, False)
    assert synonyms(kp_describe(broker.bootstrap, "1")["log.retention.ms"])[:3] == [
        ("log.retention.ms", "3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value),
        ("log.retention.ms", "7200000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value),
        ("log.retention.ms", "86400000", ConfigSource.STATIC_BROKER_CONFIG.value),
    ]
    default = kp_describe(broker.bootstrap, "")
    assert list(default) == ["log.retention.ms"], "the default resource lists only what is set there"
    assert (default["log.retention.ms"].value, default["log.retention.ms"].config_source) == (
        "7200000",
        ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value,
    )
    retention = ck_describe(broker.bootstrap, topic, ResourceType.TOPIC)["retention.ms"]
    assert (retention.value, retention.source) == ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)

    ck_alter(broker.bootstrap, "1", {"log.retention.ms": None})
    retention = ck_describe(broker.bootstrap, topic, ResourceType.TOPIC)["retention.ms"]
    assert (retention.value, retention.source) == ("7200000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    assert kp_alter(broker.bootstrap, "", [("log.retention.ms", DELETE, None)]).error_code == 0
    retention = ck_describe(broker.bootstrap, topic, ResourceType.TOPIC)["retention.ms"]
    assert (retention.value, retention.source) == ("86400000", ConfigSource.STATIC_BROKER_CONFIG.value)
    assert kp_describe(broker.bootstrap, "") == {}


def test_kafka_python_admin_describes_the_broker(broker_factory: Factory) -> None:
    broker = broker_factory()
    ck_alter(broker.bootstrap, "1", {"message.max.bytes": "2000000"})
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=int(T * 1000))
    try:
        resources = [KpConfigResource(ConfigResourceType.BROKER, "1")]
        modified = admin.describe_configs(resources, include_synonyms=True)["broker"]["1"]
        every = admin.describe_configs(resources, config_filter="all")["broker"]["1"]
    finally:
        admin.close()
    assert list(modified) == ["message.max.bytes"], "kafka-python's default filter: dynamic (modified) keys only"
    assert modified["message.max.bytes"]["value"] == "2000000"
    assert modified["message.max.bytes"]["config_source"] == "DYNAMIC_BROKER_CONFIG"
    assert every["log.dirs"]["config_source"] == "STATIC_BROKER_CONFIG" and every["log.dirs"]["read_only"]


# -- live effect ---------------------------------------------------------------------------------------------------


def test_dynamic_log_defaults_roll_and_delete_segments_of_existing_topics(broker_factory: Factory) -> None:
    broker = broker_factory({"log.retention.check.interval.ms": "200"})
    plain, kept = unique_topic("dyn-plain"), unique_topic("dyn-kept")
    ck_create_topic(broker.bootstrap, plain)
    ck_create_topic(broker.bootstrap, kept, config={"retention.ms": "-1"})
    values = [os.urandom(300) for _ in range(20)]
    for topic in (plain, kept):
        ck_produce(broker.bootstrap, topic, values[:5])
        assert len(segment_files(broker, topic)) == 1

    assert kp_alter(broker.bootstrap, "", [("log.segment.bytes", SET, "1024")]).error_code == 0
    for topic in (plain, kept):
        for value in values:
            ck_produce(broker.bootstrap, topic, [value])  # one batch per record: a roll check per batch
        assert len(segment_files(broker, topic)) > 3, "the existing topic rolls at the new default size"
    assert ck_watermarks(broker.bootstrap, plain) == (0, 25)

    assert kp_alter(broker.bootstrap, "", [("log.retention.ms", SET, "1")]).error_code == 0
    low = wait_for(lambda: ck_watermarks(broker.bootstrap, plain)[0], timeout=20, what="retention to delete")
    assert 0 < low <= 25
    assert ck_watermarks(broker.bootstrap, kept)[0] == 0, "retention.ms=-1 on the topic wins over the default"
    segment = ck_describe(broker.bootstrap, plain, ResourceType.TOPIC)["segment.bytes"]
    assert (segment.value, segment.source) == ("1024", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)


def test_message_max_bytes_changes_what_produce_accepts(broker_factory: Factory) -> None:
    broker = broker_factory()
    topic = unique_topic("dyn-size")
    ck_create_topic(broker.bootstrap, topic)
    big = os.urandom(5000)
    assert produce_error(broker.bootstrap, topic, big) is None
    ck_alter(broker.bootstrap, "1", {"message.max.bytes": "2000"})
    error = produce_error(broker.bootstrap, topic, big)
    assert error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE, error
    assert produce_error(broker.bootstrap, topic, b"small") is None
    max_bytes = ck_describe(broker.bootstrap, topic, ResourceType.TOPIC)["max.message.bytes"]
    assert (max_bytes.value, max_bytes.source) == ("2000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    ck_alter(broker.bootstrap, "1", {"message.max.bytes": None})
    assert produce_error(broker.bootstrap, topic, big) is None


def test_dynamic_configs_survive_a_kill_and_restart(broker_factory: Factory) -> None:
    broker = broker_factory()
    topic = unique_topic("dyn-restart")
    ck_create_topic(broker.bootstrap, topic)
    ck_alter(broker.bootstrap, "1", {"message.max.bytes": "2000"})
    assert kp_alter(broker.bootstrap, "", [("log.retention.ms", SET, "7200000")]).error_code == 0
    broker.kill()
    broker.restart()
    configs = ck_describe(broker.bootstrap)
    assert (configs["message.max.bytes"].value, configs["message.max.bytes"].source) == (
        "2000",
        ConfigSource.DYNAMIC_BROKER_CONFIG.value,
    )
    assert (configs["log.retention.ms"].value, configs["log.retention.ms"].source) == (
        "7200000",
        ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value,
    )
    error = produce_error(broker.bootstrap, topic, os.urandom(5000))
    assert error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE, "applied again at start-up"
    assert "dynamic broker configs in force" in broker.output()


# -- refusals, validate_only, legacy AlterConfigs ------------------------------------------------------------------


def test_read_only_invalid_and_unknown_keys_change_nothing(broker_factory: Factory) -> None:
    broker = broker_factory()
    ck_alter(broker.bootstrap, "1", {"log.retention.ms": "3600000"})
    before = {k: (e.value, e.source) for k, e in ck_describe(broker.bootstrap).items()}

    error = ck_alter_error(broker.bootstrap, "1", {"log.dirs": "/elsewhere", "log.retention.ms": "1"})
    assert error.code() == KafkaError.INVALID_REQUEST
    assert error.str() == "Cannot update these configs dynamically: Set(log.dirs)"
    error = ck_alter_error(broker.bootstrap, "1", {"log.retention.hours": "1"})
    assert error.str() == "Cannot update these configs dynamically: Set(log.retention.hours)"
    error = ck_alter_error(broker.bootstrap, "1", {"log.retention.ms": "soon"})
    assert error.code() == KafkaError.INVALID_REQUEST and "Not a number of type LONG" in error.str()
    error = ck_alter_error(broker.bootstrap, "1", {"retention.ms": "1"})
    assert (error.code(), error.str()) == (KafkaError.INVALID_CONFIG, "Unknown config name: retention.ms")
    response = kp_alter(broker.bootstrap, "", [("auto.create.topics.enable", SET, "false")])
    assert (response.error_code, response.error_message) == (
        KafkaError.INVALID_REQUEST,
        "Cannot update these configs dynamically: Set(auto.create.topics.enable)",
    )
    response = kp_alter(broker.bootstrap, "7", [("log.retention.ms", SET, "1")])
    assert (response.error_code, response.error_message) == (
        KafkaError.INVALID_REQUEST,
        "Unexpected broker id, expected 1, but received 7",
    )

    ck_alter(broker.bootstrap, "1", {"log.retention.ms": "60000"}, validate_only=True)
    assert kp_alter(broker.bootstrap, "", [("log.segment.bytes", SET, "2048")], validate_only=True).error_code == 0
    error = ck_alter_error(broker.bootstrap, "1", {"log.dirs": "/x"}, validate_only=True)
    assert error.code() == KafkaError.INVALID_REQUEST, "validate_only still validates"
    after = {k: (e.value, e.source) for k, e in ck_describe(broker.bootstrap).items()}
    assert after == before
    assert kp_describe(broker.bootstrap, "") == {}


def test_legacy_alter_configs_replaces_the_whole_dynamic_set(broker_factory: Factory) -> None:
    broker = broker_factory()
    ck_alter(broker.bootstrap, "1", {"log.retention.ms": "3600000", "message.max.bytes": "5000"})
    resource = ConfigResource(ResourceType.BROKER, "1", set_config={"log.segment.bytes": "4096"})
    admin = ck_admin(broker.bootstrap)
    with pytest.warns(DeprecationWarning):  # deprecated in the client, still a Kafka API
        futures = admin.alter_configs([resource], request_timeout=T)
    futures[resource].result(timeout=T)
    configs = ck_describe(broker.bootstrap)
    dynamic = {k: e.value for k, e in configs.items() if e.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value}
    assert dynamic == {"log.segment.bytes": "4096"}
    response = kp_call(broker.bootstrap, AlterConfigsRequest(resources=[(BROKER, "", [("log.roll.ms", "60000")])]))
    assert response.responses[0].error_code == 0
    assert list(kp_describe(broker.bootstrap, "")) == ["log.roll.ms"]
    empty = kp_call(broker.bootstrap, AlterConfigsRequest(resources=[(BROKER, "", [])]))
    assert empty.responses[0].error_code == 0 and kp_describe(broker.bootstrap, "") == {}


def test_list_key_append_on_the_cluster_default(broker_factory: Factory) -> None:
    broker = broker_factory()
    topic = unique_topic("dyn-append")
    ck_create_topic(broker.bootstrap, topic)
    assert kp_alter(broker.bootstrap, "", [("log.cleanup.policy", APPEND, "compact")]).error_code == 0
    policy = ck_describe(broker.bootstrap, topic, ResourceType.TOPIC)["cleanup.policy"]
    assert (policy.value, policy.source) == ("delete,compact", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    response = kp_alter(broker.bootstrap, "", [("log.retention.ms", APPEND, "1")])
    assert (response.error_code, response.error_message) == (
        KafkaError.INVALID_CONFIG,
        "Config value append is not allowed for config key: log.retention.ms",
    )


# -- the CLI -------------------------------------------------------------------------------------------------------


def odradek(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "broker"), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "odradek.cli", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_cli_alters_and_describes_a_broker(broker_factory: Factory) -> None:
    broker = broker_factory()
    b = ("--bootstrap-server", broker.bootstrap, "--entity-type", "brokers")
    done = odradek("configs", *b, "--alter", "--entity-name", "1", "--add-config", "log.retention.ms=3600000")
    assert (done.returncode, done.stdout) == (0, "Completed updating config for broker 1.\n"), done.stderr
    shown = odradek("configs", *b, "--describe", "--entity-name", "1")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "Dynamic configs for broker 1 are:"
    assert lines[1:] == [
        "  log.retention.ms=3600000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.retention.ms=3600000, "
        "DEFAULT_CONFIG:log.retention.ms=604800000, DEFAULT_CONFIG:log.retention.hours=168}"
    ], "every synonym, the same name at two levels included (as kafka-configs.sh prints them)"
    every = odradek("configs", *b, "--describe")  # no name: every live broker, as kafka-configs
    assert every.returncode == 0 and every.stdout == shown.stdout

    refused = odradek("configs", *b, "--alter", "--entity-name", "1", "--add-config", "log.dirs=/x")
    assert refused.returncode == 1
    assert "Cannot update these configs dynamically: Set(log.dirs)" in refused.stderr
    default = odradek("configs", *b, "--alter", "--entity-default", "--add-config", "log.retention.ms=1")
    assert default.returncode == 1 and "librdkafka" in default.stderr

    done = odradek("configs", *b, "--alter", "--entity-name", "1", "--delete-config", "log.retention.ms")
    assert done.returncode == 0, done.stderr
    shown = odradek("configs", *b, "--describe", "--entity-name", "1")
    assert shown.stdout == "Dynamic configs for broker 1 are:\n"
    assert ck_describe(broker.bootstrap)["log.retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


# -- Kafka's keys with no effect here (config/kafka_keys.py) --------------------------------------------------------


def test_kafka_keys_without_effect_are_accepted_kept_and_described(broker_factory: Factory) -> None:
    """A Kafka configuration works unmodified: its keys are accepted from the broker's configuration and by
    AlterConfigs where Kafka allows it, described with their source, logged once at start-up; unknown keys are not."""
    broker = broker_factory({"num.io.threads": "16", "sasl.kerberos.min.time.before.relogin": "30000"})
    logged = [line for line in broker.output().splitlines() if "no effect in Odradek" in line]
    assert len(logged) == 1 and "num.io.threads, sasl.kerberos.min.time.before.relogin" in logged[0], logged

    ck_alter(broker.bootstrap, "1", {"num.network.threads": "6", "log.cleaner.threads": "2"})
    # (max.connections.per.ip served here before; it has an effect now, read-only: docs/security.md)
    assert kp_alter(broker.bootstrap, "", [("log.cleaner.io.buffer.load.factor", SET, "0.8")]).error_code == 0
    described = ck_describe(broker.bootstrap)
    assert (described["num.network.threads"].value, described["num.network.threads"].source) == (
        "6",
        ConfigSource.DYNAMIC_BROKER_CONFIG.value,
    )
    assert (described["num.io.threads"].value, described["num.io.threads"].source) == (
        "16",
        ConfigSource.STATIC_BROKER_CONFIG.value,
    )
    factor = described["log.cleaner.io.buffer.load.factor"]
    assert (factor.value, factor.source) == ("0.8", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    assert described["sasl.kerberos.min.time.before.relogin"].value == "30000"
    assert (described["background.threads"].value, described["background.threads"].source) == (
        "10",
        ConfigSource.DEFAULT_CONFIG.value,
    )
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=int(T * 1000))
    try:
        resources = [KpConfigResource(ConfigResourceType.BROKER, "1")]
        modified = admin.describe_configs(resources)["broker"]["1"]
    finally:
        admin.close()
    assert {"num.network.threads", "log.cleaner.threads"} <= set(modified)

    error = ck_alter_error(broker.bootstrap, "1", {"zookeeper.connect": "zk:2181"})
    assert error.str() == "Cannot update these configs dynamically: Set(zookeeper.connect)"
    error = ck_alter_error(broker.bootstrap, "1", {"num.netwrk.threads": "6"})
    assert (error.code(), error.str()) == (KafkaError.INVALID_CONFIG, "Unknown config name: num.netwrk.threads")

    broker.stop()
    broker.restart()
    assert ck_describe(broker.bootstrap)["log.cleaner.threads"].value == "2", "kept across a restart"
