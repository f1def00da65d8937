"""A new leader's leader-epoch-checkpoint is written off the event loop, once per metadata image, and no record of
the new epoch is appended before the write has ended (Kafka writes the file in LeaderEpochFileCache.assign before
any append of the epoch; here the write is moved to a worker thread and appends wait for it)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from odradek.broker.log import checkpoint
from odradek.broker.log.leader_epoch_cache import LeaderEpochFileCache
from odradek.broker.protocol.errors import ErrorCode
from test_replication_cluster import Cluster, leo, run, state


def on_disk(c: Cluster, broker_id: int) -> list[tuple[int, int]]:
    path = c.log(broker_id).epoch_cache.path
    return [(int(e), int(o)) for e, o in checkpoint.read_lines(path)]


def test_a_new_leader_writes_its_epoch_in_a_worker_thread_and_takes_appends_only_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[bool] = []
    release = threading.Event()
    real_flush = LeaderEpochFileCache.flush

    def slow_flush(self: LeaderEpochFileCache) -> None:
        writers.append(threading.current_thread() is threading.main_thread())
        release.wait(10)
        real_flush(self)

    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1,)))
        first = c.produce(1, 3, acks=1)
        await c.run_until(first.done)
        assert first.result()[0].error == ErrorCode.NONE
        monkeypatch.setattr(LeaderEpochFileCache, "flush", slow_flush)
        moved = asyncio.ensure_future(c.publish(c.leader_move(1)))  # epoch 1 on the same broker, from 3
        for _ in range(2_000):
            if writers:
                break
            await asyncio.sleep(0.001)
        assert writers == [False], "the leader epoch checkpoint was not written in a worker thread"
        assert c.log(1).epoch_cache.entries()[-1] == (1, 3), "the epoch is known in memory at once"
        assert on_disk(c, 1)[-1] == (0, 0), "the file is not written before the worker runs"
        early = c.produce(1, 1, acks=1)
        await c.run_until(early.done)
        assert early.result()[0].error == ErrorCode.NOT_LEADER_OR_FOLLOWER, "an append of epoch 1 before its write"
        assert leo(c, 1) == 3
        release.set()
        await asyncio.wait_for(moved, 10)
        assert on_disk(c, 1)[-1] == (1, 3)
        later = c.produce(1, 1, acks=1)
        await c.run_until(later.done)
        assert later.result()[0].error == ErrorCode.NONE
        assert leo(c, 1) == 4

    run(tmp_path, (1,), body)


def test_an_image_that_changes_nothing_writes_no_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[Path] = []
    real_flush = LeaderEpochFileCache.flush

    def counted(self: LeaderEpochFileCache) -> None:
        writes.append(self.path)
        real_flush(self)

    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1,)))
        monkeypatch.setattr(LeaderEpochFileCache, "flush", counted)
        await c.publish()  # the same record again: still leader of epoch 0
        assert writes == []
        await c.publish(c.leader_move(1))
        assert len(writes) == 1
        done = c.produce(1, 2, acks=1)
        await c.run_until(done.done)
        assert done.result()[0].error == ErrorCode.NONE

    run(tmp_path, (1,), body)
