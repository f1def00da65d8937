"""A closed connection's state is freed when it closes, by reference counting, not left for the cyclic garbage
collector: awaiting the failed read task (the peer's EOF is an IncompleteReadError) put the serving frame into the
exception's traceback, a cycle from the task through the exception back to the task that kept the connection's
ConnectionInfo, streams and transport (with TLS, its SSLObject and 256 KiB read buffer) until a collection.
Measured on a broker by bench/connection_memory.py (its `garbage` probe)."""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from odradek.broker.server import ConnectionInfo, KafkaServer
from server_testing import Client, frame, run_with_server, wait_until


@pytest.fixture
def no_cyclic_collector() -> Iterator[None]:
    """The cyclic collector off for the test (what it would free stays counted), on again afterwards."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def live(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def run_on(loop_name: str, body: Callable[[KafkaServer, int, Any], Coroutine[Any, Any, None]]) -> None:
    if loop_name == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        policy = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        try:
            run_with_server(body)
        finally:
            asyncio.set_event_loop_policy(policy)
    else:
        run_with_server(body)


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
@pytest.mark.parametrize("closed_by", ["peer", "peer after a request"])
def test_closed_connections_leave_nothing_for_the_cyclic_collector(
    no_cyclic_collector: None, loop_name: str, closed_by: str
) -> None:
    counts: dict[str, int] = {}

    async def body(server: KafkaServer, port: int, _: Any) -> None:
        counts["before"] = live(ConnectionInfo)
        clients = [await Client.connect(port) for _ in range(5)]
        if closed_by == "peer after a request":
            for i, client in enumerate(clients):
                await client.send(frame(i))
                assert await client.response() == (i, b"")
        await wait_until(lambda: server.connection_count == 5)
        counts["open"] = live(ConnectionInfo)
        await Client.close_all()
        await wait_until(lambda: server.connection_count == 0)
        for _ in range(10):  # the closing callbacks run
            await asyncio.sleep(0)
        counts["closed"] = live(ConnectionInfo)

    run_on(loop_name, body)
    assert counts["open"] == counts["before"] + 5
    assert counts["closed"] == counts["before"], counts


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_connections_reset_by_the_peer_leave_nothing_for_the_cyclic_collector(
    no_cyclic_collector: None, loop_name: str
) -> None:
    """A reset (RST) fails the writer's wait_closed with ConnectionResetError, which the protocol's closed future
    keeps: its traceback must not hold the serving frame."""
    counts: dict[str, int] = {}

    async def body(server: KafkaServer, port: int, _: Any) -> None:
        counts["before"] = live(ConnectionInfo)
        sockets = []
        for i in range(5):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
            sock.sendall(frame(i))
            sockets.append(sock)
        await wait_until(lambda: server.connection_count == 5)
        await asyncio.sleep(0.2)  # the requests answered: the server has written to each socket
        for sock in sockets:
            sock.close()
        await wait_until(lambda: server.connection_count == 0)
        for _ in range(10):
            await asyncio.sleep(0)
        counts["closed"] = live(ConnectionInfo)

    run_on(loop_name, body)
    assert counts["closed"] == counts["before"], counts
