"""``MetadataCache``: the broker's current ``MetadataImage``, kept up to date by a store watch (Kafka's
MetadataLoader; its listener on a broker is ``publisher.BrokerMetadataPublisher``, which acts on each change).

Start-up reads every model key in one transaction (one consistent revision R), then watches ``/`` from R + 1.
Each watch batch is one store revision: the builder applies its events, a new image replaces the old one, and
listeners run in registration order with ``(image, delta)``; a listener may be a plain function or a
coroutine function (awaited before the next batch is applied, so listeners see every image in order). If the
watch history is compacted or the watch fails, the cache re-reads everything and reports the difference as
one delta.

Two waits for read-your-writes: ``wait_for_revision`` returns once the image includes a revision (listeners may
still be running), ``wait_for_applied`` once every listener has also finished with it (for the broker: the
replica manager has created the logs of new partitions in a worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable

from odradek.broker.metadata.image import (
    BROKER_CONFIGS_PREFIX,
    BROKERS_PREFIX,
    CLUSTER_ID_KEY,
    PARTITIONS_PREFIX,
    TOPICS_PREFIX,
    ImageBuilder,
    MetadataDelta,
    MetadataImage,
    broker_config_resource,
)
from odradek.broker.metadata.quotas import QUOTAS_PREFIX
from odradek.broker.metadata.security import SECURITY_PREFIXES, acl_id, scram_id
from odradek.broker.metadata.store import (
    CompactedError,
    EventType,
    MetadataStore,
    Op,
    StoreClosedError,
    WatchEvent,
    WatchStream,
)

__all__ = ["MetadataCache", "MetadataListener"]

log = logging.getLogger(__name__)

MetadataListener = Callable[[MetadataImage, MetadataDelta], Awaitable[None] | None]

_RELOAD_BACKOFF_S = 1.0


class MetadataCache:
    """Holds ``image``; call ``await start()`` once, ``await stop()`` at shutdown."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._builder = ImageBuilder()
        self._image = MetadataImage()
        self._listeners: list[MetadataListener] = []
        self._waiters: list[tuple[int, asyncio.Future[MetadataImage]]] = []
        self._applied_revision = 0
        self._applied_waiters: list[tuple[int, asyncio.Future[MetadataImage]]] = []
        self._task: asyncio.Task[None] | None = None
        self._watch: WatchStream | None = None

    @property
    def image(self) -> MetadataImage:
        return self._image

    def add_listener(self, listener: MetadataListener) -> Callable[[], None]:
        """Registers ``listener(image, delta)``; returns a function that unregisters it.

        Listeners added before ``start()`` are first called with every topic and broker as changed.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def start(self) -> None:
        """Loads the current model and starts following the store."""
        revision = await self._reload()
        self._watch = self._store.watch(b"/", start_revision=revision + 1)
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="metadata-cache")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._watch is not None:
            await self._watch.aclose()
        for _, future in self._waiters + self._applied_waiters:
            future.cancel()
        self._waiters.clear()
        self._applied_waiters.clear()

    async def wait_for_revision(self, revision: int) -> MetadataImage:
        """The first image at or after store revision ``revision`` (read-your-writes after a write)."""
        if self._image.revision >= revision:
            return self._image
        future: asyncio.Future[MetadataImage] = asyncio.get_running_loop().create_future()
        self._waiters.append((revision, future))
        return await future

    async def wait_for_applied(self, revision: int) -> MetadataImage:
        """Like ``wait_for_revision``, and the listeners have also finished with that image (or a later one)."""
        if self._applied_revision >= revision:
            return self._image
        future: asyncio.Future[MetadataImage] = asyncio.get_running_loop().create_future()
        self._applied_waiters.append((revision, future))
        return await future

    async def _reload(self) -> int:
        prefixes = [
            BROKERS_PREFIX,
            TOPICS_PREFIX,
            PARTITIONS_PREFIX,
            BROKER_CONFIGS_PREFIX,
            *SECURITY_PREFIXES,
            QUOTAS_PREFIX,
        ]
        ops = [Op.get(CLUSTER_ID_KEY)] + [Op.get(p, prefix=True) for p in prefixes]
        result = await self._store.txn([], ops, [])
        kvs = [kv for response in result.responses for kv in response.kvs]
        builder, image = ImageBuilder.from_kvs(kvs, result.revision)
        previous = self._image
        changed_topics = {
            t for t in set(previous.topics) | set(image.topics) if previous.topics.get(t) != image.topics.get(t)
        }
        changed_brokers = {
            b for b in set(previous.brokers) | set(image.brokers) if previous.brokers.get(b) != image.brokers.get(b)
        }
        changed_configs = {
            name
            for name in set(previous.broker_configs) | set(image.broker_configs)
            if previous.broker_configs.get(name) != image.broker_configs.get(name)
        }
        changed_acls = {i for i in set(previous.acls) | set(image.acls) if previous.acls.get(i) != image.acls.get(i)}
        self._builder = builder
        await self._publish(
            image,
            frozenset(changed_topics),
            frozenset(changed_brokers),
            frozenset(changed_configs),
            frozenset(changed_acls),
        )
        return result.revision

    async def _follow(self) -> None:
        while True:
            try:
                assert self._watch is not None
                async for batch in self._watch:
                    await self._apply(batch)
                return  # the store closed
            except StoreClosedError:
                return
            except CompactedError as e:
                log.warning("metadata watch compacted (%s); reloading", e)
            except Exception:
                log.exception("metadata watch failed; reloading in %.1f s", _RELOAD_BACKOFF_S)
                await asyncio.sleep(_RELOAD_BACKOFF_S)
            try:
                revision = await self._reload_until_done()
                self._watch = self._store.watch(b"/", start_revision=revision + 1)
            except StoreClosedError:
                return

    async def _reload_until_done(self) -> int:
        while True:
            try:
                return await self._reload()
            except StoreClosedError:
                raise
            except Exception:
                log.exception("metadata reload failed; retrying in %.1f s", _RELOAD_BACKOFF_S)
                await asyncio.sleep(_RELOAD_BACKOFF_S)

    async def _apply(self, batch: list[WatchEvent]) -> None:
        topics: set[str] = set()
        brokers: set[int] = set()
        configs: set[str] = set()
        acls: set[str] = set()
        security = False
        for event in batch:
            kv = event.kv if event.type is EventType.PUT else None
            topic, broker = self._builder.apply(event.kv.key, kv)
            if topic is not None:
                topics.add(topic)
            if broker is not None:
                brokers.add(broker)
            if (resource := broker_config_resource(event.kv.key)) is not None:
                configs.add(resource)
            if (acl := acl_id(event.kv.key)) is not None:
                acls.add(acl)
            security = security or acl is not None or scram_id(event.kv.key) is not None
            security = security or event.kv.key.startswith(QUOTAS_PREFIX)
        revision = batch[0].revision
        if topics or brokers or configs or security or event_touches_cluster_id(batch):
            image = self._builder.build(self._image, revision, topics)
            await self._publish(image, frozenset(topics), frozenset(brokers), frozenset(configs), frozenset(acls))
        else:
            self._set_image(dataclasses.replace(self._image, revision=revision))
            self._set_applied(revision)

    async def _publish(
        self,
        image: MetadataImage,
        topics: frozenset[str],
        brokers: frozenset[int],
        broker_configs: frozenset[str] = frozenset(),
        acls: frozenset[str] = frozenset(),
    ) -> None:
        delta = MetadataDelta(self._image, image, topics, brokers, broker_configs, acls)
        self._set_image(image)
        for listener in list(self._listeners):
            try:
                result = listener(image, delta)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("metadata listener %r failed", listener)
        self._set_applied(image.revision)

    def _set_image(self, image: MetadataImage) -> None:
        self._image = image
        self._waiters = _release(self._waiters, image.revision, image)

    def _set_applied(self, revision: int) -> None:
        self._applied_revision = max(self._applied_revision, revision)
        self._applied_waiters = _release(self._applied_waiters, self._applied_revision, self._image)


def _release(
    waiters: list[tuple[int, asyncio.Future[MetadataImage]]], revision: int, image: MetadataImage
) -> list[tuple[int, asyncio.Future[MetadataImage]]]:
    """Complete the waiters for `revision` or earlier with `image`; returns the others."""
    remaining = []
    for wanted, future in waiters:
        if wanted > revision:
            remaining.append((wanted, future))
        elif not future.done():
            future.set_result(image)
    return remaining


def event_touches_cluster_id(batch: list[WatchEvent]) -> bool:
    return any(e.kv.key == CLUSTER_ID_KEY for e in batch)
