"""ApiVersions 18, DescribeCluster 60 and the version gate of every served API, as a client sees them on the wire
(in-process single broker). Kafka closes the connection for a version it does not serve, except ApiVersions,
which answers any version with a v0 body carrying UNSUPPORTED_VERSION and the served ranges (KIP-511)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from errors_testing import BrokerClient, InProcessBroker, client_for
from odradek.broker.protocol.apis import APIS
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import api_versions_request as avq
from odradek.broker.protocol.messages import api_versions_response as avr
from odradek.broker.protocol.messages import describe_cluster_request as dc
from odradek.broker.protocol.messages import produce_request as pr
from odradek.broker.protocol.messages import produce_response as pr_response
from odradek.broker.protocol.primitives import Reader

API_VERSIONS = 18
PRODUCE = 0
# What this broker serves (handlers' VERSIONS: every version Kafka 3.9 served, and some newer). A change here is a
# change clients see: update it on purpose, with docs/ and ApiVersions in mind.
SERVED = {
    0: (0, 11), 1: (0, 16), 2: (0, 10), 3: (0, 13), 8: (0, 9), 9: (0, 9), 10: (0, 6), 11: (0, 9), 12: (0, 4),
    13: (0, 5), 14: (0, 5), 15: (0, 6), 16: (0, 5), 17: (0, 1), 18: (0, 4), 19: (0, 7), 20: (0, 6), 21: (0, 2),
    22: (0, 5), 23: (0, 4), 24: (0, 5), 25: (0, 3), 26: (0, 3), 27: (0, 2), 28: (0, 3), 29: (0, 3), 30: (0, 3),
    31: (0, 3), 32: (0, 4), 33: (0, 2), 35: (0, 4), 36: (0, 2), 37: (0, 3), 42: (0, 2), 43: (0, 2), 44: (0, 1),
    45: (0, 1), 46: (0, 0), 47: (0, 0),
    48: (0, 1), 49: (0, 1), 50: (0, 0),
    51: (0, 0), 60: (0, 1), 61: (0, 0), 65: (0, 0), 66: (0, 1), 68: (0, 1), 69: (0, 1),
}  # fmt: skip


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBroker]:
    running = InProcessBroker(Path(tmp_path_factory.mktemp("cluster")))
    yield running
    running.stop()


@pytest.fixture
def client(broker: InProcessBroker) -> Iterator[BrokerClient]:
    yield from client_for(broker)


def test_api_versions_advertises_exactly_the_served_ranges(client: BrokerClient) -> None:
    response = client.call(avq.ApiVersionsRequest(client_software_name="t", client_software_version="1"), 3)
    assert response.error_code == ErrorCode.NONE
    assert {k.api_key: (k.min_version, k.max_version) for k in response.api_keys} == SERVED


def test_api_versions_above_the_served_range_answers_unsupported_version_in_a_v0_body(client: BrokerClient) -> None:
    body = client.send_raw(API_VERSIONS, 9, b"\x00")  # a v9 body the broker cannot read: it must not try
    assert body is not None
    response = avr.decode(Reader(body), 0)
    assert response.error_code == ErrorCode.UNSUPPORTED_VERSION
    assert {k.api_key: (k.min_version, k.max_version) for k in response.api_keys} == SERVED
    again = client.call(avq.ApiVersionsRequest(), 0)  # and the connection stays usable
    assert again.error_code == ErrorCode.NONE


@pytest.mark.parametrize("api_key", sorted(set(SERVED) - {API_VERSIONS}))
def test_a_version_above_the_served_range_closes_the_connection(broker: InProcessBroker, api_key: int) -> None:
    client = BrokerClient(broker.port)
    try:
        assert client.send_raw(api_key, SERVED[api_key][1] + 1, b"") is None, APIS[api_key].name
    finally:
        client.close()


def test_every_api_is_served_from_version_0() -> None:
    """Kafka 3.9 served every version of these APIs from 0 (issue 15: old clients); a raised floor would cut off
    the old clients tests/integration/test_old_clients.py runs. (The pin above names each range exactly.)"""
    assert {k: low for k, (low, _) in SERVED.items() if low > 0} == {}


@pytest.mark.parametrize("version", [0, 1, 2])
def test_produce_v0_to_v2_are_served(broker: InProcessBroker, version: int) -> None:
    """Old clients (message format v0/v1) are served, as Kafka 3.9 served them (tests/unit/handlers/
    test_old_client_versions.py appends and reads their records); here: the version gate lets them through."""
    body = bytearray()
    pr.encode(body, pr.ProduceRequest(acks=1, timeout_ms=1000, topic_data=[]), version)
    client = BrokerClient(broker.port)
    try:
        answer = client.send_raw(PRODUCE, version, bytes(body))
        assert answer is not None
        assert pr_response.decode(Reader(answer), version).responses == []
    finally:
        client.close()


def test_an_unknown_api_key_closes_the_connection(broker: InProcessBroker) -> None:
    client = BrokerClient(broker.port)
    try:
        assert client.send_raw(57, 0, b"") is None  # UpdateFeatures: known to Kafka, not served here
    finally:
        client.close()


def test_a_body_that_does_not_decode_closes_the_connection(broker: InProcessBroker) -> None:
    client = BrokerClient(broker.port)
    try:
        assert client.send_raw(19, 7, b"\x05") is None  # CreateTopics v7 with a truncated topics array
    finally:
        client.close()


def test_describe_cluster_errors(broker: InProcessBroker, client: BrokerClient) -> None:
    brokers = client.call(dc.DescribeClusterRequest(endpoint_type=1), 1)
    assert brokers.error_code == ErrorCode.NONE
    assert brokers.endpoint_type == 1
    assert [(b.broker_id, b.host, b.port, b.rack) for b in brokers.brokers] == [(1, "127.0.0.1", broker.port, None)]
    assert brokers.controller_id == 1
    assert brokers.cluster_id  # the id ensured at start-up, never ""
    controllers = client.call(dc.DescribeClusterRequest(endpoint_type=2), 1)
    assert (controllers.error_code, controllers.endpoint_type) == (ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, 2)
    assert controllers.brokers == []
    assert controllers.error_message  # says why
    assert client.call(dc.DescribeClusterRequest(), 0).error_code == ErrorCode.NONE


def test_describe_cluster_carries_the_rack(tmp_path: Path) -> None:
    racked = InProcessBroker(tmp_path, {"broker.rack": "rack-a"})
    client = BrokerClient(racked.port)
    try:
        response = client.call(dc.DescribeClusterRequest(endpoint_type=1), 1)
        assert [b.rack for b in response.brokers] == ["rack-a"]
    finally:
        client.close()
        racked.stop()


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("bad name!", "1.0", ErrorCode.INVALID_REQUEST),
        ("librdkafka", "2.6.1-RC", ErrorCode.NONE),
        ("confluent-kafka-python", "-1.0", ErrorCode.INVALID_REQUEST),
        ("x", "", ErrorCode.INVALID_REQUEST),
    ],
)
def test_api_versions_v3_checks_the_client_software_name_and_version(
    client: BrokerClient, name: str, version: str, expected: ErrorCode
) -> None:
    """Kafka's ApiVersionsRequest.isValid (v3+): both fields match [a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?;
    an invalid request gets INVALID_REQUEST and no API list."""
    response = client.call(avq.ApiVersionsRequest(client_software_name=name, client_software_version=version), 3)
    assert response.error_code == expected
    assert bool(response.api_keys) == (expected == ErrorCode.NONE)
