"""Kafka 3.9's broker keys that Odradek has no use for (config/kafka_keys.py): accepted from every source, kept,
described, listed, validated by type; keys Kafka does not know are still refused."""

from __future__ import annotations

import pytest
from odradek.broker.config.broker import build, load
from odradek.broker.config.definitions import BROKER_BY_NAME, NO_EFFECT_KEYS, NO_EFFECT_NAMES, ConfigError
from odradek.broker.config.docs import render_markdown
from odradek.broker.config.dynamic import UnknownConfigError, validate_dynamic
from odradek.broker.config.kafka_keys import KAFKA_KEY_GROUPS
from odradek.broker.config.topic import ConfigSource, describe_broker, log_config

KAFKA_SERVER_PROPERTIES = """\
# A Kafka server.properties, unmodified
process.roles=broker,controller
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
log.cleaner.threads=2
num.recovery.threads.per.data.dir=1
transaction.state.log.replication.factor=1
sasl.kerberos.min.time.before.relogin=60000
log.retention.hours=168
"""

# The security keys are implemented by the security work, never declared here as having no effect.
SECURITY_PREFIXES = ("ssl.", "security.", "authorizer.", "listener.name.", "password.encoder.", "delegation.token.")
SECURITY_KEYS = {
    "super.users",
    "principal.builder.class",
    "connections.max.reauth.ms",
    "connection.failed.authentication.delay.ms",
    "allow.everyone.if.no.acl.found",
    "sasl.enabled.mechanisms",
    "sasl.mechanism.inter.broker.protocol",
    "sasl.jaas.config",
}
OUT_OF_SCOPE_SASL = ("sasl.kerberos.", "sasl.oauthbearer.", "sasl.login.", "sasl.server.", "sasl.client.")


def test_a_kafka_properties_file_is_accepted_and_its_values_kept(tmp_path) -> None:
    props = tmp_path / "server.properties"
    props.write_text(KAFKA_SERVER_PROPERTIES)
    config = load(str(props), [], {})
    assert config.get("process.roles") == ["broker", "controller"]
    assert config.get_int("log.cleaner.threads") == 2
    assert config.get_int("sasl.kerberos.min.time.before.relogin") == 60000
    assert config.no_effect_keys() == [
        "log.cleaner.threads",
        "num.io.threads",
        "num.network.threads",
        "num.recovery.threads.per.data.dir",
        "process.roles",
        "sasl.kerberos.min.time.before.relogin",
        "socket.send.buffer.bytes",
    ], "implemented keys (log.retention.hours, transaction.state.log.replication.factor) are not reported"
    assert log_config({}, config) == log_config({}, build([{"log.retention.hours": "168"}])), "no effect"


def test_keys_kafka_does_not_know_are_still_refused() -> None:
    with pytest.raises(ConfigError, match=r"Unknown configuration key\(s\): num\.netwrok\.threads"):
        build([{"num.netwrok.threads": "3"}])
    with pytest.raises(UnknownConfigError, match=r"Unknown config name: log\.cleaner\.treads"):
        validate_dynamic({"log.cleaner.treads": "2"}, per_broker=True)


def test_values_are_validated_by_their_kafka_type() -> None:
    with pytest.raises(ConfigError, match=r"Invalid value 'many' for configuration num\.network\.threads"):
        build([{"num.network.threads": "many"}])
    with pytest.raises(ConfigError, match=r"zookeeper\.set\.acl"):
        build([{"zookeeper.set.acl": "maybe"}])


def test_kafkas_dynamic_keys_are_alterable_and_read_only_ones_refused() -> None:
    assert validate_dynamic({"num.network.threads": "6"}, per_broker=False) == {"num.network.threads": 6}
    assert validate_dynamic({"log.cleaner.io.max.bytes.per.second": "1e6"}, per_broker=True) == {
        "log.cleaner.io.max.bytes.per.second": 1e6
    }
    with pytest.raises(ConfigError, match=r"Cannot update these configs dynamically: Set\(zookeeper\.connect\)"):
        validate_dynamic({"zookeeper.connect": "zk:2181"}, per_broker=True)


def test_described_with_kafkas_default_or_the_value_set() -> None:
    entries = {e.name: e for e in describe_broker(build([{"num.io.threads": "16"}]))}
    assert (entries["num.network.threads"].value, entries["num.network.threads"].source) == (
        "3",
        ConfigSource.DEFAULT_CONFIG,
    )
    assert (entries["num.io.threads"].value, entries["num.io.threads"].source) == (
        "16",
        ConfigSource.STATIC_BROKER_CONFIG,
    )
    assert entries["num.io.threads"].read_only is False and entries["zookeeper.connect"].read_only is True
    assert entries["zookeeper.connect"].value is None
    assert "no effect in Odradek" in entries["num.io.threads"].documentation


def test_the_table_declares_no_security_key_and_no_implemented_key() -> None:
    names = [row[0] for _, rows in KAFKA_KEY_GROUPS for row in rows]
    assert len(names) == len(set(names)) == len(NO_EFFECT_KEYS)
    assert not [n for n in names if n.startswith(SECURITY_PREFIXES) or n in SECURITY_KEYS or ".jaas." in n]
    # The only sasl.* keys are the mechanisms Odradek does not serve, all in one group of their own.
    (sasl_group,) = [group for group, rows in KAFKA_KEY_GROUPS if any(r[0].startswith("sasl.") for r in rows)]
    assert all(
        row[0].startswith(OUT_OF_SCOPE_SASL) for group, rows in KAFKA_KEY_GROUPS if group == sasl_group for row in rows
    )
    assert all(BROKER_BY_NAME[n].doc.endswith("no effect in Odradek.") for n in NO_EFFECT_NAMES)


def test_the_docs_list_them_apart_from_the_implemented_keys() -> None:
    text = render_markdown()
    implemented, rest = text.split("## Kafka broker keys with no effect here")
    no_effect, _topic_keys = rest.split("## Topic keys")
    assert "`num.network.threads`" in no_effect and "`num.network.threads`" not in implemented
    assert "`log.retention.hours`" in implemented and "`log.retention.hours`" not in no_effect
    assert "| `log.cleaner.threads` | cluster-wide | int | `1` |" in no_effect


def test_group_consumer_keys_are_implemented_with_kafkas_names_and_defaults() -> None:
    from odradek.broker.app import _consumer_assignors

    config = build([{}])
    assert config.get_int("group.consumer.heartbeat.interval.ms") == 5000
    assert config.get_int("group.consumer.session.timeout.ms") == 45000
    assert _consumer_assignors(config.get("group.consumer.assignors")) == ("uniform", "range")
    assert "group.consumer.session.timeout.ms" not in NO_EFFECT_NAMES
    kafka_style = build(
        [
            {
                "group.consumer.assignors": "org.apache.kafka.coordinator.group.assignor.RangeAssignor,"
                "org.apache.kafka.coordinator.group.assignor.UniformAssignor"
            }
        ]
    )
    assert _consumer_assignors(kafka_style.get("group.consumer.assignors")) == ("range", "uniform")
    with pytest.raises(ConfigError):
        build([{"group.consumer.assignors": "sticky"}])
