"""Replication throttles (Kafka's ReplicationQuotaManager as ReplicaManager and ReplicaFetcherThread use it) between
in-process ReplicaManagers on one MockTime (test_replication_cluster's Cluster):

- leader side (shouldLeaderThrottle): over the leader quota, a follower out of the ISR gets no data for a throttled
  partition, while one in the ISR does; the bytes of throttled partitions served are recorded; a throttled
  partition adds nothing to a delayed fetch's min_bytes;
- follower side (shouldFollowerThrottle): over the follower quota, a throttled replica not in sync is left out of
  the fetch (the session forgets it, and names it again at its position once under the rate), while an in-sync
  one keeps fetching;
- a new replica throttled at R catches up at about R, while an unthrottled one does not wait.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.quota.replication_quota_manager import ALL_REPLICAS
from odradek.broker.records.builder import build_batch
from odradek.broker.replication.api import AppendOrigin, FetchIsolation, FetchParams, FetchPartition, ProduceEntry
from test_replication_cluster import KEY, TOPIC, Cluster, DirectEndPoint, leo, run, state

VALUE = b"x" * 1000
BATCH_RECORDS = 5  # about 5 KB a batch


async def fill(c: Cluster, leader: int, batches: int) -> None:
    """Append `batches` batches of ~5 KB to the leader (acks=1: nothing waits for the followers)."""
    for _ in range(batches):
        batch = build_batch([(b"k", VALUE, (), c.time.wall_ms()) for _ in range(BATCH_RECORDS)])
        results = await c.managers[leader].produce([ProduceEntry(TOPIC, 0, batch)], 1, 30_000, AppendOrigin.CLIENT)
        assert results[0].error is ErrorCode.NONE


async def advance_hw(c: Cluster, in_sync: int) -> None:
    """The ISR member `in_sync` fetches at the leader's end: the HW moves there, so that broker 3 fetching from 0
    is behind it (not caught up, so not added to the ISR by its fetch)."""
    end = leo(c, 1)
    await c.managers[1].fetch(
        FetchParams(in_sync, 0, 1, 1_000_000, FetchIsolation.LOG_END), [FetchPartition(TOPIC, 0, end, 1_000_000, 0)]
    )
    assert c.managers[1].get_partition(*KEY).high_watermark == end


def follower_fetch(replica: int, max_wait_ms: int = 0) -> tuple[FetchParams, list[FetchPartition]]:
    params = FetchParams(replica, max_wait_ms, 1, 10_000_000, FetchIsolation.LOG_END)
    return params, [FetchPartition(TOPIC, 0, 0, 1_000_000, 0)]


def test_over_the_leader_quota_a_follower_out_of_the_isr_gets_no_data_and_an_in_sync_one_does(
    tmp_path: Path,
) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2, 3), isr=(1, 2)))  # brokers 2 and 3 exist only as replica ids
        await fill(c, 1, 4)
        await advance_hw(c, 2)
        quota = c.quotas[1].leader
        quota.mark_throttled(TOPIC, ALL_REPLICAS)
        quota.update_quota(1000)
        manager = c.managers[1]
        # Under the quota (nothing recorded yet): the out-of-sync follower gets data, which is recorded.
        first = (await manager.fetch(*follower_fetch(3)))[0]
        assert first.error is ErrorCode.NONE and first.size > 1000
        assert quota.byte_rate() == pytest.approx(first.size)
        assert quota.is_quota_exceeded()
        # Over it: broker 3 (not in the ISR) gets nothing, but its position and the HW are answered ...
        throttled = (await manager.fetch(*follower_fetch(3)))[0]
        assert throttled.error is ErrorCode.NONE and throttled.records is None
        assert throttled.high_watermark == manager.get_partition(*KEY).high_watermark
        # ... broker 2 (in the ISR) is never throttled, and what it got counts against the quota too.
        in_sync = (await manager.fetch(*follower_fetch(2)))[0]
        assert in_sync.size == first.size
        assert quota.byte_rate() == pytest.approx(2 * first.size)
        # A consumer is not a follower: not throttled by replication quotas.
        consumer = await manager.fetch(FetchParams(-1, 0, 1, 10_000_000, FetchIsolation.LOG_END), follower_fetch(3)[1])
        assert consumer[0].size == first.size
        # A partition not in the throttled list is not throttled.
        quota.remove_throttle(TOPIC)
        assert (await manager.fetch(*follower_fetch(3)))[0].size == first.size
        # Back under the rate (the samples expired), broker 3 gets data again.
        quota.mark_throttled(TOPIC, [0])
        assert (await manager.fetch(*follower_fetch(3)))[0].records is None
        c.time.advance(12_000)
        assert (await manager.fetch(*follower_fetch(3)))[0].size == first.size

    run(tmp_path, (1,), body)


def test_a_throttled_partition_adds_nothing_to_a_delayed_fetch(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2, 3), isr=(1, 2)))
        await fill(c, 1, 1)
        await advance_hw(c, 2)
        quota = c.quotas[1].leader
        quota.mark_throttled(TOPIC, ALL_REPLICAS)
        quota.update_quota(1)
        quota.record(10)
        task = asyncio.ensure_future(c.managers[1].fetch(*follower_fetch(3, max_wait_ms=500)))
        await c.run_for(100)
        await fill(c, 1, 1)  # the log end moves: the waiting fetch is tried again, and still has nothing to count
        await c.run_for(300)
        assert not task.done()  # data is there, but throttled: the fetch waits for max_wait_ms
        await c.run_until(task.done, max_ms=1_000)
        assert task.result()[0].records is None

    run(tmp_path, (1,), body)


def test_over_the_follower_quota_an_out_of_sync_replica_is_left_out_and_an_in_sync_one_is_not(
    tmp_path: Path,
) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2), isr=(1,)), only=[1])
        await fill(c, 1, 2)
        quota = c.quotas[2].follower
        quota.mark_throttled(TOPIC, ALL_REPLICAS)
        quota.update_quota(1000)
        quota.record(100_000)  # over the rate for the next 11 s (samples * window)
        await c.publish(only=[2])
        await c.run_for(5_000)
        assert leo(c, 2) == 0  # not fetched: left out of every fetch while over the quota
        requests = c.endpoints[(2, 1)].requests
        assert all(not r.to_send for r in requests)
        c.time.advance(12_000)  # the recorded bytes expire: back under the rate
        await c.run_until(lambda: leo(c, 2) == leo(c, 1))
        assert quota.byte_rate() > 0  # what it appended was recorded
        # Now in sync (caught up to the leader's HW at its last fetch): over the quota it keeps fetching.
        await c.run_until(lambda: c.record is not None and c.record.isr == (1, 2))
        quota.record(100_000)
        await fill(c, 1, 2)
        await c.run_until(lambda: leo(c, 2) == leo(c, 1), max_ms=2_000)

    run(tmp_path, (1, 2), body)


def test_a_partition_left_out_is_forgotten_by_the_session_and_named_again_at_its_position(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2), isr=(1,)), only=[1])
        await fill(c, 1, 10)  # 50 KB, fetched 10 KB at a time
        end = leo(c, 1)
        quota = c.quotas[2].follower
        quota.mark_throttled(TOPIC, ALL_REPLICAS)
        quota.update_quota(5_000)  # the first fetch (10 KB over one window) puts it over the rate for ~2 s
        await c.publish(only=[2])
        await c.run_until(
            lambda: any(KEY in {(p.topic, p.partition) for p in r.to_forget} for r in endpoint(c).requests)
        )
        position = leo(c, 2)
        assert 0 < position < end
        forgotten_at = len(endpoint(c).requests)
        await c.run_until(lambda: leo(c, 2) == end)
        named = [p for r in endpoint(c).requests[forgotten_at:] for p in r.to_send]
        assert named and named[0].fetch_offset == position  # named again where it was left
        assert all(a.error is ErrorCode.NONE for a in endpoint(c).answers)  # the session stayed consistent

    run(tmp_path, (1, 2), body, broker_configs={"replica.fetch.max.bytes": "10000"})


def endpoint(c: Cluster) -> DirectEndPoint:
    return c.endpoints[(2, 1)]


@pytest.mark.parametrize("side", ["leader", "follower"])
def test_a_throttled_new_replica_catches_up_at_about_the_rate_and_an_unthrottled_one_does_not_wait(
    tmp_path: Path, side: str
) -> None:
    rate = 20_000  # B/s; about 200 KB to copy, fetched 50 KB at a time

    async def body(c: Cluster) -> None:
        if side == "leader":
            # Broker 2 is in the ISR (never throttled, its bytes still counted); broker 3 is added as by a
            # reassignment, out of the ISR, and the leader throttles what it serves it.
            await c.publish(state(1, (1, 2), isr=(1, 2)), only=[1, 2])
            await fill(c, 1, 40)
            await c.run_until(lambda: leo(c, 2) == leo(c, 1), max_ms=2_000)
            quota = c.quotas[1].leader
            new_state = state(1, (1, 2, 3), isr=(1, 2))
        else:
            # Both new replicas out of the ISR; only broker 3's follower throttled (its entry 0:3).
            await c.publish(state(1, (1, 2, 3), isr=(1,)), only=[1])
            await fill(c, 1, 40)
            quota = c.quotas[3].follower
            new_state = state(1, (1, 2, 3), isr=(1,))
        quota.mark_throttled(TOPIC, [0])
        quota.update_quota(rate)
        start = c.time.monotonic_ms()
        await c.publish(new_state)
        await fill(c, 1, 1)
        total = leo(c, 1)
        await c.run_until(lambda: leo(c, 2) == total, max_ms=2_000)
        fast_ms = c.time.monotonic_ms() - start
        await c.run_until(lambda: leo(c, 3) == total, max_ms=60_000, step_ms=100)
        slow_ms = c.time.monotonic_ms() - start
        expected_ms = c.log(1).size_in_bytes / rate * 1000  # about 10 s
        assert fast_ms < 1_000
        assert 0.6 * expected_ms <= slow_ms <= 1.6 * expected_ms, (slow_ms, expected_ms)

    run(tmp_path, (1, 2, 3), body, broker_configs={"replica.fetch.max.bytes": "51200"})
