"""Controlled shutdown, the broker's side (metadata/controlled_shutdown.py), with a MetadataCache on an embedded
store and the controller's loop running (or not)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from controller_cluster import Cluster
from metadata_testing import run
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controlled_shutdown import controlled_shutdown
from odradek.broker.metadata.replication_control import leaders_of
from odradek.broker.metadata.store import MetadataStoreError
from odradek.broker.utils.time import MockTime


async def advance_until_done(clock: MockTime, call: asyncio.Task[bool], step_ms: float = 10.0) -> float:
    """Advance `clock` by `step_ms` at a time (letting the loop run between steps) until `call` ends; how much mock
    time passed. Bounded: at most 10,000 steps."""
    start = clock.monotonic_ms()
    for _ in range(10_000):
        for _ in range(20):
            await asyncio.sleep(0)
        if call.done():
            return clock.monotonic_ms() - start
        clock.advance(step_ms)
        await asyncio.sleep(0.001)  # the controller, on real time, moves leadership meanwhile
    raise AssertionError("controlled_shutdown did not end")


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
        clock = MockTime()
        call = asyncio.ensure_future(controlled_shutdown(cache, cluster.registrations[2], 3, 60_000, clock, 30_000))
        for _ in range(3_000):  # the controller (on real time) moves the leadership; no round times out meanwhile
            if not leaders_of(cache.image, 2):
                break
            await asyncio.sleep(0.01)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not call.done(), "it returned without the linger"
        clock.advance(29_999)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not call.done(), "the linger is 30 s of its clock"
        clock.advance(1)
        assert await asyncio.wait_for(call, 10)
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
        clock = MockTime()
        call = asyncio.ensure_future(controlled_shutdown(cache, cluster.registrations[2], 2, 5_000, clock))
        waited = await advance_until_done(clock, call, step_ms=100)
        assert not call.result()
        assert 10_000 <= waited < 20_000, "two rounds of 5 s of its clock"
        assert leaders_of(cache.image, 2) == {("t", 0): 0}
        await close(cluster, cache)

    run(main())


def test_a_broker_alone_stops_at_once_without_marking_its_registration(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, cache = await cluster_with_cache(tmp_path, (1,))
        assert await controlled_shutdown(cache, cluster.registrations[1], 3, 60_000, MockTime())
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
        clock = MockTime()
        call = asyncio.ensure_future(controlled_shutdown(cache, cluster.registrations[2], 3, 60_000, clock))
        assert await advance_until_done(clock, call) < 60_000
        assert call.result()
        await close(cluster, cache)

    run(main())


def test_a_broker_that_led_nothing_does_not_linger(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, cache = await cluster_with_cache(tmp_path, (1, 2))
        await cluster.start(3)  # registered after the topic was created: leads nothing
        await cluster.nodes[0].settle(await cluster.image())
        assert leaders_of(cache.image, 3) == {}
        clock = MockTime()
        call = asyncio.ensure_future(controlled_shutdown(cache, cluster.registrations[3], 3, 60_000, clock, 60_000))
        # The registration's store write takes real time, during which the helper may advance a 10 ms step or a few:
        # what must not pass is a round (60 s) or the linger (60 s).
        assert await advance_until_done(clock, call) < 1_000, "no round waited, no linger"
        assert call.result()
        await close(cluster, cache)

    run(main())


def test_an_unreachable_store_ends_the_controlled_shutdown_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole cluster deleted at once loses its etcd members with its brokers: marking the registration fails after
    the store's own retries, and waiting more rounds would only take the broker past its grace period."""

    async def main() -> None:
        cluster, cache = await cluster_with_cache(tmp_path, (1, 2))
        calls: list[int] = []

        async def unreachable() -> bool:
            calls.append(1)
            raise MetadataStoreError("no endpoint answered in time")

        monkeypatch.setattr(cluster.registrations[2], "begin_controlled_shutdown", unreachable)
        clock = MockTime()
        call = asyncio.ensure_future(controlled_shutdown(cache, cluster.registrations[2], 3, 60_000, clock))
        assert await advance_until_done(clock, call) == 0, "no round waited"
        assert call.result() is False and calls == [1]
        await close(cluster, cache)

    run(main())
