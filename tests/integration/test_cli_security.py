"""`odradek acls` and `odradek configs --entity-type users|clients` against a SASL_PLAINTEXT broker with the
StandardAuthorizer, every call authenticated through `--command-config` (Kafka's client properties with a
ScramLoginModule JAAS entry): a SCRAM user and a quota created with the CLI, the user then authenticates and is
allowed exactly what `odradek acls` granted; ACLs listed and removed; quotas described and deleted."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from it_support import broker_env, ck_create_topic, ck_produce, unique_topic
from security_support import SecureBroker, sasl_overrides

pytestmark = pytest.mark.integration

CLI_TIMEOUT_S = 90.0
ADMIN_JAAS = (
    'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";'
)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    overrides = {
        **sasl_overrides(),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin;User:ANONYMOUS",  # ANONYMOUS: the INTERNAL PLAINTEXT listener (test set-up)
    }
    proc = SecureBroker(tmp_path_factory.mktemp("cli-security"), "SASL_PLAINTEXT", overrides)
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


@pytest.fixture(scope="module")
def admin_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("props") / "admin.properties"
    path.write_text(f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config={ADMIN_JAAS}\n")
    return path


def odradek(broker: SecureBroker, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "odradek.cli", *args, "--bootstrap-server", broker.bootstrap, "--command-config",
         str(config)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=broker_env(),
        check=False,
    )  # fmt: skip


def ok(broker: SecureBroker, config: Path, *args: str) -> str:
    proc = odradek(broker, config, *args)
    assert proc.returncode == 0, f"odradek {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def scram(user: str, password: str) -> dict[str, Any]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": user,
        "sasl.password": password,
    }


def test_a_user_made_with_the_cli_gets_exactly_the_acls_the_cli_grants(
    broker: SecureBroker, admin_config: Path
) -> None:
    user = unique_topic("carol").replace(".", "-")
    allowed, other = unique_topic("allowed"), unique_topic("other")
    for topic in (allowed, other):
        ck_create_topic(broker.internal, topic)
    out = ok(
        broker, admin_config, "configs", "--alter", "--entity-type", "users", "--entity-name", user,
        "--add-config", "SCRAM-SHA-256=[iterations=8192,password=carol-secret],producer_byte_rate=1048576",
    )  # fmt: skip
    assert out.strip() == f"Completed updating config for user {user}."
    described = ok(broker, admin_config, "configs", "--describe", "--entity-type", "users", "--entity-name", user)
    assert described.splitlines() == [
        f"Quota configs for user-principal '{user}' are producer_byte_rate=1048576.0",
        f"SCRAM credential configs for user-principal '{user}' are SCRAM-SHA-256=iterations=8192",
    ]
    added = ok(
        broker, admin_config, "acls", "--add", "--allow-principal", f"User:{user}", "--producer", "--topic", allowed
    )
    assert (
        f"Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name={allowed}, patternType=LITERAL)`" in added
    )
    assert f"(principal=User:{user}, host=*, operation=WRITE, permissionType=ALLOW)" in added

    acked = ck_produce(broker.bootstrap, allowed, [b"v"], extra=scram(user, "carol-secret"))
    assert [offset for _, offset, _ in acked] == [0]
    with pytest.raises(Exception, match=r"TOPIC_AUTHORIZATION_FAILED|Topic authorization failed|not authorized"):
        ck_produce(broker.bootstrap, other, [b"v"], extra=scram(user, "carol-secret"))

    listed = ok(broker, admin_config, "acls", "--list", "--topic", allowed)
    assert listed.count("permissionType=ALLOW") == 3  # WRITE, DESCRIBE, CREATE
    ok(broker, admin_config, "acls", "--remove", "--force", "--topic", allowed, "--allow-principal", f"User:{user}",
       "--operation", "Create")  # fmt: skip
    listed = ok(broker, admin_config, "acls", "--list", "--topic", allowed)
    assert "operation=CREATE" not in listed and listed.count("permissionType=ALLOW") == 2
    ok(broker, admin_config, "acls", "--remove", "--force", "--topic", allowed)
    assert "permissionType" not in ok(broker, admin_config, "acls", "--list", "--topic", allowed)

    ok(broker, admin_config, "configs", "--alter", "--entity-type", "users", "--entity-name", user,
       "--delete-config", "SCRAM-SHA-256,producer_byte_rate")  # fmt: skip
    assert ok(broker, admin_config, "configs", "--describe", "--entity-type", "users", "--entity-name", user) == ""


def test_client_quotas_with_defaults(broker: SecureBroker, admin_config: Path) -> None:
    client = unique_topic("app")
    ok(broker, admin_config, "configs", "--alter", "--entity-type", "clients", "--entity-default",
       "--add-config", "request_percentage=50")  # fmt: skip
    ok(broker, admin_config, "configs", "--alter", "--user", "alice", "--client", client,
       "--add-config", "consumer_byte_rate=2048")  # fmt: skip
    defaults = ok(broker, admin_config, "configs", "--describe", "--entity-type", "clients", "--entity-default")
    assert defaults.splitlines() == ["Quota configs for the default client-id are request_percentage=50.0"]
    pair = ok(broker, admin_config, "configs", "--describe", "--user", "alice", "--client", client)
    assert pair.splitlines() == [
        f"Quota configs for user-principal 'alice', client-id '{client}' are consumer_byte_rate=2048.0"
    ]
    ok(broker, admin_config, "configs", "--alter", "--entity-type", "clients", "--entity-default",
       "--delete-config", "request_percentage")  # fmt: skip
    assert ok(broker, admin_config, "configs", "--describe", "--entity-type", "clients", "--entity-default") == ""


def test_without_the_command_config_the_sasl_listener_refuses_and_a_wrong_password_fails(
    broker: SecureBroker, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.properties"
    wrong.write_text(ADMIN_JAAS.replace("admin-secret", "nope").join(
        ["security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=", "\n"]
    ))  # fmt: skip
    proc = odradek(broker, wrong, "acls", "--list")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error:"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_other_commands_take_the_command_config(broker: SecureBroker, admin_config: Path) -> None:
    topic = unique_topic("cc")
    out = ok(broker, admin_config, "topics", "--create", "--topic", topic, "--partitions", "1")
    assert topic in out
    assert topic in ok(broker, admin_config, "topics", "--list").split()
