"""Connection limits on a real broker with raw sockets: max.connections.per.ip closes the connection above it (the
others keep working, ApiVersions answered); a listener-prefixed max.connections is accepted at start-up. Waiting for a
max.connections slot is tested on the server itself (tests/unit/server/test_server_connection_limits.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from it_support import BrokerProcess, is_closed, raw_call, raw_connect
from odradek.broker.protocol.messages.api_versions_request import ApiVersionsRequest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        Path(tmp_path_factory.mktemp("connlimits")),
        overrides={"max.connections.per.ip": "3", "listener.name.plaintext.max.connections": "100"},
    )
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


def answers(sock: socket.socket) -> bool:
    response = raw_call(sock, 18, 0, ApiVersionsRequest())
    return response is not None and response.error_code == 0


def test_the_connection_above_max_connections_per_ip_is_closed(broker: BrokerProcess) -> None:
    held = [raw_connect(broker.port) for _ in range(2)]  # the fixture's own readiness probes are closed by now
    try:
        assert all(answers(s) for s in held)
        third = raw_connect(broker.port)
        held.append(third)
        assert answers(third)
        fourth = raw_connect(broker.port)
        held.append(fourth)
        assert is_closed(fourth)
        assert all(answers(s) for s in held[:3])
    finally:
        for s in held:
            s.close()
