"""Controlled shutdown, the broker's side (metadata/controlled_shutdown.py), with a MetadataCache on an embedded
store and the controller's loop running (or not)."""

from __future__ import annotations

import time
from pathlib import Path

from controller_cluster import Cluster
from metadata_testing import run
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controlled_shutdown import controlled_shutdown
from odradek.broker.metadata.replication_control import leaders_of


async def cluster_with_cache(tmp_path: Path, brokers: tuple[int, ...]) -> tuple[Cluster, MetadataCache]:
    cluster = await Cluster.open(tmp_path)
    node = cluster.node(1)
    await node.election.campaign()
    for broker in brokers:
        await cluster.start(broker)
    await node.settle(await cluster.image())
    if len(brokers) > 1:
        await cluster.tools.create_topic("t", assignments={0: [2, 1], 1: [1, 2]})
    cache = MetadataCache(cluster.store)
    cache.add_listener(node.manager.on_image)
    await cache.start()
    await node.manager.start()
    return cluster, cache


async def close(cluster: Cluster, cache: MetadataCache) -> None:
    await cluster.nodes[0].manager.stop()  # a no-op if the test stopped it already
    await cache.stop()
    await cluster.store.close()


def test_leadership_moves_away_before_the_broker_stops_and_it_keeps_serving_for_the_linger(tmp_path: Path) -> None:
    """Clients told NOT_LEADER_OR_FOLLOWER must find the new leader in a Metadata answer that still lists this
    broker (controlled_shutdown.py, HANDOVER_LINGER_MS): the call returns only after the linger."""

    async def main() -> None:
        cluster, cache = await cluster_with_cache(tmp_path, (1, 2))
        assert leaders_of(cache.image, 2) == {("t", 0): 0}
        started = time.monotonic()
        assert await controlled_shutdown(cache, cluster.registrations[2], 3, 2000, linger_ms=400)
        assert time.monotonic() - started >= 0.4
        assert leaders_of(cache.image, 2) == {}
        moved = cache.image.partition("t", 0)
        assert moved is not None and (moved.leader, moved.isr, moved.leader_epoch) == (1, (1,), 1)
        assert cache.image.brokers[2].shutting_down
        await close(cluster, cache)

    run(main())


def test_without_a_controller_acting_it_gives_up_after_its_rounds(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, cache = await cluster_with_cache(tmp_path, (1, 2))
        await cluster.nodes[0].manager.stop()
        await cluster.nodes[0].election.stop()  # no controller: nobody moves anything
        assert not await controlled_shutdown(cache, cluster.registrations[2], 2, 50)
        assert leaders_of(cache.image, 2) == {("t", 0): 0}
        await close(cluster, cache)

    run(main())


def test_a_broker_alone_stops_at_once_without_marking_its_registration(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, cache = await cluster_with_cache(tmp_path, (1,))
        assert await controlled_shutdown(cache, cluster.registrations[1], 3, 60_000)
        assert not cache.image.brokers[1].shutting_down
        await close(cluster, cache)

    run(main())


def test_when_every_other_broker_is_shutting_down_too_it_stops_without_waiting(tmp_path: Path) -> None:
    """A whole cluster stopped at once (`odradek cluster down`): nobody can take leadership, so no broker waits its
    rounds out (it used to take controlled.shutdown.max.retries x backoff each)."""

    async def main() -> None:
        cluster, cache = await cluster_with_cache(tmp_path, (1, 2))
        await cluster.nodes[0].manager.stop()  # no controller moving anything either
        await cluster.registrations[1].begin_controlled_shutdown()
        started = time.monotonic()
        assert await controlled_shutdown(cache, cluster.registrations[2], 3, 60_000)
        assert time.monotonic() - started < 5
        await close(cluster, cache)

    run(main())


def test_a_broker_that_led_nothing_does_not_linger(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, cache = await cluster_with_cache(tmp_path, (1, 2))
        await cluster.start(3)  # registered after the topic was created: leads nothing
        await cluster.nodes[0].settle(await cluster.image())
        assert leaders_of(cache.image, 3) == {}
        started = time.monotonic()
        assert await controlled_shutdown(cache, cluster.registrations[3], 3, 60_000, linger_ms=60_000)
        assert time.monotonic() - started < 5
        await close(cluster, cache)

    run(main())
