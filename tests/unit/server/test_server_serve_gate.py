"""The start-up gate (Kafka's BrokerServer enabling request processing only once the broker is unfenced):
a server started with serve=False has its port but refuses connections until serve(); app._await_unfenced
returns once an image showing this broker unfenced is applied (the cache's listeners are done with it: a real
MetadataCache over the embedded store), and False when none does in time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from odradek.broker.app import _await_unfenced
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.image import MetadataDelta, MetadataImage
from odradek.broker.server import KafkaServer, ServerLimits
from server_testing import Client, FakeDispatcher, frame, run

LIMITS = ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0, read_ahead=8)


def test_a_server_bound_without_serving_refuses_connections_until_serve() -> None:
    async def main() -> None:
        fake = FakeDispatcher()
        server = KafkaServer(fake, LIMITS)
        port = await server.start("127.0.0.1", 0, serve=False)
        assert port > 0
        with pytest.raises(ConnectionRefusedError):
            await Client.connect(port)
        await server.serve()
        client = await Client.connect(port)
        await client.send(frame(7, b"hi"))
        assert await client.response() == (7, b"hi")
        await server.stop(1.0)

    run(main())


async def _cache(path: Path) -> tuple[EmbeddedMetadataStore, Controller, MetadataCache]:
    store = await EmbeddedMetadataStore.open(str(path))
    cache = MetadataCache(store)
    await cache.start()
    return store, Controller(store), cache


async def _close(store: EmbeddedMetadataStore, cache: MetadataCache) -> None:
    await cache.stop()
    await store.close()


def test_await_unfenced_returns_once_an_applied_image_unfences_this_broker(tmp_path: Path) -> None:
    async def main() -> None:
        store, controller, cache = await _cache(tmp_path)
        applied = asyncio.Event()

        async def slow_listener(image: MetadataImage, delta: MetadataDelta) -> None:
            me = image.brokers.get(1)
            if me is not None and not me.fenced:
                await applied.wait()  # the publisher still acting on the unfencing image

        cache.add_listener(slow_listener)
        try:
            waiting = asyncio.create_task(_await_unfenced(cache, 1, 10.0))  # not even registered yet
            await asyncio.sleep(0.05)
            lease = await store.grant_lease(10)
            await controller.register_broker(1, "127.0.0.1", 9092, lease_id=lease, fenced=True)
            await asyncio.sleep(0.05)
            assert not waiting.done(), "a fenced registration must not open the gate"
            await controller.unfence_broker((await cache.wait_for_applied(store.revision)).brokers[1])
            await cache.wait_for_revision(store.revision)
            await asyncio.sleep(0.05)
            assert not waiting.done(), "an unfencing image not yet applied by the listeners must not open the gate"
            applied.set()
            assert await asyncio.wait_for(waiting, 5) is True
        finally:
            await _close(store, cache)

    run(main())


def test_await_unfenced_gives_up_after_its_bound(tmp_path: Path) -> None:
    async def main() -> None:
        store, controller, cache = await _cache(tmp_path)
        try:
            lease = await store.grant_lease(10)
            await controller.register_broker(1, "127.0.0.1", 9092, lease_id=lease, fenced=True)
            assert await _await_unfenced(cache, 1, 0.2) is False
            await controller.unfence_broker((await cache.wait_for_applied(store.revision)).brokers[1])
            await cache.wait_for_applied(store.revision)
            assert await _await_unfenced(cache, 1, 0.0) is True
        finally:
            await _close(store, cache)

    run(main())
