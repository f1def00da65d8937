"""`odradek acls` and `odradek configs --entity-type users|clients` without a broker: the ACLs --add creates (Kafka's
AclCommand expansion of principals, hosts, operations and the --producer/--consumer shortcuts), the refusals, the
user/client entities, SCRAM values, and --command-config's Java client properties in librdkafka's keys."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from odradek.cli import main as cli_main
from odradek.cli.acls import bindings_to_add, entry_text, operation, pattern_text
from odradek.cli.client_entities import describe_label, entity, parse_scram
from odradek.cli.common import (
    CliError,
    client_config,
    librdkafka_properties,
)
from odradek.kafka_python import admin_config


def parse(*argv: str) -> argparse.Namespace:
    return cli_main.build_parser().parse_args(list(argv))


def test_add_expands_principals_hosts_and_operations_per_resource() -> None:
    args = parse(
        "acls", "--add", "--allow-principal", "User:alice", "--allow-principal", "User:bob",
        "--allow-host", "10.0.0.1", "--deny-principal", "User:eve", "--operation", "Read", "--operation", "describe",
        "--topic", "t", "--group", "g",
    )  # fmt: skip
    wanted = bindings_to_add(args)
    assert set(wanted) == {("TOPIC", "t"), ("GROUP", "g")}
    assert sorted(wanted[("TOPIC", "t")]) == [
        ("User:alice", "10.0.0.1", "DESCRIBE", "ALLOW"),
        ("User:alice", "10.0.0.1", "READ", "ALLOW"),
        ("User:bob", "10.0.0.1", "DESCRIBE", "ALLOW"),
        ("User:bob", "10.0.0.1", "READ", "ALLOW"),
        ("User:eve", "*", "DESCRIBE", "DENY"),
        ("User:eve", "*", "READ", "DENY"),
    ]


def test_the_default_operation_is_all() -> None:
    wanted = bindings_to_add(parse("acls", "--add", "--allow-principal", "User:a", "--cluster"))
    assert wanted == {("CLUSTER", "kafka-cluster"): [("User:a", "*", "ALL", "ALLOW")]}


def test_producer_and_consumer_shortcuts_are_kafkas() -> None:
    producer = bindings_to_add(
        parse("acls", "--add", "--allow-principal", "User:p", "--producer", "--topic", "t", "--transactional-id",
              "tx", "--idempotent")
    )  # fmt: skip
    assert {r: sorted(op for _, _, op, _ in e) for r, e in producer.items()} == {
        ("TOPIC", "t"): ["CREATE", "DESCRIBE", "WRITE"],
        ("TRANSACTIONAL_ID", "tx"): ["DESCRIBE", "WRITE"],
        ("CLUSTER", "kafka-cluster"): ["IDEMPOTENT_WRITE"],
    }
    consumer = bindings_to_add(
        parse("acls", "--add", "--allow-principal", "User:c", "--consumer", "--topic", "t", "--group", "g")
    )
    assert {r: sorted(op for _, _, op, _ in e) for r, e in consumer.items()} == {
        ("TOPIC", "t"): ["DESCRIBE", "READ"],
        ("GROUP", "g"): ["READ"],
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--add", "--topic", "t"], "--allow-principal, --deny-principal"),
        (["--add", "--allow-principal", "User:a"], "--topic, --cluster, --group"),
        (["--add", "--allow-principal", "User:a", "--operation", "Read", "--cluster"], "CLUSTER only supports"),
        (["--add", "--allow-principal", "User:a", "--operation", "Fly", "--topic", "t"], "Invalid operation Fly"),
        (["--add", "--allow-principal", "alice", "--topic", "t"], "Invalid principal alice"),
        (["--add", "--allow-principal", "User:a", "--consumer", "--topic", "t"], "--group"),
        (["--add", "--allow-principal", "User:a", "--topic", "t", "--resource-pattern-type", "match"], "not valid"),
    ],
)
def test_add_refusals(argv: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message.replace("-", r"\-").replace(",", ",")):
        bindings_to_add(parse("acls", *argv))


def test_operation_names_and_texts_are_kafkas() -> None:
    assert [operation(o) for o in ("Read", "DescribeConfigs", "IDEMPOTENT_WRITE", "cluster-action", "All")] == [
        "READ", "DESCRIBE_CONFIGS", "IDEMPOTENT_WRITE", "CLUSTER_ACTION", "ALL",
    ]  # fmt: skip
    assert pattern_text("TOPIC", "t", "LITERAL") == "ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL)"
    assert entry_text(("User:a", "*", "READ", "ALLOW")) == (
        "(principal=User:a, host=*, operation=READ, permissionType=ALLOW)"
    )


@pytest.mark.parametrize(
    ("argv", "expected", "label"),
    [
        (["--entity-type", "users", "--entity-name", "alice"], [("user", "alice")], "user-principal 'alice'"),
        (["--entity-type", "users", "--entity-default"], [("user", None)], "the default user-principal"),
        (["--entity-type", "clients", "--entity-name", "app"], [("client-id", "app")], "client-id 'app'"),
        (["--client", "app", "--user", "alice"], [("user", "alice"), ("client-id", "app")],
         "user-principal 'alice', client-id 'app'"),
        (["--user-defaults", "--client-defaults"], [("user", None), ("client-id", None)],
         "the default user-principal, the default client-id"),
    ],
)  # fmt: skip
def test_user_and_client_entities(argv: list[str], expected: list[tuple[str, str | None]], label: str) -> None:
    components = entity(parse("configs", "--describe", *argv))
    assert components == expected
    assert describe_label(components) == label


def test_scram_values() -> None:
    assert parse_scram("SCRAM-SHA-256", "iterations=8192,password=s3cret=x") == (8192, "s3cret=x")
    assert parse_scram("SCRAM-SHA-512", "password=p") == (4096, "p")
    with pytest.raises(CliError, match="needs a password"):
        parse_scram("SCRAM-SHA-256", "iterations=8192")


def test_java_client_properties_become_librdkafka_keys() -> None:
    translated = librdkafka_properties(
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" '
            'password="a \\"quoted\\" secret";',
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": "/etc/ca.pem",
            "ssl.keystore.location": "/etc/alice.pem",
            "ssl.key.password": "kp",
            "ssl.endpoint.identification.algorithm": "",
            "client.id": "tool",
        }
    )
    assert translated == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": 'a "quoted" secret',
        "ssl.ca.location": "/etc/ca.pem",
        "ssl.certificate.location": "/etc/alice.pem",
        "ssl.key.location": "/etc/alice.pem",
        "ssl.key.password": "kp",
        "ssl.endpoint.identification.algorithm": "none",
        "client.id": "tool",
    }
    assert admin_config({"bootstrap.servers": "h:1", **translated}) == {
        "bootstrap_servers": "h:1",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": 'a "quoted" secret',
        "ssl_cafile": "/etc/ca.pem",
        "ssl_certfile": "/etc/alice.pem",
        "ssl_keyfile": "/etc/alice.pem",
        "ssl_password": "kp",
        "client_id": "tool",
        "ssl_check_hostname": False,
    }


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"ssl.keystore.type": "JKS"}, "use PEM"),
        ({"sasl.jaas.config": 'com.sun.security.auth.module.JndiLoginModule required user="x";'}, "JndiLoginModule"),
        ({"sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule required;"}, "username"),
    ],
)
def test_unusable_client_properties_are_refused(properties: dict[str, str], message: str) -> None:
    with pytest.raises(CliError, match=message):
        librdkafka_properties(properties)


def test_every_broker_command_reads_command_config_through_client_config(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";\n'
    )
    for argv in (
        ["topics", "--list", "--command-config", str(path)],
        ["configs", "--describe", "--topic", "t", "--command-config", str(path)],
        ["acls", "--list", "--command-config", str(path)],
        ["consumer-groups", "--list", "--command-config", str(path)],
        ["console-consumer", "--topic", "t", "--consumer.config", str(path)],
        ["console-producer", "--topic", "t", "--producer.config", str(path)],
    ):
        config = client_config(parse(*argv))
        assert (config["sasl.username"], config["sasl.password"]) == ("u", "p"), argv
        assert "sasl.jaas.config" not in config
