"""Error mapping of DescribeConfigs 32, AlterConfigs 33 and IncrementalAlterConfigs 44 on TOPIC resources, on
resource types the broker does not serve, and the BROKER resource-name checks, as a client sees them on the wire
(in-process single broker). The BROKER config semantics themselves are in test_broker_config_handlers.py. Codes as
Kafka's ConfigHelper, ConfigAdminManager and ControllerConfigurationValidator answer them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for, unique
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import alter_configs_request as ac
from odradek.broker.protocol.messages import create_topics_request as ct
from odradek.broker.protocol.messages import describe_configs_request as dc
from odradek.broker.protocol.messages import incremental_alter_configs_request as iac

TOPIC, BROKER, GROUP, CLIENT_METRICS = 2, 4, 32, 16
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("configs")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


@pytest.fixture
def topic(client: BrokerClient) -> str:
    name = unique("configured")
    created = client.call(
        ct.CreateTopicsRequest(
            topics=[ct.CreatableTopic(name=name, num_partitions=1, replication_factor=1)], timeout_ms=5000
        ),
        7,
    )
    assert created.topics[0].error_code == ErrorCode.NONE
    return name


def describe(client: BrokerClient, kind: int, name: str, version: int = 4) -> tuple[int, dict[str, str | None]]:
    request = dc.DescribeConfigsRequest(
        resources=[dc.DescribeConfigsResource(resource_type=kind, resource_name=name, configuration_keys=None)]
    )
    (result,) = client.call(request, version).results
    return int(result.error_code), {c.name: c.value for c in result.configs}


def alter(
    client: BrokerClient, kind: int, name: str, configs: dict[str, str | None], validate_only: bool = False
) -> int:
    resource = ac.AlterConfigsResource(
        resource_type=kind,
        resource_name=name,
        configs=[ac.AlterableConfig(name=k, value=v) for k, v in configs.items()],
    )
    (result,) = client.call(ac.AlterConfigsRequest(resources=[resource], validate_only=validate_only), 2).responses
    return int(result.error_code)


def incremental(
    client: BrokerClient, kind: int, name: str, ops: list[tuple[str, int, str | None]], validate_only: bool = False
) -> int:
    resource = iac.AlterConfigsResource(
        resource_type=kind,
        resource_name=name,
        configs=[iac.AlterableConfig(name=n, config_operation=op, value=v) for n, op, v in ops],
    )
    request = iac.IncrementalAlterConfigsRequest(resources=[resource], validate_only=validate_only)
    (result,) = client.call(request, 1).responses
    return int(result.error_code)


# DescribeConfigs


def test_describe_configs_errors(client: BrokerClient, topic: str) -> None:
    code, configs = describe(client, TOPIC, topic)
    assert code == ErrorCode.NONE and configs["cleanup.policy"] == "delete"
    assert describe(client, TOPIC, unique("nope"))[0] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert describe(client, GROUP, "g")[0] == ErrorCode.INVALID_REQUEST
    assert describe(client, BROKER, "abc")[0] == ErrorCode.INVALID_REQUEST
    assert describe(client, BROKER, "7")[0] == ErrorCode.INVALID_REQUEST  # another broker's id
    assert describe(client, BROKER, "1")[0] == ErrorCode.NONE


# AlterConfigs (the whole new map)


def test_alter_configs_topic_errors(client: BrokerClient, topic: str) -> None:
    assert alter(client, TOPIC, unique("nope"), {"retention.ms": "1000"}) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert alter(client, TOPIC, topic, {"retention.ms": "soon"}) == ErrorCode.INVALID_CONFIG
    assert alter(client, TOPIC, topic, {"no.such.config": "1"}) == ErrorCode.INVALID_CONFIG
    assert alter(client, TOPIC, topic, {"retention.ms": None}) == ErrorCode.INVALID_CONFIG
    assert alter(client, GROUP, "g", {"x": "1"}) == ErrorCode.INVALID_REQUEST
    assert alter(client, TOPIC, topic, {"retention.ms": "1000"}, validate_only=True) == ErrorCode.NONE
    assert describe(client, TOPIC, topic)[1]["retention.ms"] != "1000"  # validate_only changed nothing
    assert alter(client, TOPIC, topic, {"retention.ms": "1000"}) == ErrorCode.NONE
    assert describe(client, TOPIC, topic)[1]["retention.ms"] == "1000"


def test_alter_configs_broker_resource_errors(client: BrokerClient) -> None:
    assert alter(client, BROKER, "abc", {"log.retention.ms": "1000"}) == ErrorCode.INVALID_REQUEST
    assert alter(client, BROKER, "7", {"log.retention.ms": "1000"}) == ErrorCode.INVALID_REQUEST
    assert alter(client, BROKER, "1", {"log.retention.ms": None}) == ErrorCode.INVALID_REQUEST  # null value


# IncrementalAlterConfigs (operations on the stored map)


def test_incremental_alter_configs_topic_errors(client: BrokerClient, topic: str) -> None:
    assert (
        incremental(client, TOPIC, unique("nope"), [("retention.ms", SET, "1")]) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    )
    assert incremental(client, TOPIC, topic, [("no.such.config", SET, "1")]) == ErrorCode.INVALID_CONFIG
    assert incremental(client, TOPIC, topic, [("retention.ms", SET, None)]) == ErrorCode.INVALID_CONFIG
    assert incremental(client, TOPIC, topic, [("retention.ms", SET, "soon")]) == ErrorCode.INVALID_CONFIG
    assert incremental(client, TOPIC, topic, [("retention.ms", APPEND, "5")]) == ErrorCode.INVALID_CONFIG  # not a list
    assert incremental(client, TOPIC, topic, [("retention.ms", 9, "5")]) == ErrorCode.INVALID_REQUEST  # no such op
    assert incremental(client, CLIENT_METRICS, "m", [("x", SET, "1")]) == ErrorCode.INVALID_REQUEST
    assert incremental(client, TOPIC, topic, [("cleanup.policy", APPEND, "compact")]) == ErrorCode.NONE
    assert describe(client, TOPIC, topic)[1]["cleanup.policy"] == "delete,compact"
    assert incremental(client, TOPIC, topic, [("cleanup.policy", DELETE, None)]) == ErrorCode.NONE
    assert describe(client, TOPIC, topic)[1]["cleanup.policy"] == "delete"


def test_incremental_alter_configs_validate_only_changes_nothing(client: BrokerClient, topic: str) -> None:
    assert incremental(client, TOPIC, topic, [("retention.ms", SET, "777")], validate_only=True) == ErrorCode.NONE
    assert describe(client, TOPIC, topic)[1]["retention.ms"] != "777"


def test_incremental_alter_configs_broker_resource_errors(client: BrokerClient) -> None:
    assert incremental(client, BROKER, "7", [("log.retention.ms", SET, "1000")]) == ErrorCode.INVALID_REQUEST
    duplicate = [("log.retention.ms", SET, "1000"), ("log.retention.ms", SET, "2000")]
    assert incremental(client, BROKER, "1", duplicate) == ErrorCode.INVALID_REQUEST
    assert incremental(client, BROKER, "1", [("no.such.config", SET, "1")]) == ErrorCode.INVALID_CONFIG
