"""MetadataCache: image built from the store, kept current by the watch, listeners and reloads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from metadata_testing import FakeClock, run
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.errors import ControllerError
from odradek.broker.metadata.image import BrokerImage, MetadataDelta, MetadataImage, topic_key
from odradek.broker.metadata.registration import BrokerRegistration
from odradek.broker.metadata.store import CompactedError, WatchEvent, WatchStream
from odradek.broker.protocol.errors import ErrorCode

Seen = list[tuple[MetadataImage, MetadataDelta]]


def recorder(seen: Seen) -> object:
    def listener(image: MetadataImage, delta: MetadataDelta) -> None:
        seen.append((image, delta))

    return listener


async def setup(path: Path, clock: FakeClock | None = None) -> tuple[EmbeddedMetadataStore, Controller]:
    store = await EmbeddedMetadataStore.open(str(path), clock=clock or FakeClock())
    controller = Controller(store)
    lease = await store.grant_lease(10)
    await controller.register_broker(1, "h1", 9092, lease_id=lease)
    return store, controller


def test_start_loads_existing_state_and_reports_it(tmp_path: Path) -> None:
    async def main() -> None:
        store, controller = await setup(tmp_path)
        cluster_id = await controller.ensure_cluster_id()
        created = await controller.create_topic("a", 2, 1, {"x": "y"})
        cache = MetadataCache(store)
        seen: Seen = []
        cache.add_listener(recorder(seen))  # type: ignore[arg-type]
        await cache.start()
        try:
            image = cache.image
            assert image.revision == store.revision and image.cluster_id == cluster_id
            assert image.topics["a"] == created
            assert image.brokers[1] == BrokerImage(1, "h1", 9092)
            assert seen[0][1].created_topics == {"a"} and seen[0][1].changed_brokers == {1}
        finally:
            await cache.stop()
            await store.close()

    run(main())


def test_watch_keeps_image_current_and_calls_listeners(tmp_path: Path) -> None:
    clock = FakeClock()

    async def main() -> None:
        store, controller = await setup(tmp_path, clock)
        cache = MetadataCache(store)
        await cache.start()
        seen: Seen = []
        calls: list[frozenset[str]] = []

        async def async_listener(image: MetadataImage, delta: MetadataDelta) -> None:
            await asyncio.sleep(0)
            calls.append(delta.changed_topics)

        def broken(image: MetadataImage, delta: MetadataDelta) -> None:
            raise RuntimeError("listener bug")

        cache.add_listener(broken)
        cache.add_listener(recorder(seen))  # type: ignore[arg-type]
        remove = cache.add_listener(async_listener)
        try:
            topic = await controller.create_topic("t", 3, 1)
            image = await cache.wait_for_revision(topic.mod_revision)
            assert image.topics["t"] == topic
            assert seen[-1][1].created_topics == {"t"} and seen[-1][1].deleted_topics == frozenset()
            altered = await controller.alter_topic_configs("t", {"retention.ms": "5"})
            image = await cache.wait_for_revision(altered.mod_revision)
            assert image.topics["t"].configs == {"retention.ms": "5"}
            assert seen[-1][1].changed_topics == {"t"} and seen[-1][1].created_topics == frozenset()
            grown = await controller.create_partitions("t", 4)
            image = await cache.wait_for_revision(grown.mod_revision)
            assert sorted(image.topics["t"].partitions) == [0, 1, 2, 3]
            assert image.partition("t", 3) == grown.partitions[3]
            old = image.topics["t"]
            assert image.topic_by_id(old.topic_id) == old
            await controller.delete_topic("t")
            await controller.create_topic("t", 1, 1)
            image = await cache.wait_for_revision(store.revision)
            deltas = [d for _, d in seen[-2:]]
            assert deltas[0].deleted_topics == {"t"} and "t" not in deltas[0].image.topics
            assert deltas[1].created_topics == {"t"} and image.topics["t"].topic_id != old.topic_id
            remove()
            await store.put(b"/unrelated", b"x")
            image = await cache.wait_for_revision(store.revision)
            assert image.topics["t"] is seen[-1][0].topics["t"], "unchanged topics are shared"
            clock.advance(11)
            await store.expire_leases()
            image = await cache.wait_for_revision(store.revision)
            assert image.brokers == {} and seen[-1][1].changed_brokers == {1}
            assert calls == [{"t"}] * 5
        finally:
            await cache.stop()
            await store.close()

    run(main())


def test_wait_for_applied_waits_for_async_listeners(tmp_path: Path) -> None:
    async def main() -> None:
        store, controller = await setup(tmp_path)
        cache = MetadataCache(store)
        gate = asyncio.Event()
        applied: list[int] = []

        async def slow_listener(image: MetadataImage, delta: MetadataDelta) -> None:
            if "slow" in delta.changed_topics:
                await gate.wait()  # e.g. the replica manager creating logs in a worker thread
            applied.append(image.revision)

        cache.add_listener(slow_listener)
        await cache.start()
        try:
            assert (await cache.wait_for_applied(store.revision)).revision == store.revision  # nothing pending
            created = await controller.create_topic("slow", 2, 1)
            image = await cache.wait_for_revision(created.mod_revision)
            assert "slow" in image.topics  # visible at once ...
            waiting = asyncio.ensure_future(cache.wait_for_applied(created.mod_revision))
            later = asyncio.ensure_future(cache.wait_for_applied(created.mod_revision + 1))
            await asyncio.sleep(0.05)
            assert not waiting.done() and applied[-1] < created.mod_revision  # ... applied only after the listener
            await store.put(b"/unrelated", b"x")  # queued behind the slow listener
            await asyncio.sleep(0.05)
            assert not later.done()
            gate.set()
            assert (await asyncio.wait_for(waiting, 2)).revision >= created.mod_revision
            assert (await asyncio.wait_for(later, 2)).revision == store.revision
            with contextlib.suppress(TimeoutError):  # cancelled by its timeout, then released: no error
                await asyncio.wait_for(cache.wait_for_applied(store.revision + 10), 0.01)
            await store.put(b"/unrelated", b"y")
            assert (await asyncio.wait_for(cache.wait_for_applied(store.revision), 2)).revision == store.revision
        finally:
            await cache.stop()
            await store.close()

    run(main())


class CompactingStore:
    """Delegates to a real store, but its first watch stream fails with CompactedError once released."""

    def __init__(self, store: EmbeddedMetadataStore) -> None:
        self._store = store
        self.release = asyncio.Event()
        self.watches = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def watch(self, prefix: bytes, start_revision: int | None = None) -> WatchStream:
        self.watches += 1
        if self.watches > 1:
            return self._store.watch(prefix, start_revision)
        return _FailingStream(self.release)


class _FailingStream:
    def __init__(self, release: asyncio.Event) -> None:
        self._release = release

    def __aiter__(self) -> AsyncIterator[list[WatchEvent]]:
        return self

    async def __anext__(self) -> list[WatchEvent]:
        await self._release.wait()
        raise CompactedError(1, 5)

    async def aclose(self) -> None:
        return None


def test_compacted_watch_reloads_and_reports_the_difference(tmp_path: Path) -> None:
    async def main() -> None:
        store, controller = await setup(tmp_path)
        flaky = CompactingStore(store)
        cache = MetadataCache(flaky)  # type: ignore[arg-type]
        seen: Seen = []
        cache.add_listener(recorder(seen))  # type: ignore[arg-type]
        await cache.start()
        try:
            await controller.create_topic("missed", 1, 1)
            await store.delete(topic_key("nothing"))
            flaky.release.set()
            image = await cache.wait_for_revision(store.revision)
            assert "missed" in image.topics and seen[-1][1].created_topics == {"missed"}
            await controller.create_topic("after", 1, 1)
            image = await cache.wait_for_revision(store.revision)
            assert "after" in image.topics and flaky.watches == 2
        finally:
            await cache.stop()
            await store.close()

    run(main())


def test_broker_registration_keeps_alive_and_reregisters(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        controller = Controller(store)
        registration = BrokerRegistration(store, controller, BrokerImage(4, "h", 1), ttl_s=0.3)
        await registration.start()
        try:
            first = registration.lease_id
            await asyncio.sleep(0.5)
            assert 4 in await controller.live_brokers(), "keepalives hold the lease past its TTL"
            await store.revoke(first)
            assert 4 not in await controller.live_brokers()
            # Wait for both: the new registration's key is visible to another task as soon as register_broker's
            # write lands, before `_register` resumes and records its lease id (a CI run once saw the key first).
            for _ in range(40):
                await asyncio.sleep(0.05)
                if registration.lease_id != first and 4 in await controller.live_brokers():
                    break
            assert registration.lease_id != first and 4 in await controller.live_brokers()
        finally:
            await registration.stop()
        assert 4 not in await controller.live_brokers()
        await store.close()

    run(main())


def test_broker_registration_waits_for_an_earlier_registration_of_its_id_to_expire(tmp_path: Path) -> None:
    """A broker restarted after SIGKILL: its old registration's lease (held by nobody now) outlives it for up to one
    TTL; registration retries until it is gone instead of failing DUPLICATE_BROKER_REGISTRATION at once."""

    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        controller = Controller(store)
        stale = await store.grant_lease(0.6)  # the killed process's lease: never renewed again
        await controller.register_broker(4, "h", 1, lease_id=stale)
        registration = BrokerRegistration(store, controller, BrokerImage(4, "h", 2), ttl_s=0.6)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(registration.start(), 5)
        try:
            assert asyncio.get_running_loop().time() - started >= 0.3  # it had to wait for the stale lease
            assert registration.lease_id != stale and 4 in await controller.live_brokers()
        finally:
            await registration.stop()
        await store.close()

    run(main())


def test_broker_registration_gives_up_when_its_id_stays_live_elsewhere(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        controller = Controller(store)
        other = BrokerRegistration(store, controller, BrokerImage(4, "h", 1), ttl_s=0.3)
        await other.start()  # a live broker with the same id, renewing its lease
        try:
            second = BrokerRegistration(store, controller, BrokerImage(4, "h", 2), ttl_s=0.3)
            with pytest.raises(ControllerError) as refused:
                await asyncio.wait_for(second.start(), 5)
            assert refused.value.error_code is ErrorCode.DUPLICATE_BROKER_REGISTRATION
        finally:
            await other.stop()
        await store.close()

    run(main())
