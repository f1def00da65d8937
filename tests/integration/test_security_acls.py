"""ACLs end to end on a SASL_PLAINTEXT listener with the StandardAuthorizer (super.users=User:admin), driven by
confluent-kafka's AdminClient: CreateAcls, DescribeAcls (ANY and MATCH filters), DeleteAcls; one user allowed to read
one topic in one group and nothing else; prefixed ACLs and a DENY that wins over them; the audit log line of a
denial; SCRAM users added, described and removed with AlterUserScramCredentials / DescribeUserScramCredentials.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from it_support import CLIENT_TIMEOUT_S, ck_consume, ck_produce, wait_for
from security_support import SecureBroker

pytestmark = pytest.mark.integration

JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";'
)
PASSWORDS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    overrides = {
        "listener.name.client.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
        "listener.name.client.plain.sasl.jaas.config": JAAS,
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": "User:admin",
    }
    proc = SecureBroker(tmp_path_factory.mktemp("acls"), "SASL_PLAINTEXT", overrides)
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


def auth(user: str, mechanism: str = "PLAIN", password: str | None = None) -> dict[str, Any]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password or PASSWORDS[user],
    }


def admin(broker: SecureBroker, user: str = "admin", **config: Any) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap, **auth(user), **config})


def create_topics(broker: SecureBroker, *names: str) -> None:
    client = admin(broker)  # held until the results are in (a collected client cancels its requests)
    futures = client.create_topics([NewTopic(n, 1, 1) for n in names], request_timeout=CLIENT_TIMEOUT_S)
    for future in futures.values():
        future.result(timeout=CLIENT_TIMEOUT_S)


def allow(principal: str, operation: Any, resource: Any, name: str, pattern: Any = ResourcePatternType.LITERAL) -> Any:
    return AclBinding(resource, name, pattern, principal, "*", operation, AclPermissionType.ALLOW)


def create_acls(broker: SecureBroker, *bindings: Any) -> None:
    client = admin(broker)
    for future in client.create_acls(list(bindings), request_timeout=CLIENT_TIMEOUT_S).values():
        future.result(timeout=CLIENT_TIMEOUT_S)


def subscribe_and_read(broker: SecureBroker, user: str, topic: str, group: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **auth(user),
        }
    )
    got: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 20
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                raise KafkaException(msg.error())
            got.append(msg.value())
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


def consume_error(broker: SecureBroker, user: str, topic: str, group: str) -> int:
    """The first error code a subscribing consumer gets (0 if none within 15 s)."""
    try:
        subscribe_and_read(broker, user, topic, group, 1)
    except KafkaException as exc:
        return int(exc.args[0].code())
    return 0


@pytest.fixture(scope="module")
def topics(acl_broker: SecureBroker) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:6]
    names = {"orders": f"orders-{suffix}", "payroll": f"payroll-{suffix}", "pre": f"pre-{suffix}-x"}
    create_topics(acl_broker, *names.values())
    for name in names.values():
        ck_produce(acl_broker.bootstrap, name, [b"one", b"two"], extra=auth("admin"))
    return names


def test_one_user_may_read_one_topic_in_one_group_and_nothing_else(
    acl_broker: SecureBroker, topics: dict[str, str]
) -> None:
    orders, payroll = topics["orders"], topics["payroll"]
    group = f"g-{uuid.uuid4().hex[:6]}"
    create_acls(
        acl_broker,
        allow("User:alice", AclOperation.READ, ResourceType.TOPIC, orders),
        allow("User:alice", AclOperation.READ, ResourceType.GROUP, group),
    )
    assert subscribe_and_read(acl_broker, "alice", orders, group, 2) == [b"one", b"two"]
    assert consume_error(acl_broker, "alice", payroll, group) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert consume_error(acl_broker, "alice", orders, "other-group") == KafkaError.GROUP_AUTHORIZATION_FAILED
    # Metadata for all topics shows alice only what she may describe (READ implies DESCRIBE)
    visible = set(admin(acl_broker, "alice").list_topics(timeout=CLIENT_TIMEOUT_S).topics)
    assert orders in visible and payroll not in visible
    # creating a topic or ACLs needs more than READ
    alice = admin(acl_broker, "alice")
    futures = alice.create_topics([NewTopic(f"new-{uuid.uuid4().hex[:6]}", 1, 1)])
    with pytest.raises(KafkaException) as created:
        next(iter(futures.values())).result(timeout=CLIENT_TIMEOUT_S)
    assert created.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    acl_futures = alice.create_acls([allow("User:alice", AclOperation.ALL, ResourceType.TOPIC, "*")])
    with pytest.raises(KafkaException) as refused:
        next(iter(acl_futures.values())).result(timeout=CLIENT_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    audit = "Principal = User:alice is Denied Operation = DESCRIBE from host = 127.0.0.1 on resource = "
    audit += f"TOPIC:LITERAL:{payroll}"
    assert audit in acl_broker.output()  # the authorizer's audit line for the denied Metadata


def test_a_reader_may_not_produce(acl_broker: SecureBroker, topics: dict[str, str]) -> None:
    create_acls(acl_broker, allow("User:alice", AclOperation.READ, ResourceType.TOPIC, topics["orders"]))
    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": acl_broker.bootstrap, **auth("alice")})
    producer.produce(topics["orders"], b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(CLIENT_TIMEOUT_S)
    assert errors and errors[0] is not None and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_prefixed_allow_and_a_literal_deny_that_wins(acl_broker: SecureBroker, topics: dict[str, str]) -> None:
    prefix = topics["pre"].rsplit("-", 1)[0] + "-"
    create_acls(
        acl_broker,
        allow("User:bob", AclOperation.READ, ResourceType.TOPIC, prefix, ResourcePatternType.PREFIXED),
        allow("User:bob", AclOperation.READ, ResourceType.GROUP, "it-", ResourcePatternType.PREFIXED),  # ck_consume's
    )
    assert [m.value() for m in ck_consume(acl_broker.bootstrap, topics["pre"], 2, extra=auth("bob"))] == [
        b"one",
        b"two",
    ]
    deny = AclBinding(
        ResourceType.TOPIC,
        topics["pre"],
        ResourcePatternType.LITERAL,
        "User:bob",
        "*",
        AclOperation.DESCRIBE,
        AclPermissionType.DENY,
    )
    create_acls(acl_broker, deny)
    metadata = admin(acl_broker, "bob").list_topics(topics["pre"], timeout=CLIENT_TIMEOUT_S)
    assert metadata.topics[topics["pre"]].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_describe_and_delete_acls_with_filters(acl_broker: SecureBroker) -> None:
    name = f"filtered-{uuid.uuid4().hex[:6]}"
    create_acls(
        acl_broker,
        allow("User:carl", AclOperation.WRITE, ResourceType.TOPIC, name),
        allow("User:carl", AclOperation.READ, ResourceType.TOPIC, name[:9], ResourcePatternType.PREFIXED),
        allow("User:dora", AclOperation.READ, ResourceType.TOPIC, name),
    )
    client = admin(acl_broker)
    by_principal = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, "User:carl", None, AclOperation.ANY, AclPermissionType.ANY
    )
    assert len(client.describe_acls(by_principal).result(timeout=CLIENT_TIMEOUT_S)) == 2
    matching = AclBindingFilter(
        ResourceType.TOPIC, name, ResourcePatternType.MATCH, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    found = client.describe_acls(matching).result(timeout=CLIENT_TIMEOUT_S)
    assert {(b.principal, b.resource_pattern_type) for b in found} == {
        ("User:carl", ResourcePatternType.LITERAL),
        ("User:carl", ResourcePatternType.PREFIXED),
        ("User:dora", ResourcePatternType.LITERAL),
    }
    deleted = client.delete_acls([by_principal], request_timeout=CLIENT_TIMEOUT_S)[by_principal].result(timeout=15)
    assert len(deleted) == 2
    assert {b.principal for b in client.describe_acls(matching).result(timeout=CLIENT_TIMEOUT_S)} == {"User:dora"}


def test_scram_users_added_described_and_removed(acl_broker: SecureBroker) -> None:
    client = admin(acl_broker)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192)
    for future in client.alter_user_scram_credentials(
        [UserScramCredentialUpsertion("carol", info, b"carol-pw")]
    ).values():
        future.result(timeout=CLIENT_TIMEOUT_S)
    description = client.describe_user_scram_credentials(["carol"])["carol"].result(timeout=CLIENT_TIMEOUT_S)
    assert [(c.mechanism, c.iterations) for c in description.scram_credential_infos] == [
        (ScramMechanism.SCRAM_SHA_256, 8192)
    ]
    carol = AdminClient({"bootstrap.servers": acl_broker.bootstrap, **auth("carol", "SCRAM-SHA-256", "carol-pw")})
    assert 1 in carol.list_topics(timeout=CLIENT_TIMEOUT_S).brokers
    # a non-super user may not describe credentials
    alice = admin(acl_broker, "alice")
    with pytest.raises(KafkaException) as denied:
        alice.describe_user_scram_credentials(["carol"])["carol"].result(timeout=CLIENT_TIMEOUT_S)
    assert denied.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    deletion = UserScramCredentialDeletion("carol", ScramMechanism.SCRAM_SHA_256)
    for future in client.alter_user_scram_credentials([deletion]).values():
        future.result(timeout=CLIENT_TIMEOUT_S)
    errors: list[Any] = []
    producer = Producer(
        {
            "bootstrap.servers": acl_broker.bootstrap,
            "error_cb": errors.append,
            **auth("carol", "SCRAM-SHA-256", "carol-pw"),
        }
    )
    wait_for(
        lambda: producer.poll(0.2) is not None and any(e.code() == KafkaError._AUTHENTICATION for e in errors),
        what="carol refused",
    )
    with pytest.raises(KafkaException) as missing:
        client.alter_user_scram_credentials([deletion])["carol"].result(timeout=CLIENT_TIMEOUT_S)
    assert missing.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
