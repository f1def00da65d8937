"""Connection limits (Kafka's ConnectionQuotas, KIP-402) with raw sockets on 127.0.0.1: a connection above
max.connections.per.ip is closed at once and the address's earlier connections carry on; a connection above
max.connections (broker-wide or per listener) waits unserved until another closes, then is served; the inter-broker
listener is let in above the broker-wide limit; overrides raise or lower one address's count."""

from __future__ import annotations

import asyncio

import pytest
from odradek.broker.quota.connection_quotas import ConnectionQuotas, parse_overrides
from odradek.broker.server import KafkaServer, ServerLimits
from server_testing import Client, FakeDispatcher, frame, run, wait_until

LIMITS = ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0)


async def served(client: Client, correlation_id: int) -> bool:
    await client.send(frame(correlation_id))
    try:
        async with asyncio.timeout(0.5):
            return (await client.response())[0] == correlation_id
    except TimeoutError:
        return False


async def start(quotas: ConnectionQuotas, listener: str = "PLAINTEXT") -> tuple[KafkaServer, int]:
    server = KafkaServer(FakeDispatcher(), LIMITS, listener, connection_quotas=quotas)
    return server, await server.start("127.0.0.1", 0)


def test_a_connection_above_max_connections_per_ip_is_closed_and_the_others_carry_on() -> None:
    async def main() -> None:
        quotas = ConnectionQuotas(max_connections_per_ip=2)
        server, port = await start(quotas)
        try:
            first, second = await Client.connect(port), await Client.connect(port)
            assert await served(first, 1) and await served(second, 2)
            third = await Client.connect(port)
            assert await third.closed_by_server()
            assert await served(first, 3)  # unharmed
            first.writer.close()
            await wait_until(lambda: quotas.by_address.get("127.0.0.1") == 1)
            fourth = await Client.connect(port)  # a slot is free again
            assert await served(fourth, 4)
        finally:
            await Client.close_all()
            await server.stop(1.0)

    run(main())


def test_an_override_changes_one_addresss_limit() -> None:
    async def main() -> None:
        quotas = ConnectionQuotas(max_connections_per_ip=1, per_ip_overrides={"127.0.0.1": 3})
        server, port = await start(quotas)
        try:
            clients = [await Client.connect(port) for _ in range(3)]
            assert all([await served(c, i) for i, c in enumerate(clients)])
            assert await (await Client.connect(port)).closed_by_server()
        finally:
            await Client.close_all()
            await server.stop(1.0)

    run(main())


@pytest.mark.parametrize("per_listener", [False, True])
def test_a_connection_above_max_connections_waits_until_another_closes(per_listener: bool) -> None:
    async def main() -> None:
        if per_listener:
            quotas = ConnectionQuotas(listener_max_connections={"CLIENT": 2})
        else:
            quotas = ConnectionQuotas(max_connections=2)
        server, port = await start(quotas, "CLIENT")
        try:
            first, second = await Client.connect(port), await Client.connect(port)
            assert await served(first, 1) and await served(second, 2)
            third = await Client.connect(port)  # TCP-connected, but nothing is read from it
            assert not await served(third, 3)
            assert quotas.total == 2
            first.writer.close()
            async with asyncio.timeout(5):  # the frame already sent is answered once a slot frees
                assert (await third.response())[0] == 3
            assert await served(second, 4)
        finally:
            await Client.close_all()
            await server.stop(1.0)

    run(main())


def test_the_inter_broker_listener_is_let_in_above_the_broker_wide_limit() -> None:
    async def main() -> None:
        quotas = ConnectionQuotas(max_connections=1, inter_broker_listener="INTERNAL")
        client_server, client_port = await start(quotas, "CLIENT")
        internal_server, internal_port = await start(quotas, "INTERNAL")
        try:
            assert await served(await Client.connect(client_port), 1)
            assert not await served(await Client.connect(client_port), 2)
            assert await served(await Client.connect(internal_port), 3)
            assert quotas.total == 2
        finally:
            await Client.close_all()
            await client_server.stop(1.0)
            await internal_server.stop(1.0)

    run(main())


def test_a_server_stops_while_a_connection_waits_for_a_slot() -> None:
    async def main() -> None:
        quotas = ConnectionQuotas(max_connections=1)
        server, port = await start(quotas)
        try:
            assert await served(await Client.connect(port), 1)
            waiting = await Client.connect(port)
            assert not await served(waiting, 2)
        finally:
            await server.stop(1.0)
            await Client.close_all()
        assert quotas.total == 0

    run(main())


def test_parse_overrides() -> None:
    assert parse_overrides("127.0.0.1:200, 10.0.0.7:5,") == {"127.0.0.1": 200, "10.0.0.7": 5}
    assert parse_overrides("::1:3") == {"::1": 3}
    assert parse_overrides(None) == {}
    for bad in ("10.0.0.1", "10.0.0.1:x", ":4"):
        with pytest.raises(ValueError, match=r"max\.connections\.per\.ip\.overrides"):
            parse_overrides(bad)


def test_max_connection_creation_rate_delays_a_connection_by_kafkas_throttle_time() -> None:
    from odradek.broker.utils.time import MockTime

    async def main() -> None:
        time = MockTime()
        quotas = ConnectionQuotas(max_connection_creation_rate=1, inter_broker_listener="INTERNAL", time=time)
        # 10 connections at once over the 10 s minimum window: 1/s, not above the limit.
        for _ in range(10):
            assert await asyncio.wait_for(quotas.acquire("CLIENT", "10.0.0.1"), 1)
        # The 11th: 1.1/s -> (1.1 - 1) / 1 * 10 000 ms = 1000 ms.
        eleventh = asyncio.ensure_future(quotas.acquire("CLIENT", "10.0.0.2"))
        await asyncio.sleep(0.05)
        assert not eleventh.done()
        # The inter-broker listener is not held by the broker-wide rate.
        assert await asyncio.wait_for(quotas.acquire("INTERNAL", "10.0.0.3"), 1)
        time.advance(999)
        await asyncio.sleep(0.05)
        assert not eleventh.done()
        time.advance(1)
        assert await asyncio.wait_for(eleventh, 1)
        assert quotas.total == 12

    run(main())


def test_a_listener_creation_rate_holds_the_inter_broker_listener_too() -> None:
    from odradek.broker.utils.time import MockTime

    async def main() -> None:
        time = MockTime()
        quotas = ConnectionQuotas(
            inter_broker_listener="INTERNAL", listener_max_connection_creation_rate={"INTERNAL": 1}, time=time
        )
        for _ in range(10):
            assert await asyncio.wait_for(quotas.acquire("INTERNAL", "10.0.0.1"), 1)
        held = asyncio.ensure_future(quotas.acquire("INTERNAL", "10.0.0.1"))
        await asyncio.sleep(0.05)
        assert not held.done()
        assert await asyncio.wait_for(quotas.acquire("CLIENT", "10.0.0.1"), 1)  # another listener: no limit
        time.advance(1000)
        assert await asyncio.wait_for(held, 1)

    run(main())
