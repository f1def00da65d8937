"""DescribeClientQuotas 48 and AlterClientQuotas 49 as a client sees them on the wire (in-process single broker):
values stored and described per entity (named and <default>), the filter's match types and strictness, Kafka's
INVALID_REQUEST / UNSUPPORTED_VERSION checks in its words, validate_only, removal, and the authorizer's
CLUSTER_AUTHORIZATION_FAILED (ALTER_CONFIGS / DESCRIBE_CONFIGS on the cluster)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import alter_client_quotas_request as acq
from odradek.broker.protocol.messages import describe_client_quotas_request as dcq

EXACT, DEFAULT, SPECIFIED = 0, 1, 2
Entity = list[tuple[str, str | None]]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("quotas")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


def alter(
    client: BrokerClient,
    entity: Entity,
    ops: list[tuple[str, float | None]],
    version: int = 1,
    validate_only: bool = False,
) -> tuple[int, str | None]:
    response = alter_many(client, [(entity, ops)], version, validate_only)
    (entry,) = response.entries
    return entry.error_code, entry.error_message


def alter_many(
    client: BrokerClient,
    entries: list[tuple[Entity, list[tuple[str, float | None]]]],
    version: int = 1,
    validate_only: bool = False,
) -> Any:
    request = acq.AlterClientQuotasRequest(
        entries=[
            acq.EntryData(
                entity=[acq.EntityData(entity_type=t, entity_name=n) for t, n in entity],
                ops=[acq.OpData(key=k, value=v or 0.0, remove=v is None) for k, v in ops],
            )
            for entity, ops in entries
        ],
        validate_only=validate_only,
    )
    return client.call(request, version)


def describe(
    client: BrokerClient, components: list[tuple[str, int, str | None]], strict: bool = False, version: int = 1
) -> Any:
    request = dcq.DescribeClientQuotasRequest(
        components=[dcq.ComponentData(entity_type=t, match_type=m, match=n) for t, m, n in components], strict=strict
    )
    return client.call(request, version)


def entries(response: Any) -> dict[tuple[tuple[str, str | None], ...], dict[str, float]]:
    assert response.error_code == ErrorCode.NONE, response.error_message
    return {
        tuple((e.entity_type, e.entity_name) for e in entry.entity): {v.key: v.value for v in entry.values}
        for entry in response.entries
    }


@pytest.mark.parametrize("version", [0, 1])
def test_values_are_stored_and_described_per_entity(client: BrokerClient, version: int) -> None:
    user = unique("alice")
    assert alter(client, [("user", user)], [("producer_byte_rate", 1024.0)], version) == (ErrorCode.NONE, None)
    assert alter(client, [("user", user), ("client-id", "app")], [("consumer_byte_rate", 2048.0)], version)[0] == 0
    found = entries(describe(client, [("user", EXACT, user)], version=version))
    assert found == {
        (("user", user),): {"producer_byte_rate": 1024.0},
        (("user", user), ("client-id", "app")): {"consumer_byte_rate": 2048.0},
    }
    strict = entries(describe(client, [("user", EXACT, user)], strict=True, version=version))
    assert strict == {(("user", user),): {"producer_byte_rate": 1024.0}}


def test_defaults_and_specified_match_types(client: BrokerClient) -> None:
    assert alter(client, [("client-id", None)], [("request_percentage", 25.5)]) == (ErrorCode.NONE, None)
    named = unique("client")
    assert alter(client, [("client-id", named)], [("request_percentage", 10.0)])[0] == ErrorCode.NONE
    defaults = entries(describe(client, [("client-id", DEFAULT, None)], strict=True))
    assert defaults == {(("client-id", None),): {"request_percentage": 25.5}}
    specified = entries(describe(client, [("client-id", SPECIFIED, None)], strict=True))
    assert (("client-id", named),) in specified
    assert (("client-id", None),) not in specified


def test_removing_the_last_value_removes_the_entity_and_validate_only_writes_nothing(client: BrokerClient) -> None:
    user = unique("bob")
    assert alter(client, [("user", user)], [("producer_byte_rate", 100.0)], validate_only=True)[0] == ErrorCode.NONE
    assert entries(describe(client, [("user", EXACT, user)])) == {}
    assert alter(client, [("user", user)], [("producer_byte_rate", 100.0), ("request_percentage", 5.0)])[0] == 0
    assert alter(client, [("user", user)], [("producer_byte_rate", None)])[0] == ErrorCode.NONE
    assert entries(describe(client, [("user", EXACT, user)])) == {(("user", user),): {"request_percentage": 5.0}}
    assert alter(client, [("user", user)], [("request_percentage", None), ("producer_byte_rate", None)])[0] == 0
    assert entries(describe(client, [("user", EXACT, user)])) == {}


@pytest.mark.parametrize(
    ("entity", "ops", "message"),
    [
        ([], [("producer_byte_rate", 1.0)], "Invalid empty client quota entity"),
        ([("user", "a"), ("user", "b")], [("producer_byte_rate", 1.0)], "duplicate entity entry user"),
        ([("group", "g")], [("producer_byte_rate", 1.0)], "Unhandled client quota entity type: group"),
        ([("user", "")], [("producer_byte_rate", 1.0)], "Empty user not supported"),
        ([("user", "a")], [("bogus_rate", 1.0)], "Invalid configuration key bogus_rate"),
        ([("user", "a")], [("producer_byte_rate", 1.5)], "Configuration producer_byte_rate must be a Long value"),
        ([("user", "a")], [("producer_byte_rate", 1.0), ("producer_byte_rate", 2.0)], "Duplicate quota key"),
        ([("ip", "10.0.0.1")], [("connection_creation_rate", 1.0)], "not supported"),
    ],
)
def test_alter_refusals_are_invalid_request_with_kafkas_words(
    client: BrokerClient, entity: Entity, ops: list[tuple[str, float | None]], message: str
) -> None:
    code, text = alter(client, entity, ops)
    assert code == ErrorCode.INVALID_REQUEST
    assert text is not None and message in text


def test_a_fractional_request_percentage_is_fine_and_a_refused_entry_leaves_the_others(client: BrokerClient) -> None:
    user = unique("carol")
    response = alter_many(
        client,
        [([("user", user)], [("request_percentage", 12.5)]), ([("user", user + "x")], [("nope", 1.0)])],
    )
    assert [e.error_code for e in response.entries] == [ErrorCode.NONE, ErrorCode.INVALID_REQUEST]
    assert entries(describe(client, [("user", EXACT, user)])) == {(("user", user),): {"request_percentage": 12.5}}


def test_an_entity_named_twice_is_refused(client: BrokerClient) -> None:
    user = unique("dave")
    response = alter_many(
        client, [([("user", user)], [("producer_byte_rate", 1.0)]), ([("user", user)], [("producer_byte_rate", 2.0)])]
    )
    assert [e.error_code for e in response.entries] == [ErrorCode.INVALID_REQUEST] * 2
    assert entries(describe(client, [("user", EXACT, user)])) == {}


@pytest.mark.parametrize(
    ("components", "code", "message"),
    [
        ([("", EXACT, "x")], ErrorCode.INVALID_REQUEST, "Invalid empty entity type."),
        ([("user", EXACT, "a"), ("user", DEFAULT, None)], ErrorCode.INVALID_REQUEST, "cannot appear more than once"),
        ([("group", EXACT, "g")], ErrorCode.UNSUPPORTED_VERSION, "Custom entity type group not supported."),
        ([("user", EXACT, None)], ErrorCode.INVALID_REQUEST, "MATCH_TYPE_EXACT, but set match string to null"),
        ([("user", DEFAULT, "a")], ErrorCode.INVALID_REQUEST, "MATCH_TYPE_DEFAULT, but also specified a match"),
        ([("user", SPECIFIED, "a")], ErrorCode.INVALID_REQUEST, "MATCH_TYPE_SPECIFIED, but also specified a match"),
        ([("user", 7, None)], ErrorCode.INVALID_REQUEST, "Unknown match type 7"),
        ([("ip", SPECIFIED, None), ("user", SPECIFIED, None)], ErrorCode.INVALID_REQUEST, "IP filter component"),
    ],
)
def test_describe_refusals(
    client: BrokerClient, components: list[tuple[str, int, str | None]], code: int, message: str
) -> None:
    response = describe(client, components)
    assert response.error_code == code
    assert message in (response.error_message or "")
    assert response.entries is None


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    overrides = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer"}
    running = InProcessBroker(Path(tmp_path_factory.mktemp("quotas-acl")), overrides)
    yield running
    running.stop()


def test_without_describe_configs_and_alter_configs_on_the_cluster_both_are_refused(secured: InProcessBroker) -> None:
    for client in client_for(secured):
        response = describe(client, [("user", SPECIFIED, None)])
        assert response.error_code == ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        assert response.entries is None
        assert alter(client, [("user", "x")], [("producer_byte_rate", 1.0)])[0] == (
            ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        )


def test_a_request_percentage_quota_throttles_other_apis_but_not_api_versions(broker: InProcessBroker) -> None:
    from odradek.broker.protocol.messages import api_versions_request as avq
    from odradek.broker.protocol.messages import describe_cluster_request as dcr

    for admin in client_for(broker):
        # PLAINTEXT: the user is ANONYMOUS. A millionth of a percent: any request handled goes above it.
        assert alter(admin, [("user", "ANONYMOUS")], [("request_percentage", 0.000001)])[0] == ErrorCode.NONE
        try:
            for client in client_for(broker):
                throttled = [client.call(dcr.DescribeClusterRequest(), 0).throttle_time_ms for _ in range(3)]
                assert max(throttled) > 0, throttled
                assert max(throttled) <= 1000  # at most one quota window (quota.window.size.seconds)
                assert client.call(avq.ApiVersionsRequest(), 3).throttle_time_ms == 0  # exempt
        finally:
            assert alter(admin, [("user", "ANONYMOUS")], [("request_percentage", None)])[0] == ErrorCode.NONE


def test_a_followers_fetch_is_exempt_from_the_request_quota_and_a_consumers_is_not(broker: InProcessBroker) -> None:
    from odradek.broker.protocol.messages import fetch_request as fr

    for admin in client_for(broker):
        assert alter(admin, [("user", "ANONYMOUS")], [("request_percentage", 0.000001)])[0] == ErrorCode.NONE
        try:
            for client in client_for(broker):
                # Not recorded, so never muted: a throttled connection would wait about 1 s after each answer.
                started = time.monotonic()
                follower = [client.call(fr.FetchRequest(replica_id=7, max_wait_ms=0), 11) for _ in range(6)]
                assert time.monotonic() - started < 2.0
                assert [r.throttle_time_ms for r in follower] == [0] * 6
                consumer = [client.call(fr.FetchRequest(replica_id=-1, max_wait_ms=0), 11) for _ in range(3)]
                assert max(r.throttle_time_ms for r in consumer) > 0
        finally:
            assert alter(admin, [("user", "ANONYMOUS")], [("request_percentage", None)])[0] == ErrorCode.NONE


def test_quotas_survive_a_restart_and_are_enforced_from_the_first_image(tmp_path: Path) -> None:
    from odradek.broker.protocol.messages import describe_cluster_request as dcr

    first = InProcessBroker(tmp_path)
    try:
        for client in client_for(first):
            assert alter(client, [("user", "ANONYMOUS")], [("request_percentage", 0.000001)])[0] == ErrorCode.NONE
    finally:
        first.stop()
    second = InProcessBroker(tmp_path)
    try:
        for client in client_for(second):
            found = entries(describe(client, [("user", EXACT, "ANONYMOUS")]))
            assert found == {(("user", "ANONYMOUS"),): {"request_percentage": 0.000001}}
            throttled = [client.call(dcr.DescribeClusterRequest(), 0).throttle_time_ms for _ in range(3)]
            assert max(throttled) > 0
    finally:
        second.stop()
