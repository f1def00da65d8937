"""The idle follower fetch path does no per-partition work Kafka does not do: a delayed fetch's completion does
not record the follower's fetch offsets again (DelayedFetch.onComplete reads only), a fetch that does not move
the follower's LEO does not try to advance the HW (Partition.updateFollowerFetchState), and the fetcher-lag gauge
is not rebuilt for an unchanged lag."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.api import AppendOrigin, FetchIsolation, FetchParams, FetchPartition, ProduceEntry
from odradek.broker.replication.partition import Partition
from odradek.broker.replication.replica_manager import ReplicaManager

if TYPE_CHECKING:
    from conftest import Replicas

FOLLOWER = 2


def follower_params(max_wait_ms: int) -> FetchParams:
    return FetchParams(FOLLOWER, max_wait_ms, 1, 1 << 20, FetchIsolation.LOG_END)


def test_an_expired_follower_long_poll_records_the_fetch_once(replicas: Replicas) -> None:
    async def scenario() -> None:
        partition = replicas.manager.get_partition("r", 0)
        replicas.time.advance(1_000)
        first = replicas.time.monotonic_ms()
        fetch = asyncio.create_task(replicas.manager.fetch(follower_params(500), [FetchPartition("r", 0, 0, 1 << 20)]))
        await replicas.settle()
        assert not fetch.done()
        replicas.time.advance(500)
        (result,) = await fetch
        assert result.error is ErrorCode.NONE and result.size == 0
        assert partition._replicas[FOLLOWER].last_fetch_time_ms == first  # not the expiry's time

    asyncio.run(scenario())


def test_a_fetch_that_does_not_move_the_followers_leo_does_not_try_the_hw(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    partition = replicas.manager.get_partition("r", 0)
    calls: list[int] = []
    original = Partition.maybe_advance_high_watermark

    def counted(self: Partition) -> bool:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(Partition, "maybe_advance_high_watermark", counted)
    partition.record_follower_fetch(FOLLOWER, 0, 1.0)
    assert len(calls) == 1  # the follower's LEO became known (was -1)
    partition.record_follower_fetch(FOLLOWER, 0, 2.0)
    assert len(calls) == 1
    assert partition._replicas[FOLLOWER].last_fetch_time_ms == 2.0  # the fetch itself is still recorded


def test_an_unchanged_fetcher_lag_leaves_the_gauge_alone() -> None:
    metrics = BrokerMetrics()
    metrics.fetcher_lag("t", 0, 3)
    lags = metrics._fetcher_lag.lags
    metrics.fetcher_lag("t", 0, 3)
    assert metrics._fetcher_lag.lags is lags
    metrics.fetcher_lag("t", 0, 0)
    assert metrics._fetcher_lag.lags == {("t", 0): 0}


def test_an_idle_fetch_is_watched_without_a_second_look(replicas: Replicas, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing readable: the DelayedFetch is not tried when it is watched (the read just found nothing, with no
    await since); some data short of min_bytes: it is (Kafka's tryCompleteElseWatch)."""
    looked: list[str] = []
    original = ReplicaManager.bytes_available

    def counted(self: ReplicaManager, params: FetchParams, request: FetchPartition) -> int | None:
        looked.append(request.topic)
        return original(self, params, request)

    monkeypatch.setattr(ReplicaManager, "bytes_available", counted)

    async def scenario() -> None:
        consumer = FetchParams(-1, 500, 1 << 20, 1 << 20, FetchIsolation.HIGH_WATERMARK)
        idle = asyncio.create_task(replicas.manager.fetch(consumer, [FetchPartition("t", 0, 0, 1 << 20)]))
        await replicas.settle()
        assert not idle.done() and looked == []
        await replicas.manager.produce([ProduceEntry("t", 1, replicas.batch())], 1, 1000, AppendOrigin.CLIENT)
        short = asyncio.create_task(replicas.manager.fetch(consumer, [FetchPartition("t", 1, 0, 1 << 20)]))
        await replicas.settle()
        assert not short.done() and looked == ["t"]
        replicas.time.advance(500)
        assert (await idle)[0].size == 0 and (await short)[0].size > 0

    asyncio.run(scenario())
