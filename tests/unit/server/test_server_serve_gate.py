"""The start-up gate (Kafka's BrokerServer enabling request processing only once the broker is unfenced):
a server started with serve=False has its port but refuses connections until serve(); app._await_unfenced
returns once an applied image shows this broker unfenced, and False when none does in time."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from odradek.broker.app import _await_unfenced
from odradek.broker.metadata.image import BrokerImage, MetadataImage
from odradek.broker.server import KafkaServer, ServerLimits
from server_testing import Client, FakeDispatcher, frame

LIMITS = ServerLimits(max_request_bytes=1024, idle_timeout_s=30.0, read_ahead=8)


def run(body: Coroutine[Any, Any, None]) -> None:
    async def main() -> None:
        try:
            await body
        finally:
            await Client.close_all()

    asyncio.run(asyncio.wait_for(main(), 30))


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


class FakeCache:
    """The two members of MetadataCache that _await_unfenced uses; `publish` applies a new image."""

    def __init__(self, image: MetadataImage) -> None:
        self.image = image
        self._waiters: list[tuple[int, asyncio.Future[MetadataImage]]] = []

    async def wait_for_applied(self, revision: int) -> MetadataImage:
        if self.image.revision >= revision:
            return self.image
        future: asyncio.Future[MetadataImage] = asyncio.get_running_loop().create_future()
        self._waiters.append((revision, future))
        return await future

    def publish(self, image: MetadataImage) -> None:
        self.image = image
        for wanted, future in self._waiters:
            if wanted <= image.revision and not future.done():
                future.set_result(image)


def _image(revision: int, fenced: bool | None) -> MetadataImage:
    brokers = {} if fenced is None else {1: BrokerImage(1, "127.0.0.1", 9092, fenced=fenced)}
    return MetadataImage(brokers=brokers, revision=revision)


def test_await_unfenced_returns_once_an_applied_image_unfences_this_broker() -> None:
    async def main() -> None:
        cache = FakeCache(_image(5, fenced=None))  # not even registered yet
        waiting = asyncio.create_task(_await_unfenced(cache, 1, 10.0))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        cache.publish(_image(6, fenced=True))
        await asyncio.sleep(0.05)
        assert not waiting.done(), "a fenced registration must not open the gate"
        cache.publish(_image(8, fenced=False))
        assert await asyncio.wait_for(waiting, 5) is True

    run(main())


def test_await_unfenced_gives_up_after_its_bound() -> None:
    async def main() -> None:
        cache = FakeCache(_image(5, fenced=True))
        assert await _await_unfenced(cache, 1, 0.2) is False  # type: ignore[arg-type]
        assert await _await_unfenced(FakeCache(_image(5, fenced=False)), 1, 0.0) is True  # type: ignore[arg-type]

    run(main())
