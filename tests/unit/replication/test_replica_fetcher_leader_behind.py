"""A follower told of a new leader before the leader knows it retries within milliseconds, not after the whole
replica.fetch.backoff.ms (replica_fetcher.py, LEADER_BEHIND): the leader's answer (NOT_LEADER_OR_FOLLOWER,
UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION) only says that its metadata is a moment behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.replica_fetcher import (
    LEADER_BEHIND,
    LEADER_BEHIND_FIRST_RETRY_MS,
    FetcherConfig,
    PartitionFetchState,
    ReplicaFetcherThread,
)
from odradek.broker.utils.time import MockTime
from test_replication_cluster import Cluster, hw, leo, run, state

BACKOFF_MS = 1_000  # replica.fetch.backoff.ms's default, which the cluster harness runs with


def test_a_follower_that_learns_of_a_new_leader_first_catches_up_well_within_the_backoff(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2, 3)))
        first = c.produce(1, 5)
        await c.run_until(first.done)
        await c.run_until(lambda: hw(c, 2) == 5 and hw(c, 3) == 5)
        # Broker 2 is elected; brokers 1 and 3 apply the change 30 ms before broker 2 does, and ask it meanwhile.
        await c.publish(c.leader_move(2, isr=(2, 3)), only=(1, 3))
        await c.run_for(30, step_ms=10)
        await c.publish(only=(2,))
        start = c.time.monotonic_ms()
        produced = c.produce(2, 3)
        await c.run_until(produced.done, max_ms=5_000, step_ms=10)
        elapsed = c.time.monotonic_ms() - start
        assert produced.result()[0].error is ErrorCode.NONE
        assert leo(c, 3) == 8
        # Without the short retry broker 3 (in the ISR: the produce waits for it) asks again after 1,000 ms.
        assert elapsed < BACKOFF_MS / 4, elapsed

    run(tmp_path, (1, 2, 3), body)


def _fetcher(time: MockTime) -> ReplicaFetcherThread:
    config = FetcherConfig(replica_id=3, fetch_backoff_ms=BACKOFF_MS)
    return ReplicaFetcherThread("f", 2, None, None, config, time)  # type: ignore[arg-type]  # no I/O here


@pytest.mark.parametrize("error", sorted(LEADER_BEHIND, key=lambda e: e.value))
def test_leader_behind_retries_double_up_to_the_backoff(error: ErrorCode) -> None:
    time = MockTime()
    fetcher = _fetcher(time)
    fetch_state = PartitionFetchState(leader_epoch=1)
    delays = []
    for _ in range(8):
        fetcher._delay([fetch_state], error)
        delays.append(fetch_state.delayed_until_ms - time.monotonic_ms())
    first = LEADER_BEHIND_FIRST_RETRY_MS
    assert delays == [min(BACKOFF_MS, first << n) for n in range(8)]
    assert delays[-1] == BACKOFF_MS


@pytest.mark.parametrize("error", [ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.KAFKA_STORAGE_ERROR, None])
def test_other_errors_wait_the_whole_backoff(error: ErrorCode | None) -> None:
    time = MockTime()
    fetch_state = PartitionFetchState(leader_epoch=1, leader_behind_retries=0)
    _fetcher(time)._delay([fetch_state], error)
    assert fetch_state.delayed_until_ms - time.monotonic_ms() == BACKOFF_MS
    assert fetch_state.leader_behind_retries == 0
